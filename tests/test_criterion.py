"""The stopping criterion is one object: its metric, reference, scale and value agree with hand computations."""
import numpy as np
import pytest

from poissonfp.grid import Grid
from poissonfp.problem import Problem
from poissonfp.settings import CRITERIA, CRITERION_METRICS, default_criterion
from poissonfp.solvers import StoppingCriterion
from poissonfp.solvers.base import Monitor
from poissonfp.solvers.classical.jacobi import JacobiIteration


def tiny_problem() -> Problem:
    """-u'' = 1 on (0, 1) with u(0) = u(1) = 0 and 3 interior points: u = x(1 - x) / 2 (exact on the grid)."""
    return Problem.from_functions(Grid((0.0,), (1.0,), (3,)), lambda x: np.ones_like(x), boundary=0.0,
                                  exact=lambda x: x * (1 - x) / 2)


def hand_value(kind: str, u: np.ndarray) -> float:
    """The three metrics written out for the tiny problem (h = 1/4, A = 16 tridiag(-1, 2, -1), b = 1)."""
    exact = np.array([3, 4, 3]) / 32
    residual = 1.0 - 16 * (2 * u - np.concatenate(([0.0], u[:-1])) - np.concatenate((u[1:], [0.0])))
    return {"residual": np.sqrt(np.sum(residual**2)) / np.sqrt(3.0),
            "discretization": np.max(np.abs(u - exact)),
            "discrete": np.sqrt(np.sum((u - exact) ** 2)) / np.sqrt(np.sum(exact**2))}[kind]


def test_every_criterion_has_one_metric():
    assert set(CRITERIA) == set(CRITERION_METRICS)
    for kind in CRITERIA:
        assert StoppingCriterion(kind).metric == CRITERION_METRICS[kind]
    assert default_criterion(True) == "discretization" and default_criterion(False) == "residual"


@pytest.mark.parametrize("kind", CRITERIA)
def test_criterion_value_matches_hand_computation(kind):
    problem = tiny_problem()
    criterion = StoppingCriterion(kind, tol=1e-6)
    u = np.array([0.1, 0.2, 0.05])
    expected = hand_value(kind, u)
    assert criterion.evaluate(problem, u) == pytest.approx(expected, rel=1e-12)
    assert Monitor(problem, criterion).metrics(u)[criterion.metric] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("kind", CRITERIA)
def test_sweep_statistics_give_the_same_value(kind):
    """The kernels' norms, read through the criterion, equal the direct evaluation (the residual of the
    iterate before the last sweep, the errors of the iterate after it)."""
    problem = tiny_problem()
    criterion = StoppingCriterion(kind, tol=1e-6)
    iteration = JacobiIteration(problem, 0.8, np.array([0.1, 0.2, 0.05]))
    iteration.sweep(2)
    before = iteration.solution.copy()
    stats = iteration.sweep(1, criterion.reference(problem))
    checked = before if kind == "residual" else iteration.solution
    value = criterion.from_sweep(stats, criterion.scale(problem))
    assert value == pytest.approx(hand_value(kind, checked), rel=1e-10)
