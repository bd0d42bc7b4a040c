"""The exact Jacobi sweep count (DST-I, mode by mode) against real runs checked after every sweep."""
import numpy as np
import pytest

from poissonfp.grid import Grid
from poissonfp.jacobi_theory import error_after, predicted_sweeps
from poissonfp.problem import Problem
from poissonfp.solvers import StoppingCriterion
from poissonfp.solvers.classical.jacobi import JacobiIteration


def _problem_1d(n: int = 40) -> Problem:
    exact = lambda x: np.sin(np.pi * x) + 0.3 * np.sin(5 * np.pi * x) + 0.05 * np.sin(17 * np.pi * x)  # noqa: E731
    source = lambda x: np.pi**2 * (np.sin(np.pi * x) + 7.5 * np.sin(5 * np.pi * x)  # noqa: E731
                                   + 0.05 * 289 * np.sin(17 * np.pi * x))
    return Problem.from_functions(Grid((0.0,), (1.0,), (n,)), source, exact=exact)


def _problem_2d(shape=(23, 17)) -> Problem:
    exact = lambda x, y: np.sin(np.pi * x) * np.sin(2 * np.pi * y) * np.exp(x)  # noqa: E731
    grid = Grid((0.0, 0.0), (1.0, 2.0), shape)
    u = exact(*grid.coordinates())
    from poissonfp.operators import apply_laplacian  # a manufactured discrete problem: b from A u

    problem = Problem(grid, apply_laplacian(grid, u), apply_laplacian(grid, u), u, "2d")
    return problem


def _real_sweeps(problem: Problem, criterion: StoppingCriterion, omega: float, guess=None) -> int:
    """Sweeps until the criterion holds, checked after every sweep with the compiled kernel."""
    iteration = JacobiIteration(problem, omega, guess)
    reference = {"discretization": problem.exact, "discrete": problem.discrete_solution}.get(criterion.kind)
    norm = {"residual": np.linalg.norm(problem.rhs), "discrete": np.linalg.norm(problem.discrete_solution)}
    threshold = criterion.threshold(problem)
    for done in range(1, 200_000):
        stats = iteration.sweep(1, None if reference is None else np.ascontiguousarray(reference))
        value = {"residual": stats["residual_norm"] / norm["residual"], "discretization": stats["error_max"],
                 "discrete": np.sqrt(stats["error_sq"]) / norm["discrete"]}[criterion.kind]
        if value <= threshold:
            return done
    raise AssertionError("no convergence")


@pytest.mark.parametrize("kind, tol", [("discretization", 0.0), ("discrete", 1e-6), ("residual", 1e-7)])
@pytest.mark.parametrize("omega", [1.0, 0.8])
def test_prediction_matches_real_runs_1d(kind, tol, omega):
    problem = _problem_1d()
    criterion = StoppingCriterion(kind, tol=tol)
    predicted = predicted_sweeps(problem, criterion, omega)
    assert abs(predicted - _real_sweeps(problem, criterion, omega)) <= 1
    assert predicted > 100


@pytest.mark.parametrize("kind, tol", [("discrete", 1e-5), ("residual", 1e-6)])
def test_prediction_matches_real_runs_2d_unequal_spacing(kind, tol):
    problem = _problem_2d()
    criterion = StoppingCriterion(kind, tol=tol)
    predicted = predicted_sweeps(problem, criterion, 0.9)
    assert abs(predicted - _real_sweeps(problem, criterion, 0.9)) <= 1


def test_prediction_matches_real_run_2d_discretization_from_a_guess(rng):
    exact = lambda x, y: np.sin(np.pi * x) * np.sin(np.pi * y) + 0.1 * np.sin(9 * np.pi * x) * np.sin(7 * np.pi * y)  # noqa: E731
    source = lambda x, y: 2 * np.pi**2 * np.sin(np.pi * x) * np.sin(np.pi * y) + 0.1 * 130 * np.pi**2 * (  # noqa: E731
        np.sin(9 * np.pi * x) * np.sin(7 * np.pi * y))
    problem = Problem.from_functions(Grid((0.0, 0.0), (1.0, 1.0), (31, 31)), source, exact=exact)
    guess = 0.01 * rng.standard_normal(problem.grid.shape)
    criterion = StoppingCriterion("discretization")
    predicted = predicted_sweeps(problem, criterion, 1.0, guess)
    assert abs(predicted - _real_sweeps(problem, criterion, 1.0, guess)) <= 1


def test_error_after_matches_the_iteration():
    problem = _problem_1d(25)
    iteration = JacobiIteration(problem, 0.7)
    iteration.sweep(37)
    np.testing.assert_allclose(error_after(problem, 37, 0.7), iteration.solution - problem.discrete_solution,
                               atol=1e-12)


def test_already_converged_guess_needs_no_sweeps():
    problem = _problem_1d()
    assert predicted_sweeps(problem, StoppingCriterion("discrete", tol=1e-6), 1.0, problem.discrete_solution) == 0


def test_divergent_weight_never_meets_the_criterion():
    with pytest.raises(ValueError, match="never met"):
        predicted_sweeps(_problem_1d(), StoppingCriterion("discrete", tol=1e-6), omega=2.5)
