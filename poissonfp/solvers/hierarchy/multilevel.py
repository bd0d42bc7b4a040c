"""A hierarchy of Jacobi-smoothed grids whose coarsest level is solved by a pluggable coarse solver.

The grids and the transfers between them (2:1 full weighting and linear interpolation where the points
nest) are :mod:`poissonfp.solvers.hierarchy.multilevel_transfers`'s; each level rediscretises the
(2d+1)-point Laplacian on its grid. The coarse solvers (:class:`~poissonfp.solvers.hierarchy.coarse_solvers.CoarseIteration`,
:class:`~poissonfp.solvers.hierarchy.coarse_solvers.ExactCoarse`) live in
:mod:`poissonfp.solvers.hierarchy.coarse_solvers`; they and the transfers' public names are re-exported
here for the callers that import them from this module.

One cycle at level ``l`` (a V-cycle): ``pre`` ω-Jacobi sweeps (compiled kernel of
:mod:`poissonfp.solvers.classical.jacobi_kernels`), residual, restriction ``R = (h_f / h_c)^d Pᵀ``, the cycle at
level ``l + 1`` from zero (at the coarsest level: the coarse solver), interpolation ``P`` of the
correction, ``post`` sweeps. :meth:`Multilevel.full_cycle` starts from the coarsest level (full
multigrid: solve there, interpolate, one V-cycle per level), which leaves an iterate near
discretization accuracy on the fine grid.

Work is counted in sweep-equivalents of the fine grid (one unit: ``(2d+1) N`` matrix entries
touched, a sweep): a sweep, a residual and a grid transfer at level ``l`` count ``N_l / N``; a Galerkin
correction ``2 m N_c / ((2d+1) N)``; a triangular solve ``nnz(L + U) / ((2d+1) N)``.
"""
from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from poissonfp.grid import Grid
from poissonfp.operators import diagonal
from poissonfp.solvers.classical.jacobi_kernels import warm_up as warm_up_jacobi
from poissonfp.solvers.hierarchy import multilevel_kernels as kernels
from poissonfp.solvers.hierarchy.coarse_solvers import CoarseIteration, ExactCoarse
from poissonfp.solvers.hierarchy.multilevel_transfers import (
    coarse_grids,
    interpolation_1d,
    interpolation_taps,
    make_interpolation,
    make_restriction,
    restriction_chain,
    restriction_taps,
)

__all__ = [
    "DEFAULT_COARSEST_POINTS",
    "CoarseIteration",
    "ExactCoarse",
    "Level",
    "Multilevel",
    "ReusableHierarchy",
    "boundary_lift",
    "coarse_grids",
    "interpolation_1d",
    "interpolation_taps",
    "restriction_chain",
    "restriction_taps",
    "warm_up",
]

#: Points per axis of the coarsest level when the settings leave it automatic (0).
DEFAULT_COARSEST_POINTS = {1: 31, 2: 15, 3: 7}

_RESIDUAL = {1: kernels.residual_1d, 2: kernels.residual_2d, 3: kernels.residual_3d}
_SMOOTH = {1: kernels.smooth_1d, 2: kernels.smooth_2d, 3: kernels.smooth_3d}
_MEASURED = {1: kernels.measured_sweep_1d, 2: kernels.measured_sweep_2d, 3: kernels.measured_sweep_3d}


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
        self._restrict = [make_restriction(f, c) for f, c in zip(self.grids[:-1], self.grids[1:])]
        self._interpolate = [make_interpolation(f, c) for f, c in zip(self.grids[:-1], self.grids[1:])]

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
