"""The operator iteration's state and steps (:class:`OperatorIteration`): the fine grid's sweep blocks and
residuals (compiled batched kernels on the box, the sparse matrix elsewhere), the network's correction with the
energy-optimal step or as an FCG(1) step, the stall trigger and the safeguard's judgement of each call. The
entry points and the module's story are in :mod:`poissonfp.solvers.hybrids.operator`."""
from __future__ import annotations

import dataclasses
import time

import numpy as np

from poissonfp.problem import Problem
from poissonfp.solvers.hybrids import operator_kernels as kernels
from poissonfp.solvers.hybrids.operator_fine import BoxFine, GeneralFine, column, dot
from poissonfp.solvers.hybrids.operator_network import NetworkCall
from poissonfp.solvers.hybrids.operator_transfer import make_correction

__all__ = ["DEFAULT_COARSE_SWEEPS", "GROWTH", "PRIOR_CALL_FACTOR", "SAME_GRID_COARSE_SWEEPS", "USELESS",
           "OperatorIteration", "prior_call_factor"]


#: ω_s-Jacobi sweeps on the model's grid before and after the call. They keep the network's input in its
#: training distribution: once the smooth error is gone the coarse residual is dominated by its middle band
#: (wavenumbers 8-32 of a 63² grid), which 3 sweeps barely touch; the network's error is relative to its whole
#: input, so it then missed even the lowest band (314 % at the 5th call of a 255² solve, measured against the
#: exact coarse solve) and two useless calls in a row sent the in-distribution 255² solves to 1e-10 to the
#: fallback at a relative residual of 3e-6 (not round-off: the floor there is 1.6e-13). With 20 every call of
#: those solves reduced the residual by 0.01-0.035 (a 63² sweep is 1/4 of a 127² sweep, 1/16 of a 255² one).
#: 40 rather than 20: they also remove what the network gets wrong above its lowest band. Over 4 GRF/case
#: sources, the 1,500- and 5,000-step 63² models, 127² and 255², trigger "always" (1e-8) and "stall" (1e-10),
#: 40 took 1-4 fewer calls per 4 solves in 7 of the 8 combinations (the 8th: 20 calls both) and 7 % less work
#: in total (33,712 against 36,182 sweep-equivalents, calls priced at a fixed 230 / 57 sweeps; 80: 32,923 in
#: total, but 5-8 % more than 40 at 255² with the 5,000-step model). On the model's own grid (no coarser
#: level) they are full-price fine sweeps: 3 there.
DEFAULT_COARSE_SWEEPS = 40
SAME_GRID_COARSE_SWEEPS = 3


#: The reduction of the residual a network call is expected to bring before any was measured (the trigger's
#: prior): a call is made once the sweeps' own rate, over the call's price in sweeps, does no better.
PRIOR_CALL_FACTOR = 0.5
#: The prior never goes below this (a held-out error near 0 would call at the first sign of a stall).
MIN_PRIOR_CALL_FACTOR = 1e-3


def prior_call_factor(model) -> float:
    """The reduction expected of the first call: the model's held-out relative energy error (its training
    record, ``meta["held_out"]["energy"]``) where it has one, clipped to [:data:`MIN_PRIOR_CALL_FACTOR`,
    :data:`PRIOR_CALL_FACTOR`]; else :data:`PRIOR_CALL_FACTOR`. An untrained network (error ~1) keeps 0.5."""
    held_out = (getattr(model, "meta", None) or {}).get("held_out") or {}
    energy = held_out.get("energy") if isinstance(held_out, dict) else None
    if not isinstance(energy, (int, float)) or not np.isfinite(energy):
        return PRIOR_CALL_FACTOR
    return float(np.clip(energy, MIN_PRIOR_CALL_FACTOR, PRIOR_CALL_FACTOR))


#: A call whose own reduction factor is at or above this (and no better than the sweeps it displaced) is
#: useless: ``patience`` of them in a row make the solve fall back.
USELESS = 0.9
#: Blocks without a call double, up to this many times ``sweeps`` (fewer Python round trips on a small grid).
GROWTH = 8
#: Calls on all rows timed at set-up, after two untimed ones: the first samples of the call's seconds.
CALIBRATION_CALLS = 3
#: Rows per block statistic: the rate of a block is read from its second half (the first half still
#: removes what a call or the start left in the high modes).
MIN_RATE_SWEEPS = 4


def _safe(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), 0.0)


@dataclasses.dataclass
class _Counters:
    """Batch-wide counts (per-row counts live in :class:`OperatorIteration`'s arrays)."""

    calls: int = 0
    sweep_s: float = 0.0
    sweeps: int = 0
    fallback: str = ""
    energy_gain: list = dataclasses.field(default_factory=list)
    call_factors: list = dataclasses.field(default_factory=list)


class OperatorIteration:
    """The batched operator iteration on K right-hand sides (rows of ``b``); see the module docstring.

    Per row: ``sweeps`` (ω-Jacobi sweeps run), ``calls`` (network calls it took part in), ``applications``
    (residuals and products ``A d``), ``call_share_s`` (its share of the calls' seconds: a call's time divided
    among the rows it corrected), ``factor`` (its last call's residual reduction), ``useless`` (calls in a row
    that did less than the sweeps they replaced would have done).
    """

    def __init__(self, problem: Problem, model, how: str, b: np.ndarray, sweeps: int, omega: float, accel: str,
                 patience: int, trigger: str = "stall", cycle_sweeps: int | None = None, coarse_sweeps: int | None = 0,
                 smooth_omega: float | None = None, call_price: float | None = None) -> None:
        k = b.shape[0]
        if problem.on_box:
            kernels.compile_for(problem.grid.ndim)
        self.fine = BoxFine(problem, b) if problem.on_box else GeneralFine(problem, b)
        smooth_omega = smooth_omega or 2.0 * problem.grid.ndim / (2.0 * problem.grid.ndim + 1.0)
        self.omega_after = smooth_omega
        cycle = max(1, sweeps // 2) if cycle_sweeps is None else cycle_sweeps
        if coarse_sweeps is None:
            coarse_sweeps = SAME_GRID_COARSE_SWEEPS if how == "same grid" else DEFAULT_COARSE_SWEEPS
        self.transfer = make_correction(problem, model, how, cycle, smooth_omega, k, coarse_sweeps)
        coarse_shape = model.grid.shape if how == "coarse level" or (how == "same grid") else problem.grid.shape
        self.network = NetworkCall(model, tuple(coarse_shape), k)
        self.model = model
        self.call_price = call_price
        self.sweeps_per_block, self.omega, self.accel, self.patience, self.trigger = sweeps, omega, accel, patience, trigger
        self.counters = _Counters()
        self.sweeps = np.zeros(k, dtype=np.int64)
        self.calls = np.zeros(k, dtype=np.int64)
        self.applications = np.zeros(k, dtype=np.int64)
        self.call_share_s = np.zeros(k)
        self.factor = np.full(k, prior_call_factor(model))
        self.useless = np.zeros(k, dtype=np.int64)
        self.rate = np.ones(k)
        self.norm2 = dot(self.fine.r, self.fine.r)  # ‖b - A u‖² of the current iterate (u = 0)
        self.norms = np.zeros((k, GROWTH * max(sweeps, 1)))
        self.quiet = 0  # blocks in a row without a call (a block doubles after each, up to GROWTH x sweeps)
        self.done = np.zeros(k, dtype=np.int64)
        self.pending = np.zeros(k, dtype=bool)  # a call not judged yet
        self.before_call = np.zeros(k)
        self.rate_at_call = np.ones(k)
        self.residual_fresh = np.ones(k, dtype=bool)  # fine.r holds b - A u of the current iterate
        self.previous: tuple[np.ndarray, np.ndarray] | None = None  # FCG: the last direction and A times it
        self.per_row_seconds: list[float] = []  # per call: its seconds per row corrected
        self.sweep_samples: list[float] = []  # per block of the solve: its seconds per sweep and row
        self.network.warm_up(k)
        self._warm_correction()
        self.per_row_seconds.extend(self.network.probe(k) / k for _ in range(CALIBRATION_CALLS))

    def _warm_correction(self) -> None:
        """One correction of a zero residual with a zero network, before the solve's clock: the first dispatch
        of its compiled kernels (numba loads them from its cache) cost ~10 ms inside the first call of a
        fresh process's 127² solve (first correction 12.3 ms, later ones 2.0 ms)."""
        zero = np.zeros((1, *self.fine.r.shape[1:]))
        self.transfer.correct(zero, np.zeros_like)
        self.fine.apply(zero)

    # -- prices --------------------------------------------------------------------------------------
    def sweep_seconds(self) -> float | None:
        """Seconds of one of the iteration's own fine sweeps of one row: the least over its blocks (a block's
        cost is fixed; load only adds to it)."""
        return float(np.min(self.sweep_samples)) if self.sweep_samples else None

    def call_seconds_per_row(self) -> float:
        """Seconds of a call per row it corrected: the least over the set-up's timed calls and the solve's."""
        return float(np.min(self.per_row_seconds))

    def price(self) -> float:
        """A network call in sweep-equivalents of one row, measured: the least seconds per row of a call (the
        set-up's :data:`CALIBRATION_CALLS` and the solve's) over the least seconds per row of a sweep (the
        solve's blocks). Load only adds time, and adds more to a 1 ms call than to a 50 µs block (a call
        spans a time slice more often), so a mean or a median is no price: in 10 solves at 127² under load
        ~2.6 the median call took 1.8-9.7 ms against 1.0 ms unloaded and the median call over the mean sweep
        (the price before) gave 96-1,373 sweeps."""
        sweep = self.sweep_seconds()
        if not sweep:
            return 0.0
        return self.call_seconds_per_row() / sweep

    def call_work(self) -> float:
        """What one call costs a row in sweep-equivalents as the trigger and the safeguard judge it: the price
        (the fixed ``call_price`` when given, else measured), the transfers and smoothing of the correction,
        the residual before it and ``A d``."""
        price = self.price() if self.call_price is None else self.call_price
        return price + self.transfer.work + 2.0

    def work(self) -> np.ndarray:
        """Per row: sweeps + applications + calls x (the correction's work + the measured :meth:`price`). Every
        call of the solve is priced alike: its actual seconds (kept in ``call_share_s``) swung 1.2-9.7 ms between
        solves on the shared machine (127², one thread)."""
        return self.sweeps + self.applications + self.calls * (self.transfer.work + self.price())

    # -- steps ---------------------------------------------------------------------------------------
    def sweep(self, rows: np.ndarray, target: np.ndarray) -> None:
        """A block of up to ``sweeps`` sweeps on ``rows`` (each stops at its squared residual ``target``);
        records each row's rate over the block's second half and its last residual norm."""
        if not len(rows):
            return
        count = self.sweeps_per_block * min(GROWTH, 2 ** self.quiet)
        start = time.perf_counter()
        fresh = self.calls[rows] == 0  # pure Jacobi's ω until the network was called, the smoother's after
        for group, omega in ((rows[fresh], self.omega), (rows[~fresh], self.omega_after)):
            if len(group):
                self.fine.block(group, count, omega, target, self.norms, self.done)
        elapsed = time.perf_counter() - start
        self.counters.sweep_s += elapsed
        done = self.done[rows]
        self.counters.sweeps += int(done.sum())
        if done.sum():
            self.sweep_samples.append(elapsed / int(done.sum()))
        self.sweeps[rows] += done
        for q, k in enumerate(rows):
            n = int(done[q])
            history = self.norms[k, :n]
            # the norm before the block's last sweep (the kernel measures the iterate each sweep starts from)
            self.norm2[k] = history[-1]
            if n >= MIN_RATE_SWEEPS:
                first = n // 2
                ratio = history[-1] / history[first - 1] if history[first - 1] > 0 else 1.0
                self.rate[k] = float(np.sqrt(max(ratio, 0.0)) ** (1.0 / (n - first)))
        self.residual_fresh[rows] = False
        self.judge(rows)

    def wants_call(self, rows: np.ndarray) -> np.ndarray:
        """Which of ``rows`` call the network now: all (``trigger = "always"``, FCG) or those whose sweeps have
        stalled: ``rate^P >= factor``, P the call's work in sweeps, ``factor`` the smaller of the prior and the
        row's last measured call reduction (a call is made where it is expected to beat the sweeps it costs)."""
        if self.trigger == "always" or self.accel == "fcg":
            return np.ones(len(rows), dtype=bool)
        work = self.call_work()
        retired = self.useless[rows] >= self.patience if self.patience > 0 else np.zeros(len(rows), dtype=bool)
        rate = np.clip(self.rate[rows], 1e-300, 1.0)
        expected = np.minimum(self.factor[rows], PRIOR_CALL_FACTOR)
        return (work * np.log(rate) >= np.log(expected)) & ~retired

    def pass_(self, rows: np.ndarray, target: np.ndarray) -> None:
        """One pass on ``rows``: a block of sweeps, then one network call for the rows that want it (FCG: one
        flexible-CG step, every pass, its sweeps inside the correction)."""
        if self.accel == "fcg":
            if not self.counters.sweeps:  # one block first: it prices a sweep (and smooths the start)
                self.sweep(rows, target)
                rows = rows[self.norm2[rows] > target[rows]]
            self.correct(rows)
            return
        self.sweep(rows, target)
        open_rows = rows[self.norm2[rows] > target[rows]]
        calling = open_rows[self.wants_call(open_rows)]
        self.quiet = 0 if len(calling) else self.quiet + 1
        self.correct(calling)

    def correct(self, rows: np.ndarray) -> None:
        """One network call for ``rows``: ``u += α d`` (α energy-optimal), or an FCG(1) step."""
        if not len(rows):
            return
        stale = rows[~self.residual_fresh[rows]]
        if len(stale):
            self.fine.residual(stale)
            self.applications[stale] += 1
        r = self.fine.r[rows]
        before = dot(r, r)
        d = np.array(self.transfer.correct(r, self.network))
        self.call_share_s[rows] += self.network.seconds[-1] / len(rows)
        self.per_row_seconds.append(self.network.seconds[-1] / len(rows))
        self.counters.calls += 1
        self.calls[rows] += 1
        ad = self.fine.apply(d)
        self.applications[rows] += 1
        if self.accel == "fcg" and self.previous is not None:
            p_prev, ap_prev = self.previous
            beta = _safe(dot(d, ap_prev[rows]), dot(p_prev[rows], ap_prev[rows]))
            d = d - column(beta, d) * p_prev[rows]
            ad = ad - column(beta, d) * ap_prev[rows]
        alpha = _safe(dot(d, r), dot(d, ad))
        self.fine.add(rows, column(alpha, d) * d)
        r_new = r - column(alpha, d) * ad
        self.fine.r[rows] = r_new
        self.residual_fresh[rows] = True
        after = dot(r_new, r_new)
        self.norm2[rows] = after
        if self.accel == "fcg":
            if self.previous is None:
                shape = self.fine.r.shape
                self.previous = (np.zeros(shape), np.zeros(shape))
            self.previous[0][rows], self.previous[1][rows] = d, ad
        gain = alpha * dot(d, r)  # = ‖e‖²_A before − after the correction
        # judged after the next block (a correction leaves high-frequency residual the sweeps remove at once)
        if self.accel == "fcg":  # no block follows: judged at once (CG's residual may rise a little: 1.0)
            factor = np.maximum(np.sqrt(_safe(after, before)), 1e-12)
            self.useless[rows] = np.where(factor >= 1.0, self.useless[rows] + 1, 0)
            self.factor[rows] = factor
            self.counters.call_factors.extend(float(f) for f in factor)
            self.counters.energy_gain.append(float(np.mean(gain)))
            return
        self.pending[rows] = True
        self.before_call[rows] = before
        self.rate_at_call[rows] = np.clip(self.rate[rows], 1e-300, 1.0)
        self.counters.energy_gain.append(float(np.mean(gain)))

    def judge(self, rows: np.ndarray) -> None:
        """For the rows of ``rows`` whose last call is followed by a block: the call's own reduction factor γ
        (the pass's reduction over what its sweeps alone do at the rate before the call) and whether it was
        useless (γ no better than the P sweeps the call cost; with ``trigger = "always"`` or FCG: γ > 0.99)."""
        rows = rows[self.pending[rows]]
        if not len(rows):
            return
        done = np.maximum(self.done[rows] - 1, 0)  # the last norm is of the iterate before the last sweep
        passed = np.sqrt(_safe(self.norm2[rows], self.before_call[rows]))
        factor = np.maximum(passed / self.rate_at_call[rows] ** done, 1e-12)
        if self.trigger == "stall":  # no better than the sweeps it displaced, and under USELESS of its own
            useless = (factor >= self.rate_at_call[rows] ** self.call_work()) & (factor >= USELESS)
        else:  # a call after every block, stalled or not: useless when the pass made no progress at all
            useless = passed >= 0.99
        self.useless[rows] = np.where(useless, self.useless[rows] + 1, 0)
        self.factor[rows] = factor
        self.pending[rows] = False
        self.counters.call_factors.extend(float(f) for f in factor)
