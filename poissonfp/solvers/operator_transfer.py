"""How the operator iteration reaches its network: the same grid, a V-cycle down to it, or a two-grid jump.

Each correction maps residuals ``r`` (``(K, *fine shape)``) to corrections ``d`` with exactly one call of the
network for all K rows, and states its own work per call in fine-grid sweep-equivalents (the network's price
is added by the caller).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from poissonfp.grid import Grid
from poissonfp.problem import Problem

__all__ = ["SameGrid", "TwoGrid", "VCycle", "make_correction"]

Network = Callable[[np.ndarray], np.ndarray]


def _dense_interpolation(fine: Grid, coarse: Grid) -> list:
    """Per axis the sparse linear interpolation (fine x coarse) and its transpose."""
    from poissonfp.solvers.multilevel import interpolation_1d

    matrices = [interpolation_1d(nf, nc).tocsr() for nf, nc in zip(fine.shape, coarse.shape)]
    return [(m, m.T.tocsr()) for m in matrices]


def _apply_axes(values: np.ndarray, matrices: list, transpose: bool) -> np.ndarray:
    """Apply one sparse matrix per grid axis (axis 0 is the batch): ``P`` (``transpose``) or ``Pᵀ``."""
    out = values
    for axis, (forward, backward) in enumerate(matrices):
        matrix = forward if transpose else backward
        moved = np.moveaxis(out, axis + 1, 0)
        shape = moved.shape
        product = matrix @ np.ascontiguousarray(moved).reshape(shape[0], -1)
        out = np.moveaxis(product.reshape((matrix.shape[0],) + shape[1:]), 0, axis + 1)
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
    """One V-cycle on ``A e = r`` from zero, ``pre`` / ``post`` ω-Jacobi sweeps per level (compiled kernels of
    :class:`~poissonfp.solvers.multilevel.Level`), full weighting and linear interpolation between the levels
    of :func:`~poissonfp.solvers.multilevel.coarse_grids`, the network as the coarsest solve (one call for the
    K rows). Box only (the levels rediscretise the box's Laplacian)."""

    def __init__(self, grids: list[Grid], omega: float, pre: int, post: int) -> None:
        from poissonfp.solvers.multilevel import Level

        self.grids, self.omega, self.pre, self.post = grids, omega, pre, post
        self.levels = [Level(g) for g in grids[:-1]]
        self.transfers = [_dense_interpolation(f, c) for f, c in zip(grids[:-1], grids[1:])]
        self.ratios = [float(np.prod([hf / hc for hf, hc in zip(f.spacing, c.spacing)]))
                       for f, c in zip(grids[:-1], grids[1:])]
        fine = grids[0].size
        self.work = sum((pre + post + 3) * g.size / fine for g in grids[:-1])

    def correct(self, r: np.ndarray, network: Network) -> np.ndarray:
        k = r.shape[0]
        rhs = [np.asarray(r, dtype=float)]
        kept: list[np.ndarray] = []
        for index, level in enumerate(self.levels):
            smoothed, residual = np.empty_like(rhs[index]), np.empty_like(rhs[index])
            for row in range(k):
                level.zero()
                level.rhs[...] = rhs[index][row]
                level.smooth(self.pre, self.omega)
                smoothed[row] = level.solution
                residual[row] = level.compute_residual()
            kept.append(smoothed)
            rhs.append(_apply_axes(residual, self.transfers[index], transpose=False) * self.ratios[index])
        correction = network(rhs[-1])
        for index in reversed(range(len(self.levels))):
            level = self.levels[index]
            up = _apply_axes(correction, self.transfers[index], transpose=True)
            correction = np.empty_like(up)
            for row in range(k):
                level.zero()
                level.rhs[...] = rhs[index][row]
                level.solution[...] = kept[index][row] + up[row]
                level.smooth(self.post, self.omega)
                correction[row] = level.solution
        return correction


def make_correction(problem: Problem, model, how: str, sweeps: int, omega: float):
    """The correction for ``how`` (:func:`~poissonfp.solvers.operator.check_model`): the same grid, a V-cycle
    when the box's coarsening chain ends at the model's grid, else a two-grid."""
    from poissonfp.solvers.multilevel import coarse_grids

    if how != "coarse level":
        return SameGrid()
    if problem.on_box:
        grids = coarse_grids(problem.grid, max(model.grid.shape))
        if grids[-1].shape == model.grid.shape:
            half = max(1, sweeps // 2)
            return VCycle(grids, omega, half, half)
    return TwoGrid(problem, model)
