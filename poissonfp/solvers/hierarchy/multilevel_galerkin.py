"""The multilevel hierarchy of any :class:`~poissonfp.discrete_operator.DiscreteOperator`: a geometric
hierarchy of the grid and its mask, coarse operators by Galerkin projection ``A_c = Pᵀ A P``.

**Coarse points.** Per axis, every other point of the level, chosen so that a node on a Neumann side
stays a coarse node and a Dirichlet end (the padding point beyond the grid) lies two fine spacings from
the first coarse point: for the sizes ``2^k - 1`` (plus one node per Neumann side) every level nests
uniformly. Positions are kept in units of the finest spacing, so any other size still gets linear
interpolation between the true positions.

**Interpolation** ``P`` is the tensor product of 1D linear interpolation between coarse points, with the
value 0 at a Dirichlet end (the correction vanishes there) and the nearest coarse value beyond the last
coarse point toward a Neumann side (constants are interpolated exactly when no side is Dirichlet: the
null space of an all-Neumann operator is kept). Rows of fine points outside the mask are zeroed, so
the identity rows of those points never leak into a coarse operator; a coarse point none of whose
fine neighbours is inside gets an identity row of its own. Restriction is ``Pᵀ``.

**Smoother.** ω-Jacobi with the local diagonal (compiled CSR kernel of
:mod:`poissonfp.solvers.classical.csr_jacobi`), ``ω_l = ω · 2 / ρ(D_l⁻¹ A_l)`` with ``ρ`` bounded by Gershgorin on the
fine level (2, tight for its stencils) and estimated by power iteration on the coarse ones, so the box's weight ``ω`` (tuned for ``ρ = 2``, the (2d+1)-point Laplacian) carries over
to the 9- and 27-point Galerkin stencils and to variable coefficients.

**Singular operators** (Neumann data on every side): the coarsest solve is bordered by the zero-mean
constraint and the fine iterate is projected to zero mean after every cycle.

Work is counted in sweep-equivalents of the fine operator: a sweep, a residual or a transfer at level
``l`` costs ``nnz(M) / nnz(A_0)`` for the matrix ``M`` it applies.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import scipy.sparse as sp

from poissonfp.discrete_operator import DiscreteOperator
from poissonfp.grid import Grid
from poissonfp.solvers.classical.csr_jacobi import csr_sweeps
from poissonfp.solvers.classical.csr_jacobi import warm_up as warm_up_csr
from poissonfp.solvers.hierarchy import galerkin_kernels as kernels
from poissonfp.solvers.hierarchy.multilevel import ReusableHierarchy

__all__ = ["GalerkinMultilevel", "MatrixLevel", "axis_positions", "interpolation_from_positions"]


def axis_positions(positions: np.ndarray, lower_dirichlet: bool, upper_dirichlet: bool) -> np.ndarray:
    """The coarse points of one axis: every other of ``positions`` (sorted, in finest-spacing units),
    starting with the first point for a Neumann lower side, the second for a Dirichlet one; a Neumann
    upper side's node is always kept."""
    start = 1 if lower_dirichlet and positions.size > 2 else 0
    chosen = positions[start::2]
    if not upper_dirichlet and chosen[-1] != positions[-1]:
        chosen = np.append(chosen, positions[-1])
    return chosen


def interpolation_from_positions(fine: np.ndarray, coarse: np.ndarray, lower: float | None,
                                 upper: float | None) -> sp.csr_matrix:
    """1D linear interpolation from values at ``coarse`` positions to ``fine`` positions (``len(fine) x
    len(coarse)``); ``lower`` / ``upper``: positions of the Dirichlet ends where the value is 0 (None: a
    Neumann side, constant extrapolation)."""
    n, m = fine.size, coarse.size
    right = np.searchsorted(coarse, fine)  # first coarse position >= the fine one
    left = right - 1
    exact = (right < m) & (coarse[np.minimum(right, m - 1)] == fine)
    x0 = np.where(left >= 0, coarse[np.maximum(left, 0)], -np.inf if lower is None else lower)
    x1 = np.where(right < m, coarse[np.minimum(right, m - 1)], np.inf if upper is None else upper)
    with np.errstate(invalid="ignore", divide="ignore"):
        theta = np.where(np.isfinite(x0) & np.isfinite(x1), (fine - x0) / (x1 - x0), np.where(np.isfinite(x0), 0.0, 1.0))
    theta = np.where(exact, 1.0, theta)
    left = np.where(exact, right, left)
    rows = np.concatenate([np.arange(n), np.arange(n)])
    cols = np.concatenate([left, right])
    vals = np.concatenate([np.where(exact, 0.0, 1.0 - theta), theta])
    keep = (cols >= 0) & (cols < m) & (vals != 0.0)
    return sp.csr_matrix((vals[keep], (rows[keep], cols[keep])), shape=(n, m))


@functools.lru_cache(maxsize=128)
def _axis_factor(fine: tuple, coarse: tuple, lower: float | None, upper: float | None) -> sp.csr_matrix:
    """:func:`interpolation_from_positions`, memoised per axis (the box's transfers memoise their taps the
    same way); do not modify the result."""
    return interpolation_from_positions(np.asarray(fine), np.asarray(coarse), lower, upper)


def _scaled_rows(matrix: sp.csr_matrix, factors: np.ndarray) -> sp.csr_matrix:
    """``diag(factors) @ matrix`` without a sparse product (zeros dropped)."""
    matrix.data *= np.repeat(factors, np.diff(matrix.indptr))
    matrix.eliminate_zeros()
    return matrix


def _nested_inside(inside: np.ndarray, positions, coarse_positions) -> np.ndarray | None:
    """Per coarse point (flat): whether the fine point at its position is inside; None when a coarse
    position is not a fine one (non-nested sizes)."""
    picks = []
    for p, c in zip(positions, coarse_positions):
        index = np.searchsorted(p, c)
        if np.any(index >= p.size) or np.any(p[np.minimum(index, p.size - 1)] != c):
            return None
        picks.append(index)
    return inside[np.ix_(*picks)].ravel()


def _spectral_radius(arrays: tuple[np.ndarray, np.ndarray, np.ndarray], inv_diag: np.ndarray,
                     iterations: int = 12) -> float:
    """An upper estimate of ρ(D⁻¹A): power iteration from a seeded vector, plus 5 % (one compiled call;
    12 scipy products and numpy norms per level cost 0.4 ms of overhead at 127²)."""
    vector = np.random.default_rng(0).random(inv_diag.size)
    return 1.05 * kernels.power_estimate(*arrays, inv_diag, vector, iterations)


class MatrixLevel:
    """One level: its CSR matrix, flat iterate buffers, right-hand side and residual.

    Has the interface the coarse solvers use (``zero``, ``add``, ``smooth``, ``compute_residual``,
    ``rhs``, ``solution``, ``grid``, ``size``); ``smooth``'s ``omega`` is relative to ``ρ(D⁻¹A) = 2``.
    """

    def __init__(self, grid: Grid, matrix: sp.csr_matrix | tuple[np.ndarray, np.ndarray, np.ndarray],
                 inside: np.ndarray, singular: bool = False, fine: bool = False) -> None:
        self.grid, self.size, self.inside, self.singular = grid, grid.size, inside, singular
        if isinstance(matrix, tuple):  # diagonal-first CSR arrays (galerkin_product's layout), not copied
            indptr, indices, data = matrix
        else:
            csr = matrix.tocsr()
            indptr, indices, data = kernels.diagonal_first(csr.indptr, csr.indices, csr.data)
        self.arrays = (indptr, indices, data)
        self.matrix = sp.csr_matrix((data, indices, indptr), shape=(grid.size, grid.size), copy=False)
        off_ptr, off_indices, off_data, diagonal, bound = kernels.split_diagonal(indptr, indices, data)
        self._off = (off_ptr, off_indices, off_data)  # A - D: every row holds its diagonal (never empty)
        self.inv_diag = 1.0 / diagonal
        self.diagonal = diagonal.reshape(grid.shape)
        self.omega_scale = 2.0 / (bound if fine else _spectral_radius(self.arrays, self.inv_diag))
        self.rhs = np.zeros(grid.shape)
        self.residual = np.zeros(grid.shape)
        self._flat_rhs = self.rhs.reshape(-1)
        self.buffers = [np.zeros(grid.size), np.zeros(grid.size)]
        self._done = np.zeros(1, dtype=np.int64)
        self.last_residual_sq = math.inf
        self.smoother, self.chebyshev_ratio = "jacobi", 4.0
        self._work = np.zeros(0)

    def use_chebyshev(self, ratio: float) -> None:
        """Smooth by Chebyshev steps on ``[ρ / ratio, ρ]`` instead of ω-Jacobi (``omega`` is then unused)."""
        self.smoother, self.chebyshev_ratio = "chebyshev", float(ratio)
        self._work = np.zeros(self.size)

    @property
    def solution(self) -> np.ndarray:
        """The current iterate (a view of grid shape)."""
        return self.buffers[0].reshape(self.grid.shape)

    def zero(self) -> None:
        self.buffers[0].fill(0.0)

    def add(self, correction: np.ndarray) -> None:
        self.buffers[0] += np.ravel(correction)

    def smooth(self, count: int, omega: float, reference: np.ndarray | None = None, measure: bool = False) -> None:
        """``count`` ω-Jacobi sweeps; :attr:`last_residual_sq` holds the squared residual norm of the
        iterate the last sweep started from."""
        if count <= 0:
            return
        u, v = self.buffers
        if self.smoother == "chebyshev":  # the interval [ρ / ratio, ρ] of D⁻¹A, ρ as ω-Jacobi's weight has it
            upper = 2.0 / self.omega_scale
            self.last_residual_sq = kernels.chebyshev_smooth(*self._off, self.inv_diag, self._flat_rhs, u, v,
                                                             self._work, upper / self.chebyshev_ratio, upper,
                                                             int(count))
            return
        self.last_residual_sq = csr_sweeps(*self._off, self.inv_diag, self._flat_rhs, u, v,
                                           omega * self.omega_scale, int(count), self._done)
        if count % 2:
            self.buffers.reverse()

    def compute_residual(self) -> np.ndarray:
        self.residual.reshape(-1)[:] = self._flat_rhs - self.matrix @ self.buffers[0]
        return self.residual

    def project(self) -> None:
        """Remove the iterate's mean over the unknowns (singular levels only)."""
        if self.singular:
            u = self.buffers[0]
            u[self.inside.ravel()] -= float(np.mean(u[self.inside.ravel()]))

    def system_matrix(self) -> sp.spmatrix:
        """The matrix, bordered by the zero-mean constraint when it is singular (for a direct solve)."""
        if not self.singular:
            return self.matrix
        ones = sp.csr_matrix(self.inside.ravel().astype(float)[None, :])
        return sp.bmat([[self.matrix, ones.T], [ones, None]], format="csc")


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
        self.levels = [MatrixLevel(grid, operator.matrix, operator.inside, operator.singular, fine=True)]
        self.prolongations: list[sp.csr_matrix] = []
        self.restrictions: list[sp.csr_matrix] = []
        positions = [np.arange(n, dtype=float) for n in grid.shape]
        ends = [(-1.0 if low == "dirichlet" else None, float(n) if high == "dirichlet" else None)
                for n, (low, high) in zip(grid.shape, operator.sides)]
        while max(p.size for p in positions) > coarsest_points:
            coarse_positions = [axis_positions(p, lo is not None, hi is not None) if p.size > 2 else p
                                for p, (lo, hi) in zip(positions, ends)]
            if all(c.size == p.size for c, p in zip(coarse_positions, positions)):
                break
            self._coarsen(positions, coarse_positions, ends)
            positions = coarse_positions
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

    def _coarsen(self, positions, coarse_positions, ends) -> None:
        fine = self.levels[-1]
        factors = [_axis_factor(tuple(p), tuple(c), lo, hi) for p, c, (lo, hi) in
                   zip(positions, coarse_positions, ends)]
        shape = tuple(c.size for c in coarse_positions)
        size = int(np.prod(shape))
        nested = _nested_inside(fine.inside, positions, coarse_positions)
        keep = nested if nested is not None and nested.any() else np.ones(size, dtype=bool)
        full = factors[0]
        for index, factor in enumerate(factors[1:], start=1):
            last = index == len(factors) - 1
            rows = fine.inside.ravel().astype(float) if last else np.ones(full.shape[0] * factor.shape[0])
            arrays = kernels.kron_rows(full.indptr, full.indices, full.data, factor.indptr, factor.indices,
                                       factor.data, factor.shape[1], rows,
                                       keep if last else np.ones(full.shape[1] * factor.shape[1], dtype=bool))
            full = sp.csr_matrix(arrays[::-1], shape=(full.shape[0] * factor.shape[0], full.shape[1] * factor.shape[1]))
        if len(factors) == 1:  # 1D: the rows outside and the dropped columns by hand
            full = _scaled_rows(full.copy(), fine.inside.ravel().astype(float))
            full.data *= keep[full.indices]
            full.eliminate_zeros()
        prolongation = full
        # coarse points whose own fine point lies outside dropped out (nested sizes); else: points with no weight
        active = nested if nested is not None and nested.any() else np.bincount(prolongation.indices, minlength=size) > 0
        restriction = prolongation.T.tocsr()
        if len(self.levels) == 1:  # cut rows exist on the fine operator only
            restriction.data *= kernels.row_scale(*fine.arrays, fine.grid.ndim)[restriction.indices]
        product = restriction @ (fine.matrix @ prolongation)  # scipy's two products beat a fused one 2x
        matrix = kernels.diagonal_first(product.indptr, product.indices, product.data)
        matrix[2][matrix[0][:-1]] += ~active
        spacing = [h * (c[1] - c[0]) / (p[1] - p[0]) if c.size > 1 else h
                   for h, p, c in zip(fine.grid.spacing, positions, coarse_positions)]
        base = self.operator.grid
        lower = tuple(lo + h0 * c[0] - hc for lo, h0, c, hc in zip(base.lower, base.spacing, coarse_positions, spacing))
        grid = Grid(lower, tuple(lo + hc * (n + 1) for lo, hc, n in zip(lower, spacing, shape)), shape)
        self.levels.append(MatrixLevel(grid, matrix, active.reshape(shape), self.operator.singular))
        self.prolongations.append(prolongation)
        self.restrictions.append(restriction)

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
        for index, restriction in enumerate(self.restrictions):
            self.levels[index + 1].rhs.reshape(-1)[:] = restriction @ self.levels[index].rhs.reshape(-1)
            self.work += self._transfer_cost[index]

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
        residual = level.compute_residual().reshape(-1)
        below = self.levels[index + 1]
        below.rhs.reshape(-1)[:] = self.restrictions[index] @ residual
        below.zero()
        self.cycle(index + 1)
        level.buffers[0] += self.prolongations[index] @ below.buffers[0]
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
            level.buffers[0][:] = self.prolongations[index] @ below.buffers[0]
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
    from poissonfp.solvers.hierarchy.multilevel import DEFAULT_COARSEST_POINTS, ExactCoarse

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
