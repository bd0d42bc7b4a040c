"""Entry points for arrays: a sparse system ``A u = b``, or -∇·(k∇u) = f given as arrays or callables on a grid.

A scientist with data rather than a case file calls :func:`solve_grid` (f, g, a domain mask and a
coefficient as arrays or callables) or :func:`solve` with a matrix and a right-hand side; both return the
same :class:`~poissonfp.solvers.SolveResult` as every other solve (history, verdict, ``result.plot()``).

>>> import numpy as np
>>> from poissonfp import Grid, solve_grid
>>> grid = Grid((0.0, 0.0), (1.0, 1.0), (31, 31))
>>> result = solve_grid(lambda x, y: 2 * np.pi**2 * np.sin(np.pi * x) * np.sin(np.pi * y), grid=grid)
>>> result.converged, round(float(result.solution.max()), 3)
(True, 1.001)
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from poissonfp.grid import Grid
from poissonfp.problem import Problem
from poissonfp.solvers.base import HISTORY_KEYS, SolveResult, StoppingCriterion, StopSolve, norm2

__all__ = ["GRID_METHODS", "MATRIX_METHODS", "solve", "solve_grid", "solve_matrix"]

#: Methods :func:`solve_matrix` offers.
MATRIX_METHODS = ("direct", "multigrid", "jacobi")
#: Methods :func:`solve_grid` offers (the neural ones need a case: their data are formulas).
GRID_METHODS = ("direct", "multigrid", "jacobi", "dst")

Data = "np.ndarray | float | Callable[..., np.ndarray]"


def solve(problem_or_matrix: Any, *args: Any, **kwargs: Any) -> SolveResult:
    """``solve(problem, method, criterion, ...)`` (:func:`poissonfp.solvers.solve`) for a
    :class:`~poissonfp.problem.Problem`, ``solve(A, b, ...)`` (:func:`solve_matrix`) for a matrix.

    >>> import numpy as np, scipy.sparse as sp
    >>> A = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(5, 5))
    >>> result = solve(A, np.ones(5))
    >>> result.solution.round(6).tolist(), result.stop_reason
    ([2.5, 4.0, 4.5, 4.0, 2.5], 'exact')
    """
    if isinstance(problem_or_matrix, Problem):
        from poissonfp.solvers import solve as solve_problem

        return solve_problem(problem_or_matrix, *args, **kwargs)
    return solve_matrix(problem_or_matrix, *args, **kwargs)


def solve_matrix(matrix: Any, rhs: Any, method: str = "direct", *, tol: float = 1e-8, max_iterations: int = 100_000,
                 callback: Callable[[dict], None] | None = None) -> SolveResult:
    """Solve ``A u = b`` for a square (sparse or dense) matrix.

    Args:
        matrix: ``A``, n x n, finite.
        rhs: ``b``, n values, finite.
        method: ``"direct"`` (sparse LU), ``"multigrid"`` (Ruge-Stueben AMG V-cycles) or ``"jacobi"``.
        tol: the iterative methods stop at ``||b - Au|| <= tol ||b||`` (the criterion of every method).
        max_iterations: cycles or sweeps after which an iterative method gives up.
        callback: receives each history record; raising :class:`~poissonfp.solvers.base.StopSolve` stops.

    Raises:
        ValueError: a matrix that is not square and finite, a right-hand side of the wrong length, an
            unknown method, a tolerance that is not a positive number.
    """
    import scipy.sparse as sp

    A = sp.csr_matrix(matrix, dtype=float) if not sp.issparse(matrix) else matrix.tocsr().astype(float)
    b = np.asarray(rhs, dtype=float).ravel()
    if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] == 0:
        raise ValueError(f"A must be a non-empty square matrix, got shape {A.shape}")
    if b.size != A.shape[0]:
        raise ValueError(f"b must have {A.shape[0]} values (A is {A.shape[0]} x {A.shape[1]}), got {b.size}")
    if not (np.all(np.isfinite(A.data)) and np.all(np.isfinite(b))):
        raise ValueError("A and b must be finite (no NaN or inf)")
    if method not in MATRIX_METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(MATRIX_METHODS)}")
    criterion = StoppingCriterion("residual", tol=tol, max_iterations=max_iterations)
    record = _Recorder(A, b, criterion.tol, callback)
    start = time.perf_counter()
    u, reason, iterations = np.zeros(b.size), "max_iterations", 0
    try:
        if method == "direct":
            import scipy.sparse.linalg

            u, reason, iterations = scipy.sparse.linalg.spsolve(A.tocsc(), b), "exact", 1
        elif method == "multigrid":
            u, reason, iterations = _multigrid(A, b, criterion, record)
        else:
            u, reason, iterations = _jacobi(A, b, criterion, record)
    except StopSolve:
        u, iterations, reason = record.last, record.iterations, "stopped"
    wall = time.perf_counter() - start
    final = record.final(u, iterations)
    converged = (final["rel_residual"] or 0.0) <= criterion.tol
    reason = "converged" if converged and reason != "exact" else reason
    return SolveResult(method, u, bool(converged), reason, wall, iterations, 0, record.history, {},
                       {"criterion": "residual", "threshold": criterion.tol}, final)


class _Recorder:
    """The history of a matrix solve (relative residual per iteration) and the callback."""

    def __init__(self, A, b: np.ndarray, tol: float, callback: Callable[[dict], None] | None) -> None:
        self.A, self.b, self.tol, self.callback = A, b, tol, callback
        self.scale = norm2(b) or 1.0
        self.history: dict[str, list] = {key: [] for key in HISTORY_KEYS}
        self.start = time.perf_counter()
        self.last, self.iterations = np.zeros(b.size), 0

    def __call__(self, u: np.ndarray, iteration: int, final: bool = False) -> float:
        self.last, self.iterations = u, iteration
        value = norm2(self.b - self.A @ u) / self.scale
        entry: dict[str, float | None] = dict.fromkeys(HISTORY_KEYS)
        entry.update(time_s=time.perf_counter() - self.start, iteration=iteration, dnn_steps=0, rel_residual=value)
        for key in HISTORY_KEYS:
            self.history[key].append(entry[key])
        if self.callback is not None and not final:
            self.callback(entry)
        return value

    def final(self, u: np.ndarray, iterations: int) -> dict[str, float | None]:
        value = self(u, iterations, final=True)
        return {key: (value if key == "rel_residual" else None) for key in HISTORY_KEYS[3:]}


def _multigrid(A, b: np.ndarray, criterion: StoppingCriterion, record: _Recorder) -> tuple[np.ndarray, str, int]:
    import pyamg

    from poissonfp.solvers.classical.jacobi import working_unit

    unit = working_unit(b)
    count = [0]

    class Reached(Exception):
        pass

    def after_cycle(x: np.ndarray) -> None:
        count[0] += 1
        if record(x * unit, count[0]) <= criterion.tol:
            raise Reached

    try:
        pyamg.ruge_stuben_solver(A).solve(b / unit, tol=1e-300, maxiter=criterion.max_iterations, callback=after_cycle)
    except Reached:
        return record.last, "converged", count[0]
    return record.last, "max_iterations", count[0]


def _jacobi(A, b: np.ndarray, criterion: StoppingCriterion, record: _Recorder,
            check_every: int = 10) -> tuple[np.ndarray, str, int]:
    diagonal = A.diagonal()
    if np.any(diagonal == 0):
        raise ValueError("jacobi needs a nonzero diagonal")
    u, sweeps = np.zeros(b.size), 0
    while sweeps < criterion.max_iterations:
        u = u + (b - A @ u) / diagonal
        sweeps += 1
        if sweeps % check_every == 0 or sweeps == criterion.max_iterations:
            value = record(u, sweeps)
            if not np.isfinite(value):
                raise ValueError("jacobi diverged (the matrix is not diagonally dominant enough)")
            if value <= criterion.tol:
                return u, "converged", sweeps
    return u, "max_iterations", sweeps


def _as_function(values: Any, grid: Grid, what: str) -> Callable[..., np.ndarray]:
    """A callable of coordinates: callables as given, numbers as constants, arrays of ``grid.shape`` sampled
    at the nearest grid point (a staircase: give a callable for second-order boundaries)."""
    if callable(values):
        return values
    array = np.asarray(values, dtype=float)
    if array.ndim == 0:
        return lambda *coords: np.full(np.broadcast_shapes(*(np.shape(c) for c in coords)), float(array))
    if array.shape != grid.shape:
        raise ValueError(f"{what} must be a number, a callable or an array of the grid's shape {grid.shape}, "
                         f"got an array of shape {array.shape}")

    def nearest(*coords: np.ndarray) -> np.ndarray:
        index = tuple(np.clip(np.rint((np.asarray(c) - a) / h).astype(int) - 1, 0, n - 1)
                      for c, a, h, n in zip(coords, grid.lower, grid.spacing, grid.shape))
        return array[index]

    return nearest


def solve_grid(source: Any, *, grid: Grid, boundary: Any = 0.0, mask: Any = None, coefficient: Any = None,
               exact: Any = None, method: str = "direct", criterion: StoppingCriterion | None = None,
               callback: Callable[[dict], None] | None = None) -> SolveResult:
    """Solve -∇·(k∇u) = f on ``grid`` (u = g on the boundary of the domain) from arrays or callables.

    Args:
        source: f: an array of ``grid.shape``, a number, or a callable of the coordinates.
        grid: the interior points (:class:`~poissonfp.grid.Grid`).
        boundary: g: a number or a callable (evaluated on the box's sides and at the domain's boundary points).
        mask: the domain: a boolean array of ``grid.shape`` (True inside) or a callable > 0 inside; None is
            the whole box.
        coefficient: k > 0: a number, array or callable; None is k = 1.
        exact: the exact solution, if known (array or callable): errors against it are recorded.
        method: one of :data:`GRID_METHODS` (``dst`` on the box with k = 1 only).
        criterion: when an iterative method stops (default: relative residual 1e-8).
        callback: receives each history record; raising :class:`~poissonfp.solvers.base.StopSolve` stops.

    Arrays are taken at the grid's points; off them (the boundary points of a curved domain, the midpoints
    where k is used) the nearest grid point's value is used. The result's ``info["problem"]`` holds the
    :class:`~poissonfp.problem.Problem` solved.

    Raises:
        ValueError: data of the wrong shape or not finite, an unknown method, no grid point inside.
    """
    from poissonfp.discrete_operator import DomainError, assemble
    from poissonfp.solvers import solve as solve_problem

    if method not in GRID_METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(GRID_METHODS)}")
    coords = grid.coordinates()
    f = np.array(np.broadcast_to(_as_function(source, grid, "source")(*coords), grid.shape), dtype=float)
    g = _as_function(boundary, grid, "boundary")
    u = None if exact is None else np.array(np.broadcast_to(_as_function(exact, grid, "exact")(*coords), grid.shape),
                                            dtype=float)
    if not np.all(np.isfinite(f)) or (u is not None and not np.all(np.isfinite(u))):
        raise ValueError("source and exact must be finite at every grid point")
    inside = None
    if mask is not None:
        inside = mask if callable(mask) else _as_function(np.where(np.asarray(mask, dtype=bool), 1.0, -1.0), grid, "mask")
    k = None if coefficient is None else _as_function(coefficient, grid, "coefficient")
    try:
        operator, rhs = assemble(grid, f, g, inside=inside, coefficient=k)
    except DomainError as err:
        raise ValueError(str(err)) from None
    if not np.all(np.isfinite(rhs)):
        raise ValueError("the boundary values are not finite next to some grid point")
    if u is not None and inside is not None:
        u = np.where(operator.inside, u, 0.0)
    problem = Problem(grid, np.where(operator.inside, f, 0.0), rhs, u, "arrays", {}, general=operator)
    result = solve_problem(problem, method, criterion or StoppingCriterion("residual"), callback=callback)
    result.info["problem"] = problem
    return result
