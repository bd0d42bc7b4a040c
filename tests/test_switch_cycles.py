"""``poissonfp solve CASE --switch M`` runs with every hybrid cycle and saves its outputs."""
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from poissonfp.cli import main

CASES = Path(__file__).resolve().parents[1] / "cases"


@pytest.mark.parametrize("cycle", ["multilevel", "two-level"])
def test_solve_with_a_fixed_switch_saves_for_every_cycle(cycle, tmp_path):
    case = tmp_path / "square.toml"
    case.write_text((CASES / "2d_square.toml").read_text().replace("[hybrid]", f'[hybrid]\ncycle = "{cycle}"', 1))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["solve", str(case), "--n", "15", "--switch", "3", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    record = json.loads((out / "result.json").read_text())
    assert record["method"] == "hybrid" and record["dnn_steps"] == 3 and record["settings"]["hybrid"]["cycle"] == cycle
    assert (out / "convergence.png").stat().st_size > 0
