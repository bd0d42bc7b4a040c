"""The benchmark harness on its tiny ``--quick`` matrix (no timing assertions)."""
import json
import logging

import pytest
from click.testing import CliRunner
from matplotlib.figure import Figure

from poissonfp import bench_plots
from poissonfp.bench import _estimate, quick_config, run_bench
from poissonfp.bench_report import format_csv, format_markdown, time_series
from poissonfp.cli import main


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    result = CliRunner().invoke(main, ["bench", "--quick", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return out, json.loads((out / "bench.json").read_text()), result.output


def test_quick_writes_every_output(quick_run):
    out, data, output = quick_run
    for name in ("bench.json", "bench.csv", "bench.md", "time_1d_article.png", "time_2d_bump.png", "bandwidth.png"):
        assert (out / name).stat().st_size > 0
    assert "| problem | grid | unknowns |" in output
    assert data["command"].startswith("poissonfp bench --quick")
    assert data["machine"]["cores"] >= 1


def test_quick_matrix_has_every_method_and_ratios(quick_run):
    _, data, _ = quick_run
    assert [(r["problem"], r["size"]) for r in data["rows"]] == [("1d_article", 64), ("1d_article", 128),
                                                                 ("2d_bump", 16), ("2d_bump", 24)]
    for row in data["rows"]:
        assert set(row["results"]) == set(data["methods"])
        assert set(row["ratios"]) >= {"hybrid_over_jacobi", "hybrid_over_dnn", "multigrid_over_hybrid"}
        assert row["results"]["dst"]["status"] == "measured"
        assert row["kernel"]["fraction_of_copy"] > 0
    assert {r["criterion"] for r in data["rows"]} == {"discretization", "discrete"}


def test_quick_checks_predictor_then_computes_larger_jacobi(quick_run):
    _, data, _ = quick_run
    assert data["checks_passed"] is True
    assert [(c["problem"], c["size"]) for c in data["checks"]] == [("1d_article", 64), ("2d_bump", 16)]
    assert all(c["within_batch"] for c in data["checks"])
    computed = [r["results"]["jacobi"] for r in data["rows"] if r["size"] in (128, 24)]
    assert all(r["status"] == "computed" and r["computed"] and r["time_s"] > 0 for r in computed)
    assert all(r["ratios"]["jacobi_computed"] == (r["size"] in (128, 24)) for r in data["rows"])


def test_reports_from_data(quick_run):
    _, data, _ = quick_run
    csv_lines = format_csv(data).splitlines()
    assert len(csv_lines) == 1 + sum(len(r["results"]) for r in data["rows"])
    assert "computed" in format_markdown(data)
    series = time_series(data, "1d_article")
    assert series["jacobi"]["computed"] == [False, True]
    assert isinstance(bench_plots.plot_time_vs_unknowns(series, "t"), Figure)


def test_unregistered_method_is_skipped_with_a_warning(monkeypatch, caplog):
    from poissonfp import solvers

    monkeypatch.delitem(solvers.SOLVERS, "dnn")
    config = quick_config(plan=quick_config().plan[:1], methods=("jacobi", "dnn", "dst"))
    with caplog.at_level(logging.WARNING, logger="poissonfp.bench"):
        data = run_bench(config)
    assert data["skipped_methods"] == ["dnn"] and data["methods"] == ["jacobi", "dst"]
    assert "dnn" in caplog.text
    assert all(set(r["results"]) == {"jacobi", "dst"} for r in data["rows"])


def test_budget_extrapolation():
    assert _estimate([], 100) is None
    assert _estimate([(100, 1.0)], 400) == pytest.approx(16.0)
    assert _estimate([(100, 1.0), (400, 16.0)], 1600) == pytest.approx(256.0)
    assert _estimate([(100, 1.0), (400, 1.0)], 1600) == pytest.approx(4.0)


@pytest.mark.parametrize("kind, tol", [("discretization", 1e-8), ("discrete", 1e-5), ("residual", 1e-6)])
def test_exact_check_confirms_the_prediction_and_rejects_a_wrong_count(kind, tol):
    from poissonfp.bench import _exact_check
    from poissonfp.case import load_case
    from poissonfp.jacobi_theory import predicted_sweeps
    from poissonfp.problem import build_problem
    from poissonfp.solvers import StoppingCriterion

    problem = build_problem(load_case("cases/2d_square.toml").with_overrides(size=40))
    criterion = StoppingCriterion(kind, tol=tol)
    predicted = predicted_sweeps(problem, criterion)
    assert _exact_check(problem, criterion, 1.0, predicted)
    assert not _exact_check(problem, criterion, 1.0, predicted + 3)
    assert predicted > 10 and not _exact_check(problem, criterion, 1.0, predicted - 3)
