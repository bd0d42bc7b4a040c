"""The DNN-Jacobi hybrid's two-level cycle: exactness, fewer sweeps than Jacobi, determinism, switch modes,
interrupts (the multilevel cycle: tests/test_multilevel.py)."""
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from poissonfp.case import load_case
from poissonfp.problem import build_problem
from poissonfp.settings import HybridSettings, NetworkSettings, TrainingSettings
from poissonfp.solvers import HISTORY_KEYS, DivergenceError, StoppingCriterion, solve
from poissonfp.solvers.hybrids.hybrid import LowModeTracker

CASES = Path(__file__).resolve().parents[1] / "cases"


def case_problem(name, size):
    case = load_case(CASES / f"{name}.toml")
    return case, build_problem(case, size)


def options(case, **overrides):
    """The case's options with the two-level cycle (the tests of that method), unless overridden."""
    two_level = dataclasses.replace(case.hybrid, cycle="two-level")
    return {"network": case.network, "training": case.training, "hybrid": two_level, "seed": case.seed,
            **overrides}


def test_hybrid_matches_the_direct_solution():
    case, problem = case_problem("2d_square", 48)
    result = solve(problem, "hybrid", StoppingCriterion("discrete", tol=1e-8), **options(case))
    direct = solve(problem, "direct", StoppingCriterion("discrete", tol=1e-8))
    assert result.converged and result.stop_reason == "converged"
    difference = np.linalg.norm(result.solution - direct.solution) / np.linalg.norm(direct.solution)
    assert difference <= 1.01e-8
    assert result.info["corrections"] >= 1 and result.info["switch_reason"]


def test_hybrid_needs_fewer_sweeps_than_jacobi_on_the_article_case():
    case, problem = case_problem("1d_article", 200)
    criterion = StoppingCriterion("discretization")
    hybrid = solve(problem, "hybrid", criterion, **options(case))
    jacobi = solve(problem, "jacobi", criterion, omega=case.solver.omega)
    assert hybrid.converged and jacobi.converged
    assert hybrid.iterations < jacobi.iterations / 10


def test_one_seed_gives_identical_runs():
    case, problem = case_problem("1d_article", 200)
    kwargs = options(case, switch=5)
    first = solve(problem, "hybrid", StoppingCriterion("discrete", tol=1e-9), **kwargs)
    second = solve(problem, "hybrid", StoppingCriterion("discrete", tol=1e-9), **kwargs)
    assert np.array_equal(first.solution, second.solution)
    for key in HISTORY_KEYS:
        if key != "time_s":
            assert first.history[key] == second.history[key], key
    assert first.info["loss_history"] == second.info["loss_history"]
    assert first.info["cycle_residuals"] == second.info["cycle_residuals"]
    assert first.dnn_steps == second.dnn_steps == 5


def test_fixed_switch_trains_then_corrects_and_records_every_phase():
    case, problem = case_problem("1d_article", 200)
    phases = []
    result = solve(problem, "hybrid", StoppingCriterion("discretization"), callback=lambda e: phases.append(e["phase"]),
                   **options(case, switch=40))
    assert result.converged and result.dnn_steps == 40
    assert {"dnn", "correction", "final"} <= set(phases)
    info = result.info
    assert info["switch_step"] == 40 and info["switch_reason"] == "fixed"
    assert info["times_s"]["train_s"] > 0 and info["galerkin_time_s"] > 0
    peaks = info["modes_at_switch"]
    assert 1 <= len(peaks["modes"]) == len(peaks["relative_error"]) <= 3


def test_auto_switch_decides_from_the_low_modes():
    case, problem = case_problem("1d_article", 200)
    result = solve(problem, "hybrid", StoppingCriterion("discretization"), **options(case, switch="auto"))
    assert result.converged
    assert result.info["switch_reason"] in ("low modes converged", "low modes stopped changing", "budget")
    # without a Galerkin output layer the network must train before its low modes settle
    untrained = solve(problem, "hybrid", StoppingCriterion("discretization"),
                      **options(case, switch="auto", network=NetworkSettings(widths=(16,), scale=4.0),
                                training=TrainingSettings(adam_steps=60, learning_rate=1e-2, galerkin=False),
                                hybrid=HybridSettings(cycle="two-level", plateau=1e-4)))
    assert untrained.converged and untrained.dnn_steps > 0


def test_auto_switch_stops_training_that_does_not_pay():
    """3d_cube's features miss its (3,2,4) mode: training barely moves the low-mode error, so auto stops
    after the first doubling and hands over the best iterate instead of spending its whole budget."""
    case, problem = case_problem("3d_cube", 9)
    training = TrainingSettings(adam_steps=64, learning_rate=1e-3)
    result = solve(problem, "hybrid", StoppingCriterion("discretization"),
                   **options(case, switch="auto", training=training))
    assert result.converged and result.dnn_steps <= 2
    assert result.info["switch_reason"].startswith("training stopped paying")
    patient = solve(problem, "hybrid", StoppingCriterion("discretization"),
                    **options(case, switch="auto", training=training, hybrid=HybridSettings(cycle="two-level", min_gain=1.0)))
    assert patient.dnn_steps > result.dnn_steps


def test_low_mode_tracker_estimates_the_relative_error_without_the_solution():
    _, problem = case_problem("2d_square", 32)
    tracker = LowModeTracker(problem, 4)
    uh = problem.discrete_solution
    assert tracker.relative_error(uh) < 1e-12
    coefficients = tracker.coefficients(uh)
    exact = tracker.coefficients(uh * 1.01) - coefficients
    assert tracker.relative_error(uh * 1.01) == pytest.approx(
        np.linalg.norm(exact) / np.linalg.norm(coefficients), rel=1e-6)


def test_corrections_zero_is_one_guess_then_plain_jacobi():
    case, problem = case_problem("1d_article", 200)
    result = solve(problem, "hybrid", StoppingCriterion("discretization"),
                   **options(case, switch=0, hybrid=HybridSettings(cycle="two-level", corrections=0)))
    assert result.converged and result.info["corrections"] == 0


def test_interrupt_keeps_the_state_reached():
    case, problem = case_problem("2d_square", 32)

    def stop(entry):
        if entry["phase"] == "correction":
            raise KeyboardInterrupt

    result = solve(problem, "hybrid", StoppingCriterion("discrete", tol=1e-12), callback=stop, **options(case))
    assert result.stop_reason == "interrupted" and np.all(np.isfinite(result.solution))


def test_divergent_training_raises_before_jacobi():
    case, problem = case_problem("1d_article", 100)
    with pytest.raises(DivergenceError, match="diverged"):
        solve(problem, "hybrid", StoppingCriterion("discretization"),
              **options(case, switch=20, training=TrainingSettings(learning_rate=1e6, galerkin=False)))


def test_two_level_info_is_the_typed_records_dict():
    """The two-level hybrid's info is TwoLevelRecord.to_dict(): every key a record field (or derived), no
    None left in, the phase times consistent."""
    import dataclasses

    from poissonfp.solvers.hybrids.hybrid_record import TwoLevelRecord

    record = TwoLevelRecord(switch_setting=3, dnn_steps=3, switch_reason="fixed")
    record.times_s["train_s"] = 0.5
    info = record.to_dict()
    assert info["switch_step"] == 3 and info["training_time_s"] == 0.5 and "coarse" not in info
    fields = {f.name for f in dataclasses.fields(TwoLevelRecord)}
    assert set(info) <= fields | {"switch_step", "training_time_s", "galerkin_time_s"}
    assert None not in info.values()
