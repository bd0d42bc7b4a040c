"""The multilevel hybrid over many right-hand sides: one hierarchy and one coarse space, then per right-hand
side full multigrid and V-cycles through the hybrid's own loop (:func:`~poissonfp.solvers.hybrids.hybrid_multilevel.run_cycles`).

Built from the hybrid's public objects (:class:`~poissonfp.solvers.hierarchy.multilevel.Multilevel`, ``coarse_solver``,
``run_cycles``, ``cycle_summary``) so that a solve here is the cycles of ``solve_multilevel_hybrid`` without its per-solve
set-up (coarse network and Galerkin space, the pure-Jacobi decision).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from poissonfp.problem import Problem
from poissonfp.solvers.base import Monitor, SolveResult, StoppingCriterion, check_finite

__all__ = ["prepare_hybrid"]


def prepare_hybrid(base: Problem, criterion: StoppingCriterion,
                   options: dict[str, Any]) -> Callable[[Problem, Monitor], SolveResult] | None:
    """A solve-one function reusing one hierarchy and coarse space, or None where the hybrid would not run
    the multilevel cycle on the CPU (off the box, ``cycle = "two-level"``, ``device = "cuda"``)."""
    from poissonfp.neural.model import resolve_device
    from poissonfp.solvers.hierarchy.multilevel import DEFAULT_COARSEST_POINTS, Multilevel
    from poissonfp.solvers.hybrids.hybrid_multilevel import coarse_solver

    hybrid, network = options["hybrid"], options["network"]
    device = options.get("device") or network.device
    if not base.on_box or hybrid.cycle != "multilevel" or resolve_device(device).type == "cuda":
        return None
    switch = options.get("switch", hybrid.switch)
    grid = base.grid
    points = hybrid.coarsest_points or DEFAULT_COARSEST_POINTS[grid.ndim]
    smoothing = hybrid.smoothing_omega or 2.0 * grid.ndim / (2.0 * grid.ndim + 1.0)
    multilevel = Multilevel(grid, None, smoothing, hybrid.smoothing_sweeps, hybrid.smoothing_sweeps, points)
    info: dict[str, Any] = {"cycle": "multilevel", "levels": len(multilevel.grids), "dnn_steps": 0,
                            "coarsest": hybrid.coarsest, "reused": "hierarchy and coarse space"}
    times: dict[str, float] = {"network_s": 0.0, "train_s": 0.0, "galerkin_s": 0.0}
    multilevel.coarse = coarse_solver(base, Monitor(base, criterion), {**options, "device": device, "switch": switch},
                                      multilevel.coarsest, info, times)
    info["setup_times_s"] = times

    def solve_one(problem: Problem, monitor: Monitor) -> SolveResult:
        return _cycles(problem, monitor, multilevel, smoothing, dict(info))

    return solve_one


def _cycles(problem: Problem, monitor: Monitor, multilevel, smoothing: float, info: dict) -> SolveResult:
    """Full multigrid, then V-cycles until ``monitor``'s criterion holds (as the hybrid measures it)."""
    from poissonfp.solvers.hybrids.hybrid_multilevel import cycle_summary, run_cycles

    criterion = monitor.criterion
    reference, norm = criterion.reference(problem), criterion.scale(problem)
    reason, cycles, residuals = "max_iterations", 0, list[float]()
    monitor.restart()
    multilevel.work = 0.0
    try:
        state = {"stats": multilevel.full_cycle(problem.rhs, reference)}

        def measure() -> tuple[float, float]:
            totals = state["stats"].sum(axis=0)
            residual = math.sqrt(totals[0]) * multilevel.fine.diagonal / smoothing
            return residual, criterion.from_norms(residual_norm=residual, error_max=float(state["stats"][:, 2].max()),
                                                  error_l2=math.sqrt(totals[1]), scale=norm)

        def step() -> None:
            state["stats"] = multilevel.cycle(0, reference)

        reason, cycles = run_cycles(monitor, measure, step, lambda: multilevel.fine.solution, residuals)
    except KeyboardInterrupt:
        reason = "interrupted"
    u = multilevel.fine.solution.copy()
    check_finite(u, "hybrid solution")
    info.update(cycle_summary(residuals, cycles, multilevel))
    return monitor.result("hybrid", u, reason, cycles, info=info)
