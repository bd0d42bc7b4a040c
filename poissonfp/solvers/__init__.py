"""All solvers behind one call: ``solve(problem, method, criterion, ...) -> SolveResult``."""
from __future__ import annotations

from typing import Callable, Sequence

from poissonfp.problem import Problem
from poissonfp.solvers.article import solve_article
from poissonfp.solvers.base import DivergenceError, HISTORY_KEYS, Monitor, SolveResult, StoppingCriterion
from poissonfp.solvers.hybrid import solve_hybrid
from poissonfp.solvers.jacobi import solve_jacobi
from poissonfp.solvers.neural import solve_dnn
from poissonfp.solvers.reference import solve_direct, solve_dst, solve_multigrid

__all__ = ["solve", "SOLVERS", "SolveResult", "StoppingCriterion", "Monitor", "DivergenceError", "HISTORY_KEYS"]

SOLVERS: dict[str, Callable[..., SolveResult]] = {
    "jacobi": solve_jacobi,
    "direct": solve_direct,
    "dst": solve_dst,
    "multigrid": solve_multigrid,
    "dnn": solve_dnn,
    "hybrid": solve_hybrid,
    "article": solve_article,
}


def solve(
    problem: Problem,
    method: str = "jacobi",
    criterion: StoppingCriterion | None = None,
    *,
    callback: Callable[[dict], None] | None = None,
    modes: Sequence[tuple[int, ...]] | None = None,
    **options,
) -> SolveResult:
    """Solve ``problem`` with ``method``.

    Args:
        problem: the discrete problem.
        method: one of :data:`SOLVERS`.
        criterion: when to stop (default: relative residual 1e-8).
        callback: receives every history record (progress, live plots).
        modes: sine modes whose error against the discrete solution is recorded over time.
        **options: method settings, e.g. ``omega`` and ``initial_guess`` for Jacobi.

    Example:
        >>> import numpy as np
        >>> from poissonfp.grid import Grid
        >>> grid = Grid((0.0,), (1.0,), (31,))
        >>> problem = Problem.from_functions(grid, lambda x: np.pi**2 * np.sin(np.pi * x),
        ...                                  exact=lambda x: np.sin(np.pi * x))
        >>> result = solve(problem, "dst", StoppingCriterion("discretization"))
        >>> result.converged, result.final["error_vs_exact_inf"] < 1e-3
        (True, True)
    """
    if method not in SOLVERS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(SOLVERS)}")
    monitor = Monitor(problem, criterion or StoppingCriterion(), callback, modes)
    return SOLVERS[method](problem, monitor, **options)
