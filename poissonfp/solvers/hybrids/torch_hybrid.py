"""The multilevel hybrid's backend on a torch device (:class:`TorchBackend`, the box's rediscretised hierarchy):
what :class:`~poissonfp.solvers.hybrids.hybrid_backend.HybridBackend` asks, in tensors, so that
:func:`~poissonfp.solvers.hybrids.hybrid_multilevel.run_hybrid` runs the same orchestration as on the CPU."""
from __future__ import annotations

import numpy as np
import torch

from poissonfp.grid import Grid
from poissonfp.problem import Problem
from poissonfp.solvers.base import Monitor
from poissonfp.solvers.classical.torch_jacobi import run_jacobi_torch
from poissonfp.solvers.hybrids.torch_backend import (
    DTYPE,
    TorchExactCoarse,
    TorchGalerkinSpace,
    TorchMultilevel,
    as_tensor,
    criterion_value,
    residual_norm,
    sweep_seconds,
    synchronise,
)

__all__ = ["TorchBackend"]


class _TorchJacobi:
    """Pure Jacobi from zero on the fine level (priced by its plain sweeps only)."""

    def __init__(self, problem: Problem, hierarchy: TorchMultilevel, omega: float) -> None:
        self.problem, self.level, self.omega = problem, hierarchy.fine, omega

    def price(self, monitor: Monitor) -> None:
        return None

    def run(self, monitor: Monitor, batch: int) -> tuple[np.ndarray, str, int]:
        criterion = monitor.criterion
        self.level.zero()
        self.level.rhs.copy_(as_tensor(self.problem.rhs, self.level.rhs.device))
        done, reason = run_jacobi_torch(self.level, monitor, self.omega, criterion.max_iterations,
                                        as_tensor(criterion.reference(self.problem), self.level.rhs.device),
                                        criterion.scale(self.problem), batch=batch)
        return self.level.solution.cpu().numpy().copy(), reason, done


class TorchBackend:
    """The multilevel hybrid's backend on a torch device (the box's rediscretised hierarchy only): see
    :class:`~poissonfp.solvers.hybrids.hybrid_backend.HybridBackend`."""

    def __init__(self, device: str | torch.device) -> None:
        self.torch_device = torch.device(device)
        self.device = str(self.torch_device)

    def warm_up(self, ndim: int, with_space: bool, network: bool = True) -> None:
        pass  # nothing is compiled ahead

    def hierarchy(self, problem: Problem, omega: float, sweeps: int, coarsest_points: int) -> TorchMultilevel:
        return TorchMultilevel(problem.grid, None, self.torch_device, omega, sweeps, sweeps, coarsest_points)

    def exact_coarse(self) -> TorchExactCoarse:
        return TorchExactCoarse()

    def space(self, hierarchy: TorchMultilevel, features: torch.Tensor, rcond: float) -> TorchGalerkinSpace:
        return TorchGalerkinSpace(hierarchy.grids[-1], features, rcond)

    def network_features(self, model, grid: Grid) -> torch.Tensor:
        with torch.no_grad():
            return model.features(model.grid_points(grid))

    def classical_features(self, features: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(features, dtype=DTYPE, device=self.torch_device)

    def plain_seconds(self, hierarchy: TorchMultilevel, problem: Problem, omega: float) -> float:
        fine = hierarchy.fine
        fine.rhs.copy_(as_tensor(problem.rhs, self.torch_device))
        return sweep_seconds(fine, omega)

    def restricted(self, hierarchy: TorchMultilevel, problem: Problem) -> None:
        return None

    def jacobi(self, problem: Problem, hierarchy: TorchMultilevel, omega: float) -> _TorchJacobi:
        return _TorchJacobi(problem, hierarchy, omega)

    def solution(self, hierarchy: TorchMultilevel) -> np.ndarray:
        return hierarchy.fine.solution.cpu().numpy()

    def cycles(self, hierarchy: TorchMultilevel, problem: Problem, monitor: Monitor, lift: np.ndarray | None,
               restricted: bool):
        criterion, fine = monitor.criterion, hierarchy.fine
        reference = as_tensor(criterion.reference(problem), self.torch_device)
        scale = criterion.scale(problem)
        rhs = as_tensor(problem.rhs, self.torch_device)
        if lift is None:
            hierarchy.full_cycle(rhs)
        else:  # the V-cycle is linear: cycling on b - A lift, then adding the lift
            hierarchy.full_cycle(as_tensor(problem.rhs - problem.operator.apply(lift), self.torch_device))
            fine.add(as_tensor(lift, self.torch_device))
            fine.rhs.copy_(rhs)
            hierarchy.work += 1.0  # the residual of the lift

        def measure() -> tuple[float, float]:
            value = residual_norm(fine), criterion_value(criterion.kind, fine, reference, scale)
            synchronise(self.torch_device)
            return value

        return measure, lambda: hierarchy.cycle(0)
