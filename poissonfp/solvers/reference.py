"""Classical reference solvers: sparse direct (SuperLU), fast sine transform, algebraic multigrid.

They set the limit the hybrid is measured against. ``direct`` and ``dst`` return the discrete
solution to round-off in one step; ``multigrid`` (PyAMG's Ruge-Stueben AMG, V-cycles) iterates until
the stopping criterion holds, checked after every cycle.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse.linalg

from poissonfp.operators import laplacian_matrix, solve_dst as dst_inverse
from poissonfp.problem import Problem
from poissonfp.solvers.base import Monitor, SolveResult, check_finite

__all__ = ["solve_direct", "solve_dst", "solve_multigrid"]


def solve_direct(problem: Problem, monitor: Monitor, **_: object) -> SolveResult:
    """Sparse LU (SuperLU via scipy) of the assembled matrix."""
    monitor.restart()
    matrix = laplacian_matrix(problem.grid, format="csc")
    u = scipy.sparse.linalg.spsolve(matrix, problem.rhs.ravel()).reshape(problem.grid.shape)
    check_finite(u, "direct solution")
    return monitor.result("direct", u, "exact", iterations=1)


def solve_dst(problem: Problem, monitor: Monitor, **_: object) -> SolveResult:
    """Diagonalise ``A`` with the orthonormal DST-I: O(N log N), exact on boxes."""
    monitor.restart()
    u = dst_inverse(problem.grid, problem.rhs)
    check_finite(u, "sine-transform solution")
    return monitor.result("dst", u, "exact", iterations=1)


class _Reached(Exception):
    """Raised inside PyAMG's callback once the criterion holds."""


def solve_multigrid(problem: Problem, monitor: Monitor, **_: object) -> SolveResult:
    """Ruge-Stueben AMG V-cycles (PyAMG); the hierarchy set-up is part of the wall time."""
    import pyamg

    monitor.restart()
    hierarchy = pyamg.ruge_stuben_solver(laplacian_matrix(problem.grid, format="csr"))
    shape, cycles = problem.grid.shape, [0]
    metric = monitor.criterion.metric
    x_last = [np.zeros(problem.grid.size)]

    def after_cycle(x: np.ndarray) -> None:
        cycles[0] += 1
        x_last[0] = x
        entry = monitor.record(x.reshape(shape), cycles[0], phase="multigrid")
        if monitor.satisfied(entry[metric]):
            raise _Reached

    reason = "max_iterations"
    try:
        hierarchy.solve(problem.rhs.ravel(), x0=np.zeros(problem.grid.size), tol=1e-300,
                        maxiter=min(monitor.criterion.max_iterations, 200), callback=after_cycle)
    except _Reached:
        reason = "converged"
    except KeyboardInterrupt:
        reason = "interrupted"
    info = {"levels": len(hierarchy.levels), "operator_complexity": float(hierarchy.operator_complexity())}
    return monitor.result("multigrid", x_last[0].reshape(shape).copy(), reason, cycles[0], info=info)
