"""Pure Jacobi on a torch device: sweeps of a :class:`~poissonfp.solvers.hybrids.torch_backend.TorchLevel` checked
in the batches of the numpy path (:func:`~poissonfp.solvers.classical.jacobi_schedule.check_batch`)."""
from __future__ import annotations

import math

import numpy as np
import torch

from poissonfp.problem import Problem
from poissonfp.solvers.base import Monitor, SolveResult
from poissonfp.solvers.classical.jacobi_schedule import check_batch
from poissonfp.solvers.hybrids.torch_backend import TorchLevel, as_tensor, criterion_value, lowest_factor, synchronise

__all__ = ["run_jacobi_torch", "solve_jacobi_torch"]


def run_jacobi_torch(level: TorchLevel, monitor: Monitor, omega: float, max_sweeps: int, reference, norm: float,
                     done_before: int = 0, batch: int = 0) -> tuple[int, str]:
    """Sweep in batches (:func:`~poissonfp.solvers.classical.jacobi_schedule.check_batch`) until the criterion holds."""
    kind, done, next_record = monitor.criterion.kind, 0, 1
    device = level.padded.device
    try:
        while done < max_sweeps:
            count = min(check_batch(level.size, done_before + done, batch), max_sweeps - done)
            level.smooth(count, omega)
            done += count
            value = criterion_value(kind, level, reference, norm)
            synchronise(device)
            if not math.isfinite(value) or monitor.satisfied(value):
                return done, "converged" if math.isfinite(value) else "max_iterations"
            if done >= next_record:
                monitor.record(level.solution.cpu().numpy(), done_before + done, phase="jacobi")
                next_record = max(done + 1, int(done * 1.08))
    except KeyboardInterrupt:
        return done, "interrupted"
    return done, "max_iterations"


def solve_jacobi_torch(problem: Problem, monitor: Monitor, *, device: str, omega: float = 1.0,
                       check_every: int = 0) -> SolveResult:
    """Weighted Jacobi from zero on ``device``."""
    level = TorchLevel(problem.grid, torch.device(device))
    level.rhs.copy_(as_tensor(problem.rhs, level.rhs.device))
    reference = as_tensor(monitor.criterion.reference(problem), level.rhs.device)
    norm = monitor.criterion.scale(problem)
    monitor.restart()
    monitor.record(np.zeros(problem.grid.shape), 0, phase="jacobi")
    sweeps, reason = run_jacobi_torch(level, monitor, omega, monitor.criterion.max_iterations, reference, norm,
                                      batch=check_every)
    u = level.solution.cpu().numpy().copy()
    return monitor.result("jacobi", u, reason, sweeps, info={"omega": omega, "device": str(device),
                                                             "factor_lowest_mode": lowest_factor(problem.grid, omega)})
