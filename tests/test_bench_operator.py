"""Operator rows of the benchmark: every row measured in one run, ratios from its times, bad model folders."""
import pytest
from click.testing import CliRunner

from poissonfp.case import load_case
from poissonfp.cli import main
from poissonfp.problem import build_problem
from poissonfp.studies.bench_operator import SOURCES, OperatorBenchConfig, run_operator_bench, source_array


def test_sources_are_finite_and_distinct():
    base = build_problem(load_case("2d_square"), size=15)
    arrays = [source_array(name, base, 0) for name in SOURCES]
    assert all(a.shape == base.grid.shape and (a != 0).any() for a in arrays)
    assert len({a.tobytes() for a in arrays}) == len(SOURCES)


def test_rows_hold_every_method_and_ratios_of_the_same_run(tiny_operator_model):
    config = OperatorBenchConfig((str(tiny_operator_model),), ("grf", "mode"), ((2, (15, 23)),), jacobi_budget_s=5.0)
    data = run_operator_bench(config)
    assert [(r["grid"], r["source"]) for r in data["rows"]] == [("15x15", "grf"), ("15x15", "mode"),
                                                                 ("23x23", "grf"), ("23x23", "mode")]
    for row in data["rows"]:
        assert row["operator"]["converged"] and row["multigrid"]["converged"] and not row["jacobi"]["computed"]
        assert row["ratios"]["jacobi_over_operator"] == pytest.approx(row["jacobi"]["time_s"] / row["operator"]["time_s"])
        assert row["training_s"] > 0 and row["in_distribution"] == (row["source"] == "grf")


def test_bench_operator_cli_writes_and_refuses_a_bad_model(tmp_path, tiny_operator_model):
    bad = tmp_path / "empty"
    bad.mkdir()
    result = CliRunner().invoke(main, ["bench", "--operator", "--model", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
    assert not (tmp_path / "o").exists()
    result = CliRunner().invoke(main, ["bench", "--operator"])
    assert result.exit_code == 2, result.output
