"""Method ``hybrid``: DNN-Jacobi as a two-level method whose coarse space is the network's feature space.

1. **DNN phase.** Build the boundary-exact network (seeded), solve its output layer exactly (Galerkin,
   :mod:`poissonfp.neural.galerkin`) and train it for ``M`` steps (Adam -> L-BFGS on the Ritz energy),
   M fixed or ``"auto"``. Auto watches what the network has learned in F-Principle terms, without the
   exact solution: the relative error of its lowest modes (``k_d <= low_modes``), read off the sine
   coefficients of its residual (A is diagonal in the sine basis, so ``|r̂_k| / |b̂_k|`` *is* the relative
   error of mode k), and their change per step, both taken on what would be handed over (the Galerkin
   solution over the current features, re-solved at steps 1, 2, 4, 8, ...: a logarithmic overhead).
   It switches once the low modes are converged (estimate <= ``low_tol``) or stop moving (relative
   change per step <= ``plateau``): what is left is Jacobi's job. It also switches when training stops
   paying: checks are at doubling step counts, so each check costs as much training as all before it;
   if that doubling did not divide the low-mode error by ``min_gain``, the best iterate seen so far
   (possibly the untrained network's Galerkin solution) is handed over.
2. **Switch.** The features ``Φ = [B h_j, B]`` of the network on the grid, ``ΦᵀAΦ`` and its truncated
   pseudo-inverse are computed once; the network's Galerkin solution is the initial iterate.
3. **Correction cycles.** ``ν`` ω-Jacobi sweeps (compiled kernel, ω = ``hybrid.smoothing_omega``) remove the
   high frequencies, then the Galerkin correction ``u += Φ (ΦᵀAΦ)⁺ Φᵀ r`` removes the error's component
   in the feature space (the low modes) using the residual ``r`` on the fine grid (no coarse sampling: no
   aliasing). The true residual is measured before every correction (after the sweeps); once a cycle
   reduces it by less than the factor ``stall`` (a false fixed point: the corrections no longer fix
   anything the sweeps leave) or the cap ``corrections`` is reached, the cycles stop.
4. **Tail.** Plain Jacobi with the case's ω until the stopping criterion holds.

The monitor's clock runs from the network's construction to the end; history records are taken during
training (~1.5% of the steps), every few cycles and during the tail.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from poissonfp.problem import Problem
from poissonfp.settings import HybridSettings, NetworkSettings, TrainingSettings, check_switch
from poissonfp.solvers.base import Monitor, SolveResult, check_finite, require_box
from poissonfp.solvers.classical.jacobi import jacobi_iteration, run_jacobi
from poissonfp.solvers.hybrids.hybrid_record import TwoLevelRecord
from poissonfp.solvers.hybrids.hybrid_training import LowModeTracker, dnn_phase, untrained_phase

__all__ = ["LowModeTracker", "default_sweeps_per_correction", "smoothing_omega", "solve_hybrid"]


def smoothing_omega(ndim: int) -> float:
    """The smoothing-optimal weight of ω-Jacobi: 2d / (2d + 1)."""
    return 2.0 * ndim / (2.0 * ndim + 1.0)


def default_sweeps_per_correction(features: int, ndim: int) -> int:
    """ν for a space of ``features`` columns. A correction streams Φ (``size x features`` doubles) from
    memory twice while a sweep works on cache-resident arrays: measured on a 2-core CPU, one correction
    costs as much as several hundred sweeps at 256^2-512^2 with ~100 features, so ν = 4 x features keeps
    the corrections to a fraction of a cycle's time (the criterion is still checked every few dozen sweeps)."""
    return max(64, 4 * features)


def solve_hybrid(problem: Problem, monitor: Monitor, *, network: NetworkSettings | None = None,
                 training: TrainingSettings | None = None, hybrid: HybridSettings | None = None,
                 seed: int = 0, device: str | None = None, omega: float = 1.0, check_every: int = 0,
                 switch: int | str | None = None, initial_guess: np.ndarray | None = None,
                 **_: object) -> SolveResult:
    """DNN phase, then two-level Jacobi/Galerkin cycles, then plain Jacobi (see the module docstring).

    Options: ``network``, ``training``, ``hybrid`` (settings), ``seed``, ``device``, ``omega`` (the tail's
    Jacobi weight), ``check_every`` (tail batch), ``switch`` (overrides ``hybrid.switch``).
    ``initial_guess`` is ignored (the network provides it).

    ``info`` is :meth:`~poissonfp.solvers.hybrids.hybrid_record.TwoLevelRecord.to_dict` of the solve's typed record
    (:class:`~poissonfp.solvers.hybrids.hybrid_record.TwoLevelRecord`, which documents every key).
    """
    if device == "cuda":
        require_box(problem, "hybrid on cuda (the torch stencil)")
    network = network or NetworkSettings()
    training = training or TrainingSettings()
    hybrid = hybrid or HybridSettings()
    switch = check_switch(hybrid.switch if switch is None else switch)
    if hybrid.cycle == "multilevel":  # every operator: the box's hierarchy or the Galerkin one
        from poissonfp.solvers.hybrids.hybrid_multilevel import solve_multilevel_hybrid

        return solve_multilevel_hybrid(problem, monitor, network=network, training=training, hybrid=hybrid,
                                       seed=seed, device=device, omega=omega, check_every=check_every,
                                       switch=switch)
    grid = problem.grid
    criterion = monitor.criterion
    reference, norm = criterion.reference(problem), criterion.scale(problem)
    record = TwoLevelRecord(switch_setting=switch)
    times = record.times_s
    state: dict[str, Any] = {"u": None, "sweeps": 0, "steps": 0, "phase": "dnn"}
    reason = "max_iterations"
    from poissonfp.neural.galerkin import warm_up
    from poissonfp.neural.model import build_model, single_threaded

    try:
        warm_up(problem.grid.ndim)  # compilation is not part of any solve's time
        with single_threaded():
            monitor.restart()
            clock = monitor.elapsed()
            model = build_model(problem, network, seed, device)
            state["model"] = model
            points = model.grid_points(grid)
            times["network_s"] = monitor.elapsed() - clock
            if problem.on_box or switch != "auto":
                space, u, _trainer = dnn_phase(problem, monitor, model, points, training, hybrid, switch,
                                               times, record, state)
            else:
                space, u = untrained_phase(problem, monitor, model, points, training, hybrid, times, record)
            state["u"] = u
            state["phase"] = "correction"
            u_switch = u.copy()
            monitor.record(u, 0, dnn_steps=state["steps"], phase="correction")
            record.corrections, record.sweeps_per_correction, record.correction_stop = 0, 0, "not needed"
            record.cycle_residuals, record.tail_sweeps = [], 0
            if monitor.satisfied(monitor.criterion.evaluate(problem, u, reference, norm)):
                reason = "converged"
            else:
                reason = _cycles(problem, monitor, space, u, hybrid, reference, norm, record, state)
            if reason not in ("converged", "interrupted"):
                state["phase"] = "jacobi"
                start = monitor.elapsed()
                iteration = jacobi_iteration(problem, omega, state["u"])
                budget = max(0, criterion.max_iterations - state["sweeps"])
                done, reason = run_jacobi(iteration, monitor, budget, sweeps_done=state["sweeps"],
                                          dnn_steps=state["steps"], batch=check_every)
                state["sweeps"] += done
                state["u"] = iteration.solution.copy()
                record.tail_sweeps = done
                times["tail_s"] = monitor.elapsed() - start
    except KeyboardInterrupt:
        reason = "interrupted"
        if state["u"] is None:
            trained = state.get("model")
            state["u"] = trained.grid_values(grid) if trained is not None else np.zeros(grid.shape)
        u_switch = None
    u = state["u"]
    check_finite(u, "hybrid solution")
    record.dnn_steps, record.jacobi_sweeps = state["steps"], state["sweeps"]
    record.omega_tail, record.phase_reached = omega, state["phase"]
    result = monitor.result("hybrid", u, reason, iterations=state["sweeps"], dnn_steps=state["steps"],
                            info=record.to_dict())
    if u_switch is not None and problem.grid.size <= 2**24 and problem.on_box:
        from poissonfp.spectral import dst_coefficients, dst_peaks

        uh = problem.discrete_solution
        peaks = dst_peaks(uh, 3)
        ref, err = dst_coefficients(uh), dst_coefficients(u_switch - uh)
        record.modes_at_switch = {
            "modes": [list(p) for p in peaks],
            "relative_error": [float(abs(err[tuple(k - 1 for k in p)]) / (abs(ref[tuple(k - 1 for k in p)]) or 1.0))
                               for p in peaks]}
        result.info["modes_at_switch"] = record.modes_at_switch
    return result


def _cycles(problem, monitor, space, u, hybrid, reference, norm, record, state) -> str:
    """Two-level cycles; returns the stop reason so far (``converged`` or ``continue``)."""
    start = monitor.elapsed()
    grid = problem.grid
    nu = hybrid.sweeps_per_correction or default_sweeps_per_correction(space.size, grid.ndim)
    omega = hybrid.smoothing_omega or 1.0
    iteration = jacobi_iteration(problem, omega, u)
    rhs = problem.rhs
    corrections, residuals, stop = 0, list[float](), "cap"
    reason = "continue"
    next_record = 1
    max_sweeps = monitor.criterion.max_iterations
    check = min(nu, max(32, math.ceil(2**18 / grid.size)))
    converged = False
    while corrections < hybrid.corrections and state["sweeps"] < max_sweeps:
        done = 0
        while done < nu and not converged:
            count = min(check, nu - done)
            converged = monitor.satisfied(monitor.criterion.from_sweep(iteration.sweep(count, reference), norm))
            done += count
        state["sweeps"] += done
        if converged:
            reason = "converged"
            stop = "converged"
            break
        u = iteration.solution
        r = rhs - problem.operator.apply(u)
        residual = float(np.linalg.norm(r))
        if residuals and not residual < hybrid.stall * residuals[-1]:
            stop = "stalled"
            break
        residuals.append(residual)
        u = u + space.correction(r)
        iteration.set(u)
        corrections += 1
        if monitor.satisfied(monitor.criterion.evaluate(problem, u, reference, norm)):
            reason = "converged"
            stop = "converged"
            break
        if corrections >= next_record:
            monitor.record(u, state["sweeps"], dnn_steps=state["steps"], phase="correction")
            next_record = max(corrections + 1, int(corrections * 1.25))
    state["u"] = iteration.solution.copy()
    stride = max(1, len(residuals) // 100)
    record.corrections, record.sweeps_per_correction, record.smoothing_omega = corrections, nu, omega
    record.correction_stop, record.cycle_sweeps = stop, state["sweeps"]
    record.cycle_residuals = residuals[::stride]
    record.times_s["cycles_s"] = monitor.elapsed() - start
    return reason
