"""The operator iteration: ω-Jacobi sweeps alternating with corrections by a trained operator network.

One pass (``accel = "none"``): a correction ``d = P N(R r)`` of the residual ``r = b − A u`` (``N`` the network
of :class:`~poissonfp.learned.store.OperatorModel`, ``R``/``P`` the transfers to and from its grid, identity
on its own grid), applied as ``u += α d`` with the energy-optimal step ``α = (d, r) / (d, A d)``, then
``sweeps`` ω-Jacobi sweeps. The step minimises the energy error along ``d``, so a poor correction never makes
it worse. ``accel = "fcg"``: flexible CG (FCG(1), one previous direction) preconditioned by ``sweeps / 2``
sweeps, the correction of their (smooth) residual with its own α, and the remaining sweeps.

Transfers (:mod:`poissonfp.solvers.operator_transfer`): on a finer grid of the same box whose coarsening chain
(:func:`~poissonfp.solvers.multilevel.coarse_grids`) reaches the model's grid, ``d`` is one V-cycle on
``A e = r`` from zero (``sweeps / 2`` ω-Jacobi sweeps before and after each coarse correction on every level,
full weighting, linear interpolation) whose coarsest solve is ONE network call; otherwise (off the box, or a
grid the chain misses) a two-grid: linear interpolation ``P`` from the model's grid straight to the fine grid,
``R = (h_f/h_c)^d Pᵀ``, masks applied: an approximate coarse level, corrected by ``α``.

Work is counted in sweep-equivalents: a sweep 1, a residual or ``A d`` 1, the transfers 1, a network call its
measured seconds over the measured seconds of a sweep. Safeguard (``accel = "none"``): a call is useless when
the error energy it removes (``α (d, r)``) is under 1% of what its pass removes (the call and its sweeps; a
sweep ``u += s``, ``s = ω D⁻¹ r``, removes exactly ``(s, r + r_new)``: no solution needed); after ``patience`` useless calls in a
row, or ``patience`` passes in a row whose rate projects more work than pure Jacobi's sweeps estimated from the
right-hand side (:func:`~poissonfp.jacobi_theory.estimated_sweeps`, box only), the solve falls back to the
multilevel hybrid
(:func:`~poissonfp.solvers.hybrid.solve_hybrid`, from zero, its work added) and records why.
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
from poissonfp.solvers.operator_transfer import make_correction

__all__ = ["solve_operator", "solve_operator_batch", "OperatorSolveError", "ACCELERATIONS"]

logger = logging.getLogger(__name__)

#: ``[operator] accel`` values.
ACCELERATIONS = ("none", "fcg")


class OperatorSolveError(ValueError):
    """The model cannot serve this problem (another operator, box or grid)."""


def check_model(problem: Problem, model) -> tuple[str, str]:
    """How ``model`` serves ``problem``: ``("same grid" | "coarse level" | "across sizes", note)``.

    Raises:
        OperatorSolveError: One line when the model was trained for another operator, box or case.
    """
    from poissonfp.discrete_operator import box_operator
    from poissonfp.learned.store import operator_fingerprint

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
    else:
        reason = f"grid {fine.describe()} on [{fine.lower}, {fine.upper}] is neither its grid nor finer on its box"
    if model.across_sizes and fine.ndim == coarse.ndim:
        return "across sizes", (f"{meta['arch']} trained at {coarse.describe()} applied at {fine.describe()} "
                                f"({reason}): measured, not matched")
    raise OperatorSolveError(f"{where}: {reason}; train one with `poissonfp train CASE --n N`")


class _System:
    """``A`` on batches ``(K, *shape)`` and its diagonal (the box's stencil, else the sparse matrix)."""

    def __init__(self, problem: Problem) -> None:
        self.problem, self.grid = problem, problem.grid
        operator = problem.operator
        self.box = problem.on_box
        self.inverse_h2 = [1.0 / h**2 for h in self.grid.spacing]
        self.matrix = None if self.box else operator.matrix
        self.inverse_diagonal = 1.0 / operator.diagonal

    def apply(self, u: np.ndarray) -> np.ndarray:
        if not self.box:
            k = u.shape[0]
            return np.asarray(self.matrix @ u.reshape(k, -1).T).T.reshape(u.shape)
        out = np.zeros_like(u)
        for axis, c in enumerate(self.inverse_h2, start=1):
            lead = [slice(None)] * u.ndim
            out += 2.0 * c * u
            lead[axis] = slice(1, None)
            tail = list(lead)
            tail[axis] = slice(None, -1)
            out[tuple(lead)] -= c * u[tuple(tail)]
            out[tuple(tail)] -= c * u[tuple(lead)]
        return out


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1))


@dataclasses.dataclass
class _Counters:
    sweeps: int = 0
    calls: int = 0
    applications: int = 0
    sweep_s: float = 0.0
    useless: int = 0
    fallback: str = ""
    energy_gain: list = dataclasses.field(default_factory=list)


class _Iteration:
    """The batched operator iteration on K right-hand sides (rows of ``b``)."""

    def __init__(self, problem: Problem, model, how: str, b: np.ndarray, sweeps: int, omega: float, accel: str,
                 patience: int) -> None:
        self.system, self.model, self.b = _System(problem), model, b
        self.transfer = make_correction(problem, model, how, sweeps, omega)
        self.sweeps, self.omega, self.accel, self.patience = sweeps, omega, accel, patience
        self.u = np.zeros_like(b)
        self.r = b.copy()
        self.counters = _Counters()
        self.previous: tuple[np.ndarray, np.ndarray] | None = None
        self.useless = np.zeros(b.shape[0], dtype=int)
        self.min_share = 0.01
        self.shares: list[float] = []
        model.warm_up(b.shape[0], model.grid.shape if how == "coarse level" else b.shape[1:])

    def correction(self, r: np.ndarray) -> np.ndarray:
        d = self.transfer.correct(r, self.model.apply)
        self.counters.calls += 1
        return d

    def smooth(self, z: np.ndarray, rhs: np.ndarray, count: int) -> np.ndarray:
        start = time.perf_counter()
        for _ in range(count):
            z = z + self.omega * self.system.inverse_diagonal * (rhs - self.system.apply(z))
        self.counters.sweep_s += time.perf_counter() - start
        self.counters.sweeps += count
        return z

    def price(self) -> float:
        """A network call in sweep-equivalents (measured)."""
        c = self.counters
        if not c.sweeps or self.model.seconds_per_call is None:
            return 0.0
        return self.model.seconds_per_call / (c.sweep_s / c.sweeps)

    def step(self, active: np.ndarray) -> None:
        """One pass on the rows of ``active``: correction with the α step (or an FCG step), sweeps."""
        r = self.r[active]
        if self.accel == "fcg":  # preconditioner: sweeps, the network on their (smooth) residual, sweeps
            half = max(1, self.sweeps // 2)
            d = self.smooth(np.zeros_like(r), r, half)
            smooth_r = r - self.system.apply(d)
            c = self.correction(smooth_r)
            d = d + _col(_safe(_dot(c, smooth_r), _dot(c, self.system.apply(c))), c) * c
            d = self.smooth(d, r, self.sweeps - half)
            ad = self.system.apply(d)
            if self.previous is not None:
                p_prev, ap_prev = self.previous[0][active], self.previous[1][active]
                beta = _safe(_dot(d, ap_prev), _dot(p_prev, ap_prev))
                d = d - _col(beta, d) * p_prev
                ad = ad - _col(beta, d) * ap_prev
            alpha = _safe(_dot(d, r), _dot(d, ad))
            self.u[active] += _col(alpha, d) * d
            self.r[active] = r - _col(alpha, d) * ad
            gain = alpha * _dot(d, r)
            full_p, full_ap = np.zeros_like(self.u), np.zeros_like(self.u)
            full_p[active], full_ap[active] = d, ad
            self.previous = (full_p, full_ap)
            self.counters.applications += 4
            self.counters.energy_gain.append(float(np.mean(gain)))
            return
        d = self.correction(r)
        b = self.b[active]
        ad = self.system.apply(d)
        alpha = _safe(_dot(d, r), _dot(d, ad))
        gain = alpha * _dot(d, r)  # = ‖e‖²_A before − after the correction
        u = self.u[active] + _col(alpha, d) * d
        r = r - _col(alpha, d) * ad
        swept = np.zeros(len(u))
        start = time.perf_counter()
        for _ in range(self.sweeps):  # each sweep's energy reduction, exactly: (s, r_old + r_new), s = ω D⁻¹ r_old
            step = self.omega * self.system.inverse_diagonal * r
            u = u + step
            new = b - self.system.apply(u)
            swept += _dot(step, r + new)
            r = new
        self.counters.sweep_s += time.perf_counter() - start
        self.counters.sweeps += self.sweeps
        self.u[active], self.r[active] = u, r
        self.counters.applications += 1
        share = _safe(gain, gain + np.maximum(swept, 0.0))
        self.useless[active] = np.where(share < self.min_share, self.useless[active] + 1, 0)
        self.shares.append(float(np.mean(share)))
        self.counters.energy_gain.append(float(np.mean(gain)))

    def work(self) -> float:
        c = self.counters
        return c.sweeps + c.applications + c.calls * (self.transfer.work + self.price())


def _safe(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), 0.0)


def _col(values: np.ndarray, like: np.ndarray) -> np.ndarray:
    return values.reshape((-1,) + (1,) * (like.ndim - 1))


def _resolve(model, device: str | None):
    from poissonfp.learned.store import OperatorModel, load_model

    if model is None:
        raise OperatorSolveError("the operator method needs a model: --model MODEL_DIR ([operator] model)")
    if isinstance(model, (str, os.PathLike)):
        return load_model(model, device=device or "cpu")
    if not isinstance(model, OperatorModel) and not hasattr(model, "apply"):
        raise OperatorSolveError(f"model must be a model folder or an OperatorModel, got {type(model).__name__}")
    return model


def _info(iteration: _Iteration, how: str, note: str, sweeps: int, accel: str) -> dict[str, Any]:
    c, model = iteration.counters, iteration.model
    return {"model": model.meta.get("folder"), "model_fingerprint": model.meta["fingerprint"],
            "model_arch": model.meta["arch"], "model_grid": model.grid.describe(), "model_use": how,
            "model_note": note, "sweeps_per_call": sweeps, "accel": accel, "sweeps": c.sweeps,
            "network_calls": c.calls, "call_s": model.seconds_per_call,
            "sweep_s": c.sweep_s / c.sweeps if c.sweeps else None, "call_sweep_equivalents": iteration.price(),
            "work_sweep_equivalents": iteration.work(), "fallback": c.fallback or None,
            "energy_gain_per_call": c.energy_gain, "network_energy_share": iteration.shares}


def solve_operator(problem: Problem, monitor: Monitor, *, model=None, sweeps: int = 10, accel: str = "none",
                   omega: float | None = None, patience: int = 2, fallback: bool = True, device: str | None = None,
                   **_: object) -> SolveResult:
    """Solve ``A u = b`` by the operator iteration (see the module docstring) to ``monitor``'s criterion.

    Options: ``model`` (a model folder or an :class:`~poissonfp.learned.store.OperatorModel`), ``sweeps``
    (ω-Jacobi sweeps per network call), ``accel`` (``"none"`` or ``"fcg"``), ``omega`` (default
    ``2d / (2d + 1)``), ``patience`` (useless calls in a row before the fallback), ``fallback`` (False: keep
    iterating), ``device`` (where a model loaded from a folder runs).

    ``iterations`` counts sweeps; ``info`` holds ``network_calls``, ``sweeps``, ``work_sweep_equivalents``,
    ``call_s`` / ``sweep_s`` (measured), ``model_fingerprint``, ``model_use`` and ``fallback`` (why, or None).
    """
    if accel not in ACCELERATIONS:
        raise ValueError(f"unknown accel {accel!r}; expected one of {', '.join(ACCELERATIONS)}")
    if isinstance(sweeps, bool) or not isinstance(sweeps, int) or sweeps < 1:
        raise ValueError(f"sweeps must be a positive integer, got {sweeps!r}")
    model = _resolve(model, device)
    how, note = check_model(problem, model)
    if note:
        logger.warning("operator: %s", note)
    omega = omega or 2.0 * problem.grid.ndim / (2.0 * problem.grid.ndim + 1.0)
    iteration = _Iteration(problem, model, how, problem.rhs[None].astype(float), sweeps, omega, accel, patience)
    active = np.array([True])
    reason = "interrupted"
    jacobi = _jacobi_estimate(problem, monitor) if fallback else None
    monitor.restart()
    try:
        entry = monitor.record(iteration.u[0], 0, phase="operator")
        last, slow = (entry[monitor.criterion.metric], 0.0), 0
        while True:
            if monitor.satisfied(entry[monitor.criterion.metric]):
                reason = "converged"
                break
            if iteration.counters.sweeps >= monitor.criterion.max_iterations:
                reason = "max_iterations"
                break
            if fallback and accel == "none" and iteration.useless[0] >= patience:
                iteration.counters.fallback = (f"{patience} network calls in a row removed under "
                                               f"{100 * iteration.min_share:g}% of their pass's error energy "
                                               f"({iteration.price():.0f} sweeps per call)")
            elif fallback and jacobi is not None and slow >= patience:
                iteration.counters.fallback = (f"{patience} passes in a row projected more work than pure Jacobi's "
                                               f"estimated {jacobi:,.0f} sweeps ({iteration.price():.0f} sweeps "
                                               f"per call)")
            if iteration.counters.fallback:
                return _fall_back(problem, monitor, iteration, how, note, sweeps, accel)
            iteration.step(active)
            check_finite(iteration.u, f"operator iterate after {iteration.counters.calls} network calls")
            entry = monitor.record(iteration.u[0], iteration.counters.sweeps, phase="operator")
            value, work = entry[monitor.criterion.metric], iteration.work()
            if jacobi is not None:
                projected = _projected_work(last, (value, work), monitor.threshold)
                slow = slow + 1 if projected > jacobi else 0
            last = (value, work)
    except KeyboardInterrupt:
        reason = "interrupted"
    return monitor.result("operator", iteration.u[0], reason, iterations=iteration.counters.sweeps,
                          info=_info(iteration, how, note, sweeps, accel))


def _jacobi_estimate(problem: Problem, monitor: Monitor) -> float | None:
    """Pure Jacobi's sweeps (ω = 1) estimated from the right-hand side (box only; None elsewhere)."""
    from poissonfp.jacobi_theory import estimated_sweeps

    if not problem.on_box:
        return None
    criterion = monitor.criterion
    target = monitor.threshold * (criterion.scale(problem) if criterion.kind == "residual" else 1.0)
    try:
        return float(estimated_sweeps(problem, criterion.kind, target)["sweeps"])
    except (ValueError, ArithmeticError):
        return None


def _projected_work(before: tuple[float, float], after: tuple[float, float], threshold: float) -> float:
    """Total work to reach ``threshold`` if every later pass reduces the metric as the last one did."""
    (old, _), (new, work) = before, after
    spent = work - before[1]
    if new <= threshold:
        return work
    if not (0 < new < old):
        return float("inf")
    return work + spent * np.log(new / threshold) / np.log(old / new)


def _fall_back(problem: Problem, monitor: Monitor, iteration: _Iteration, how: str, note: str, sweeps: int,
               accel: str) -> SolveResult:
    """Solve again with the multilevel hybrid; the work and time spent so far are added to its own."""
    from poissonfp.solvers.hybrid import solve_hybrid

    logger.warning("operator: falling back to the multilevel hybrid: %s", iteration.counters.fallback)
    spent, before = monitor.elapsed(), iteration.work()
    inner = Monitor(problem, monitor.criterion, monitor.callback)
    result = solve_hybrid(problem, inner)
    info = _info(iteration, how, note, sweeps, accel)
    info["work_before_fallback"] = before
    info["fallback_result"] = {k: v for k, v in result.info.items() if isinstance(v, (int, float, str, type(None)))}
    info["work_sweep_equivalents"] = before + float(result.info.get("work_sweep_equivalents") or result.iterations)
    result.method = "operator"
    result.wall_time_s += spent
    result.iterations = int(round(info["work_sweep_equivalents"]))  # sweeps: the unit of the method
    result.info.update(info)
    return result


def solve_operator_batch(problem: Problem, rhs: np.ndarray, model, criterion: StoppingCriterion | None = None, *,
                         sweeps: int = 10, accel: str = "none", omega: float | None = None,
                         device: str | None = None) -> list[SolveResult]:
    """Solve ``A u_k = rhs[k]`` for K right-hand sides with ONE network call per pass for all unfinished ones.

    Args:
        problem: gives the grid and operator (its own right-hand side is ignored).
        rhs: right-hand sides ``b`` (boundary data folded in), shape ``(K, *grid.shape)``.
        model: a model folder or :class:`~poissonfp.learned.store.OperatorModel`.
        criterion: ``"residual"`` or ``"discrete"`` (default relative residual 1e-8).
        sweeps, accel, omega, device: as :func:`solve_operator` (no fallback: a row that stalls runs to
            ``max_iterations``).

    Returns:
        One :class:`~poissonfp.solvers.base.SolveResult` per row; ``wall_time_s`` is the batch's wall time
        divided by K, ``info["batch_wall_s"]`` the whole.
    """
    criterion = criterion or StoppingCriterion()
    b = np.asarray(rhs, dtype=float)
    if b.ndim != problem.grid.ndim + 1 or b.shape[1:] != problem.grid.shape:
        raise ValueError(f"rhs must have shape (K, {', '.join(map(str, problem.grid.shape))}), got {b.shape}")
    model = _resolve(model, device)
    how, note = check_model(problem, model)
    omega = omega or 2.0 * problem.grid.ndim / (2.0 * problem.grid.ndim + 1.0)
    problems = [dataclasses.replace(problem, rhs=row, exact=None, source=row) for row in b]
    monitors = [Monitor(p, criterion) for p in problems]
    iteration = _Iteration(problem, model, how, b.copy(), sweeps, omega, accel, patience=0)
    start = time.perf_counter()
    active = np.ones(len(b), dtype=bool)
    iterations = np.zeros(len(b), dtype=int)
    calls = np.zeros(len(b), dtype=int)
    while active.any():
        for row in np.flatnonzero(active):
            value = criterion.evaluate(problems[row], iteration.u[row])
            if value <= monitors[row].threshold or iteration.counters.sweeps >= criterion.max_iterations:
                active[row] = False
        if not active.any():
            break
        iteration.step(active)
        iterations[active] += sweeps
        calls[active] += 1
        check_finite(iteration.u, f"operator batch iterate after {iteration.counters.calls} network calls")
    wall = time.perf_counter() - start
    results = []
    for k, monitor in enumerate(monitors):
        reason = "converged" if int(iterations[k]) < criterion.max_iterations else "max_iterations"
        info = _info(iteration, how, note, sweeps, accel)
        info.update(network_calls=int(calls[k]), sweeps=int(iterations[k]), batch_size=len(b), batch_wall_s=wall,
                    batch_network_calls=iteration.counters.calls)
        result = monitor.result("operator", iteration.u[k].copy(), reason, iterations=int(iterations[k]), info=info)
        result.wall_time_s = wall / len(b)
        results.append(result)
    return results
