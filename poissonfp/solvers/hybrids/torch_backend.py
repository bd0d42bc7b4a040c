"""The hybrid's multilevel cycle and pure Jacobi in torch, so that ``device="cuda"`` runs everything on the GPU.

The same method as :mod:`poissonfp.solvers.hierarchy.multilevel` and :mod:`poissonfp.solvers.classical.jacobi` with tensors
on one device: ω-Jacobi sweeps and residuals are slices of a zero-padded tensor, grid transfers are the
same 1D operators (:func:`~poissonfp.solvers.hierarchy.multilevel.interpolation_taps`, full weighting) as dense
matrices applied axis by axis, the coarsest level is solved by a :class:`TorchGalerkinSpace` built from
the network's features evaluated on the device (``ΦᵀAΦ`` and its eigen-decomposition there too), by
sweeps alone (both by :class:`~poissonfp.solvers.hierarchy.multilevel.CoarseIteration`), or by a dense Cholesky
factorisation. Nothing but scalars for the stopping criterion
crosses to the host until the solution is returned. The tests run these functions with ``device="cpu"``
against the numpy path.
"""
from __future__ import annotations

import math
from typing import overload

import numpy as np
import torch

from poissonfp.grid import Grid
from poissonfp.neural.galerkin import truncated_inverse
from poissonfp.operators import diagonal
from poissonfp.solvers.hierarchy.multilevel import coarse_grids, interpolation_1d

__all__ = [
    "TorchExactCoarse",
    "TorchGalerkinSpace",
    "TorchLevel",
    "TorchMultilevel",
    "as_tensor",
    "criterion_value",
    "jacobi_sweeps",
    "lowest_factor",
    "residual_norm",
    "sweep_seconds",
    "synchronise",
]

DTYPE = torch.float64


def _interior(ndim: int) -> tuple[slice, ...]:
    return tuple([slice(1, -1)] * ndim)


def _neighbours(u: torch.Tensor, coefficients: list[float]) -> torch.Tensor:
    """``Σ_d c_d (u[i - e_d] + u[i + e_d])`` on the interior of the zero-padded ``u``."""
    ndim = u.dim()
    total = None
    for d, c in enumerate(coefficients):
        lo = [slice(1, -1)] * ndim
        hi = [slice(1, -1)] * ndim
        lo[d], hi[d] = slice(0, -2), slice(2, None)
        term = c * (u[tuple(lo)] + u[tuple(hi)])
        total = term if total is None else total + term
    assert total is not None  # at least one dimension
    return total


class TorchLevel:
    """One grid: a zero-padded iterate, the right-hand side and the operator's coefficients."""

    def __init__(self, grid: Grid, device: torch.device) -> None:
        self.grid = grid
        self.size = grid.size
        self.coefficients = [1.0 / h**2 for h in grid.spacing]
        self.diagonal = diagonal(grid)
        self.padded = torch.zeros(tuple(n + 2 for n in grid.shape), dtype=DTYPE, device=device)
        self.rhs = torch.zeros(grid.shape, dtype=DTYPE, device=device)
        self.interior = _interior(grid.ndim)

    @property
    def solution(self) -> torch.Tensor:
        return self.padded[self.interior]

    def zero(self) -> None:
        self.padded.zero_()

    def smooth(self, count: int, omega: float) -> None:
        """``count`` ω-Jacobi sweeps (each from the whole previous iterate)."""
        jacobi_sweeps(self.padded, self.rhs, self.coefficients, self.diagonal, omega, count)

    def compute_residual(self) -> torch.Tensor:
        """``b - A u``."""
        return self.rhs - (self.diagonal * self.solution - _neighbours(self.padded, self.coefficients))

    def add(self, correction: torch.Tensor) -> None:
        self.solution.add_(correction)


def jacobi_sweeps(padded: torch.Tensor, rhs: torch.Tensor, coefficients: list[float], diag: float, omega: float,
                  count: int) -> None:
    """``count`` weighted-Jacobi sweeps on the zero-padded iterate ``padded``, in place."""
    interior = _interior(rhs.dim())
    scale = omega / diag
    for _ in range(count):
        update = scale * (rhs + _neighbours(padded, coefficients)) + (1.0 - omega) * padded[interior]
        padded[interior] = update


def _along(tensor: torch.Tensor, matrix: torch.Tensor | None, axis: int) -> torch.Tensor:
    if matrix is None:
        return tensor
    return torch.movedim(torch.tensordot(matrix, tensor, dims=([1], [axis])), 0, axis)


class TorchGalerkinSpace:
    """The Galerkin space of feature columns on a grid, on the device: the API of
    :class:`~poissonfp.neural.galerkin.GalerkinSpace` (``correction``, ``coefficients``, ``combine``,
    ``rank``, ``size``, ``condition``), with ``ΦᵀAΦ`` and its truncated pseudo-inverse computed in torch."""

    def __init__(self, grid: Grid, features: torch.Tensor, rcond: float = 1e-12) -> None:
        self.grid = grid
        self.phi = features.to(DTYPE).contiguous()
        m = self.phi.shape[1]
        columns = self.phi.T.reshape((m, *tuple(grid.shape)))
        padded = torch.nn.functional.pad(columns, [1, 1] * grid.ndim)
        coefficients = [1.0 / h**2 for h in grid.spacing]
        applied = torch.stack([diagonal(grid) * p[_interior(grid.ndim)] - _neighbours(p, coefficients) for p in padded])
        stiffness = self.phi.T @ applied.reshape(m, -1).T
        stiffness = 0.5 * (stiffness + stiffness.T)
        values, vectors = torch.linalg.eigh(stiffness)
        self.inverse, self.rank, self.condition = truncated_inverse(values, vectors, rcond)

    @property
    def size(self) -> int:
        return self.phi.shape[1]

    def coefficients(self, residual: torch.Tensor) -> torch.Tensor:
        return self.inverse @ (self.phi.T @ residual.reshape(-1))

    def combine(self, coefficients: torch.Tensor) -> torch.Tensor:
        return (self.phi @ coefficients).reshape(self.grid.shape)

    def correction(self, residual: torch.Tensor) -> torch.Tensor:
        return self.combine(self.coefficients(residual))


class TorchExactCoarse:
    """Dense Cholesky of the coarsest matrix (the coarsest grid has a few hundred points)."""

    def __init__(self) -> None:
        self._factor: torch.Tensor | None = None
        self.passes = 0

    def solve(self, level: TorchLevel, omega: float, from_zero: bool = True) -> float:  # exact: any start
        from poissonfp.operators import laplacian_matrix

        if self._factor is None:
            dense = torch.as_tensor(laplacian_matrix(level.grid).toarray(), dtype=DTYPE, device=level.rhs.device)
            self._factor = torch.linalg.cholesky(dense)
        assert self._factor is not None
        level.zero()
        solution = torch.cholesky_solve(level.rhs.reshape(-1, 1), self._factor)
        level.solution.copy_(solution.reshape(level.grid.shape))
        self.passes += 1
        return level.size / (2 * level.grid.ndim + 1)


class TorchMultilevel:
    """:class:`~poissonfp.solvers.hierarchy.multilevel.Multilevel` on a torch device (same grids, transfers, work count)."""

    hierarchy = "rediscretised"

    def __init__(self, grid: Grid, coarse, device, omega: float | None = None, pre: int = 2, post: int = 2,
                 coarsest_points: int = 31) -> None:
        self.device = torch.device(device)
        self.grids = coarse_grids(grid, coarsest_points)
        self.levels = [TorchLevel(g, self.device) for g in self.grids]
        self.coarse = coarse
        self.omega = omega or 2.0 * grid.ndim / (2.0 * grid.ndim + 1.0)
        self.pre, self.post = pre, post
        self.work = 0.0
        self._restrict, self._interpolate = [], []
        for fine, coarse_grid in zip(self.grids[:-1], self.grids[1:]):
            ops = [None if nf == nc else interpolation_1d(nf, nc).toarray()
                   for nf, nc in zip(fine.shape, coarse_grid.shape)]
            ratios = [hf / hc for hf, hc in zip(fine.spacing, coarse_grid.spacing)]
            self._interpolate.append([None if op is None else torch.as_tensor(op, dtype=DTYPE, device=self.device)
                                      for op in ops])
            self._restrict.append([None if op is None else torch.as_tensor(r * op.T, dtype=DTYPE, device=self.device)
                                   for op, r in zip(ops, ratios)])

    @property
    def fine(self) -> TorchLevel:
        return self.levels[0]

    def _fraction(self, index: int) -> float:
        return self.levels[index].size / self.levels[0].size

    def _transfer(self, tensor: torch.Tensor, matrices: list) -> torch.Tensor:
        for axis, matrix in enumerate(matrices):
            tensor = _along(tensor, matrix, axis)
        return tensor

    def cycle(self, index: int = 0) -> None:
        """One V-cycle at level ``index``."""
        level = self.levels[index]
        fraction = self._fraction(index)
        if index == len(self.levels) - 1:
            self.work += fraction * self.coarse.solve(level, self.omega)
            return
        level.smooth(self.pre, self.omega)
        below = self.levels[index + 1]
        below.rhs.copy_(self._transfer(level.compute_residual(), self._restrict[index]))
        below.zero()
        self.cycle(index + 1)
        level.solution.add_(self._transfer(below.solution, self._interpolate[index]))
        level.smooth(self.post, self.omega)
        self.work += fraction * (self.pre + self.post + 3)

    def full_cycle(self, rhs: torch.Tensor) -> None:
        """Full multigrid from zero (see :meth:`~poissonfp.solvers.hierarchy.multilevel.Multilevel.full_cycle`)."""
        self.fine.rhs.copy_(rhs)
        for index in range(len(self.levels) - 1):
            self.levels[index + 1].rhs.copy_(self._transfer(self.levels[index].rhs, self._restrict[index]))
            self.work += self._fraction(index)
        last = len(self.levels) - 1
        self.work += self._fraction(last) * self.coarse.solve(self.levels[last], self.omega)
        for index in range(last - 1, -1, -1):
            level, below = self.levels[index], self.levels[index + 1]
            level.zero()
            level.solution.add_(self._transfer(below.solution, self._interpolate[index]))
            self.work += self._fraction(index)
            self.cycle(index)
        if last == 0:
            self.fine.smooth(self.post, self.omega)
            self.work += self.post


def criterion_value(kind: str, level: TorchLevel, reference: torch.Tensor | None, norm: float) -> float:
    """The stopping criterion's metric of the fine iterate (one scalar to the host)."""
    u = level.solution
    if kind == "residual":
        return float(torch.linalg.vector_norm(level.compute_residual())) / norm
    if reference is None:
        raise ValueError(f"the {kind} criterion needs a reference solution")
    if kind == "discretization":
        return float((u - reference).abs().max())
    if kind == "discrete":
        return float(torch.linalg.vector_norm(u - reference)) / norm
    return float(torch.linalg.vector_norm(level.compute_residual())) / norm


@overload
def as_tensor(array: np.ndarray, device) -> torch.Tensor: ...
@overload
def as_tensor(array: None, device) -> None: ...
def as_tensor(array: np.ndarray | None, device) -> torch.Tensor | None:
    return None if array is None else torch.as_tensor(np.ascontiguousarray(array), dtype=DTYPE, device=device)


def residual_norm(level: TorchLevel) -> float:
    return float(torch.linalg.vector_norm(level.compute_residual()))


def synchronise(device: torch.device) -> None:
    """Wait for the device's queued work (timings on a GPU would otherwise stop early)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def sweep_seconds(level: TorchLevel, omega: float, count: int = 4) -> float:
    """Measured seconds per sweep on the device (``count`` sweeps after one untimed)."""
    import time

    device = level.padded.device
    level.smooth(1, omega)
    synchronise(device)
    start = time.perf_counter()
    level.smooth(count, omega)
    synchronise(device)
    return (time.perf_counter() - start) / count


def lowest_factor(grid: Grid, omega: float) -> float:
    """ω-Jacobi's per-sweep factor of the lowest mode (as :func:`~poissonfp.solvers.classical.jacobi.jacobi_factor`)."""
    weights = [2.0 / h**2 for h in grid.spacing]
    mean_cos = sum(w * math.cos(math.pi / (n + 1)) for w, n in zip(weights, grid.shape)) / sum(weights)
    return 1.0 - omega + omega * mean_cos

