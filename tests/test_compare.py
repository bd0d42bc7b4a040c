"""``poissonfp compare``: every registered method on one tiny problem, the JSON record and the figures."""
import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from poissonfp import load_case
from poissonfp.cli import main
from poissonfp.solvers import SOLVERS
from poissonfp.studies.compare import compare_methods, default_methods, format_speedup, plan_runs

CASES = Path(__file__).resolve().parents[1] / "cases"
REQUIRED_KEYS = {"label", "case", "method", "grid_shape", "converged", "stop_reason", "wall_time_s", "iterations",
                 "dnn_steps", "rel_residual", "error_vs_exact_rel_l2", "error_vs_exact_inf",
                 "error_vs_discrete_rel_l2", "history", "modes", "info", "speedup_vs_jacobi", "reached"}


def _short_training_case(tmp_path: Path, case_name: str) -> Path:
    """The shipped case with 10 Adam steps (tests check the plumbing, not the network)."""
    text = (CASES / f"{case_name}.toml").read_text()
    if re.search(r"^adam_steps\s*=", text, flags=re.M):
        text = re.sub(r"^adam_steps\s*=.*$", "adam_steps = 10", text, flags=re.M)
    elif "[training]" in text:
        text = text.replace("[training]", "[training]\nadam_steps = 10", 1)
    else:
        text += "\n[training]\nadam_steps = 10\n"
    path = tmp_path / f"{case_name}.toml"
    path.write_text(text)
    assert load_case(path).training.adam_steps == 10
    return path


def _expected_labels(methods: list[str], switches: list[int]) -> list[str]:
    return [run.label for run in plan_runs(methods, switches) if run.method in SOLVERS]


@pytest.mark.parametrize("case_name, size", [("1d_article", 64), ("2d_square", 15)])
def test_compare_writes_one_entry_per_method(tmp_path, case_name, size):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["compare", str(_short_training_case(tmp_path, case_name)), "--n", str(size),
                                       "--switch", "3", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "compare.json").read_text())
    labels = [entry["label"] for entry in data["entries"]]
    assert labels == _expected_labels(list(default_methods(data["grid"]["shape"].__len__())), [3])
    assert ("dnn" in labels) == (case_name.startswith("1d"))  # the DNN alone only by default in 1D
    for entry in data["entries"]:
        assert set(entry) >= REQUIRED_KEYS, REQUIRED_KEYS - set(entry)
        assert entry["reached"] or entry["note"].startswith(("never reached", "diverged"))
    jacobi = data["entries"][0]
    assert jacobi["reached"] and jacobi["speedup_vs_jacobi"] == 1.0
    assert data["criterion"] == "discretization" and data["threshold"] > 0
    assert (out / "error_vs_time.png").stat().st_size > 0 and (out / "modes_jacobi.png").stat().st_size > 0
    if "dnn" in labels:
        assert (out / "modes_dnn.png").exists()
    assert "speed-up" in result.output and "jacobi" in result.output
    by_label = {entry["label"]: entry for entry in data["entries"]}
    assert jacobi["iteration_unit"] == "sweeps" and jacobi["work_sweeps"] == jacobi["iterations"]
    assert by_label["multigrid"]["iteration_unit"] == "V-cycles" and by_label["multigrid"]["work_how"] == "estimated"
    assert by_label["dst"]["work_sweeps"] is None
    hybrid = by_label["hybrid[M=3]"]  # cycles or (after its fallback) sweeps, never mislabelled as sweeps
    assert hybrid["iteration_unit"] == ("cycles" if hybrid["info"].get("cycles", 0) > 0 else "sweeps")
    header = result.output.splitlines()[1]
    assert "iterations" in header and "work [sweeps]" in header and " sweeps " not in header


def test_references_agree():
    case = load_case(CASES / "2d_square.toml").with_overrides(size=15)
    comparison = compare_methods(case, ["direct", "dst", "multigrid"], switches=None)
    solutions = {entry.label: entry.result.solution for entry in comparison.entries}
    scale = np.linalg.norm(solutions["dst"])
    assert np.linalg.norm(solutions["direct"] - solutions["dst"]) / scale < 1e-8
    # multigrid stops at the case's criterion; the references agree once it has converged further
    assert comparison.entry("multigrid").record["reached"]
    strict = case.with_overrides(criterion="discrete", tol=1e-11)
    multigrid = compare_methods(strict, ["multigrid"]).entry("multigrid").result.solution
    assert np.linalg.norm(multigrid - solutions["dst"]) / scale < 1e-8


def test_speedup_only_when_both_reach(tmp_path):
    case = load_case(CASES / "1d_article.toml").with_overrides(size=64, max_iterations=10)
    comparison = compare_methods(case, ["jacobi", "dst"])
    jacobi, dst = comparison.entry("jacobi").record, comparison.entry("dst").record
    assert not jacobi["reached"] and "never reached" in jacobi["note"] and jacobi["best_metric"] > 0
    assert jacobi["speedup_vs_jacobi"] is None and dst["speedup_vs_jacobi"] is None


def test_bad_case_file_exits_2_with_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[domain]\nlower = [0.0]\nupper = [1.0]\n[grid]\npoints = "many"\n[problem]\nsource = "1"\n')
    result = CliRunner().invoke(main, ["compare", str(bad), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1 and "[grid] points" in result.output


def test_unknown_method_is_a_usage_error():
    result = CliRunner().invoke(main, ["compare", str(CASES / "1d_article.toml"), "--methods", "jacobi,gauss"])
    assert result.exit_code == 2 and "gauss" in result.output


def test_interrupted_solve_ends_the_comparison(monkeypatch):
    calls = []

    def interrupted(problem, monitor, **_):  # the warm-up (first call) passes, the timed solve is interrupted
        calls.append(problem.grid.size)
        return monitor.result("dst", np.zeros(problem.grid.shape), "interrupted" if len(calls) > 1 else "converged")

    monkeypatch.setitem(SOLVERS, "dst", interrupted)
    case = load_case(CASES / "1d_article.toml").with_overrides(size=64)
    comparison = compare_methods(case, ["jacobi", "dst", "direct"])
    assert comparison.interrupted and [e.label for e in comparison.entries] == ["jacobi", "dst"]


def test_plan_runs_one_entry_per_switch_and_coarse_basis():
    labels = [r.label for r in plan_runs(["jacobi", "hybrid", "article"], ["auto", 0, 30], coarses=["polynomial"])]
    assert labels == ["jacobi", "hybrid[auto]", "hybrid[M=0]", "hybrid[M=30]", "hybrid[polynomial]",
                      "article[M=0]", "article[M=30]"]
    assert [r.label for r in plan_runs(["article"], ["auto"])] == ["article"]  # no automatic rule: case's M


def test_switch_study_names_the_optimum_and_the_break_even(tmp_path):
    case = load_case(_short_training_case(tmp_path, "1d_article")).with_overrides(size=48)
    comparison = compare_methods(case, ["jacobi", "article", "hybrid"], [0, 4])
    study = comparison.to_dict()["switch_study"]
    assert set(study) == {"article", "hybrid"}
    for method, record in study.items():
        assert record["switches"] == [0, 4]
        assert record["optimum_switch"] in (0, 4)
        optimum = comparison.entry(f"{method}[M={record['optimum_switch']}]").record
        assert record["optimum_wall_time_s"] == optimum["wall_time_s"]
        assert record["speedup_vs_jacobi_at_optimum"] == pytest.approx(
            comparison.entry("jacobi").record["wall_time_s"] / optimum["wall_time_s"])
        assert record["time_per_step_s"] > 0 and record["time_per_sweep_s"] > 0
        assert record["step_to_sweep_ratio"] == pytest.approx(record["time_per_step_s"] / record["time_per_sweep_s"])
        assert set(record["sweeps_saved_per_step"]) == {"4"} and set(record["training_pays"]) == {"4"}
        for run in record["runs"]:
            assert run["training_time_s"] is not None and run["sweep_time_s"] is not None
            assert (run["training_time_s"] > 0) == (run["switch"] > 0)
    article = study["article"]
    jacobi_sweeps = comparison.entry("jacobi").record["iterations"]
    assert article["sweeps_saved_per_step"]["4"] == pytest.approx(
        (jacobi_sweeps - comparison.entry("article[M=4]").record["iterations"]) / 4)


def test_repeats_report_the_median_and_the_spread():
    case = load_case(CASES / "2d_square.toml").with_overrides(size=15)
    comparison = compare_methods(case, ["jacobi", "dst"], repeat=3)
    for entry in comparison.entries:
        walls = entry.record["wall_time_runs_s"]
        assert len(walls) == 3 and entry.record["wall_time_s"] == sorted(walls)[1]
        assert entry.record["wall_time_spread"] == pytest.approx((max(walls) - min(walls)) / sorted(walls)[1])
    assert comparison.entry("dst").record["speedup_spread"] is not None


def test_speedups_carry_no_more_digits_than_the_spread_supports():
    assert format_speedup(24.31, 0.05) == "24 ±5%"
    assert format_speedup(24.31, 0.5) == "20 ±50%"
    assert format_speedup(0.0322, 0.05) == "0.032 ±5%" and format_speedup(0.0322, 0.01) == "0.0322 ±1%"
    assert format_speedup(1234.0, None) == "1200"


def test_compare_takes_criterion_tol_device_and_auto_switch(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["compare", str(_short_training_case(tmp_path, "1d_article")), "--n", "48",
                                       "--methods", "jacobi,hybrid", "--switch", "auto,2", "--criterion", "discrete",
                                       "--tol", "1e-4", "--device", "cpu", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "compare.json").read_text())
    assert data["criterion"] == "discrete" and data["threshold"] == 1e-4
    assert [e["label"] for e in data["entries"]] == ["jacobi", "hybrid[auto]", "hybrid[M=2]"]


def test_ctrl_c_in_the_warm_up_is_not_swallowed(tmp_path, monkeypatch):
    def interrupted(problem, monitor, **_):
        raise KeyboardInterrupt

    monkeypatch.setitem(SOLVERS, "dst", interrupted)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["compare", str(CASES / "1d_article.toml"), "--n", "32", "--methods",
                                       "jacobi,dst", "--out", str(out), "--quiet"])
    assert result.exit_code == 130, result.output
    data = json.loads((out / "compare.json").read_text())
    assert data["interrupted"] is True and data["entries"] == []


def test_figures_survive_histories_cut_short_by_an_interrupt(tmp_path):
    from poissonfp.studies.compare_outputs import save_comparison

    case = load_case(_short_training_case(tmp_path, "1d_article")).with_overrides(size=32)
    comparison = compare_methods(case, ["jacobi", "article"], [3])
    for entry in comparison.entries:  # Ctrl-C between two appends of Monitor.record
        entry.record["history"]["time_s"].append(1.0)
        entry.record["modes"]["relative_error"].pop()
    paths = save_comparison(comparison, tmp_path / "out")
    assert {p.name for p in paths} >= {"compare.json", "error_vs_time.png", "modes_jacobi.png", "modes_dnn.png"}


def test_cuda_without_a_gpu_is_one_line_exit_2(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = CliRunner().invoke(main, ["compare", str(CASES / "1d_article.toml"), "--n", "32", "--device", "cuda",
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1 and "cuda" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("signals", [("SIGINT",), ("SIGTERM", "SIGTERM")])
def test_a_real_signal_saves_what_was_measured_and_exits_128_plus_its_number(tmp_path, signals):
    """SIGINT and SIGTERM take one path (SignalGuard); a second signal never cuts the saving short."""
    from tests.signals import expected_exit, signal_command

    out = tmp_path / "out"
    code, stderr = signal_command(["compare", str(CASES / "1d_article.toml"), "--n", "2000", "--methods", "jacobi",
                                   "--criterion", "discrete", "--tol", "1e-13", "--out", str(out)],
                                  "[1/1] jacobi", signals, 0.2)  # the timed solve has started
    assert code == expected_exit(signals) and "Traceback" not in stderr, stderr
    data = json.loads((out / "compare.json").read_text())
    assert data["interrupted"] is True
    assert [e["label"] for e in data["entries"]] == ["jacobi"] and data["entries"][0]["stop_reason"] == "interrupted"


def test_classical_coarse_entries_run_and_reach_the_criterion():
    """`compare --coarse` entries carry the basis in the case (solve() rejects it as an option)."""
    case = load_case(CASES / "2d_square.toml").with_overrides(size=31)
    comparison = compare_methods(case, ["hybrid"], [0], coarses=["polynomial", "sine"])
    for label in ("hybrid[M=0]", "hybrid[polynomial]", "hybrid[sine]"):
        record = comparison.entry(label).record
        assert record["reached"], label
    assert comparison.entry("hybrid[sine]").record["info"]["coarse"] == "sine"


def test_default_methods_off_the_box_leave_out_the_box_only_ones(tmp_path):
    """`compare 2d_lshape` with no --methods used to stop at dst (refused off the box)."""
    result = CliRunner().invoke(main, ["compare", "2d_lshape", "--n", "15", "--out", str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    labels = {entry["label"] for entry in json.loads((tmp_path / "compare.json").read_text())["entries"]}
    assert "dst" not in labels and {"jacobi", "direct", "multigrid"} <= labels
