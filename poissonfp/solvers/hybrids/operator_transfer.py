"""How the operator iteration reaches its network: the same grid, a V-cycle down to it, or a two-grid jump.

Each correction maps residuals ``r`` (``(K, *fine shape)``) to corrections ``d`` with exactly one call of the
network for all K rows, and states its own work per call in fine-grid sweep-equivalents (the network's price
is added by the caller).
"""
from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from poissonfp.grid import Grid
from poissonfp.problem import Problem
from poissonfp.solvers.hybrids import operator_kernels as kernels

__all__ = ["SameGrid", "TwoGrid", "VCycle", "make_correction", "nested_nodes"]

Network = Callable[[np.ndarray], np.ndarray]


def _dense_interpolation(fine: Grid, coarse: Grid) -> list:
    """Per axis the sparse linear interpolation (fine x coarse) and its transpose: by index where both grids
    span the same box, else by coordinate (:func:`_coordinate_interpolation`)."""
    from poissonfp.solvers.hierarchy.multilevel import interpolation_1d

    same_box = np.allclose(fine.lower, coarse.lower) and np.allclose(fine.upper, coarse.upper)
    matrices = [interpolation_1d(nf, nc).tocsr() if same_box else _coordinate_interpolation(xf, xc, lo, hi)
                for nf, nc, xf, xc, lo, hi in zip(fine.shape, coarse.shape, fine.axes, coarse.axes, coarse.lower,
                                                  coarse.upper)]
    return [(m, m.T.tocsr()) for m in matrices]


def _coordinate_interpolation(fine: np.ndarray, coarse: np.ndarray, lower: float, upper: float) -> sp.csr_matrix:
    """Linear interpolation (``len(fine) x len(coarse)``) from the coarse nodes, with zero at the coarse grid's
    box ends ``lower`` and ``upper``, to the fine coordinates. With a Neumann side the unknowns include the side's
    nodes, so a grid's box reaches one spacing past the side and moves with h; nested grids share the side's
    node, so no fine node falls between it and the (virtual) box end, and at a Dirichlet side the end is the
    boundary, where the correction is zero."""
    knots = np.concatenate([[lower], coarse, [upper]])
    position = np.interp(fine, knots, np.arange(-1, len(coarse) + 1, dtype=float))
    left = np.floor(position + 1e-9).astype(np.int64)
    theta = np.where(position - left > 1e-9, position - left, 0.0)
    rows = np.repeat(np.arange(len(fine)), 2)
    cols = np.stack([left, left + 1], axis=1).ravel()
    weights = np.stack([1.0 - theta, theta], axis=1).ravel()
    keep = (cols >= 0) & (cols < len(coarse)) & (weights > 0)
    return sp.csr_matrix((weights[keep], (rows[keep], cols[keep])), shape=(len(fine), len(coarse)))


def nested_nodes(fine: Grid, coarse: Grid) -> bool:
    """Whether every node of ``coarse`` is a node of ``fine`` and ``fine`` has more nodes on every axis (the
    coarse level of a two-grid; with Neumann sides the two boxes differ by their spacings)."""
    if fine.ndim != coarse.ndim or any(c >= f for c, f in zip(coarse.shape, fine.shape)):
        return False
    for xf, xc, h in zip(fine.axes, coarse.axes, fine.spacing):
        index = np.clip(np.searchsorted(xf, xc), 0, len(xf) - 1)
        nearest = np.minimum(np.abs(xf[index] - xc), np.abs(xf[np.maximum(index - 1, 0)] - xc))
        if np.any(nearest > 1e-9 * h):
            return False
    return True


def _apply_axes(values: np.ndarray, matrices: list, transpose: bool) -> np.ndarray:
    """Apply one sparse matrix per grid axis (axis 0 is the batch): ``P`` (``transpose``) or ``Pᵀ``."""
    out = values
    for axis, (forward, backward) in enumerate(matrices):
        matrix = forward if transpose else backward
        moved = np.moveaxis(out, axis + 1, 0)
        shape = moved.shape
        product = matrix @ np.ascontiguousarray(moved).reshape(shape[0], -1)
        out = np.moveaxis(product.reshape((matrix.shape[0], *shape[1:])), 0, axis + 1)
    return out


class SameGrid:
    """The network on the problem's own grid (or, for an FNO, any grid): ``d = N(r)``."""

    work = 0.0

    def correct(self, r: np.ndarray, network: Network) -> np.ndarray:
        return network(r)


class TwoGrid:
    """``d = P N(R r)``: linear interpolation ``P`` from the model's grid to the fine grid (any ratio per axis),
    ``R = (h_f / h_c)^d Pᵀ``; the masks of both grids applied (off the box an approximate coarse level)."""

    def __init__(self, problem: Problem, model) -> None:
        fine, coarse = problem.grid, model.grid
        self.matrices = _dense_interpolation(fine, coarse)
        self.ratio = float(np.prod([hf / hc for hf, hc in zip(fine.spacing, coarse.spacing)]))
        self.inside, self.coarse_inside = problem.operator.inside, model.inside
        self.work = 2.0  # restriction and interpolation, about a sweep each

    def correct(self, r: np.ndarray, network: Network) -> np.ndarray:
        coarse = _apply_axes(r, self.matrices, transpose=False) * self.ratio
        coarse[:, ~self.coarse_inside] = 0.0
        d = _apply_axes(network(coarse), self.matrices, transpose=True)
        d[:, ~self.inside] = 0.0
        return d


class VCycle:
    """One V-cycle on ``A e = r`` from zero over :func:`~poissonfp.solvers.hierarchy.multilevel.coarse_grids` (finest
    first, the model's grid last): ``pre`` / ``post`` ω-Jacobi sweeps on every finer level, full weighting and
    linear interpolation between levels, and on the model's grid ``coarse`` sweeps before and after ONE
    network call for all rows (``coarse = 0``: the network alone). A single grid (the model's own) gives
    ``d = N(r)`` with those ``coarse`` sweeps around it. Box only (the levels rediscretise the box's Laplacian).

    Batched and compiled (:mod:`poissonfp.solvers.hybrids.operator_kernels`): the buffers of every level are allocated
    once for ``capacity`` rows; :meth:`correct` runs on the first ``m`` rows of them, no loop over rows in
    Python. The returned correction is a view into a buffer that the next call overwrites."""

    def __init__(self, grids: list[Grid], omega: float, pre: int, post: int, capacity: int = 1,
                 coarse: int = 0) -> None:
        from poissonfp.operators import diagonal
        from poissonfp.solvers.hierarchy.multilevel import interpolation_taps, restriction_taps

        self.grids, self.omega, self.pre, self.post, self.coarse = grids, omega, pre, post, coarse
        self.ndim = grids[0].ndim
        self.capacity = capacity
        self.rows = np.arange(capacity, dtype=np.int64)
        self.coefficients = [np.array([1.0 / h**2 for h in g.spacing]) for g in grids]
        self.diagonals = [float(diagonal(g)) for g in grids]
        self.iterates = [[np.zeros((capacity, *tuple(n + 2 for n in g.shape))) for _ in range(2)] for g in grids]
        self.rhs = [np.zeros((capacity, *g.shape)) for g in grids]
        self.residual = [np.zeros((capacity, *g.shape)) for g in grids]
        self.transfers: list[tuple] = []
        for fine, coarse_grid in itertools.pairwise(grids):
            nested = all(nf == 2 * nc + 1 for nf, nc in zip(fine.shape, coarse_grid.shape))
            scale = float(np.prod([hf / hc for hf, hc in zip(fine.spacing, coarse_grid.spacing)]))
            restrict = [a for nf, nc, hf, hc in zip(fine.shape, coarse_grid.shape, fine.spacing, coarse_grid.spacing)
                        for a in restriction_taps(nf, nc, hf / hc)]
            interpolate = [a for nf, nc in zip(fine.shape, coarse_grid.shape) for a in interpolation_taps(nf, nc)]
            restrict_buffer = np.zeros(fine.shape[1:] if self.ndim > 1 else (1,))
            interpolate_buffer = np.zeros(tuple(n + 2 for n in coarse_grid.shape[1:]) if self.ndim > 1 else (1,))
            self.transfers.append((nested, scale, restrict_buffer, restrict, interpolate_buffer, interpolate))
        finest = grids[0].size
        self.work = sum((pre + post + 3) * g.size / finest for g in grids[:-1]) \
            + (2 * coarse + 1 if coarse else 0) * grids[-1].size / finest

    def _smooth(self, index: int, m: int, count: int) -> None:
        """``count`` sweeps on level ``index`` (rows ``:m``), the result left in ``iterates[index][0]``."""
        if count <= 0:
            return
        u, v = self.iterates[index]
        kernels.SMOOTH[self.ndim](u, v, self.rhs[index], self.rows[:m], self.coefficients[index],
                                  1.0 / self.diagonals[index], self.omega, count)
        if count % 2:
            self.iterates[index].reverse()

    def _residual(self, index: int, m: int) -> np.ndarray:
        kernels.RESIDUAL[self.ndim](self.iterates[index][0], self.rhs[index], self.rows[:m], self.coefficients[index],
                                    self.diagonals[index], self.residual[index])
        return self.residual[index]

    def correct(self, r: np.ndarray, network: Network) -> np.ndarray:
        m = r.shape[0]
        if m > self.capacity:
            raise ValueError(f"VCycle holds {self.capacity} rows, got {m}")
        last = len(self.grids) - 1
        self.rhs[0][:m] = r
        for index in range(last):
            self.iterates[index][0][:m] = 0.0  # the ghost layers of both buffers stay zero
            self._smooth(index, m, self.pre)
            residual = self._residual(index, m)
            nested, scale, buffer, taps, _, _ = self.transfers[index]
            kernels.RESTRICT[self.ndim](residual, self.rhs[index + 1], self.rows[:m], nested, scale, buffer, *taps)
        inner = (slice(None, m),) + (slice(1, -1),) * self.ndim
        if self.coarse:
            self.iterates[last][0][:m] = 0.0
            self._smooth(last, m, self.coarse)
            self.iterates[last][0][inner] += network(self._residual(last, m)[:m])
            self._smooth(last, m, self.coarse)
        else:
            self.iterates[last][0][inner] = network(self.rhs[last][:m])
        for index in reversed(range(last)):
            nested, _, _, _, buffer, taps = self.transfers[index]
            kernels.INTERPOLATE[self.ndim](self.iterates[index + 1][0], self.iterates[index][0], self.rows[:m], nested,
                                           buffer, *taps)
            self._smooth(index, m, self.post)
        return self.iterates[0][0][inner]


def make_correction(problem: Problem, model, how: str, cycle_sweeps: int, omega: float, capacity: int = 1,
                    coarse_sweeps: int = 0):
    """The correction for ``how`` (:func:`~poissonfp.solvers.hybrids.operator.check_model`) on ``capacity`` rows: on the
    box a :class:`VCycle` (``cycle_sweeps`` sweeps before and after each finer level's correction,
    ``coarse_sweeps`` around the network on its own grid) when the box's coarsening chain ends at the model's
    grid or the grid is the model's; else the network on the same grid or a two-grid (numpy)."""
    from poissonfp.solvers.hierarchy.multilevel import coarse_grids

    if problem.on_box and how == "same grid":
        return VCycle([problem.grid], omega, 0, 0, capacity, coarse_sweeps)
    if how != "coarse level":
        return SameGrid()
    if problem.on_box:
        grids = coarse_grids(problem.grid, max(model.grid.shape))
        if grids[-1].shape == model.grid.shape:
            return VCycle(grids, omega, cycle_sweeps, cycle_sweeps, capacity, coarse_sweeps)
    return TwoGrid(problem, model)
