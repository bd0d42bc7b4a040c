"""The box hierarchy's grids and the transfers between them (:mod:`poissonfp.solvers.hierarchy.multilevel`).

The fine grid ``n`` is coarsened per axis (``n -> (n - 1) / 2`` for odd ``n``: nested points, so the
transfers are the classical full weighting and linear interpolation; ``n -> n / 2`` for even ``n``: the
same 1D formulas between non-nested points) until every axis has at most ``coarsest_points`` points.
Axes whose spacing is already twice the finest one are not coarsened (semi-coarsening keeps point
Jacobi a smoother on stretched grids). Restriction is ``R = (h_f / h_c)^d Pᵀ`` for the interpolation ``P``;
a transfer counts one sweep-equivalent of its level.
"""
from __future__ import annotations

import functools
import itertools
from typing import Any

import numpy as np
import scipy.sparse as sp

from poissonfp.grid import Grid
from poissonfp.solvers.hierarchy import multilevel_kernels as kernels
from poissonfp.solvers.hierarchy import nested_kernels

__all__ = [
    "Transfer",
    "coarse_grids",
    "interpolation_1d",
    "interpolation_taps",
    "make_interpolation",
    "make_restriction",
    "restriction_chain",
    "restriction_taps",
]

_RESTRICT = {1: kernels.restrict_1d, 2: kernels.restrict_2d, 3: kernels.restrict_3d}
_INTERPOLATE = {1: kernels.interpolate_add_1d, 2: kernels.interpolate_add_2d, 3: kernels.interpolate_add_3d}
_RESTRICT_NESTED = {1: nested_kernels.restrict_nested_1d, 2: nested_kernels.restrict_nested_2d,
                    3: nested_kernels.restrict_nested_3d}
_INTERPOLATE_NESTED = {1: nested_kernels.interpolate_nested_1d, 2: nested_kernels.interpolate_nested_2d,
                       3: nested_kernels.interpolate_nested_3d}


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


class Transfer:
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


def make_restriction(fine: Grid, coarse: Grid) -> Transfer:
    taps = [restriction_taps(nf, nc, hf / hc) for nf, nc, hf, hc in
            zip(fine.shape, coarse.shape, fine.spacing, coarse.spacing)]
    scale = float(np.prod([hf / hc for hf, hc in zip(fine.spacing, coarse.spacing)]))
    return Transfer(taps, coarse.shape, restrict=True, nested=(fine.shape, scale) if _nested(fine, coarse) else None)


def make_interpolation(fine: Grid, coarse: Grid) -> Transfer:
    padded = tuple(n + 2 for n in coarse.shape)
    return Transfer([interpolation_taps(nf, nc) for nf, nc in zip(fine.shape, coarse.shape)], fine.shape,
                     restrict=False, nested=(padded, 1.0) if _nested(fine, coarse) else None)


def restriction_chain(grid: Grid, coarsest_points: int) -> tuple[list[Grid], list[Transfer]]:
    """The hierarchy's grids and the restrictions between consecutive ones (finest first)."""
    grids = coarse_grids(grid, coarsest_points)
    return grids, [make_restriction(f, c) for f, c in itertools.pairwise(grids)]
