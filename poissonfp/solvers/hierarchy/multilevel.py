"""A hierarchy of Jacobi-smoothed grids whose coarsest level is solved by a pluggable coarse solver.

The fine grid ``n`` is coarsened per axis (``n -> (n - 1) / 2`` for odd ``n``: nested points, so the
transfers are the classical full weighting and linear interpolation; ``n -> n / 2`` for even ``n``: the
same 1D formulas between non-nested points) until every axis has at most ``coarsest_points`` points.
Axes whose spacing is already twice the finest one are not coarsened (semi-coarsening keeps point
Jacobi a smoother on stretched grids). Each level rediscretises the (2d+1)-point Laplacian on its grid.

One cycle at level ``l`` (a V-cycle): ``pre`` ω-Jacobi sweeps (compiled kernel of
:mod:`poissonfp.solvers.classical.jacobi_kernels`), residual, restriction ``R = (h_f / h_c)^d Pᵀ``, the cycle at
level ``l + 1`` from zero (at the coarsest level: the coarse solver), interpolation ``P`` of the
correction, ``post`` sweeps. :meth:`Multilevel.full_cycle` starts from the coarsest level (full
multigrid: solve there, interpolate, one V-cycle per level), which leaves an iterate near
discretization accuracy on the fine grid.

Coarse solvers (:class:`CoarseIteration`, :class:`ExactCoarse`) solve the coarsest level's system; a
:class:`~poissonfp.neural.galerkin.GalerkinSpace` (any: the network's, a classical basis) plugs into
:class:`CoarseIteration` as its correction, and ``space=None`` leaves plain sweeps (the same method
without the space: the control that shows the space's share).

Work is counted in sweep-equivalents of the fine grid (one unit: ``(2d+1) N`` matrix entries
touched, a sweep): a sweep, a residual and a grid transfer at level ``l`` count ``N_l / N``; a Galerkin
correction ``2 m N_c / ((2d+1) N)``; a triangular solve ``nnz(L + U) / ((2d+1) N)``.
"""
from __future__ import annotations

import functools
import itertools
import math
from typing import Any

import numpy as np
import scipy.sparse as sp

from poissonfp.grid import Grid
from poissonfp.operators import diagonal
from poissonfp.solvers.classical.jacobi_kernels import warm_up as warm_up_jacobi
from poissonfp.solvers.hierarchy import multilevel_kernels as kernels
from poissonfp.solvers.hierarchy import nested_kernels

__all__ = [
    "DEFAULT_COARSEST_POINTS",
    "CoarseIteration",
    "ExactCoarse",
    "Level",
    "Multilevel",
    "boundary_lift",
    "coarse_grids",
    "interpolation_1d",
    "restriction_chain",
    "warm_up",
]

#: Points per axis of the coarsest level when the settings leave it automatic (0).
DEFAULT_COARSEST_POINTS = {1: 31, 2: 15, 3: 7}

_RESIDUAL = {1: kernels.residual_1d, 2: kernels.residual_2d, 3: kernels.residual_3d}
_SMOOTH = {1: kernels.smooth_1d, 2: kernels.smooth_2d, 3: kernels.smooth_3d}
_MEASURED = {1: kernels.measured_sweep_1d, 2: kernels.measured_sweep_2d, 3: kernels.measured_sweep_3d}
_RESTRICT = {1: kernels.restrict_1d, 2: kernels.restrict_2d, 3: kernels.restrict_3d}
_INTERPOLATE = {1: kernels.interpolate_add_1d, 2: kernels.interpolate_add_2d, 3: kernels.interpolate_add_3d}
_RESTRICT_NESTED = {1: nested_kernels.restrict_nested_1d, 2: nested_kernels.restrict_nested_2d,
                    3: nested_kernels.restrict_nested_3d}
_INTERPOLATE_NESTED = {1: nested_kernels.interpolate_nested_1d, 2: nested_kernels.interpolate_nested_2d,
                       3: nested_kernels.interpolate_nested_3d}


def boundary_lift(problem) -> np.ndarray | None:
    """The problem's Dirichlet function evaluated at its unknowns (0 outside the domain): a smooth grid
    function with the boundary data, so that ``u - lift`` has zero data. None when there is nothing to
    lift (no such function, zero data, every side Neumann) or it is not finite at some unknown."""
    function = problem.functions.get("boundary")
    operator = problem.operator
    if function is None or operator.singular:
        return None
    with np.errstate(all="ignore"):
        values = np.broadcast_to(getattr(function, "numpy", function)(*problem.grid.coordinates()),
                                 problem.grid.shape).astype(float)
    values = np.where(operator.inside, values, 0.0)
    if not np.all(np.isfinite(values)) or not np.any(values):
        return None
    return values


@functools.cache
def warm_up(ndim: int) -> None:
    """Compile (or load from numba's cache) every kernel of a cycle in ``ndim`` dimensions."""
    warm_up_jacobi(ndim)
    grid = Grid((0.0,) * ndim, (1.0,) * ndim, (7,) * ndim)
    Level(grid).smooth(1, 0.5)
    for coarse in (ExactCoarse(), CoarseIteration(None, max_iterations=1)):
        hierarchy = Multilevel(grid, coarse, coarsest_points=3)
        hierarchy.full_cycle(np.ones(grid.shape), np.zeros(grid.shape))
        hierarchy.cycle(0, np.zeros(grid.shape))


def coarse_grids(grid: Grid, coarsest_points: int) -> list[Grid]:
    """The grids of the hierarchy, finest first (see the module docstring for the rule)."""
    grids = [grid]
    while max(grids[-1].shape) > coarsest_points:
        g = grids[-1]
        finest = min(g.spacing)
        shape = tuple((n - 1) // 2 if n % 2 else n // 2 if (n >= 3 and h < 1.9 * finest) else n
                      for n, h in zip(g.shape, g.spacing))
        shape = tuple(s if s >= 1 and h < 1.9 * finest else n for s, n, h in zip(shape, g.shape, g.spacing))
        if shape == g.shape:
            break
        grids.append(g.with_shape(shape))
    return grids


@functools.lru_cache(maxsize=64)
def interpolation_taps(fine: int, coarse: int) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation from ``coarse`` to ``fine`` interior points of one interval (zero ends), as
    two taps per fine point ``(indices, weights)``; the identity when ``fine == coarse``. Memoised (the
    arrays are read-only): building them cost ~0.7 ms of a 6 ms solve at 255²."""
    if fine == coarse:
        return _frozen(np.arange(fine, dtype=np.int64).reshape(-1, 1), np.ones((fine, 1)))
    position = np.arange(1, fine + 1) * (coarse + 1) / (fine + 1) - 1.0  # coarse index units; -1, coarse: ends
    left = np.floor(position + 1e-12).astype(np.int64)
    theta = position - left
    indices = np.stack([left, left + 1], axis=1)
    weights = np.stack([1.0 - theta, theta], axis=1)
    outside = (indices < 0) | (indices >= coarse) | (weights <= 1e-12)
    weights[outside] = 0.0
    indices[outside] = 0
    return _frozen(indices, weights)


def _frozen(indices: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    indices.flags.writeable = weights.flags.writeable = False
    return indices, weights


def interpolation_1d(fine: int, coarse: int) -> sp.csr_matrix:
    """:func:`interpolation_taps` as a sparse matrix (``fine x coarse``)."""
    indices, weights = interpolation_taps(fine, coarse)
    rows = np.repeat(np.arange(fine), indices.shape[1])
    return sp.csr_matrix((weights.ravel(), (rows, indices.ravel())), shape=(fine, coarse))


@functools.lru_cache(maxsize=64)
def restriction_taps(fine: int, coarse: int, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Full weighting ``ratio * Pᵀ`` (``ratio = h_f / h_c``) as padded taps per coarse point (memoised,
    read-only)."""
    if fine == coarse:
        return interpolation_taps(fine, coarse)
    indices, weights = interpolation_taps(fine, coarse)
    rows = np.repeat(np.arange(fine), indices.shape[1])
    cols, values = indices.ravel(), weights.ravel() * ratio
    keep = values != 0.0
    rows, cols, values = rows[keep], cols[keep], values[keep]
    order = np.argsort(cols, kind="stable")
    rows, cols, values = rows[order], cols[order], values[order]
    counts = np.bincount(cols, minlength=coarse)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot = np.arange(cols.size) - starts[cols]
    out_indices = np.zeros((coarse, max(1, int(counts.max(initial=0)))), dtype=np.int64)
    out_weights = np.zeros(out_indices.shape)
    out_indices[cols, slot] = rows
    out_weights[cols, slot] = values
    return _frozen(out_indices, out_weights)


class _Transfer:
    """A grid transfer in one compiled pass: the fixed-weight kernels of
    :mod:`poissonfp.solvers.hierarchy.nested_kernels` when every axis halves (``n_f = 2 n_c + 1``), else a tensor
    product of 1D tap lists. Buffers are allocated here, once."""

    def __init__(self, taps: list[tuple[np.ndarray, np.ndarray]], shape: tuple[int, ...], restrict: bool,
                 nested: tuple[tuple[int, ...], float] | None = None) -> None:
        self.arguments = [array for pair in taps for array in pair]
        self.shape = tuple(shape)
        self.restrict = restrict
        ndim = len(shape)
        self._kernel: Any = _RESTRICT[ndim] if restrict else _INTERPOLATE[ndim]
        self.out: np.ndarray | None = np.empty(self.shape) if restrict else None
        self.nested = nested is not None
        if nested is not None:
            other, scale = nested  # the other grid's shape (fine for a restriction, coarse padded otherwise)
            self._scale = scale
            self._row = np.empty(other[1:] if ndim > 1 else (1,))
            self._kernel = _RESTRICT_NESTED[ndim] if restrict else _INTERPOLATE_NESTED[ndim]

    def __call__(self, source: np.ndarray, target: np.ndarray | None = None) -> np.ndarray:
        """Restrict ``source`` into ``target`` (default: a buffer reused by the next call), or add the
        interpolation of the zero-padded coarse ``source`` to the interior of the zero-padded ``target``;
        returns ``target``."""
        target = self.out if target is None else target
        assert target is not None, "an interpolation adds into a target"
        if self.nested:
            if self.restrict:
                self._kernel(source, self._scale, self._row, target)
            else:
                self._kernel(source, self._row, target)
        elif self.restrict:
            self._kernel(source, *self.arguments, target)
        else:
            self._kernel(source[(slice(1, -1),) * source.ndim], *self.arguments, target)
        return target


def _nested(fine: Grid, coarse: Grid) -> bool:
    return all(nf == 2 * nc + 1 for nf, nc in zip(fine.shape, coarse.shape))


def _restriction(fine: Grid, coarse: Grid) -> _Transfer:
    taps = [restriction_taps(nf, nc, hf / hc) for nf, nc, hf, hc in
            zip(fine.shape, coarse.shape, fine.spacing, coarse.spacing)]
    scale = float(np.prod([hf / hc for hf, hc in zip(fine.spacing, coarse.spacing)]))
    return _Transfer(taps, coarse.shape, restrict=True, nested=(fine.shape, scale) if _nested(fine, coarse) else None)


def _interpolation(fine: Grid, coarse: Grid) -> _Transfer:
    padded = tuple(n + 2 for n in coarse.shape)
    return _Transfer([interpolation_taps(nf, nc) for nf, nc in zip(fine.shape, coarse.shape)], fine.shape,
                     restrict=False, nested=(padded, 1.0) if _nested(fine, coarse) else None)


def restriction_chain(grid: Grid, coarsest_points: int) -> tuple[list[Grid], list[_Transfer]]:
    """The hierarchy's grids and the restrictions between consecutive ones (finest first)."""
    grids = coarse_grids(grid, coarsest_points)
    return grids, [_restriction(f, c) for f, c in itertools.pairwise(grids)]


class Level:
    """One grid of the hierarchy: padded iterate buffers, right-hand side, residual, transfers."""

    def __init__(self, grid: Grid) -> None:
        self.grid = grid
        self.size = grid.size
        self.coefficients = np.array([1.0 / h**2 for h in grid.spacing])
        self.diagonal = diagonal(grid)
        self.buffers = [np.zeros(tuple(n + 2 for n in grid.shape)) for _ in range(2)]
        self.rhs = np.zeros(grid.shape)
        self.residual = np.zeros(grid.shape)
        self.interior = tuple([slice(1, -1)] * grid.ndim)
        self._sweep = _MEASURED[grid.ndim]
        self._residual = _RESIDUAL[grid.ndim]
        self._smooth = _SMOOTH[grid.ndim]
        self._empty = np.zeros((0,) * grid.ndim)

    @property
    def solution(self) -> np.ndarray:
        """The current iterate (a view on interior points)."""
        return self.buffers[0][self.interior]

    def zero(self) -> None:
        self.buffers[0].fill(0.0)

    def smooth(self, count: int, omega: float, reference: np.ndarray | None = None,
               measure: bool = False) -> np.ndarray | None:
        """``count`` ω-Jacobi sweeps. With ``measure`` (or a ``reference``) the last sweep returns the row
        statistics of the Jacobi solver's kernel (see jacobi_kernels); otherwise None."""
        measured = measure or reference is not None
        plain = count - 1 if measured else count
        u, v = self.buffers
        if plain > 0:
            self._smooth(u, v, self.rhs, self.coefficients, 1.0 / self.diagonal, omega, int(plain))
            if plain % 2:
                self.buffers.reverse()
        if not measured:
            return None
        u, v = self.buffers
        stats = self._sweep(u, v, self.rhs, self.coefficients, 1.0 / self.diagonal, omega,
                            self._empty if reference is None else reference)
        self.buffers.reverse()
        return stats

    def compute_residual(self) -> np.ndarray:
        self._residual(self.buffers[0], self.rhs, self.coefficients, self.diagonal, self.residual)
        return self.residual

    def add(self, correction: np.ndarray) -> None:
        self.buffers[0][self.interior] += correction


class CoarseIteration:
    """Solve the coarsest level by ``{Galerkin correction, sweeps}`` until the residual drops by ``reduction``.

    Works on any level with ``zero``, ``add``, ``smooth``, ``compute_residual`` and ``rhs`` (numpy
    :class:`Level` or :class:`~poissonfp.solvers.hybrids.torch_backend.TorchLevel`).

    Args:
        space: a :class:`~poissonfp.neural.galerkin.GalerkinSpace` on the coarsest grid (or anything with
            ``.correction(r)`` and ``.size``), or None for sweeps alone.
        sweeps: sweeps after each correction.
        reduction: target factor of the coarsest residual.
        max_iterations: cap on the passes (each ``sweeps`` sweeps).
    """

    def __init__(self, space=None, sweeps: int = 4, reduction: float = 0.05, max_iterations: int = 10_000) -> None:
        self.space, self.sweeps, self.reduction, self.max_iterations = space, sweeps, reduction, max_iterations
        self.passes = 0

    def solve(self, level: Level, omega: float, from_zero: bool = True) -> float:
        """Overwrite ``level``'s iterate with an approximate solution from zero (or improve the current
        iterate, ``from_zero=False``: a hierarchy of one level); return the work done in units of sweeps
        of ``level`` (the caller scales it)."""
        if from_zero:
            level.zero()
            r = level.rhs
        else:
            r = level.compute_residual()
        goal = self.reduction * _norm(r)
        work = 0.0
        factor = 2 * (self.space.size if self.space is not None else 0) / (2 * level.grid.ndim + 1)
        for _ in range(self.max_iterations):
            if self.space is not None:
                level.add(self.space.correction(r))
            level.smooth(self.sweeps, omega)
            r = level.compute_residual()
            work += factor + self.sweeps + 1
            self.passes += 1
            if _norm(r) <= goal:
                break
        return work


def _norm(array) -> float:
    """The l2 norm of a numpy array or a torch tensor."""
    return float((array * array).sum()) ** 0.5


class ExactCoarse:
    """Sparse LU (SuperLU) of the coarsest level's matrix, factorised on first use."""

    def __init__(self) -> None:
        self._lu: Any = None
        self.passes = 0

    def solve(self, level: Level, omega: float, from_zero: bool = True) -> float:  # exact: any start
        from scipy.sparse.linalg import splu

        if self._lu is None:
            if hasattr(level, "system_matrix"):  # a Galerkin level (bordered when singular)
                matrix = sp.csc_matrix(level.system_matrix())
            else:
                from poissonfp.operators import laplacian_matrix

                matrix = laplacian_matrix(level.grid, format="csc")
            self._lu = splu(matrix)
            self._work = (self._lu.L.nnz + self._lu.U.nnz) / (2 * level.grid.ndim + 1)
        rhs = level.rhs.ravel()
        if self._lu.shape[0] > level.size:  # the zero-mean constraint's row
            rhs = np.append(rhs, 0.0)
        solution = self._lu.solve(rhs)[: level.size]
        level.zero()
        level.solution[...] = solution.reshape(level.grid.shape)
        self.passes += 1
        return self._work / level.size


class ReusableHierarchy:
    """Solving for a new right-hand side with a hierarchy built once (the box's and the Galerkin one)."""

    fine: Any

    def full_cycle(self, rhs: np.ndarray | None, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def cycle(self, index: int = 0, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def solve_rhs(self, rhs: np.ndarray, tol: float = 1e-10, max_cycles: int = 100) -> tuple[np.ndarray, int]:
        """Reuse the hierarchy for a new right-hand side: full multigrid, then V-cycles until the residual
        norm is below ``tol`` times ``‖rhs‖``; returns (solution copy, cycles after the full cycle)."""
        self.full_cycle(rhs)
        goal = tol * (float(np.linalg.norm(rhs)) or 1.0)
        for cycles in range(max_cycles + 1):
            if float(np.linalg.norm(self.fine.compute_residual())) <= goal:
                return self.fine.solution.copy(), cycles
            self.cycle(0)
        return self.fine.solution.copy(), max_cycles


class Multilevel(ReusableHierarchy):
    """The hierarchy and its cycles.

    Args:
        grid: the fine grid.
        coarse: the coarsest-level solver (:class:`CoarseIteration` or :class:`ExactCoarse`).
        omega: the smoothing weight (default 2d / (2d + 1)).
        pre, post: sweeps before and after each coarse-grid correction.
        coarsest_points: coarsen until no axis has more points.
    """

    hierarchy = "rediscretised"

    def __init__(self, grid: Grid, coarse, omega: float | None = None, pre: int = 2, post: int = 2,
                 coarsest_points: int = 31) -> None:
        self.grids = coarse_grids(grid, coarsest_points)
        self.levels = [Level(g) for g in self.grids]
        self.coarse = coarse
        self.omega = omega or 2.0 * grid.ndim / (2.0 * grid.ndim + 1.0)
        self.pre, self.post = pre, post
        self.work = 0.0
        self._restrict = [_restriction(f, c) for f, c in zip(self.grids[:-1], self.grids[1:])]
        self._interpolate = [_interpolation(f, c) for f, c in zip(self.grids[:-1], self.grids[1:])]

    @property
    def fine(self) -> Level:
        return self.levels[0]

    @property
    def coarsest(self) -> Grid:
        return self.grids[-1]

    def _fraction(self, index: int) -> float:
        return self.levels[index].size / self.levels[0].size

    def set_rhs(self, rhs: np.ndarray) -> None:
        self.fine.rhs[...] = rhs

    def cycle(self, index: int = 0, reference: np.ndarray | None = None) -> np.ndarray | None:
        """One V-cycle at level ``index`` on its current iterate and right-hand side; returns the fine
        level's last-sweep statistics when ``index == 0``."""
        level = self.levels[index]
        fraction = self._fraction(index)
        if index == len(self.levels) - 1:
            if index == 0:  # a single level: improve the iterate, then its sweeps measure as the fine level's do
                self.work += self.coarse.solve(level, self.omega, from_zero=False)
                self.work += self.post
                return level.smooth(self.post, self.omega, reference, measure=True)
            self.work += fraction * self.coarse.solve(level, self.omega)
            return None
        level.smooth(self.pre, self.omega)
        below = self.levels[index + 1]
        self._restrict[index](level.compute_residual(), below.rhs)
        below.zero()
        self.cycle(index + 1)
        self._interpolate[index](below.buffers[0], level.buffers[0])
        stats = level.smooth(self.post, self.omega, reference, measure=index == 0)
        self.work += fraction * (self.pre + self.post + 3)  # sweeps, residual, two transfers
        return stats

    def restrict_rhs(self, rhs: np.ndarray) -> None:
        """Set the fine right-hand side and restrict it to every level (full multigrid's first step)."""
        self.set_rhs(rhs)
        for index in range(len(self.levels) - 1):
            self._restrict[index](self.levels[index].rhs, self.levels[index + 1].rhs)
            self.work += self._fraction(index)

    def full_cycle(self, rhs: np.ndarray | None, reference: np.ndarray | None = None,
                   lift: np.ndarray | None = None) -> np.ndarray | None:
        """Full multigrid from zero: restrict ``rhs`` to every level (None: :meth:`restrict_rhs` was
        called), solve the coarsest, then interpolate and cycle once per level up to the fine grid.

        ``lift``: a fine grid function with the problem's Dirichlet data (see :func:`boundary_lift`): the
        levels below then solve for ``u - lift``, whose data are zero, so that interpolating with zero ends
        leaves no boundary layer; the fine level gets the lift back before its cycle.
        """
        fine_rhs = self._lifted(rhs, lift)
        last = len(self.levels) - 1
        self.work += self._fraction(last) * self.coarse.solve(self.levels[last], self.omega)
        stats = None
        for index in range(last - 1, -1, -1):
            level, below = self.levels[index], self.levels[index + 1]
            level.zero()
            self._interpolate[index](below.buffers[0], level.buffers[0])
            self.work += self._fraction(index)
            if index == 0 and lift is not None:
                level.add(lift)
                level.rhs[...] = fine_rhs
            stats = self.cycle(index, reference if index == 0 else None)
        if last == 0:
            if lift is not None:
                self.fine.rhs[...] = fine_rhs
            stats = self.fine.smooth(self.post, self.omega, reference, measure=True)
            self.work += self.post
        return stats

    def _lifted(self, rhs: np.ndarray | None, lift: np.ndarray | None) -> np.ndarray:
        """Restrict ``rhs`` (or ``rhs - A lift``) to every level; returns the fine right-hand side."""
        if rhs is not None:
            self.set_rhs(rhs)
        fine_rhs = self.fine.rhs.copy()
        if lift is not None:
            self.fine.zero()
            self.fine.add(lift)
            self.work += 1.0  # the residual of the lift
            rhs = self.fine.compute_residual().copy()
        if rhs is not None:
            self.restrict_rhs(rhs)
        return fine_rhs

    def measures(self, stats: np.ndarray, reference: np.ndarray | None = None) -> tuple[float, float, float]:
        """(residual norm of the iterate before the last fine sweep, l2 and max error against the
        reference) from the statistics that sweep returned."""
        totals = stats.sum(axis=0)
        residual = math.sqrt(totals[0]) * float(np.max(self.fine.diagonal)) / self.omega
        return residual, math.sqrt(totals[1]), float(stats[:, 2].max())
