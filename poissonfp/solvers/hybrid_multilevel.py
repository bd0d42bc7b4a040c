"""The hybrid's multilevel cycle: Jacobi smooths every grid, the network's Galerkin space solves the coarsest.

1. **Decision** (``fallback`` and ``switch = "auto"``, on the box). Pure Jacobi's sweeps are estimated from
   the right-hand side alone (:func:`poissonfp.jacobi_theory.estimated_sweeps`) and priced as
   ``run_jacobi`` will run them (its batches of kernel calls, :mod:`poissonfp.solvers.jacobi_price`); the
   hybrid's cost is its cycles' work (grid-independent: full multigrid then V-cycles) plus the coarse
   set-up. When Jacobi costs less, pure Jacobi continues from the priced sweeps; otherwise those sweeps
   count in the hybrid's work. Off the box the decision is skipped (the estimate needs the box's sine
   modes) and ``info["decision"]["reason"]`` says so. The choice is recorded in ``info["decision"]``.
2. **Coarse space.** The network is built (seeded; trained ``switch`` steps when ``switch`` is an
   integer) and its features on the coarsest grid span a :class:`~poissonfp.neural.galerkin.GalerkinSpace`
   there; ``coarsest = "smoothing"`` drops the space (the same method without the network) and
   ``"exact"`` factorises the coarsest matrix instead.
3. **Cycles.** Full multigrid from the coarsest level (solving for ``u - lift`` below the fine level, the
   lift carrying the Dirichlet data: :func:`~poissonfp.solvers.multilevel.boundary_lift`), then V-cycles
   on the fine grid until the criterion holds; the criterion is read from the statistics of each cycle's
   last fine sweep, as Jacobi does. The hierarchy (:func:`make_multilevel`) rediscretises the box
   (:mod:`poissonfp.solvers.multilevel`) and projects any other operator
   (:mod:`poissonfp.solvers.multilevel_galerkin`); ``info["cycle"]`` and ``info["hierarchy"]`` say which ran.
"""
from __future__ import annotations

import math
import time

import numpy as np

from poissonfp.problem import Problem
from poissonfp.solvers.base import Monitor, SolveResult, check_finite
from poissonfp.solvers.jacobi import JacobiIteration, run_jacobi
from poissonfp.solvers.jacobi_price import PRICE_SWEEPS, JacobiPrice, jacobi_seconds, measure_price
from poissonfp.solvers.multilevel import DEFAULT_COARSEST_POINTS, boundary_lift, CoarseIteration, ExactCoarse, Multilevel, warm_up

__all__ = ["solve_multilevel_hybrid", "coarse_network", "coarse_solver", "decide", "run_cycles", "cycle_summary", "make_multilevel", "predicted_cycle_work", "SETUP_SECONDS_PER_FLOP"]

#: Seconds per floating-point operation of the coarse set-up (features, ΦᵀAΦ, eigh), single thread:
#: galerkin_s measured 1.5 ms (minimum of 15 solves of 2d_high_frequency at 255², fallback off) for 129
#: features on 15² (~29 MFlop counted as below): 5e-11 s per counted flop.
SETUP_SECONDS_PER_FLOP = 5e-11
#: Fixed cost of building the network (torch module creation and seeded initialisation), seconds:
#: network_s minus galerkin_s, 1.1 ms in the same runs (it was 9 ms before the model build was trimmed).
SETUP_SECONDS = 1.2e-3
#: Per-cycle reduction assumed by the decision (measured 0.13-0.2 at every size, see docs/benchmarks.md).
ASSUMED_FACTOR = 0.25
#: Python and dispatch cost of one kernel call of a cycle, seconds (~8 calls per level and cycle); it
#: dominates on small grids, where a sweep takes microseconds.
CALL_SECONDS = 2e-5
#: A cycle's sweep-equivalent costs this many fine sweeps (transfers gather through tap lists, coarse
#: levels fall out of cache less gracefully), measured 1.5-2 on 255²-1023².
CYCLE_WORK_COST = 2.0


def predicted_cycle_work(multilevel_grids, kind: str, tol: float, pre: int, post: int) -> float:
    """Sweep-equivalents the hybrid's cycles are predicted to need: full multigrid plus V-cycles."""
    fine = multilevel_grids[0].size
    per_cycle = sum((pre + post + 3) * g.size / fine for g in multilevel_grids[:-1])
    cycles = 2 if kind == "discretization" else max(2, math.ceil(math.log(tol) / math.log(ASSUMED_FACTOR)))
    return (cycles + 1) * per_cycle




#: Sweeps :func:`_plain_seconds` runs.
PLAIN_SWEEPS = 3


def _plain_seconds(level, omega: float) -> float:
    """Seconds of one plain sweep on ``level`` (the cycles' kernel, no statistics): the faster of two timed
    sweeps after an untimed one (which pays the page faults of fresh buffers)."""
    level.smooth(1, omega)
    best = math.inf
    for _ in range(2):
        start = time.perf_counter()
        level.smooth(1, omega)
        best = min(best, time.perf_counter() - start)
    return best


#: Cycles without progress that end a run (``"stalled"``): V-cycles cut the residual by 0.06-0.2 each, so
#: this many in a row without a 10 % gain means round-off has been reached (a tolerance below it).
STALL_CYCLES = 10


def stalled(residuals: list[float]) -> bool:
    """Whether the last :data:`STALL_CYCLES` residuals brought the best one down by less than 10 %."""
    if len(residuals) <= STALL_CYCLES:
        return False
    before = min(residuals[:-STALL_CYCLES])
    return min(residuals[-STALL_CYCLES:]) > 0.9 * before


def run_cycles(monitor: Monitor, measure, step, solution, residuals: list, dnn_steps: int = 0) -> tuple[str, int]:
    """Cycle until the criterion holds: ``measure()`` gives (residual norm, criterion value) of the current
    iterate, ``step()`` runs one more cycle, ``solution()`` is recorded between cycles. Appends to
    ``residuals``; returns (stop reason, cycles counted, the start as the first); ``"stalled"`` when the
    residual stopped falling (:func:`stalled`: a tolerance below round-off would otherwise cycle up to
    ``max_iterations``); Ctrl-C stops it with ``"interrupted"`` and the count reached."""
    cycles = 0
    try:
        while True:
            cycles += 1
            residual, value = measure()
            residuals.append(residual)
            if not math.isfinite(value):
                return "max_iterations", cycles
            if monitor.satisfied(value):
                return "converged", cycles
            if cycles >= monitor.criterion.max_iterations:
                return "max_iterations", cycles
            if stalled(residuals):
                return "stalled", cycles
            monitor.record(solution(), cycles, dnn_steps, phase="cycles")
            step()
    except KeyboardInterrupt:
        return "interrupted", cycles


def cycle_summary(residuals: list[float], cycles: int, multilevel) -> dict:
    """The ``info`` entries of a finished run of cycles: counts, work, mean factor per cycle."""
    factors = [b / a for a, b in zip(residuals[:-1], residuals[1:]) if a > 0]
    return {"cycles": cycles, "work_sweep_equivalents": multilevel.work,
            "cycle_factor": float(np.exp(np.mean(np.log(factors)))) if factors else None,
            "cycle_residuals": residuals, "jacobi_sweeps": 0,
            "coarse_passes": multilevel.coarse.passes if multilevel.coarse is not None else 0}


def _setup_flops(coarse_size: int, features: int, coarsest: str) -> float:
    if coarsest != "space":
        return 0.0
    return 2.0 * coarse_size * features**2 + 10.0 * features**3 + 20.0 * coarse_size * features


def decide(problem: Problem, monitor: Monitor, hybrid, network, omega: float, grids,
           sweep_s: float | JacobiPrice | None = None, restricted: tuple | None = None, batch: int = 0) -> dict:
    """Pure Jacobi or the multilevel hybrid, whichever is predicted cheaper (see the module docstring).

    ``sweep_s``: the price measured by the caller (:class:`~poissonfp.solvers.jacobi_price.JacobiPrice`, or
    seconds per sweep for both a sweep and a call); None measures it on a
    :class:`~poissonfp.solvers.jacobi.JacobiIteration`, returned under ``"iteration"`` to continue from.
    Pure Jacobi's seconds replay ``run_jacobi``'s batches (``batch``: its ``check_every``).
    ``restricted``: the hierarchy's grids down to a probe level and the right-hand side restricted there
    (see :func:`~poissonfp.jacobi_theory.estimated_sweeps`; None restricts anew).
    """
    from poissonfp.jacobi_theory import estimated_sweeps

    criterion = monitor.criterion
    target = monitor.threshold / 3.0 if criterion.kind == "discretization" else monitor.threshold
    if criterion.kind == "residual":
        target *= float(np.linalg.norm(problem.rhs)) or 1.0
    estimate = estimated_sweeps(problem, criterion.kind, target, omega, restricted=restricted)
    iteration = None
    if sweep_s is None:
        iteration = JacobiIteration(problem, omega)
        sweep_s = measure_price(iteration, monitor, criterion.reference(problem), criterion.scale(problem))
    price = sweep_s if isinstance(sweep_s, JacobiPrice) else JacobiPrice(sweep_s, sweep_s)
    width = (network.widths[-1] + 1) if network is not None else 0
    setup_s = SETUP_SECONDS_PER_FLOP * _setup_flops(grids[-1].size, width, hybrid.coarsest)
    if hybrid.coarsest == "space" and getattr(hybrid, "coarse", "network") == "network":
        setup_s += SETUP_SECONDS
    cycle_work = predicted_cycle_work(grids, criterion.kind, criterion.tol, hybrid.smoothing_sweeps,
                                      hybrid.smoothing_sweeps)
    calls = 8 * len(grids) * (cycle_work / max(predicted_cycle_work(grids, "discretization", 1.0, 1, 1) / 3, 1e-12))
    hybrid_s = CYCLE_WORK_COST * cycle_work * price.plain_s + calls * CALL_SECONDS + setup_s
    jacobi_s = jacobi_seconds(estimate["sweeps"], problem.grid.size, price, batch, stop_above=hybrid_s)
    choice = "jacobi" if jacobi_s <= hybrid_s else "multilevel"
    return {"method": choice, "jacobi_sweeps_estimated": estimate["sweeps"], "jacobi_s_estimated": jacobi_s,
            "hybrid_s_estimated": hybrid_s, "hybrid_sweep_equivalents_estimated": hybrid_s / price.plain_s,
            "cycle_work_estimated": cycle_work, "setup_s_estimated": setup_s, "sweep_s_measured": price.plain_s,
            "call_s_measured": price.call_s, "probe": estimate,
            **({"iteration": iteration} if iteration is not None else {})}


def coarse_network(problem, monitor, network, training, seed, device, switch, info, times):
    """The seeded network whose features span the coarsest space, trained ``switch`` steps (Adam, then
    L-BFGS) on the fine grid's loss when ``switch`` is a positive integer; records ``dnn_steps`` and
    ``train_s``. Shared by the numpy and the torch paths."""
    from poissonfp.neural.model import build_model

    start = monitor.elapsed()
    model = build_model(problem, network, seed, device)
    if isinstance(switch, int) and switch > 0:
        from poissonfp.neural.losses import make_loss
        from poissonfp.neural.training import Trainer

        trainer = Trainer(model, make_loss(problem, model, training.loss, training.points, training.quadrature_order),
                          training.learning_rate)
        trainer.adam(min(switch, training.adam_steps))
        trainer.lbfgs(max(0, switch - trainer.steps))
        info["dnn_steps"] = trainer.steps
        times["train_s"] = monitor.elapsed() - start
    return model


def _coarse_solver(problem, monitor, hybrid, network, training, seed, device, switch, coarse_grid, info, times,
                   level=None):
    """The coarsest-level solver; builds (and trains) the network for ``coarsest = "space"``, or spans the
    classical basis ``hybrid.coarse`` (``polynomial``, ``sine``) with as many functions as the network has
    features. ``level``: the coarsest :class:`~poissonfp.solvers.multilevel_galerkin.MatrixLevel` of a
    general operator (the space is then the Galerkin space of its matrix), None on the box."""
    if hybrid.coarsest == "exact":
        return ExactCoarse()
    if hybrid.coarsest == "smoothing":
        return CoarseIteration(None, sweeps=4, reduction=hybrid.coarsest_reduction)

    start = monitor.elapsed()
    kind = hybrid.coarse
    info["coarse"] = kind
    if kind != "network":  # a classical basis of as many functions as the network has features
        from poissonfp.neural.bases import classical_features

        space = _space(coarse_grid, classical_features(coarse_grid, kind, network.widths[-1] + 1),
                       training.rcond, level)
        times["galerkin_s"] = times["network_s"] = monitor.elapsed() - start
        info.update({"galerkin_features": space.size, "galerkin_rank": space.rank,
                     "galerkin_condition": space.condition})
        return CoarseIteration(space, sweeps=4, reduction=hybrid.coarsest_reduction)
    model = coarse_network(problem, monitor, network, training, seed, device, switch, info, times)
    clock = monitor.elapsed()
    # the coarse space: any GalerkinSpace on the coarsest grid plugs in here
    space = _space(coarse_grid, model.grid_features(coarse_grid), training.rcond, level)
    times["galerkin_s"] = monitor.elapsed() - clock
    times["network_s"] = monitor.elapsed() - start
    info.update({"galerkin_features": space.size, "galerkin_rank": space.rank, "galerkin_condition": space.condition})
    return CoarseIteration(space, sweeps=4, reduction=hybrid.coarsest_reduction)


def coarse_solver(problem: Problem, monitor: Monitor, options: dict, coarse_grid, info: dict, times: dict,
                  level=None):
    """The hybrid's coarsest-level solver for a caller that builds its own hierarchy (the batch solves of
    :mod:`poissonfp.studies.batch_hybrid`; ``--backend petsc`` on a gathered coarse grid, where ``problem``
    needs only ``grid``, ``functions`` and ``on_box``): ``options`` are :func:`solve_multilevel_hybrid`'s
    (``hybrid``, ``network``, ``training``, ``seed``, ``device``, optional ``switch``); ``info`` and ``times``
    (``network_s``, ``train_s``, ``galerkin_s``) receive what the set-up did and took."""
    return _coarse_solver(problem, monitor, options["hybrid"], options["network"], options["training"],
                          options["seed"], options.get("device") or options["network"].device,
                          options.get("switch", options["hybrid"].switch), coarse_grid, info, times, level)


def _space(coarse_grid, features, rcond: float, level):
    from poissonfp.neural.galerkin import GalerkinSpace

    if level is None:
        return GalerkinSpace(coarse_grid, features, rcond)
    from poissonfp.solvers.multilevel_galerkin import MatrixGalerkinSpace

    return MatrixGalerkinSpace(level, features, rcond)


def solve_multilevel_hybrid(problem: Problem, monitor: Monitor, **options) -> SolveResult:
    """See the module docstring. Options: ``network``, ``training``, ``hybrid``, ``seed``, ``device``,
    ``switch``; ``omega`` and ``check_every`` serve a pure-Jacobi fallback. BLAS and torch run on one
    thread (see :func:`poissonfp.neural.model.single_threaded`)."""
    from poissonfp.neural.model import resolve_device, single_threaded

    if resolve_device(options.get("device") or options["network"].device).type == "cuda":
        from poissonfp.solvers.base import require_box
        from poissonfp.solvers.torch_solvers import solve_hybrid_torch

        require_box(problem, "the multilevel hybrid on cuda (the torch stencil hierarchy)")

        return solve_hybrid_torch(problem, monitor, **{**options, "device": "cuda"})
    with single_threaded():
        return _solve(problem, monitor, **options)


def _solve(problem: Problem, monitor: Monitor, *, network, training, hybrid, seed: int, device: str | None,
           omega: float, check_every: int, switch) -> SolveResult:
    grid = problem.grid
    points = hybrid.coarsest_points or DEFAULT_COARSEST_POINTS[grid.ndim]
    smoothing = hybrid.smoothing_omega or 2.0 * grid.ndim / (2.0 * grid.ndim + 1.0)
    criterion = monitor.criterion
    reference, norm = criterion.reference(problem), criterion.scale(problem)
    warm_up(grid.ndim)
    if hybrid.coarsest == "space":
        from poissonfp.neural.galerkin import warm_up as warm_up_features

        warm_up_features(grid.ndim)
    times = {"decision_s": 0.0, "hierarchy_s": 0.0, "network_s": 0.0, "train_s": 0.0, "galerkin_s": 0.0,
             "cycles_s": 0.0}
    monitor.restart()
    multilevel = make_multilevel(problem, None, smoothing, hybrid.smoothing_sweeps, points)
    grids = multilevel.grids
    times["hierarchy_s"] = monitor.elapsed()
    info: dict = {"cycle": "multilevel", "hierarchy": multilevel.hierarchy, "coarsest": hybrid.coarsest,
                  "coarse": hybrid.coarse, "levels": len(grids), "coarsest_shape": list(grids[-1].shape),
                  "smoothing_omega": smoothing, "smoothing_sweeps": hybrid.smoothing_sweeps,
                  "switch_setting": switch, "dnn_steps": 0, "times_s": times}
    if hybrid.fallback and switch == "auto" and not problem.on_box:
        info["decision"] = {"method": "multilevel", "reason": "off the box: pure Jacobi's sweeps have no "
                            "estimate there (jacobi_theory needs the sine modes of the box), the decision is skipped"}
    elif hybrid.fallback and switch == "auto":
        clock = monitor.elapsed()
        multilevel.restrict_rhs(problem.rhs)  # the decision's probe reads a coarse level's right-hand side
        probe = next(i for i, g in enumerate(grids) if max(g.shape) <= max(31, max(grids[-1].shape)))
        restricted = (grids[:probe + 1], multilevel.levels[probe].rhs)
        multilevel.fine.zero()
        plain = _plain_seconds(multilevel.fine, omega)  # a lower bound of every Jacobi sweep's price
        multilevel.work += PLAIN_SWEEPS
        decision = decide(problem, monitor, hybrid, network, omega, grids, JacobiPrice(plain, plain), restricted,
                          batch=check_every)
        decision["priced"] = "plain sweeps (a lower bound of pure Jacobi's time)"
        if decision["method"] == "jacobi":  # close: price pure Jacobi as run_jacobi will run it
            iteration = JacobiIteration(problem, omega)  # pure Jacobi continues from the priced sweeps
            price = measure_price(iteration, monitor, reference, norm)
            decision = decide(problem, monitor, hybrid, network, omega, grids, price, restricted, batch=check_every)
            decision["priced"] = "run_jacobi's kernel calls"
            if decision["method"] == "jacobi":
                times["decision_s"] = monitor.elapsed() - clock
                info["decision"] = decision
                done, reason = run_jacobi(iteration, monitor, monitor.criterion.max_iterations - PRICE_SWEEPS,
                                          sweeps_done=PRICE_SWEEPS, batch=check_every)
                done += PRICE_SWEEPS + PLAIN_SWEEPS
                info.update(cycle="jacobi (decision)", work_sweep_equivalents=float(done), cycles=0)
                return monitor.result("hybrid", iteration.solution.copy(), reason, done, info=info)
            multilevel.work += PRICE_SWEEPS  # the decision's timed sweeps are work done
        times["decision_s"] = monitor.elapsed() - clock
        info["decision"] = decision
        info["decision"]["reason"] = "the cycles are predicted cheaper than pure Jacobi"
    else:
        info["decision"] = {"method": "multilevel", "reason": "fallback off or a fixed switch"}
    reason, cycles, residuals = "max_iterations", 0, []
    try:
        level = multilevel.levels[-1] if multilevel.hierarchy == "galerkin" else None
        multilevel.coarse = _coarse_solver(problem, monitor, hybrid, network, training, seed, device, switch,
                                           grids[-1], info, times, level)
        start = monitor.elapsed()
        lift = boundary_lift(problem)
        info["boundary_lift"] = lift is not None
        restricted = info["decision"].get("method") == "multilevel" and "jacobi_sweeps_estimated" in info["decision"]
        state = {"stats": multilevel.full_cycle(None if restricted and lift is None else problem.rhs, reference, lift)}

        def measure() -> tuple[float, float]:
            residual, error_l2, error_max = multilevel.measures(state["stats"], reference)
            return residual, criterion.from_norms(residual_norm=residual, error_max=error_max,
                                                  error_l2=error_l2, scale=norm)

        def step() -> None:
            state["stats"] = multilevel.cycle(0, reference)

        reason, cycles = run_cycles(monitor, measure, step, lambda: multilevel.fine.solution, residuals,
                                    info["dnn_steps"])
        times["cycles_s"] = monitor.elapsed() - start
    except KeyboardInterrupt:
        reason = "interrupted"
    u = multilevel.fine.solution.copy()
    check_finite(u, "hybrid solution")
    info.update(cycle_summary(residuals, cycles, multilevel))
    info.update(switch_step=info["dnn_steps"], training_time_s=times["train_s"], galerkin_time_s=times["galerkin_s"])
    return monitor.result("hybrid", u, reason, cycles, info["dnn_steps"], info=info)


def make_multilevel(problem: Problem, coarse, omega: float | None = None, sweeps: int = 2,
                    coarsest_points: int | None = None):
    """The hierarchy for ``problem``'s operator, built once: the rediscretised box hierarchy
    (:class:`~poissonfp.solvers.multilevel.Multilevel`) on the constant-coefficient Dirichlet box, the
    Galerkin one (:class:`~poissonfp.solvers.multilevel_galerkin.GalerkinMultilevel`) elsewhere. Reuse it
    for any right-hand side: ``hierarchy.solve_rhs(rhs, tol)`` (or ``full_cycle(rhs)`` then ``cycle()``)."""
    points = coarsest_points or DEFAULT_COARSEST_POINTS[problem.grid.ndim]
    if problem.on_box:
        return Multilevel(problem.grid, coarse, omega, sweeps, sweeps, points)
    from poissonfp.solvers.multilevel_galerkin import GalerkinMultilevel

    return GalerkinMultilevel(problem.operator, coarse, omega, sweeps, sweeps, points)
