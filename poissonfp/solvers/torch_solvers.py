"""Pure Jacobi and the multilevel hybrid on a torch device (``device="cuda"``; ``"cpu"`` in the tests).

Same stopping rules, records and ``info`` keys as the numpy solvers (:mod:`poissonfp.solvers.jacobi`,
:mod:`poissonfp.solvers.hybrid_multilevel`); the clock waits for the device before every reading.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from poissonfp.problem import Problem
from poissonfp.solvers.base import Monitor, SolveResult, check_finite
from poissonfp.solvers.jacobi import check_batch
from poissonfp.solvers.multilevel import DEFAULT_COARSEST_POINTS, CoarseIteration, coarse_grids
from poissonfp.solvers.torch_backend import (TorchExactCoarse, TorchGalerkinSpace, TorchLevel,
                                             TorchMultilevel, as_tensor, criterion_value, lowest_factor,
                                             residual_norm, sweep_seconds, synchronise)

__all__ = ["solve_jacobi_torch", "solve_hybrid_torch"]


def _run_jacobi(level: TorchLevel, monitor: Monitor, omega: float, max_sweeps: int, reference, norm: float,
                done_before: int = 0, batch: int = 0) -> tuple[int, str]:
    """Sweep in batches (:func:`~poissonfp.solvers.jacobi.check_batch`) until the criterion holds."""
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


def _level(problem: Problem, device) -> TorchLevel:
    level = TorchLevel(problem.grid, torch.device(device))
    level.rhs.copy_(as_tensor(problem.rhs, level.rhs.device))
    return level


def solve_jacobi_torch(problem: Problem, monitor: Monitor, *, device: str, omega: float = 1.0,
                       check_every: int = 0) -> SolveResult:
    """Weighted Jacobi from zero on ``device``."""
    level = _level(problem, device)
    reference = as_tensor(monitor.criterion.reference(problem), level.rhs.device)
    norm = monitor.criterion.scale(problem)
    monitor.restart()
    monitor.record(np.zeros(problem.grid.shape), 0, phase="jacobi")
    sweeps, reason = _run_jacobi(level, monitor, omega, monitor.criterion.max_iterations, reference, norm,
                                 batch=check_every)
    u = level.solution.cpu().numpy().copy()
    return monitor.result("jacobi", u, reason, sweeps, info={"omega": omega, "device": str(device),
                                                             "factor_lowest_mode": lowest_factor(problem.grid, omega)})


def _coarse(problem, monitor, hybrid, network, training, seed, device, switch, coarse_grid, info):
    if hybrid.coarsest == "exact":
        return TorchExactCoarse()
    if hybrid.coarsest == "smoothing":
        return CoarseIteration(None, sweeps=4, reduction=hybrid.coarsest_reduction)
    info["coarse"] = hybrid.coarse
    if hybrid.coarse != "network":
        from poissonfp.neural.bases import classical_features

        features = torch.as_tensor(classical_features(coarse_grid, hybrid.coarse, network.widths[-1] + 1),
                                   dtype=torch.float64, device=device)
    else:
        from poissonfp.solvers.hybrid_multilevel import coarse_network

        times = info.setdefault("times_s", {})
        model = coarse_network(problem, monitor, network, training, seed, device, switch, info, times)
        with torch.no_grad():
            features = model.features(model.grid_points(coarse_grid))
    space = TorchGalerkinSpace(coarse_grid, features, 1e-12)
    info.update({"galerkin_features": space.size, "galerkin_rank": space.rank, "galerkin_condition": space.condition})
    return CoarseIteration(space, sweeps=4, reduction=hybrid.coarsest_reduction)


def solve_hybrid_torch(problem: Problem, monitor: Monitor, *, network, training, hybrid, seed: int, device: str,
                       omega: float, check_every: int, switch) -> SolveResult:
    """The multilevel hybrid on ``device`` (features of the network trained ``switch`` steps when it is a
    positive integer; see :mod:`poissonfp.solvers.hybrid_multilevel` for the method and the fallback decision)."""
    from poissonfp.solvers.base import require_box
    from poissonfp.solvers.hybrid_multilevel import cycle_summary, decide, run_cycles
    from poissonfp.solvers.multilevel import boundary_lift

    require_box(problem, "the multilevel hybrid on a torch device (the stencil hierarchy)")

    grid, kind = problem.grid, monitor.criterion.kind
    points = hybrid.coarsest_points or DEFAULT_COARSEST_POINTS[grid.ndim]
    smoothing = hybrid.smoothing_omega or 2.0 * grid.ndim / (2.0 * grid.ndim + 1.0)
    grids = coarse_grids(grid, points)
    norm = monitor.criterion.scale(problem)
    info: dict = {"cycle": "multilevel", "device": str(device), "coarsest": hybrid.coarsest, "levels": len(grids),
                  "coarsest_shape": list(grids[-1].shape), "smoothing_omega": smoothing,
                  "smoothing_sweeps": hybrid.smoothing_sweeps, "switch_setting": switch, "dnn_steps": 0}
    multilevel = TorchMultilevel(grid, None, device, smoothing, hybrid.smoothing_sweeps, hybrid.smoothing_sweeps,
                                 points)
    reference = as_tensor(monitor.criterion.reference(problem), multilevel.device)
    rhs = as_tensor(problem.rhs, multilevel.device)
    fine = multilevel.fine
    monitor.restart()
    if hybrid.fallback and switch == "auto":
        fine.rhs.copy_(rhs)
        decision = decide(problem, monitor, hybrid, network, omega, grids, sweep_seconds(fine, omega))
        info["decision"] = decision
        if decision["method"] == "jacobi":
            fine.zero()
            done, reason = _run_jacobi(fine, monitor, omega, monitor.criterion.max_iterations, reference, norm,
                                       batch=check_every)
            info.update(work_sweep_equivalents=float(done), cycles=0)
            return monitor.result("hybrid", fine.solution.cpu().numpy().copy(), reason, done, info=info)
    reason, cycles, residuals = "max_iterations", 0, []
    try:
        multilevel.coarse = _coarse(problem, monitor, hybrid, network, training, seed, device, switch, grids[-1], info)
        lift = boundary_lift(problem)  # the V-cycle is linear: cycling on b - A lift, then adding the lift
        info["boundary_lift"] = lift is not None  # equals the numpy path's lift before the fine cycle
        if lift is None:
            multilevel.full_cycle(rhs)
        else:
            multilevel.full_cycle(as_tensor(problem.rhs - problem.operator.apply(lift), multilevel.device))
            fine.add(as_tensor(lift, multilevel.device))
            fine.rhs.copy_(rhs)
            multilevel.work += 1.0  # the residual of the lift
        reason, cycles = run_cycles(monitor, lambda: (residual_norm(fine), criterion_value(kind, fine, reference, norm)),
                                    lambda: multilevel.cycle(0), lambda: fine.solution.cpu().numpy(), residuals)
        synchronise(multilevel.device)
    except KeyboardInterrupt:
        reason = "interrupted"
    u = fine.solution.cpu().numpy().copy()
    check_finite(u, "hybrid solution")
    info.update(cycle_summary(residuals, cycles, multilevel))
    return monitor.result("hybrid", u, reason, cycles, info["dnn_steps"], info=info)
