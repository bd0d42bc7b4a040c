"""Assembly of the Galerkin hierarchy of any :class:`~poissonfp.discrete_operator.DiscreteOperator`
(:mod:`poissonfp.solvers.hierarchy.multilevel_galerkin` runs its cycles): a geometric hierarchy of the grid
and its mask, coarse operators by Galerkin projection ``A_c = Pᵀ A P``.

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
fine neighbours is inside gets an identity row of its own. Restriction is ``Pᵀ`` (on the fine level with
the Shortley-Weller rows' scale ``S``: ``A_1 = PᵀSAP``).
"""
from __future__ import annotations

import functools

import numpy as np
import scipy.sparse as sp

from poissonfp.discrete_operator import DiscreteOperator
from poissonfp.grid import Grid
from poissonfp.solvers.hierarchy import galerkin_kernels as kernels
from poissonfp.solvers.hierarchy.matrix_level import MatrixLevel

__all__ = ["axis_positions", "galerkin_levels", "interpolation_from_positions"]


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


#: Up to this many entries of the fine matrix ``A P`` is the compiled product (scipy's result to the bit);
#: above it scipy's. Per level at 127²-1023² (2d_lshape, 2d_contrast, one thread, best of 15) the compiled one
#: took 0.03-0.34 against scipy's 0.06-0.37 ms up to 143,641 entries (the 127² levels and below), and was
#: level with it to 1.10x slower from 258,569 (255²) up, 1.5x slower at 1023² (2d_contrast: 52 against 34 ms).
COMPILED_PRODUCT_NNZ = 200_000


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


def galerkin_levels(operator: DiscreteOperator, coarsest_points: int
                    ) -> tuple[list[MatrixLevel], list[sp.csr_matrix], list[sp.csr_matrix]]:
    """The levels of ``operator``'s hierarchy (finest first, coarsened until no axis has more than
    ``coarsest_points`` points), the prolongations and the restrictions between consecutive ones."""
    grid = operator.grid
    levels = [MatrixLevel(grid, operator.matrix, operator.inside, operator.singular, fine=True)]
    prolongations: list[sp.csr_matrix] = []
    restrictions: list[sp.csr_matrix] = []
    positions = [np.arange(n, dtype=float) for n in grid.shape]
    ends = [(-1.0 if low == "dirichlet" else None, float(n) if high == "dirichlet" else None)
            for n, (low, high) in zip(grid.shape, operator.sides)]
    while max(p.size for p in positions) > coarsest_points:
        coarse_positions = [axis_positions(p, lo is not None, hi is not None) if p.size > 2 else p
                            for p, (lo, hi) in zip(positions, ends)]
        if all(c.size == p.size for c, p in zip(coarse_positions, positions)):
            break
        level, prolongation, restriction = _coarsen(levels[-1], len(levels) == 1, grid, operator.singular,
                                                    positions, coarse_positions, ends)
        levels.append(level)
        prolongations.append(prolongation)
        restrictions.append(restriction)
        positions = coarse_positions
    return levels, prolongations, restrictions


def _coarsen(fine: MatrixLevel, first: bool, base: Grid, singular: bool, positions, coarse_positions,
             ends) -> tuple[MatrixLevel, sp.csr_matrix, sp.csr_matrix]:
    """The level below ``fine`` (``first``: the fine operator's own) at ``coarse_positions``, with its
    prolongation and restriction."""
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
        arrays = kernels.kron_rows(*kernels.unsigned(full.indptr, full.indices, full.data),
                                   *kernels.unsigned(factor.indptr, factor.indices, factor.data), factor.shape[1], rows,
                                   keep if last else np.ones(full.shape[1] * factor.shape[1], dtype=bool))
        full = sp.csr_matrix(arrays[::-1], shape=(full.shape[0] * factor.shape[0], full.shape[1] * factor.shape[1]))
    if len(factors) == 1:  # 1D: the rows outside and the dropped columns by hand
        full = _scaled_rows(full.copy(), fine.inside.ravel().astype(float))
        full.data *= keep[full.indices]
        full.eliminate_zeros()
    prolongation = full
    # coarse points whose own fine point lies outside dropped out (nested sizes); else: points with no weight
    active = nested if nested is not None and nested.any() else np.bincount(prolongation.indices, minlength=size) > 0
    if prolongation.nnz < 2**31 - 1:  # scipy's P.T.tocsr(), compiled (int32 arrays, as scipy makes them)
        restriction = sp.csr_matrix(kernels.transpose(*kernels.unsigned(prolongation.indptr, prolongation.indices,
                                                                        prolongation.data), size)[::-1],
                                    shape=(size, prolongation.shape[0]))
    else:
        restriction = prolongation.T.tocsr()
    if first:  # cut rows exist on the fine operator only
        restriction.data *= kernels.row_scale(*kernels.unsigned(*fine.arrays), fine.grid.ndim)[restriction.indices]
    if fine.matrix.nnz <= COMPILED_PRODUCT_NNZ:  # the compiled A P: scipy's bits without its dispatch
        applied_arrays = kernels.sparse_product(*kernels.unsigned(*fine.arrays), *kernels.unsigned(
            prolongation.indptr, prolongation.indices, prolongation.data), size, False)
    else:  # scipy's: the compiled product ran 1.6x slower on 1023²'s fine level
        applied = fine.matrix @ prolongation
        applied_arrays = (applied.indptr, applied.indices, applied.data)
    matrix = kernels.sparse_product(*kernels.unsigned(restriction.indptr, restriction.indices, restriction.data),
                                    *kernels.unsigned(*applied_arrays), size, True)
    matrix[2][matrix[0][:-1]] += ~active
    spacing = [h * (c[1] - c[0]) / (p[1] - p[0]) if c.size > 1 else h
               for h, p, c in zip(fine.grid.spacing, positions, coarse_positions)]
    lower = tuple(lo + h0 * c[0] - hc for lo, h0, c, hc in zip(base.lower, base.spacing, coarse_positions, spacing))
    grid = Grid(lower, tuple(lo + hc * (n + 1) for lo, hc, n in zip(lower, spacing, shape)), shape)
    return MatrixLevel(grid, matrix, active.reshape(shape), singular), prolongation, restriction

