"""The benchmark harness on its tiny ``--quick`` matrix (no timing assertions)."""
import json
import logging

import pytest
from click.testing import CliRunner
from matplotlib.figure import Figure

from poissonfp.cli import main
from poissonfp.plotting import bench as bench_plots
from poissonfp.studies.bench import quick_config, run_bench
from poissonfp.studies.bench_report import format_csv, format_markdown, time_series
from poissonfp.studies.bench_runs import extrapolate as _estimate


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
    with caplog.at_level(logging.WARNING, logger="poissonfp.studies.bench"):
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
    from poissonfp.case import load_case
    from poissonfp.jacobi_theory import predicted_sweeps
    from poissonfp.problem import build_problem
    from poissonfp.solvers import StoppingCriterion
    from poissonfp.studies.bench_jacobi import exact_check as _exact_check

    problem = build_problem(load_case("cases/2d_square.toml").with_overrides(size=40))
    criterion = StoppingCriterion(kind, tol=tol)
    predicted = predicted_sweeps(problem, criterion)
    assert _exact_check(problem, criterion, 1.0, predicted)
    assert not _exact_check(problem, criterion, 1.0, predicted + 3)
    assert predicted > 10 and not _exact_check(problem, criterion, 1.0, predicted - 3)


def test_every_iterative_record_counts_its_work(quick_run):
    _, data, output = quick_run
    for row in data["rows"]:
        for method in ("jacobi", "hybrid", "hybrid-exact", "hybrid-none", "multigrid"):
            assert row["results"][method]["work_sweeps"] > 0, (row["problem"], method)
        assert row["results"]["dst"]["work_sweeps"] is None
    assert "sweep-equivalents" in output


def test_scaling_exponents_fit_a_power_law():
    from poissonfp.studies.bench import scaling_exponents

    rows = [{"problem": "p", "unknowns": n, "results": {"m": {"time_s": 2e-6 * n**1.5, "work_sweeps": 7.0}}}
            for n in (100, 400, 1600)]
    fit = scaling_exponents(rows)["p"]["m"]
    assert fit["time_exponent"] == pytest.approx(1.5) and fit["work_exponent"] == pytest.approx(0.0)
    assert scaling_exponents(rows[:2]) == {}


def test_ctrl_c_saves_the_rows_so_far_marked_interrupted(tmp_path, monkeypatch):
    from poissonfp.studies import bench_jacobi as bench

    calls = []
    real = bench.kernel_bandwidth

    def interrupt_on_second_size(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(bench, "kernel_bandwidth", interrupt_on_second_size)
    result = CliRunner().invoke(main, ["bench", "--quick", "--out", str(tmp_path), "--quiet",
                                       "--problems", "1d_article"])
    assert result.exit_code == 130, result.output
    data = json.loads((tmp_path / "bench.json").read_text())
    assert data["interrupted"] is True
    assert [r["size"] for r in data["rows"]] == [64, 128] and data["rows"][-1]["partial"] is True
    assert "interrupted" in (tmp_path / "bench.md").read_text()


def test_an_interrupted_solve_stops_the_bench(monkeypatch):
    from poissonfp.studies import bench_runs as bench

    real = bench.solve_case

    def interrupted(*args, **kwargs):
        problem, result = real(*args, **kwargs)
        result.stop_reason = "interrupted"
        return problem, result

    monkeypatch.setattr(bench, "solve_case", interrupted)
    data = run_bench(quick_config(plan=quick_config().plan[:1], methods=("jacobi", "dst")))
    assert data["interrupted"] and len(data["rows"]) == 1 and data["rows"][0]["results"] == {}


def test_a_signal_during_a_warm_up_stops_the_bench(monkeypatch):
    """The solver returns an interrupted warm-up solve (it caught the signal): the bench must stop, not run on."""
    from poissonfp.studies import bench_runs as bench

    real = bench.solve_case

    def interrupted(*args, **kwargs):
        problem, result = real(*args, **kwargs)
        result.interrupted = True
        return problem, result

    monkeypatch.setattr(bench, "solve_case", interrupted)
    data = run_bench(quick_config(plan=quick_config().plan[:1], methods=("jacobi", "dst")))
    assert data["interrupted"] and data["rows"] == []


def test_unwritable_output_folder_is_refused_before_any_work(tmp_path, monkeypatch):
    import importlib

    bench = importlib.import_module("poissonfp.studies.bench")  # the command imports run_bench from here when it runs
    monkeypatch.setattr(bench, "run_bench", lambda *a, **k: pytest.fail("bench ran before checking --out"))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = CliRunner().invoke(main, ["bench", "--quick", "--out", str(blocker / "sub"), "--quiet"])
    assert result.exit_code == 1 and "cannot write outputs" in result.output


def test_device_sweep_time_runs_through_torch():
    from poissonfp.case import load_case
    from poissonfp.problem import build_problem
    from poissonfp.studies.bench_jacobi import device_sweep_time as _device_sweep_time

    problem = build_problem(load_case("cases/2d_square.toml").with_overrides(size=15))
    assert 0 < _device_sweep_time(problem, 1.0, 1e-4, device="cpu") < 1


def test_first_solves_are_repeated_and_the_fastest_counts(quick_run):
    """A first solve at a size pays page faults (the old bench timed it alone: +46 % for the hybrid)."""
    _, data, _ = quick_run
    for row in data["rows"]:
        record = row["results"]["hybrid"]
        assert len(record["times_s"]) == 2 and record["wall_time_s"] == min(record["times_s"])


def test_warm_up_runs_at_the_first_real_size(monkeypatch):
    from poissonfp.studies import bench_runs as bench

    seen = []
    real = bench.solve_case

    def spy(case, method, problem=None, **kwargs):
        seen.append(problem.grid.shape)
        return real(case, method, problem=problem, **kwargs)

    monkeypatch.setattr(bench, "solve_case", spy)
    run_bench(quick_config(plan=quick_config().plan[:1], methods=("jacobi", "dst")))
    assert seen[0] == (63,)  # 1d_article at 64 intervals: the warm-up solve is at the first benchmarked size


def test_quick_jacobi_runs_in_its_usual_batches():
    """--quick used to check Jacobi after every sweep, so its real per-sweep times (check overhead
    included) and its computed ones (kernel time) came from different models."""
    assert "check_every" not in dict(quick_config().case_overrides)


@pytest.mark.parametrize("signals", [("SIGTERM",), ("SIGINT", "SIGINT")])
def test_a_real_signal_saves_the_rows_so_far_and_exits_128_plus_its_number(tmp_path, signals):
    """bench takes SIGINT and SIGTERM through SignalGuard: bench.json written, marked interrupted; a second
    signal is only recorded."""
    from tests.signals import expected_exit, signal_command

    out = tmp_path / "out"
    code, stderr = signal_command(["bench", "--quick", "--problems", "1d_article", "--methods", "jacobi,dnn",
                                   "--out", str(out)], "sizes", signals, 0.1)  # the first problem has started
    assert code == expected_exit(signals) and "Traceback" not in stderr, stderr
    data = json.loads((out / "bench.json").read_text())
    assert data["interrupted"] is True and "interrupted" in (out / "bench.md").read_text()


def test_off_the_box_bench_runs_jacobi_for_real_and_marks_the_box_only_methods(tmp_path):
    """The L-shape has no exact sweep count: Jacobi runs for real at the first size and, over the (zero)
    budget, is not run at the second (nothing computed); dst says why not; the coarsest-solve controls run
    (the Galerkin hierarchy has a coarsest level)."""
    from poissonfp.studies.bench import ProblemPlan
    from poissonfp.studies.bench_report import save_bench

    methods = ("jacobi", "hybrid", "hybrid-exact", "hybrid-none", "multigrid", "dst", "direct")
    data = run_bench(quick_config(plan=(ProblemPlan("2d_lshape", (15, 31), (), methods),), methods=methods))
    save_bench(data, tmp_path)
    first, second = data["rows"]
    assert data["checks"] == [] and first["kernel"] is None and first["unknowns"] < 15 * 15
    for row in data["rows"]:
        results = row["results"]
        assert results["dst"]["status"] == "not_applicable" and results["dst"]["time_s"] is None
        assert "box" in results["dst"]["note"]
        for method in ("hybrid", "hybrid-exact", "hybrid-none", "multigrid", "direct"):
            assert results[method]["status"] == "measured", (method, results[method])
            assert results[method]["error_vs_exact_inf"] <= row["threshold"]
    jacobi = first["results"]["jacobi"]
    assert jacobi["status"] == "measured" and jacobi["error_vs_exact_inf"] <= first["threshold"]
    assert jacobi["sweep_time_s"] > 0 and jacobi["box_sweep_time_s"] > 0
    skipped = second["results"]["jacobi"]
    assert skipped["status"] == "not_run" and not skipped["computed"] and skipped["time_s"] is None
    assert "no exact sweep count" in skipped["note"]
    assert second["ratios"]["hybrid_over_jacobi"] is None
    report = (tmp_path / "bench.md").read_text()
    assert "not applicable" in report and "CSR s/sweep" in report and "Predicted against real" not in report
    assert (tmp_path / "time_2d_lshape.png").stat().st_size > 0
