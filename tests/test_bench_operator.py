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


def test_untrained_control_rows_beside_the_trained_ones(tiny_operator_model):
    from poissonfp.learned.store import load_model
    from poissonfp.studies.bench_operator import UNTRAINED_BUDGET, format_operator_markdown, untrained_control

    model = load_model(tiny_operator_model)
    control = untrained_control(model, load_case("2d_square"))
    assert control.meta["steps_done"] == 0 and control.meta["arch"] == model.meta["arch"]
    assert control.meta["parameters"] == model.meta["parameters"] and control.meta["fingerprint"] == model.meta["fingerprint"]
    data = run_operator_bench(OperatorBenchConfig((str(tiny_operator_model),), ("grf",), ((2, (15,)),),
                                                  jacobi_budget_s=5.0))
    row = data["rows"][0]
    untrained, trained = row["untrained"], row["operator"]
    assert untrained["sweep_budget"] == min(max(10, int(UNTRAINED_BUDGET * trained["work_sweeps"])),
                                            max(10, int(row["jacobi"]["work_sweeps"])))
    assert untrained["fallback"] is None and untrained["sweeps"] <= untrained["sweep_budget"]
    assert row["ratios"]["untrained_work_over_operator"] == pytest.approx(untrained["work_sweeps"] / trained["work_sweeps"])
    table = format_operator_markdown(data)
    assert "untrained s (calls)" in table and "trained 0 steps" in table
    no_control = run_operator_bench(OperatorBenchConfig((str(tiny_operator_model),), ("grf",), ((2, (15,)),),
                                                        jacobi_budget_s=5.0, untrained=False))
    assert "untrained" not in no_control["rows"][0]


def test_bench_operator_cli_writes_and_refuses_a_bad_model(tmp_path, tiny_operator_model):
    bad = tmp_path / "empty"
    bad.mkdir()
    result = CliRunner().invoke(main, ["bench", "--operator", "--model", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
    assert not (tmp_path / "o").exists()
    result = CliRunner().invoke(main, ["bench", "--operator"])
    assert result.exit_code == 2, result.output


def test_a_model_whose_control_cannot_be_built_keeps_its_rows_with_a_note(tiny_operator_model, monkeypatch):
    from poissonfp.studies import bench_operator

    def refuse(model, case):
        raise ValueError("case does not give the model's operator")

    monkeypatch.setattr(bench_operator, "untrained_control", refuse)
    data = run_operator_bench(OperatorBenchConfig((str(tiny_operator_model),), ("mode",), ((2, (15,)),),
                                                  jacobi_budget_s=5.0))
    row = data["rows"][0]
    assert "untrained" not in row and "model's operator" in row["untrained_note"] and row["operator"]["converged"]
