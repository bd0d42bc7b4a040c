"""The article's seeded switch study: one trajectory per seed, exact sweep counts, stand-ins, CLI ranges."""
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from poissonfp.case import load_case
from poissonfp.cli import main
from poissonfp.cli.params import integer_range
from poissonfp.problem import build_problem
from poissonfp.solvers import StoppingCriterion, solve
from poissonfp.solvers.classical.jacobi import JacobiIteration
from poissonfp.studies.switch_seeds import (
    article_trajectory,
    coarse_start,
    panel_switches,
    seed_study,
    sine_start,
    slow_mode_bound,
)

CASES = Path(__file__).resolve().parents[1] / "cases"
CRITERION = StoppingCriterion("discrete", tol=1e-3)


@pytest.fixture(scope="module")
def article():
    case = load_case(CASES / "1d_article.toml").with_overrides(size=64)
    return case, build_problem(case)


def test_snapshot_along_a_longer_trajectory_is_the_network_trained_to_m(article):
    case, problem = article
    trajectory = article_trajectory(problem, [0, 3, 7], seed=case.seed, training=case.training, network=case.network)
    for m, snapshot in zip(trajectory["switches"], trajectory["snapshots"]):
        result = solve(problem, "article", CRITERION, network=case.network, training=case.training,
                       hybrid=case.hybrid, seed=case.seed, switch=m)
        handover = max(i for i, sweeps in enumerate(result.history["iteration"]) if sweeps == 0)
        assert result.history["error_vs_exact_inf"][handover] == np.max(np.abs(snapshot - problem.exact))
        iteration = JacobiIteration(problem, 1.0, snapshot)
        iteration.sweep(result.iterations)
        np.testing.assert_array_equal(result.solution, iteration.solution)  # bit for bit
    # the control: a different M gives a different network (the equality above can fail)
    assert np.max(np.abs(trajectory["snapshots"][1] - trajectory["snapshots"][2])) > 1e-6
    assert trajectory["train_time_s"][0] == 0.0 and trajectory["train_time_s"][1] < trajectory["train_time_s"][2]


def test_study_counts_sweeps_exactly_and_reports_the_spread_over_seeds(article):
    case, problem = article
    study = seed_study(problem, CRITERION, [0, 2, 4, 6], [0, 1], training=case.training, network=case.network)
    assert study["switches"] == [0, 2, 4, 6] and study["seeds"] == [0, 1]
    jacobi = JacobiIteration(problem, 1.0)
    jacobi.sweep(study["jacobi_sweeps"])
    error = np.linalg.norm(jacobi.solution - problem.discrete_solution) / np.linalg.norm(problem.discrete_solution)
    assert error <= 1e-3  # the exact count is enough ...
    jacobi = JacobiIteration(problem, 1.0)
    jacobi.sweep(study["jacobi_sweeps"] - 1)
    assert np.linalg.norm(jacobi.solution - problem.discrete_solution) > 1e-3 * np.linalg.norm(
        problem.discrete_solution)  # ... and one fewer is not
    for seed in study["per_seed"]:
        times = [run["time_s"] for run in seed["runs"]]
        best = int(np.argmin(times))
        assert seed["optimum_switch"] == seed["runs"][best]["switch"]
        assert seed["speedup_at_optimum"] == pytest.approx(study["jacobi_time_s"] / times[best])
        losing = [run["switch"] for run in seed["runs"] if run["switch"] > 0 and run["sweeps"] > study["jacobi_sweeps"]]
        assert seed["switches_losing_in_sweeps"] == losing
        assert seed["fraction_losing_in_sweeps"] == len(losing) / 3
        for run in seed["runs"]:  # the slowest modes alone bound the count from below
            assert run["slow_mode_bound"] <= run["sweeps"]
    optima = [seed["optimum_switch"] for seed in study["per_seed"]]
    assert study["optimum_switch"]["per_seed"] == optima
    assert study["optimum_switch"]["min"] == min(optima) and study["optimum_switch"]["max"] == max(optima)


def test_classical_stand_ins_solve_what_they_span(article):
    _case, problem = article
    # a coarse grid equal to the problem's own is the discrete solution itself: no sweep left
    np.testing.assert_allclose(coarse_start(problem, 64), problem.discrete_solution, atol=1e-12)
    coarse = coarse_start(problem, 16)
    assert 0 < np.max(np.abs(coarse - problem.discrete_solution)) < 0.2 * np.max(np.abs(problem.discrete_solution))
    amplitudes, bound = slow_mode_bound(problem, sine_start(problem, 2), CRITERION)
    assert amplitudes[0] < 1e-12 and amplitudes[1] < 1e-12 and amplitudes[3] > 1e-3  # k = 1, 2 exact, k = 4 left
    assert bound > 0
    amplitudes, _ = slow_mode_bound(problem, np.zeros(problem.grid.shape), CRITERION)
    assert amplitudes[0] < 1e-12  # the article's u_h is odd: Jacobi from zero never meets mode 1


def test_panel_and_ranges():
    assert integer_range("0:100:50") == ["0", "50", "100"] and integer_range("7") == ["7"]
    for bad in ("5:1", "0:4:0", "a:3", "1:2:3:4"):
        with pytest.raises(ValueError):
            integer_range(bad)
    assert panel_switches([0, 2, 4, 6, 8, 10], 7) == [2, 6, 10]  # the optimum snaps to the grid


def test_compare_runs_the_seeded_study_and_writes_its_figures(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["compare", str(CASES / "1d_article.toml"), "--n", "48", "--methods",
                                       "jacobi,article", "--switch", "0:8:2", "--seeds", "0,1", "--criterion",
                                       "discrete", "--tol", "1e-3", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "compare.json").read_text())
    study = data["seed_study"]
    assert study["switches"] == [0, 2, 4, 6, 8] and study["seeds"] == [0, 1]
    assert [len(seed["runs"]) for seed in study["per_seed"]] == [5, 5]
    timed = sorted(r["run_options"]["switch"] for r in data["entries"] if r["method"] == "article")
    assert timed == panel_switches(study["switches"], study["optimum_switch"]["median"])
    assert (out / "switch_article_panel.png").stat().st_size > 0 and (out / "switch_article_seeds.png").exists()
    assert "seeded switch study" in result.output


@pytest.mark.parametrize("args, needle", [
    (["--switch", "4:0"], "--switch"),
    (["--switch", "0,4", "--seeds", "0,0"], "repeated seed"),
    (["--methods", "jacobi", "--seeds", "0"], "--seeds"),
])
def test_bad_ranges_and_seeds_exit_2_with_one_line(args, needle, tmp_path):
    result = CliRunner().invoke(main, ["compare", str(CASES / "1d_article.toml"), "--n", "16",
                                       "--out", str(tmp_path / "o"), *args])
    assert result.exit_code == 2 and needle in result.output
    assert "Traceback" not in result.output and not (tmp_path / "o").exists()


def test_ctrl_c_in_the_study_keeps_the_seeds_that_finished(tmp_path):
    from poissonfp.studies.compare import compare_methods
    from poissonfp.studies.compare_outputs import save_comparison

    case = load_case(CASES / "1d_article.toml").with_overrides(size=32)

    def interrupt_second_seed(event):
        if event["event"] == "seed" and event["index"] == 1:
            raise KeyboardInterrupt

    comparison = compare_methods(case, ["jacobi", "article"], [0, 2], callback=interrupt_second_seed)
    assert comparison.interrupted and comparison.entries == []
    save_comparison(comparison, tmp_path)
    study = json.loads((tmp_path / "compare.json").read_text())["seed_study"]
    assert study["interrupted"] and [seed["seed"] for seed in study["per_seed"]] == [0]
