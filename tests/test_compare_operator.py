"""``compare CASE --model DIR``: the operator runs beside the default methods; an unusable model is refused."""
import json

from click.testing import CliRunner

from poissonfp.cli import main


def test_compare_runs_operator_beside_the_defaults(tmp_path, tiny_operator_model):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["compare", "2d_square", "--n", "15", "--model", str(tiny_operator_model),
                                       "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    entries = {e["label"]: e for e in json.loads((out / "compare.json").read_text())["entries"]}
    assert {"jacobi", "multigrid", "operator"} <= set(entries)
    assert entries["operator"]["reached"] and entries["operator"]["speedup_vs_jacobi"] is not None


def test_compare_refuses_an_unusable_model(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(main, ["compare", "2d_square", "--n", "15", "--model", str(empty),
                                       "--out", str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
    assert not (tmp_path / "out").exists()
