"""The multilevel cycles of any :class:`~poissonfp.discrete_operator.DiscreteOperator` on its Galerkin
hierarchy (assembled by :mod:`poissonfp.solvers.hierarchy.galerkin_assembly`: geometric coarsening of the
grid and its mask, ``A_c = Pᵀ A P``; smoothed on :class:`~poissonfp.solvers.hierarchy.matrix_level.MatrixLevel`),
the coarsest level's Galerkin space of feature columns, and the discrete reference solved by the hierarchy.

**Singular operators** (Neumann data on every side): the coarsest solve is bordered by the zero-mean
constraint and the fine iterate is projected to zero mean after every cycle.

Work is counted in sweep-equivalents of the fine operator: a sweep, a residual or a transfer at level
``l`` costs ``nnz(M) / nnz(A_0)`` for the matrix ``M`` it applies.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from poissonfp.discrete_operator import DiscreteOperator
from poissonfp.grid import Grid
from poissonfp.solvers.classical.csr_jacobi import warm_up as warm_up_csr
from poissonfp.solvers.hierarchy import galerkin_kernels as kernels
from poissonfp.solvers.hierarchy.galerkin_assembly import axis_positions, galerkin_levels, interpolation_from_positions
from poissonfp.solvers.hierarchy.matrix_level import MatrixLevel
from poissonfp.solvers.hierarchy.multilevel import ReusableHierarchy

__all__ = ["REFERENCE_BACKWARD_ERROR", "GalerkinMultilevel", "MatrixGalerkinSpace", "MatrixLevel", "axis_positions",
           "interpolation_from_positions", "reference_solution"]


class GalerkinMultilevel(ReusableHierarchy):
    """The hierarchy of a general operator and its cycles (same calls as
    :class:`~poissonfp.solvers.hierarchy.multilevel.Multilevel`: ``full_cycle``, ``cycle``, ``restrict_rhs``,
    ``work``, ``fine``, ``coarse``, :meth:`solve_rhs` to reuse it for a new right-hand side).

    Args:
        operator: the discrete operator.
        coarse: the coarsest-level solver (``solve(level, omega, from_zero)``).
        omega: the smoothing weight relative to ``ρ(D⁻¹A) = 2`` (default 2d / (2d + 1)).
        pre, post: sweeps before and after each coarse-grid correction.
        coarsest_points: coarsen until no axis has more points.
        smoother: ``"jacobi"`` (ω-Jacobi, the default) or ``"chebyshev"`` (Chebyshev steps on
            ``[ρ / chebyshev_ratio, ρ]`` of ``D⁻¹A``, as many per smoothing as ``pre`` / ``post`` say).
    """

    hierarchy = "galerkin"

    def __init__(self, operator: DiscreteOperator, coarse, omega: float | None = None, pre: int = 2,
                 post: int = 2, coarsest_points: int = 15, smoother: str = "jacobi",
                 chebyshev_ratio: float = 4.0) -> None:
        warm_up_csr()
        kernels.warm_up()
        grid = operator.grid
        self.operator, self.coarse = operator, coarse
        self.omega = omega or 2.0 * grid.ndim / (2.0 * grid.ndim + 1.0)
        self.pre, self.post = pre, post
        self.work = 0.0
        self.levels, self.prolongations, self.restrictions = galerkin_levels(operator, coarsest_points)
        if smoother not in ("jacobi", "chebyshev"):
            raise ValueError(f"smoother must be 'jacobi' or 'chebyshev', not {smoother!r}")
        self.smoother = smoother
        if smoother == "chebyshev":
            for level in self.levels:
                level.use_chebyshev(chebyshev_ratio)
        self.grids = [level.grid for level in self.levels]
        nnz = self.levels[0].matrix.nnz
        self._sweep_cost = [level.matrix.nnz / nnz for level in self.levels]
        self._transfer_cost = [p.nnz / nnz for p in self.prolongations]
        self._level_unit = [(2 * grid.ndim + 1) * level.size / nnz for level in self.levels]  # coarse solvers' unit

    @property
    def fine(self) -> MatrixLevel:
        return self.levels[0]

    @property
    def coarsest(self) -> Grid:
        return self.grids[-1]

    def set_rhs(self, rhs: np.ndarray) -> None:
        self.fine.rhs[...] = rhs

    def restrict_rhs(self, rhs: np.ndarray) -> None:
        """Set the fine right-hand side and restrict it to every level (full multigrid's first step)."""
        self.set_rhs(rhs)
        for index in range(len(self.restrictions)):
            self._transfer(self.restrictions[index], self.levels[index].rhs, self.levels[index + 1].rhs)
            self.work += self._transfer_cost[index]

    @staticmethod
    def _transfer(matrix: sp.csr_matrix, source: np.ndarray, target: np.ndarray, accumulate: bool = False) -> None:
        """``target = matrix @ source`` (``+=`` with ``accumulate``) in place, both flat or grid-shaped
        (compiled, unsigned indices: no temporary, no scipy dispatch)."""
        kernels.csr_apply(*kernels.unsigned(matrix.indptr, matrix.indices, matrix.data), source.reshape(-1),
                          target.reshape(-1), accumulate)

    def _solve_coarsest(self, from_zero: bool = True) -> None:
        last = len(self.levels) - 1
        self.work += self._level_unit[last] * self.coarse.solve(self.levels[last], self.omega, from_zero=from_zero)

    def cycle(self, index: int = 0, reference: np.ndarray | None = None) -> None:
        """One V-cycle at level ``index`` on its current iterate and right-hand side."""
        level = self.levels[index]
        if index == len(self.levels) - 1:
            self._solve_coarsest(from_zero=index != 0)
            if index == 0:
                level.smooth(max(self.post, 1), self.omega)
                self.work += max(self.post, 1) * self._sweep_cost[0]
                level.project()
            return
        level.smooth(self.pre, self.omega)
        below = self.levels[index + 1]
        self._transfer(self.restrictions[index], level.compute_residual(), below.rhs)
        below.zero()
        self.cycle(index + 1)
        self._transfer(self.prolongations[index], below.buffers[0], level.buffers[0], accumulate=True)
        level.smooth(self.post, self.omega)
        self.work += self._sweep_cost[index] * (self.pre + self.post + 1) + 2 * self._transfer_cost[index]
        if index == 0:
            level.project()

    def full_cycle(self, rhs: np.ndarray | None, reference: np.ndarray | None = None,
                   lift: np.ndarray | None = None) -> None:
        """Full multigrid from zero: restrict ``rhs`` (None: :meth:`restrict_rhs` was called), solve the
        coarsest level, then interpolate and cycle once per level up to the fine grid; ``lift`` as in
        :meth:`poissonfp.solvers.hierarchy.multilevel.Multilevel.full_cycle`."""
        if rhs is not None:
            self.set_rhs(rhs)
        fine_rhs = self.fine.rhs.copy()
        if lift is not None:
            self.fine.zero()
            self.fine.add(lift)
            rhs = self.fine.compute_residual().copy()
            self.work += self._sweep_cost[0]
        if rhs is not None:
            self.restrict_rhs(rhs)
        last = len(self.levels) - 1
        if last == 0:
            self.fine.zero()
            if lift is not None:
                self.fine.add(lift)
                self.fine.rhs[...] = fine_rhs
            self.cycle(0)
            return
        self._solve_coarsest()
        for index in range(last - 1, -1, -1):
            level, below = self.levels[index], self.levels[index + 1]
            self._transfer(self.prolongations[index], below.buffers[0], level.buffers[0])
            self.work += self._transfer_cost[index]
            if index == 0 and lift is not None:
                level.add(lift)
                level.rhs[...] = fine_rhs
            self.cycle(index)

    def measures(self, stats: None = None, reference: np.ndarray | None = None) -> tuple[float, float, float]:
        """(residual norm of the iterate before its last sweep, l2 and max error against ``reference``)."""
        residual = math.sqrt(self.fine.last_residual_sq)
        if reference is None or reference.size == 0:
            return residual, 0.0, 0.0
        error = self.fine.solution - reference
        return residual, float(np.sqrt(np.sum(error**2))), float(np.max(np.abs(error)))


class MatrixGalerkinSpace:
    """The span of feature columns ``Φ`` (zeroed outside the level's unknowns) with the pseudo-inverse of
    ``ΦᵀA_lΦ`` for a level's own matrix: the coarsest-level space of a general operator (the box's
    :class:`~poissonfp.neural.galerkin.GalerkinSpace` assembles the box Laplacian instead)."""

    def __init__(self, level: MatrixLevel, features: np.ndarray, rcond: float = 1e-12) -> None:
        from poissonfp.neural.galerkin import truncated_inverse

        self.grid = level.grid
        self.phi = np.ascontiguousarray(features * level.inside.reshape(-1, 1), dtype=np.float64)
        stiffness = self.phi.T @ (level.matrix @ self.phi)
        self.inverse, self.rank, self.condition = truncated_inverse(
            *np.linalg.eigh((stiffness + stiffness.T) / 2), rcond)

    @property
    def size(self) -> int:
        return self.phi.shape[1]

    def correction(self, residual: np.ndarray) -> np.ndarray:
        """The Galerkin correction ``Φ (ΦᵀAΦ)⁺ Φᵀ r`` as a grid array."""
        return (self.phi @ (self.inverse @ (self.phi.T @ np.ravel(residual)))).reshape(self.grid.shape)


#: The reference's stopping rule: the normwise backward error ``‖b - Au‖₂ / (‖b‖₂ + ‖|A||u|‖₂)`` below this.
REFERENCE_BACKWARD_ERROR = 1e-14


def reference_solution(operator: DiscreteOperator, rhs: np.ndarray, max_cycles: int = 60,
                       backward_error: float = REFERENCE_BACKWARD_ERROR,
                       smoother: str = "chebyshev") -> tuple[np.ndarray, dict] | None:
    """``A⁻¹ rhs`` to round-off by the hierarchy itself: full multigrid, then V-cycles (exact coarsest solve)
    until the normwise backward error ``‖b - Au‖₂ / (‖b‖₂ + ‖|A||u|‖₂)`` is at most ``backward_error``
    (a relative residual alone cannot reach round-off on fine grids: ``‖A‖‖u‖ / ‖b‖`` grows like ``h⁻²``,
    and so does the floor of ``‖b - Au‖ / ‖b‖``). The zero-mean solution when the operator is singular.

    The smoother is Chebyshev (degree 2 on ``[ρ/4, ρ]``) by default here: to round-off it takes fewer cycles
    than ω-Jacobi (CPU time, BLAS on one thread: 2d_contrast 1023² 6 -> 5 cycles, 0.73 -> 0.69 s; 2d_neumann
    1023² 13 -> 10, 1.23 -> 1.09-1.16 s; 3d_coefficient 63³ 20 -> 16, 0.49 -> 0.43 s; disk 255² 19 both).

    Returns ``(u, info)`` (``info``: cycles, backward error, relative residual), or None when the cycles
    stall above the tolerance (a cycle reducing the residual by less than a factor 1.5) or ``max_cycles``
    pass: the caller then factorises.
    """
    from poissonfp.solvers.base import norm2
    from poissonfp.solvers.classical.jacobi_schedule import working_unit
    from poissonfp.solvers.hierarchy.coarse_solvers import ExactCoarse
    from poissonfp.solvers.hierarchy.multilevel import DEFAULT_COARSEST_POINTS

    unit = working_unit(np.asarray(rhs))
    b = np.asarray(rhs, dtype=float) / unit
    hierarchy = GalerkinMultilevel(operator, ExactCoarse(), coarsest_points=DEFAULT_COARSEST_POINTS[operator.grid.ndim],
                                   smoother=smoother)
    magnitude = abs(hierarchy.fine.matrix)
    b_norm = norm2(b)
    hierarchy.full_cycle(b)
    previous = math.inf
    for cycles in range(max_cycles + 1):
        u = hierarchy.fine.solution
        residual = norm2(hierarchy.fine.compute_residual())
        error = residual / ((b_norm + norm2(magnitude @ np.abs(u.ravel()))) or 1.0)
        if error <= backward_error:
            info = {"cycles": cycles, "backward_error": error, "relative_residual": residual / (b_norm or 1.0)}
            return operator.project(u * unit), info
        if cycles == max_cycles or residual * 1.5 > previous:
            return None
        previous = residual
        hierarchy.cycle(0)
    return None

