"""Jacobi against theory and hand computation; every solver against the direct solution."""
import math

import numpy as np
import pytest

from poissonfp.grid import Grid
from poissonfp.problem import Problem
from poissonfp.solvers import DivergenceError, StoppingCriterion, solve
from poissonfp.solvers.classical.jacobi import JacobiIteration, jacobi_factor
from tests.test_operators import manufactured_problem


def zero_problem(shape):
    grid = Grid((0.0,) * len(shape), (1.0,) * len(shape), shape)
    return Problem.from_functions(grid, lambda *c: np.zeros(np.broadcast_shapes(*(a.shape for a in c))))


def test_jacobi_hand_computed_tiny_system():
    """n = 3, h = 1/4, f = (1, 2, 3): u1 = h^2 f / 2 and u2 computed by hand."""
    grid = Grid((0.0,), (1.0,), (3,))
    problem = Problem(grid, np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0]))
    iteration = JacobiIteration(problem)
    iteration.sweep(1)
    np.testing.assert_allclose(iteration.solution, [1 / 32, 2 / 32, 3 / 32])
    iteration.sweep(1)
    np.testing.assert_allclose(iteration.solution, [2 / 32, 4 / 32, 4 / 32])


@pytest.mark.parametrize("shape,omega", [((63,), 1.0), ((31, 31), 1.0), ((15, 15, 15), 1.0), ((31, 31), 0.8)])
def test_jacobi_factor_on_lowest_mode_equals_theory(shape, omega):
    """The lowest sine mode is an eigenvector: its amplitude shrinks by 1 - ω + ω cos(πh) per sweep."""
    problem = zero_problem(shape)
    mode = np.ones(shape)
    for axis in problem.grid.axes:
        mode = mode * np.sin(np.pi * axis).reshape([-1 if len(a) == len(axis) and a is axis else 1
                                                    for a in problem.grid.axes])
    iteration = JacobiIteration(problem, omega, initial_guess=mode)
    iteration.sweep(50)
    measured = (np.linalg.norm(iteration.solution) / np.linalg.norm(mode)) ** (1 / 50)
    h = problem.grid.spacing[0]
    assert measured == pytest.approx(1 - omega + omega * math.cos(math.pi * h), rel=1e-12)
    assert jacobi_factor(problem, omega) == pytest.approx(measured, rel=1e-12)


def test_jacobi_reaches_discretization_accuracy():
    problem = manufactured_problem(2, 15)
    result = solve(problem, "jacobi", StoppingCriterion("discretization"))
    assert result.converged and result.stop_reason == "converged"
    assert result.final["error_vs_exact_inf"] <= 1.5 * problem.discretization_error_inf


@pytest.mark.parametrize("dim,n", [(1, 63), (2, 15), (3, 7)])
@pytest.mark.parametrize("method", ["jacobi", "multigrid", "dst"])
def test_solvers_agree_with_direct(dim, n, method):
    problem = manufactured_problem(dim, n)
    criterion = StoppingCriterion("discrete", tol=1e-8)
    direct = solve(problem, "direct", criterion).solution
    result = solve(problem, method, criterion)
    assert result.converged
    assert np.linalg.norm(result.solution - direct) / np.linalg.norm(direct) <= 1e-8
    assert len(result.history["time_s"]) == len(result.history["rel_residual"]) >= 1


def test_history_is_recorded_and_time_monotone():
    problem = manufactured_problem(1, 63)
    result = solve(problem, "jacobi", StoppingCriterion("residual", tol=1e-6), modes=[(1,), (5,)])
    times = np.array(result.history["time_s"])
    assert np.all(np.diff(times) >= 0) and result.wall_time_s >= times[-2]
    errors = np.array(result.modes["relative_error"])
    assert errors.shape == (len(times), 2)
    # Jacobi kills the higher mode first
    assert errors[len(errors) // 3, 1] < errors[len(errors) // 3, 0]


def test_max_iterations_is_reported_as_not_converged():
    result = solve(manufactured_problem(2, 15), "jacobi", StoppingCriterion("residual", tol=1e-14, max_iterations=100))
    assert not result.converged and result.stop_reason == "max_iterations" and result.iterations == 100


def test_non_finite_input_is_reported_as_divergence():
    grid = Grid((0.0,), (1.0,), (7,))
    source = np.full(7, np.nan)
    with pytest.raises(DivergenceError, match="not finite"):
        solve(Problem(grid, source, source), "jacobi", StoppingCriterion("residual"))


def test_interrupt_keeps_the_state_reached():
    problem = manufactured_problem(2, 31)
    calls = []

    def interrupt_on_third_record(record):
        calls.append(record["iteration"])
        if len(calls) == 3:
            raise KeyboardInterrupt

    result = solve(problem, "jacobi", StoppingCriterion("discretization"), callback=interrupt_on_third_record)
    assert result.stop_reason == "interrupted" and not result.converged
    assert result.iterations > 0 and np.all(np.isfinite(result.solution))
