"""The hybrid's multilevel cycle: Jacobi smooths every grid, the network's Galerkin space solves the coarsest.

1. **Decision** (``fallback`` and ``switch = "auto"``, on the box). Pure Jacobi's sweeps are estimated from
   the right-hand side alone (:func:`poissonfp.jacobi_theory.estimated_sweeps`) and priced as
   ``run_jacobi`` will run them (its batches of kernel calls, :mod:`poissonfp.solvers.classical.jacobi_price`); the
   hybrid's cost is its cycles' work (grid-independent: full multigrid then V-cycles) plus the coarse
   set-up. When Jacobi costs less, pure Jacobi continues from the priced sweeps; otherwise those sweeps
   count in the hybrid's work. Off the box the decision is skipped (the estimate needs the box's sine
   modes) and ``info["decision"]["reason"]`` says so. The choice is recorded in ``info["decision"]``.
2. **Coarse space.** The network is built (seeded; trained ``switch`` steps when ``switch`` is an
   integer) and its features on the coarsest grid span a :class:`~poissonfp.neural.galerkin.GalerkinSpace`
   there; ``coarsest = "smoothing"`` drops the space (the same method without the network) and
   ``"exact"`` factorises the coarsest matrix instead.
3. **Cycles.** Full multigrid from the coarsest level (solving for ``u - lift`` below the fine level, the
   lift carrying the Dirichlet data: :func:`~poissonfp.solvers.hierarchy.multilevel.boundary_lift`), then V-cycles
   on the fine grid until the criterion holds; the criterion is read from the statistics of each cycle's
   last fine sweep, as Jacobi does. The hierarchy (:func:`make_multilevel`) rediscretises the box
   (:mod:`poissonfp.solvers.hierarchy.multilevel`) and projects any other operator
   (:mod:`poissonfp.solvers.hierarchy.multilevel_galerkin`); ``info["cycle"]`` and ``info["hierarchy"]`` say which ran.
"""
from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from poissonfp.problem import Problem
from poissonfp.solvers.base import Monitor, SolveResult, check_finite
from poissonfp.solvers.classical.jacobi import JacobiIteration
from poissonfp.solvers.classical.jacobi_price import PRICE_SWEEPS, JacobiPrice, jacobi_seconds, measure_price
from poissonfp.solvers.hierarchy.coarse_solvers import CoarseIteration
from poissonfp.solvers.hierarchy.multilevel import DEFAULT_COARSEST_POINTS, boundary_lift
from poissonfp.solvers.hybrids.hybrid_backend import PLAIN_SWEEPS, HybridBackend, NumpyBackend, make_multilevel

__all__ = [
    "PLAIN_SWEEPS",
    "SETUP_SECONDS_PER_FLOP",
    "coarse_network",
    "coarse_solver",
    "cycle_summary",
    "decide",
    "make_multilevel",
    "predicted_cycle_work",
    "run_cycles",
    "run_hybrid",
    "solve_multilevel_hybrid",
]

#: Seconds per floating-point operation of the coarse set-up (features, ΦᵀAΦ, eigh), single thread:
#: galerkin_s measured 1.5 ms (minimum of 15 solves of 2d_high_frequency at 255², fallback off) for 129
#: features on 15² (~29 MFlop counted as below): 5e-11 s per counted flop.
SETUP_SECONDS_PER_FLOP = 5e-11
#: Fixed cost of building the network (torch module creation and seeded initialisation), seconds:
#: network_s minus galerkin_s, 1.1 ms in the same runs (it was 9 ms before the model build was trimmed).
#: The untrained network's features now skip the modules (``seeded_layers``: ~0.1 ms); the constant is kept
#: so that the decisions, and so every result, stay as they were.
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
    factors = [b / a for a, b in itertools.pairwise(residuals) if a > 0]
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

    ``sweep_s``: the price measured by the caller (:class:`~poissonfp.solvers.classical.jacobi_price.JacobiPrice`, or
    seconds per sweep for both a sweep and a call); None measures it on a
    :class:`~poissonfp.solvers.classical.jacobi.JacobiIteration`, returned under ``"iteration"`` to continue from.
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


def backend_coarse_solver(problem: Problem, monitor: Monitor, backend: HybridBackend, hierarchy, *, hybrid, network,
                  training, seed: int, device, switch, info: dict, times: dict):
    """The coarsest-level solver; builds (and trains) the network for ``coarsest = "space"``, or spans the
    classical basis ``hybrid.coarse`` (``polynomial``, ``sine``) with as many functions as the network has
    features, in the backend's arrays (on a general operator the space is the Galerkin space of the coarsest
    matrix)."""
    if hybrid.coarsest == "exact":
        return backend.exact_coarse()
    if hybrid.coarsest == "smoothing":
        return CoarseIteration(None, sweeps=4, reduction=hybrid.coarsest_reduction)
    start = monitor.elapsed()
    coarse_grid = hierarchy.grids[-1]
    if hybrid.coarse != "network":  # a classical basis of as many functions as the network has features
        from poissonfp.neural.bases import classical_features

        features = backend.classical_features(classical_features(coarse_grid, hybrid.coarse, network.widths[-1] + 1))
        clock = start
    else:
        layers = None
        if (not (isinstance(switch, int) and switch > 0) and isinstance(backend, NumpyBackend)  # torch's features differ
                and (device or network.device or "cpu") == "cpu"):  # in the last bits; cuda builds the network
            from poissonfp.neural.model import seeded_layers

            layers = seeded_layers(network, seed, problem.grid.ndim)  # the untrained network's, no torch modules
        clock = monitor.elapsed()
        if layers is not None:
            from poissonfp.neural.model import seeded_features

            features = seeded_features(problem, network, layers, coarse_grid)
        else:
            model = coarse_network(problem, monitor, network, training, seed, device, switch, info, times)
            clock = monitor.elapsed()
            features = backend.network_features(model, coarse_grid)
    space = backend.space(hierarchy, features, training.rcond)
    times["galerkin_s"] = monitor.elapsed() - clock
    times["network_s"] = monitor.elapsed() - start
    info.update({"galerkin_features": space.size, "galerkin_rank": space.rank, "galerkin_condition": space.condition})
    return CoarseIteration(space, sweeps=4, reduction=hybrid.coarsest_reduction)


def coarse_solver(problem: Problem, monitor: Monitor, options: dict, coarse_grid, info: dict, times: dict,
                  level=None):
    """The hybrid's coarsest-level solver (numpy backend) for a caller that builds its own hierarchy (the batch
    solves of :mod:`poissonfp.studies.batch_hybrid`; ``--backend petsc`` on a gathered coarse grid, where
    ``problem`` needs only ``grid``, ``functions`` and ``on_box``): ``options`` are
    :func:`solve_multilevel_hybrid`'s (``hybrid``, ``network``, ``training``, ``seed``, ``device``, optional
    ``switch``); ``level`` the coarsest :class:`~poissonfp.solvers.hierarchy.matrix_level.MatrixLevel` of a general
    operator (None on the box); ``info`` and ``times`` (``network_s``, ``train_s``, ``galerkin_s``) receive what
    the set-up did and took."""
    from types import SimpleNamespace

    hybrid = options["hybrid"]
    hierarchy = SimpleNamespace(grids=[coarse_grid], levels=[level],
                                hierarchy="rediscretised" if level is None else "galerkin")
    info["coarse"] = hybrid.coarse
    return backend_coarse_solver(problem, monitor, NumpyBackend(), hierarchy, hybrid=hybrid,
                                 network=options["network"], training=options["training"], seed=options["seed"],
                                 device=options.get("device") or options["network"].device,
                                 switch=options.get("switch", hybrid.switch), info=info, times=times)


def solve_multilevel_hybrid(problem: Problem, monitor: Monitor, **options) -> SolveResult:
    """See the module docstring. Options: ``network``, ``training``, ``hybrid``, ``seed``, ``device``,
    ``switch``; ``omega`` and ``check_every`` serve a pure-Jacobi fallback. On the CPU BLAS and torch run on
    one thread (see :func:`poissonfp.neural.model.single_threaded`); ``cuda`` runs the same orchestration
    on torch tensors (:class:`~poissonfp.solvers.hybrids.torch_hybrid.TorchBackend`, the box only)."""
    from poissonfp.threads import single_threaded  # torch-free: a classical coarse space never loads torch

    device = options.get("device") or options["network"].device
    if device not in (None, "cpu"):  # "cuda" (refused without a GPU, as any other name is)
        from poissonfp.neural.model import resolve_device
        from poissonfp.solvers.base import require_box

        resolve_device(device)
        from poissonfp.solvers.hybrids.torch_hybrid import TorchBackend

        require_box(problem, "the multilevel hybrid on cuda (the torch stencil hierarchy)")
        return run_hybrid(problem, monitor, TorchBackend("cuda"), **{**options, "device": "cuda"})
    with single_threaded(needs_torch=_builds_network(options["hybrid"])):
        return run_hybrid(problem, monitor, NumpyBackend(), **options)


def _builds_network(hybrid) -> bool:
    """Whether the coarsest solve spans a network's features (the one case that needs torch)."""
    return hybrid.coarsest == "space" and hybrid.coarse == "network"


def run_hybrid(problem: Problem, monitor: Monitor, backend: HybridBackend, *, network, training, hybrid, seed: int,
               device: str | None, omega: float, check_every: int, switch) -> SolveResult:
    """The multilevel hybrid on ``backend`` (numpy or torch): the decision, the coarse space, the cycles
    (see the module docstring); every backend returns the same ``info`` keys."""
    grid = problem.grid
    points = hybrid.coarsest_points or DEFAULT_COARSEST_POINTS[grid.ndim]
    smoothing = hybrid.smoothing_omega or 2.0 * grid.ndim / (2.0 * grid.ndim + 1.0)
    backend.warm_up(grid.ndim, hybrid.coarsest == "space", _builds_network(hybrid))
    times = {"decision_s": 0.0, "hierarchy_s": 0.0, "network_s": 0.0, "train_s": 0.0, "galerkin_s": 0.0,
             "cycles_s": 0.0}
    monitor.restart()
    multilevel = backend.hierarchy(problem, smoothing, hybrid.smoothing_sweeps, points)
    grids = multilevel.grids
    times["hierarchy_s"] = monitor.elapsed()
    info: dict[str, Any] = {
        "cycle": "multilevel", "device": backend.device, "hierarchy": multilevel.hierarchy,
        "coarsest": hybrid.coarsest, "coarse": hybrid.coarse, "levels": len(grids),
        "coarsest_shape": list(grids[-1].shape), "smoothing_omega": smoothing,
        "smoothing_sweeps": hybrid.smoothing_sweeps, "switch_setting": switch, "dnn_steps": 0, "times_s": times}
    if hybrid.fallback and switch == "auto" and not problem.on_box:
        info["decision"] = {"method": "multilevel", "reason": "off the box: pure Jacobi's sweeps have no "
                            "estimate there (jacobi_theory needs the sine modes of the box), the decision is skipped"}
    elif hybrid.fallback and switch == "auto":
        clock = monitor.elapsed()
        restricted = backend.restricted(multilevel, problem)
        plain = backend.plain_seconds(multilevel, problem, omega)  # a lower bound of every Jacobi sweep's price
        decision = decide(problem, monitor, hybrid, network, omega, grids, JacobiPrice(plain, plain), restricted,
                          batch=check_every)
        decision["priced"] = "plain sweeps (a lower bound of pure Jacobi's time)"
        if decision["method"] == "jacobi":  # close: price pure Jacobi as it will run, where the backend can
            jacobi = backend.jacobi(problem, multilevel, omega)
            price = jacobi.price(monitor)
            if price is not None:
                decision = decide(problem, monitor, hybrid, network, omega, grids, price, restricted,
                                  batch=check_every)
                decision["priced"] = "run_jacobi's kernel calls"
            if decision["method"] == "jacobi":
                times["decision_s"] = monitor.elapsed() - clock
                info["decision"] = decision
                u, reason, done = jacobi.run(monitor, check_every)
                info.update(cycle="jacobi (decision)", work_sweep_equivalents=float(done), cycles=0)
                return monitor.result("hybrid", u, reason, done, info=info)
            multilevel.work += PRICE_SWEEPS if price is not None else 0  # the decision's timed sweeps are work done
        times["decision_s"] = monitor.elapsed() - clock
        info["decision"] = decision
        info["decision"]["reason"] = "the cycles are predicted cheaper than pure Jacobi"
    else:
        info["decision"] = {"method": "multilevel", "reason": "fallback off or a fixed switch"}
    reason, cycles, residuals = "max_iterations", 0, list[float]()
    try:
        multilevel.coarse = backend_coarse_solver(problem, monitor, backend, multilevel, hybrid=hybrid, network=network,
                                          training=training, seed=seed, device=device, switch=switch, info=info,
                                          times=times)
        start = monitor.elapsed()
        lift = boundary_lift(problem)
        info["boundary_lift"] = lift is not None
        on_levels = info["decision"].get("method") == "multilevel" and "jacobi_sweeps_estimated" in info["decision"]
        measure, step = backend.cycles(multilevel, problem, monitor, lift, on_levels)
        reason, cycles = run_cycles(monitor, measure, step, lambda: backend.solution(multilevel), residuals,
                                    info["dnn_steps"])
        times["cycles_s"] = monitor.elapsed() - start
    except KeyboardInterrupt:
        reason = "interrupted"
    u = backend.solution(multilevel).copy()
    check_finite(u, "hybrid solution")
    info.update(cycle_summary(residuals, cycles, multilevel))
    info.update(switch_step=info["dnn_steps"], training_time_s=times["train_s"], galerkin_time_s=times["galerkin_s"])
    return monitor.result("hybrid", u, reason, cycles, info["dnn_steps"], info=info)
