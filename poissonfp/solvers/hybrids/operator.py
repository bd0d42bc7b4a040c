"""The operator iteration: ω-Jacobi sweeps, and corrections by a trained operator network where they pay.

Blocks of ``sweeps`` ω-Jacobi sweeps (ω = 1 by default: pure Jacobi's, until the first call; 2d/(2d+1)
after; a block doubles after each one without a call, up to :data:`~poissonfp.solvers.hybrids.operator_iteration.GROWTH` x ``sweeps``) run until they stall; then one
correction ``d`` of the residual ``r = b − A u`` is applied as ``u += α d`` with the energy-optimal step
``α = (d, r) / (d, A d)`` (never worse in the energy norm). ``d`` comes from the network ``N`` of
:class:`~poissonfp.learned.store.OperatorModel` through :mod:`poissonfp.solvers.hybrids.operator_transfer`: on a finer
grid of the model's box whose coarsening chain reaches the model's grid, one V-cycle on ``A e = r`` from zero
(``cycle_sweeps`` ω_s-Jacobi sweeps before and after each coarse correction, ω_s = 2d/(2d+1), full weighting,
linear interpolation) whose coarsest solve is ONE network call (``coarse_sweeps`` sweeps at the model's own
level around it); off the box a two-grid. ``accel = "fcg"``: flexible CG (FCG(1)) preconditioned by that
correction, one call per step.

Trigger (``trigger = "stall"``). Each block measures, for free, the residual of every sweep (on the box
``u_new − u_old = ω D⁻¹ r_old``); its second half gives the sweeps' rate ρ per sweep. A call costs P
sweep-equivalents (its measured seconds per row over a sweep's, the V-cycle's smoothing and transfers, a
residual and ``A d``) and is expected to reduce the residual by a factor γ (the prior :func:`prior_call_factor`,
then the last call's measured factor, never above :data:`~poissonfp.solvers.hybrids.operator_iteration.PRIOR_CALL_FACTOR`). The network is called when ``ρ^P ≥ γ``: when P
more sweeps would do no better. A source the sweeps handle well (a single high mode) never stalls and is
solved by sweeps alone at pure Jacobi's work; a smooth remainder stalls them and is passed to the network.
``trigger = "always"``: a call after every block (the plain alternation, for comparison).

Safeguard: a call is useless when its measured factor is no better than ``ρ^P``; after ``patience`` useless
calls in a row the solve falls back to the multilevel hybrid (:func:`~poissonfp.solvers.hybrids.hybrid.solve_hybrid`,
which solves for the correction of the current residual: the iteration's work is kept, the hybrid's added)
and records why. In a batch a row whose calls became useless stops calling.

Work is counted in sweep-equivalents per right-hand side: a sweep 1, a residual or ``A d`` 1, the correction's
smoothing and transfers by their points relative to the fine grid, a call its measured price: the least seconds per
row of a call (three timed at set-up and the solve's own) over the least seconds per row of one of the
iteration's fine sweeps (its blocks) (:meth:`~poissonfp.solvers.hybrids.operator_iteration.OperatorIteration.price`:
load only adds time), every call of the solve priced at it. Box: compiled batched kernels
(:mod:`poissonfp.solvers.hybrids.operator_kernels`), buffers allocated once; off the box numpy and the sparse matrix.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Any

import numpy as np

from poissonfp.problem import Problem
from poissonfp.solvers.base import Monitor, SolveResult, StoppingCriterion, check_finite
from poissonfp.solvers.hybrids.operator_fallback import fall_back
from poissonfp.solvers.hybrids.operator_fine import dot
from poissonfp.solvers.hybrids.operator_iteration import OperatorIteration

__all__ = ["ACCELERATIONS", "TRIGGERS", "OperatorSolveError", "solve_operator", "solve_operator_batch"]

logger = logging.getLogger(__name__)

#: ``[operator] accel`` values.
ACCELERATIONS = ("none", "fcg")
#: ``[operator] trigger`` values.
TRIGGERS = ("stall", "always")
#: Sweeps per block (between two looks at the rate).
DEFAULT_SWEEPS = 10
#: Sweeps before and after each finer level's coarse correction in the V-cycle.
DEFAULT_CYCLE_SWEEPS = 8


class OperatorSolveError(ValueError):
    """The model cannot serve this problem (another operator, box or grid)."""


def check_model(problem: Problem, model) -> tuple[str, str]:
    """How ``model`` serves ``problem``: ``("same grid" | "coarse level" | "across sizes", note)``.

    Raises:
        OperatorSolveError: One line when the model was trained for another operator, box or case.
    """
    from poissonfp.discrete_operator import box_operator
    from poissonfp.learned.store import operator_fingerprint
    from poissonfp.solvers.hybrids.operator_transfer import nested_nodes

    fine, coarse, meta = problem.grid, model.grid, model.meta
    where = f"model {meta.get('folder') or ''} (case {meta['case']!r}, {meta['arch']}, {coarse.describe()})".replace("  ", " ")
    same_box = fine.ndim == coarse.ndim and np.allclose(fine.lower, coarse.lower) and np.allclose(fine.upper, coarse.upper)
    if same_box and fine.shape == coarse.shape:
        fingerprint = operator_fingerprint(problem.operator)
        if fingerprint == meta["fingerprint"]:
            return "same grid", ""
        reason = f"operator fingerprint {fingerprint} differs from the model's {meta['fingerprint']}"
    elif same_box and all(c < f for c, f in zip(coarse.shape, fine.shape)):
        if problem.on_box and meta.get("box", True):
            if operator_fingerprint(box_operator(coarse)) == meta["fingerprint"]:
                return "coarse level", ""
            reason = "the model's operator is not this box's Laplacian at its grid"
        elif not problem.on_box and not meta.get("box", True) and meta["case"] == problem.name \
                and [list(s) for s in problem.operator.sides] == meta.get("sides"):
            return "coarse level", "off the box: two-grid with masked transfers, the model checked by case name and sides"
        else:
            reason = f"the model was trained for case {meta['case']!r} ({'box' if meta.get('box', True) else 'general operator'})"
    elif not problem.on_box and not meta.get("box", True) and meta["case"] == problem.name \
            and [list(s) for s in problem.operator.sides] == meta.get("sides") and nested_nodes(fine, coarse):
        return "coarse level", ("off the box: two-grid with transfers by coordinate (the Neumann sides' nodes "
                                "move the grid's box with h), the model checked by case name and sides")
    else:
        reason = f"grid {fine.describe()} on [{fine.lower}, {fine.upper}] is neither its grid nor finer on its box"
    if model.across_sizes and fine.ndim == coarse.ndim:
        return "across sizes", (f"{meta['arch']} trained at {coarse.describe()} applied at {fine.describe()} "
                                f"({reason}): measured, not matched")
    raise OperatorSolveError(f"{where}: {reason}; train one with `poissonfp train CASE --n N`")


def _resolve(model, device: str | None):
    from poissonfp.learned.store import OperatorModel, load_model

    if model is None:
        raise OperatorSolveError("the operator method needs a model: --model MODEL_DIR ([operator] model)")
    if isinstance(model, (str, os.PathLike)):
        return load_model(model, device=device or "cpu")
    if not isinstance(model, OperatorModel) and not hasattr(model, "apply"):
        raise OperatorSolveError(f"model must be a model folder or an OperatorModel, got {type(model).__name__}")
    return model


def _check_options(sweeps: int, accel: str, trigger: str, coarse_sweeps: int | None,
                   cycle_sweeps: int | None, call_price: float | None = None) -> None:
    if accel not in ACCELERATIONS:
        raise ValueError(f"unknown accel {accel!r}; expected one of {', '.join(ACCELERATIONS)}")
    if trigger not in TRIGGERS:
        raise ValueError(f"unknown trigger {trigger!r}; expected one of {', '.join(TRIGGERS)}")
    for name, value, low in (("sweeps", sweeps, 1), ("coarse_sweeps", 0 if coarse_sweeps is None else coarse_sweeps, 0),
                             ("cycle_sweeps", 1 if cycle_sweeps is None else cycle_sweeps, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if call_price is not None and (isinstance(call_price, bool) or not isinstance(call_price, (int, float))
                                   or not np.isfinite(call_price) or call_price < 0):
        raise ValueError(f"call_price must be a finite number >= 0 (sweep-equivalents) or None, got {call_price!r}")


def _info(iteration: OperatorIteration, row: int, how: str, note: str) -> dict[str, Any]:
    c, model = iteration.counters, iteration.model
    return {"model": model.meta.get("folder"), "model_fingerprint": model.meta["fingerprint"],
            "model_arch": model.meta["arch"], "model_grid": model.grid.describe(), "model_use": how,
            "model_note": note, "sweeps_per_call": iteration.sweeps_per_block, "accel": iteration.accel,
            "trigger": iteration.trigger, "call_price": iteration.call_price, "omega": iteration.omega,
            "sweeps": int(iteration.sweeps[row]),
            "network_calls": int(iteration.calls[row]), "call_s": iteration.network.median_seconds(),
            "sweep_s": iteration.sweep_seconds(), "call_sweep_equivalents": iteration.price(),
            "correction_sweep_equivalents": iteration.transfer.work,
            "work_sweep_equivalents": float(iteration.work()[row]), "fallback": c.fallback or None,
            "energy_gain_per_call": c.energy_gain, "residual_factor_per_call": c.call_factors}


def _targets(problem: Problem, monitor_threshold: float, criterion: StoppingCriterion, b: np.ndarray) -> np.ndarray:
    """Per row the squared residual norm at which the sweep kernel may stop (0: never, for the error criteria)."""
    if criterion.kind != "residual":
        return np.zeros(b.shape[0])
    scale = np.sqrt(dot(b, b))
    return (monitor_threshold * np.where(scale > 0, scale, 1.0)) ** 2


def solve_operator(problem: Problem, monitor: Monitor, *, model=None, sweeps: int = DEFAULT_SWEEPS,
                   accel: str = "none", omega: float | None = None, patience: int = 2, fallback: bool = True,
                   device: str | None = None, trigger: str = "stall", coarse_sweeps: int | None = None,
                   cycle_sweeps: int | None = DEFAULT_CYCLE_SWEEPS, call_price: float | None = None,
                   **_: object) -> SolveResult:
    """Solve ``A u = b`` by the operator iteration (see the module docstring) to ``monitor``'s criterion.

    Options: ``model`` (a model folder or an :class:`~poissonfp.learned.store.OperatorModel`), ``sweeps``
    (ω-Jacobi sweeps per block: between two looks at the rate), ``accel`` (``"none"`` or ``"fcg"``),
    ``omega`` (of those sweeps, default 1: pure Jacobi's), ``trigger`` (``"stall"``: call the network when the
    sweeps stall; ``"always"``: after every block), ``cycle_sweeps`` (sweeps before and after the V-cycle's
    coarse correction on each finer level, default 8; None: ``sweeps // 2``), ``coarse_sweeps`` (sweeps around
    the call on the model's grid; None: 40 where it is coarser than the problem's, 3 on the problem's own grid),
    ``call_price`` (a call's price in sweep-equivalents for the trigger and the safeguard; None: measured, so
    the calls a solve makes depend on the machine's speed and load; a number makes them repeatable),
    ``patience`` (useless calls in a row before the fallback), ``fallback`` (False: keep
    sweeping), ``device`` (where a model loaded from a folder runs).

    ``iterations`` counts sweeps; ``info`` holds ``network_calls``, ``sweeps``, ``work_sweep_equivalents``,
    ``call_s`` / ``sweep_s`` (measured), ``model_fingerprint``, ``model_use`` and ``fallback`` (why, or None).
    """
    from poissonfp.neural.model import single_threaded

    _check_options(sweeps, accel, trigger, coarse_sweeps, cycle_sweeps, call_price)
    model = _resolve(model, device)
    how, note = check_model(problem, model)
    if note:
        logger.warning("operator: %s", note)
    b = problem.rhs[None].astype(float)
    with single_threaded():
        iteration = OperatorIteration(problem, model, how, b, sweeps, float(omega or 1.0), accel, patience, trigger,
                               cycle_sweeps, coarse_sweeps, call_price=call_price)
        target = _targets(problem, monitor.threshold, monitor.criterion, b)
        rows = np.array([0], dtype=np.int64)
        reason = "interrupted"
        monitor.restart()
        try:
            entry = monitor.record(iteration.fine.solution(0), 0, phase="operator")
            while True:
                if monitor.satisfied(entry[monitor.criterion.metric]):
                    reason = "converged"
                    break
                if iteration.sweeps[0] >= monitor.criterion.max_iterations:
                    reason = "max_iterations"
                    break
                if fallback and patience > 0 and iteration.useless[0] >= patience:
                    iteration.counters.fallback = (
                        f"{patience} network calls in a row reduced the residual less than the "
                        f"{iteration.call_work():.0f} sweeps they cost would have (last factor "
                        f"{iteration.factor[0]:.3g}, sweep rate {iteration.rate[0]:.4f})")
                    return fall_back(problem, monitor, iteration.fine.solution(0).copy(),
                                     _info(iteration, 0, how, note), monitor.elapsed())
                iteration.pass_(rows, target)
                check_finite(iteration.fine.solution(0), f"operator iterate after {iteration.counters.calls} "
                                                         "network calls")
                entry = monitor.record(iteration.fine.solution(0), int(iteration.sweeps[0]), phase="operator")
        except KeyboardInterrupt:
            reason = "interrupted"
        return monitor.result("operator", iteration.fine.solution(0).copy(), reason,
                              iterations=int(iteration.sweeps[0]), info=_info(iteration, 0, how, note))


def solve_operator_batch(problem: Problem, rhs: np.ndarray, model, criterion: StoppingCriterion | None = None, *,
                         sweeps: int = DEFAULT_SWEEPS, accel: str = "none", omega: float | None = None,
                         device: str | None = None, trigger: str = "stall", coarse_sweeps: int | None = None,
                         cycle_sweeps: int | None = DEFAULT_CYCLE_SWEEPS, patience: int = 2,
                         call_price: float | None = None, fallback: bool = True) -> list[SolveResult]:
    """Solve ``A u_k = rhs[k]`` for K right-hand sides with ONE network call per pass for all rows that call.

    Args:
        problem: gives the grid and operator (its own right-hand side is ignored).
        rhs: right-hand sides ``b`` (boundary data folded in), shape ``(K, *grid.shape)``.
        model: a model folder or :class:`~poissonfp.learned.store.OperatorModel`.
        criterion: ``"residual"`` or ``"discrete"`` (default relative residual 1e-8).
        sweeps, accel, omega, device, trigger, coarse_sweeps, cycle_sweeps, patience, call_price: as
            :func:`solve_operator`.
        fallback: a row whose last ``patience`` calls were useless leaves the batch and continues alone with
            the multilevel hybrid from its iterate, as :func:`solve_operator` does (False: it keeps sweeping in
            the batch, without calls, up to ``max_iterations``).

    Returns:
        One :class:`~poissonfp.solvers.base.SolveResult` per row. Its ``info`` counts the row's OWN sweeps,
        calls and work (a batched call's time shared equally among the rows it corrected);
        ``wall_time_s`` is the batch's wall time divided by K, ``info["batch_wall_s"]`` the whole,
        ``info["batch_network_calls"]`` the batch's calls.
    """
    from poissonfp.neural.model import single_threaded

    _check_options(sweeps, accel, trigger, coarse_sweeps, cycle_sweeps, call_price)
    criterion = criterion or StoppingCriterion()
    b = np.asarray(rhs, dtype=float)
    if b.ndim != problem.grid.ndim + 1 or b.shape[1:] != problem.grid.shape:
        raise ValueError(f"rhs must have shape (K, {', '.join(map(str, problem.grid.shape))}), got {b.shape}")
    model = _resolve(model, device)
    how, note = check_model(problem, model)
    problems = [dataclasses.replace(problem, rhs=row, exact=None, source=row) for row in b]
    monitors = [Monitor(p, criterion) for p in problems]
    threshold = monitors[0].threshold
    with single_threaded():
        iteration = OperatorIteration(problem, model, how, b.copy(), sweeps, float(omega or 1.0), accel, patience, trigger,
                               cycle_sweeps, coarse_sweeps, call_price=call_price)
        target = _targets(problem, threshold, criterion, b)
        start = time.perf_counter()
        active = np.ones(len(b), dtype=bool)
        left = np.zeros(len(b), dtype=bool)  # rows that left the batch for the fallback
        for k in range(len(b)):  # a zero right-hand side is solved by u = 0
            active[k] = criterion.evaluate(problems[k], iteration.fine.solution(k)) > threshold
        while active.any():
            if fallback and patience > 0:
                leaving = active & (iteration.useless >= patience)
                left |= leaving
                active &= ~leaving
                if not active.any():
                    break
            rows = np.flatnonzero(active).astype(np.int64)
            iteration.pass_(rows, target)
            check_finite(iteration.fine.solutions()[rows], f"operator batch iterate after "
                                                           f"{iteration.counters.calls} network calls")
            if criterion.kind == "residual":  # the kernels' norms, confirmed by a fresh residual
                maybe = rows[iteration.norm2[rows] <= target[rows]]
                if len(maybe):
                    iteration.fine.residual(maybe)
                    iteration.applications[maybe] += 1
                    iteration.residual_fresh[maybe] = True
                    iteration.norm2[maybe] = dot(iteration.fine.r[maybe], iteration.fine.r[maybe])
                finished = iteration.norm2[rows] <= target[rows]
            else:
                finished = np.array([criterion.evaluate(problems[k], iteration.fine.solution(int(k))) <= threshold
                                     for k in rows])
            finished |= iteration.sweeps[rows] >= criterion.max_iterations
            active[rows[finished]] = False
        wall = time.perf_counter() - start
    batch = {"batch_size": len(b), "batch_wall_s": wall, "batch_network_calls": iteration.counters.calls,
             "batch_work_sweep_equivalents": float(iteration.work().sum()), "batch_fallbacks": int(left.sum())}
    results = []
    for k, monitor in enumerate(monitors):
        if left[k]:
            iteration.counters.fallback = (f"row {k}: {patience} network calls in a row reduced the residual less "
                                           f"than the {iteration.call_work():.0f} sweeps they cost would have")
            result = fall_back(problems[k], monitor, iteration.fine.solution(k).copy(), _info(iteration, k, how, note),
                               wall / len(b))
            result.info.update(batch)
            results.append(result)
            continue
        reason = "converged" if int(iteration.sweeps[k]) < criterion.max_iterations else "max_iterations"
        info = _info(iteration, k, how, note)
        info.update(batch)
        info["fallback"] = None
        result = monitor.result("operator", iteration.fine.solution(k).copy(), reason,
                                iterations=int(iteration.sweeps[k]), info=info)
        result.wall_time_s = wall / len(b)
        results.append(result)
    return results
