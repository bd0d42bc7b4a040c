"""Classical reference solvers: sparse direct (SuperLU), fast sine transform, algebraic multigrid.

They set the limit the hybrid is measured against. ``direct`` and ``dst`` return the discrete
solution to round-off in one step; ``multigrid`` (PyAMG's Ruge-Stueben AMG, V-cycles) iterates until
the stopping criterion holds, checked after every cycle.
"""
from __future__ import annotations

import numpy as np

from poissonfp.operators import solve_dst as dst_inverse
from poissonfp.problem import Problem
from poissonfp.settings import MultigridSettings
from poissonfp.solvers.base import Monitor, SolveResult, check_finite, require_box

__all__ = ["multigrid_cycles", "multigrid_hierarchy", "one_step", "solve_direct", "solve_dst", "solve_multigrid"]


def one_step(problem: Problem, monitor: Monitor, method: str, compute) -> SolveResult:
    """Run a one-step method; a Ctrl-C before it finishes leaves the initial state (zero), marked."""
    u, reason = np.zeros(problem.grid.shape), "interrupted"
    try:
        monitor.restart()
        u, reason = compute(), "exact"
    except KeyboardInterrupt:
        pass
    check_finite(u, f"{method} solution")
    return monitor.result(method, u, reason, iterations=int(reason == "exact"))


def solve_direct(problem: Problem, monitor: Monitor, **_: object) -> SolveResult:
    """Sparse LU (SuperLU via scipy) of the assembled matrix (bordered by the zero-mean constraint when
    every side is Neumann)."""
    operator = problem.operator

    def compute() -> np.ndarray:
        import scipy.sparse.linalg  # here, not at the top: dst never needs it (0.05-0.1 s of its imports)

        matrix = operator.system_matrix().tocsc()
        rhs = problem.rhs.ravel()
        if matrix.shape[0] > rhs.size:
            rhs = np.append(rhs, 0.0)
        return scipy.sparse.linalg.spsolve(matrix, rhs)[: problem.grid.size].reshape(problem.grid.shape)

    return one_step(problem, monitor, "direct", compute)


def solve_dst(problem: Problem, monitor: Monitor, **_: object) -> SolveResult:
    """Diagonalise ``A`` with the orthonormal DST-I: O(N log N), exact on the constant-coefficient
    Dirichlet box and refused (:func:`~poissonfp.solvers.base.require_box`) anywhere else."""
    require_box(problem, "dst (the sine transform diagonalises only the box's Laplacian)")
    return one_step(problem, monitor, "dst", lambda: dst_inverse(problem.grid, problem.rhs))


class _Reached(Exception):
    """Raised inside PyAMG's callback once the criterion holds."""


def solve_multigrid(problem: Problem, monitor: Monitor, *, multigrid: MultigridSettings | None = None,
                    **_: object) -> SolveResult:
    """AMG V-cycles (PyAMG; ``multigrid.kind``: Ruge-Stueben or smoothed aggregation), optionally
    accelerating a Krylov method (``multigrid.accel``); the hierarchy set-up is part of the wall time.

    A Ctrl-C during the set-up or a cycle returns the last completed cycle's iterate (zero before the
    first), marked interrupted.
    """
    settings = multigrid or MultigridSettings()
    monitor.restart()
    try:
        hierarchy = multigrid_hierarchy(problem, settings)
    except KeyboardInterrupt:
        return monitor.result("multigrid", np.zeros(problem.grid.shape), "interrupted")
    return multigrid_cycles(problem, monitor, hierarchy, settings)


def multigrid_hierarchy(problem: Problem, settings: MultigridSettings | None = None):
    """PyAMG's hierarchy of ``problem``'s matrix (built once, reused for any right-hand side)."""
    import pyamg

    settings = settings or MultigridSettings()
    build = pyamg.smoothed_aggregation_solver if settings.kind == "sa" else pyamg.ruge_stuben_solver
    return build(problem.operator.matrix.tocsr())


def multigrid_cycles(problem: Problem, monitor: Monitor, hierarchy,
                     settings: MultigridSettings | None = None) -> SolveResult:
    """Cycles of a ready ``hierarchy`` on ``problem.rhs`` from zero until the criterion holds (the
    monitor's clock is not restarted: a caller that built the hierarchy under it counts the set-up)."""
    from poissonfp.solvers.classical.jacobi_schedule import working_unit  # not .jacobi: that loads numba (0.1-0.3 s)

    settings = settings or MultigridSettings()
    shape = problem.grid.shape
    unit = working_unit(problem.rhs)  # PyAMG's own norms would underflow on data of size 1e-200
    metric = monitor.criterion.metric
    reached = [(0, np.zeros(problem.grid.size))]  # (cycles, iterate), replaced in one store

    def after_cycle(x: np.ndarray) -> None:
        reached[0] = (reached[0][0] + 1, x * unit)  # a copy: PyAMG updates x in place during the next cycle
        entry = monitor.record(reached[0][1].reshape(shape), reached[0][0], phase="multigrid")
        if monitor.satisfied(entry[metric]):
            raise _Reached

    reason = "max_iterations"
    try:
        hierarchy.solve(problem.rhs.ravel() / unit, x0=np.zeros(problem.grid.size), tol=1e-300,
                        maxiter=min(monitor.criterion.max_iterations, 200), callback=after_cycle,
                        accel=None if settings.accel == "none" else settings.accel)
    except _Reached:
        reason = "converged"
    except KeyboardInterrupt:
        reason = "interrupted"
    info = {"kind": settings.kind, "accel": settings.accel, "levels": len(hierarchy.levels),
            "operator_complexity": float(hierarchy.operator_complexity())}
    cycles, x = reached[0]
    return monitor.result("multigrid", x.reshape(shape), reason, cycles, info=info)
