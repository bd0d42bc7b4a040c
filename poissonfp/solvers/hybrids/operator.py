"""The operator iteration: ω-Jacobi sweeps, and corrections by a trained operator network where they pay.

Blocks of ``sweeps`` ω-Jacobi sweeps (ω = 1 by default: pure Jacobi's, until the first call; 2d/(2d+1)
after; a block doubles after each one without a call, up to :data:`GROWTH` x ``sweeps``) run until they stall; then one
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
then the last call's measured factor, never above :data:`PRIOR_CALL_FACTOR`). The network is called when ``ρ^P ≥ γ``: when P
more sweeps would do no better. A source the sweeps handle well (a single high mode) never stalls and is
solved by sweeps alone at pure Jacobi's work; a smooth remainder stalls them and is passed to the network.
``trigger = "always"``: a call after every block (the plain alternation, for comparison).

Safeguard: a call is useless when its measured factor is no better than ``ρ^P``; after ``patience`` useless
calls in a row the solve falls back to the multilevel hybrid (:func:`~poissonfp.solvers.hybrids.hybrid.solve_hybrid`,
which solves for the correction of the current residual: the iteration's work is kept, the hybrid's added)
and records why. In a batch a row whose calls became useless stops calling.

Work is counted in sweep-equivalents per right-hand side: a sweep 1, a residual or ``A d`` 1, the correction's
smoothing and transfers by their points relative to the fine grid, a call its measured seconds (shared equally
by the rows of a batched call) over the measured seconds of a fine sweep. Box: compiled batched kernels
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
from poissonfp.solvers.hybrids import operator_kernels as kernels
from poissonfp.solvers.hybrids.operator_network import NetworkCall
from poissonfp.solvers.hybrids.operator_transfer import make_correction

__all__ = ["ACCELERATIONS", "TRIGGERS", "OperatorSolveError", "solve_operator", "solve_operator_batch"]

logger = logging.getLogger(__name__)

#: ``[operator] accel`` values.
ACCELERATIONS = ("none", "fcg")
#: ``[operator] trigger`` values.
TRIGGERS = ("stall", "always")
#: Sweeps per block (between two looks at the rate).
DEFAULT_SWEEPS = 10
#: ω_s-Jacobi sweeps on the model's grid before and after the call. They keep the network's input in its
#: training distribution: once the smooth error is gone the coarse residual is dominated by its middle band
#: (wavenumbers 8-32 of a 63² grid), which 3 sweeps barely touch; the network's error is relative to its whole
#: input, so it then missed even the lowest band (314 % at the 5th call of a 255² solve, measured against the
#: exact coarse solve) and two useless calls in a row sent the in-distribution 255² solves to 1e-10 to the
#: fallback at a relative residual of 3e-6 (not round-off: the floor there is 1.6e-13). With 20 every call of
#: those solves reduced the residual by 0.01-0.035 (a 63² sweep is 1/4 of a 127² sweep, 1/16 of a 255² one).
#: On the model's own grid (no coarser level) they are full-price fine sweeps: 3 there.
DEFAULT_COARSE_SWEEPS = 20
SAME_GRID_COARSE_SWEEPS = 3
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
#: Rows per block statistic: the rate of a block is read from its second half (the first half still
#: removes what a call or the start left in the high modes).
MIN_RATE_SWEEPS = 4


class _System:
    """``A`` on batches ``(K, *shape)`` by the sparse matrix (off the box) and its diagonal."""

    def __init__(self, problem: Problem) -> None:
        self.matrix = problem.operator.matrix.tocsr()
        self.inverse_diagonal = 1.0 / problem.operator.diagonal

    def apply(self, u: np.ndarray) -> np.ndarray:
        k = u.shape[0]
        return np.asarray(self.matrix @ u.reshape(k, -1).T).T.reshape(u.shape)


class _BoxFine:
    """The fine level on the Dirichlet box, compiled (:mod:`poissonfp.solvers.hybrids.operator_kernels`): zero-padded
    iterates, right-hand sides and residuals of K rows, allocated once."""

    def __init__(self, problem: Problem, b: np.ndarray) -> None:
        from poissonfp.operators import diagonal

        grid = problem.grid
        self.ndim = grid.ndim
        self.coefficients = np.array([1.0 / h**2 for h in grid.spacing])
        self.diagonal = diagonal(grid)
        padded = (b.shape[0], *tuple(n + 2 for n in grid.shape))
        self.iterates = [np.zeros(padded), np.zeros(padded)]
        self.b = np.ascontiguousarray(b, dtype=float)
        self.r = self.b.copy()
        self.scratch = np.zeros(padded)
        self.zero = np.zeros_like(self.b)
        self.product = np.zeros_like(self.b)
        self.interior: tuple[Any, ...] = (slice(1, -1),) * self.ndim
        self.everything = np.arange(b.shape[0], dtype=np.int64)

    def solution(self, k: int) -> np.ndarray:
        return self.iterates[0][(k, *self.interior)]

    def solutions(self) -> np.ndarray:
        return self.iterates[0][(slice(None), *self.interior)]

    def block(self, rows: np.ndarray, count: int, omega: float, target: np.ndarray, norms: np.ndarray,
              done: np.ndarray) -> None:
        kernels.BLOCK[self.ndim](self.iterates[0], self.iterates[1], self.b, rows, self.coefficients,
                                 1.0 / self.diagonal, omega, count, target, norms, done)

    def residual(self, rows: np.ndarray) -> None:
        kernels.RESIDUAL[self.ndim](self.iterates[0], self.b, rows, self.coefficients, self.diagonal, self.r)

    def apply(self, d: np.ndarray) -> np.ndarray:
        m = d.shape[0]
        self.scratch[(slice(None, m), *self.interior)] = d
        kernels.RESIDUAL[self.ndim](self.scratch, self.zero, self.everything[:m], self.coefficients, self.diagonal,
                                    self.product)
        return -self.product[:m]

    def add(self, rows: np.ndarray, d: np.ndarray) -> None:
        self.iterates[0][(rows, *self.interior)] += d


class _GeneralFine:
    """The fine level off the box (sparse matrix, numpy): the same interface as :class:`_BoxFine`."""

    def __init__(self, problem: Problem, b: np.ndarray) -> None:
        self.system = _System(problem)
        self.b = np.array(b, dtype=float)
        self.u = np.zeros_like(self.b)
        self.r = self.b.copy()

    def solution(self, k: int) -> np.ndarray:
        return self.u[k]

    def solutions(self) -> np.ndarray:
        return self.u

    def block(self, rows: np.ndarray, count: int, omega: float, target: np.ndarray, norms: np.ndarray,
              done: np.ndarray) -> None:
        u, b = self.u[rows], self.b[rows]
        going = np.ones(len(rows), dtype=bool)
        done[rows] = 0
        for s in range(count):
            r = b - self.system.apply(u)
            norms[rows, s] = np.where(going, _dot(r, r), norms[rows, s])
            u = u + _col(going * omega, r) * self.system.inverse_diagonal * r
            done[rows] += going
            going &= norms[rows, s] > target[rows]
            if not going.any():
                break
        self.u[rows] = u

    def residual(self, rows: np.ndarray) -> None:
        self.r[rows] = self.b[rows] - self.system.apply(self.u[rows])

    def apply(self, d: np.ndarray) -> np.ndarray:
        return self.system.apply(d)

    def add(self, rows: np.ndarray, d: np.ndarray) -> None:
        self.u[rows] += d


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1))


def _safe(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), 0.0)


def _col(values: np.ndarray, like: np.ndarray) -> np.ndarray:
    return np.asarray(values).reshape((-1,) + (1,) * (like.ndim - 1))


@dataclasses.dataclass
class _Counters:
    """Batch-wide counts (per-row counts live in :class:`_Iteration`'s arrays)."""

    calls: int = 0
    sweep_s: float = 0.0
    sweeps: int = 0
    fallback: str = ""
    energy_gain: list = dataclasses.field(default_factory=list)
    call_factors: list = dataclasses.field(default_factory=list)


class _Iteration:
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
        self.fine = _BoxFine(problem, b) if problem.on_box else _GeneralFine(problem, b)
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
        self.norm2 = _dot(self.fine.r, self.fine.r)  # ‖b - A u‖² of the current iterate (u = 0)
        self.norms = np.zeros((k, GROWTH * max(sweeps, 1)))
        self.quiet = 0  # blocks in a row without a call (a block doubles after each, up to GROWTH x sweeps)
        self.done = np.zeros(k, dtype=np.int64)
        self.pending = np.zeros(k, dtype=bool)  # a call not judged yet
        self.before_call = np.zeros(k)
        self.rate_at_call = np.ones(k)
        self.residual_fresh = np.ones(k, dtype=bool)  # fine.r holds b - A u of the current iterate
        self.previous: tuple[np.ndarray, np.ndarray] | None = None  # FCG: the last direction and A times it
        self.per_row_seconds: list[float] = []
        self.probe_s = self.network.warm_up(k) / k  # seconds per row of a call, before any was measured

    # -- prices --------------------------------------------------------------------------------------
    def sweep_seconds(self) -> float | None:
        """Measured seconds of one fine sweep of one row."""
        c = self.counters
        return c.sweep_s / c.sweeps if c.sweeps else None

    def call_seconds_per_row(self) -> float:
        """Median seconds of a call per row it corrected (before the first call: the warm-up's)."""
        return float(np.median(self.per_row_seconds)) if self.per_row_seconds else self.probe_s

    def price(self) -> float:
        """A network call in sweep-equivalents of one row (measured: seconds per row over seconds per sweep)."""
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
        """Per row: sweeps + applications + calls x the correction's work + its share of the calls' time."""
        sweep = self.sweep_seconds()
        price = self.call_share_s / sweep if sweep else np.zeros_like(self.call_share_s)
        return self.sweeps + self.applications + self.calls * self.transfer.work + price

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
        self.counters.sweep_s += time.perf_counter() - start
        done = self.done[rows]
        self.counters.sweeps += int(done.sum())
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
        before = _dot(r, r)
        d = np.array(self.transfer.correct(r, self.network))
        self.call_share_s[rows] += self.network.seconds[-1] / len(rows)
        self.per_row_seconds.append(self.network.seconds[-1] / len(rows))
        self.counters.calls += 1
        self.calls[rows] += 1
        ad = self.fine.apply(d)
        self.applications[rows] += 1
        if self.accel == "fcg" and self.previous is not None:
            p_prev, ap_prev = self.previous
            beta = _safe(_dot(d, ap_prev[rows]), _dot(p_prev[rows], ap_prev[rows]))
            d = d - _col(beta, d) * p_prev[rows]
            ad = ad - _col(beta, d) * ap_prev[rows]
        alpha = _safe(_dot(d, r), _dot(d, ad))
        self.fine.add(rows, _col(alpha, d) * d)
        r_new = r - _col(alpha, d) * ad
        self.fine.r[rows] = r_new
        self.residual_fresh[rows] = True
        after = _dot(r_new, r_new)
        self.norm2[rows] = after
        if self.accel == "fcg":
            if self.previous is None:
                shape = self.fine.r.shape
                self.previous = (np.zeros(shape), np.zeros(shape))
            self.previous[0][rows], self.previous[1][rows] = d, ad
        gain = alpha * _dot(d, r)  # = ‖e‖²_A before − after the correction
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


def _info(iteration: _Iteration, row: int, how: str, note: str) -> dict[str, Any]:
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
    scale = np.sqrt(_dot(b, b))
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
    the call on the model's grid; None: 20 where it is coarser than the problem's, 3 on the problem's own grid),
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
        iteration = _Iteration(problem, model, how, b, sweeps, float(omega or 1.0), accel, patience, trigger,
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
                    return _fall_back(problem, monitor, iteration, how, note)
                iteration.pass_(rows, target)
                check_finite(iteration.fine.solution(0), f"operator iterate after {iteration.counters.calls} "
                                                         "network calls")
                entry = monitor.record(iteration.fine.solution(0), int(iteration.sweeps[0]), phase="operator")
        except KeyboardInterrupt:
            reason = "interrupted"
        return monitor.result("operator", iteration.fine.solution(0).copy(), reason,
                              iterations=int(iteration.sweeps[0]), info=_info(iteration, 0, how, note))


def _correction_problem(problem: Problem, criterion: StoppingCriterion, u: np.ndarray
                        ) -> tuple[Problem, StoppingCriterion] | None:
    """``A e = b − A u`` (homogeneous boundary data, no continuous data) and the criterion that makes
    ``u + e`` meet ``criterion`` on ``problem``: the same kind, its tolerance scaled by the norms (``‖b‖ / ‖r‖``
    for the residual, ``‖u_h‖ / ‖u_h − u‖`` for the discrete error). None for the discretization criterion
    (its exact solution has no counterpart for the correction)."""
    from poissonfp.solvers.criterion import norm2

    if criterion.kind not in ("residual", "discrete"):
        return None
    r = problem.rhs - problem.operator.apply(u)
    inner = dataclasses.replace(problem, source=r, rhs=r, exact=None, functions={})
    now = norm2(r) if criterion.kind == "residual" else norm2(problem.discrete_solution - u)
    if not now > 0:
        return None
    tol = min(criterion.tol * criterion.scale(problem) / now, 0.5)
    return inner, dataclasses.replace(criterion, tol=tol)


#: Corrections the fallback may solve in a row (a second one only where round-off left ``u + e`` a hair above
#: the threshold).
FALLBACK_ROUNDS = 3


def _fall_back(problem: Problem, monitor: Monitor, iteration: _Iteration, how: str, note: str, row: int = 0,
               spent: float | None = None) -> SolveResult:
    """Continue with the multilevel hybrid from the operator iteration's iterate ``u`` (of ``row``): it solves
    for the correction ``e`` of the current residual (``A e = b − A u``, to the tolerance that makes ``u + e``
    meet the criterion); the work and time spent so far (``spent``: default the monitor's clock) are added to its
    own. Under the discretization criterion (no exact solution of the correction) it solves the problem again
    from zero, as before."""
    from poissonfp.settings import HybridSettings
    from poissonfp.solvers.hybrids.hybrid import solve_hybrid

    logger.warning("operator: falling back to the multilevel hybrid: %s", iteration.counters.fallback)
    spent = monitor.elapsed() if spent is None else spent
    before = float(iteration.work()[row])
    u = iteration.fine.solution(row).copy()
    info = _info(iteration, row, how, note)
    info["work_before_fallback"] = before
    work, wall, reason, results = before, spent, "max_iterations", []
    for _ in range(FALLBACK_ROUNDS):
        correction = _correction_problem(problem, monitor.criterion, u)
        if correction is None:  # from zero: the hybrid's answer replaces the iterate
            inner = Monitor(problem, monitor.criterion, monitor.callback)
            result = solve_hybrid(problem, inner)
            u = result.solution
        else:
            inner = Monitor(correction[0], correction[1])
            # its cycles, without the pure-Jacobi decision (which reads the sine spectrum of a smooth right-hand
            # side: a residual's is rough, and the estimate picked thousands of sweeps for a 1e-4 reduction)
            result = solve_hybrid(correction[0], inner, hybrid=dataclasses.replace(HybridSettings(), fallback=False))
            u = u + result.solution
        results.append(result)
        work += float(result.info.get("work_sweep_equivalents") or result.iterations)
        wall += result.wall_time_s
        reason = result.stop_reason
        if correction is None or not result.converged \
                or monitor.criterion.evaluate(problem, u) <= monitor.threshold:
            break
    info["fallback_start"] = "zero" if correction is None else "iterate"
    info["fallback_result"] = {k: v for k, v in results[-1].info.items() if isinstance(v, (int, float, str, type(None)))}
    info["fallback_rounds"] = len(results)
    info["work_sweep_equivalents"] = work
    final = monitor.result("operator", u, reason, iterations=round(work), info=info)  # sweeps: the method's unit
    final.wall_time_s = wall
    return final


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
        iteration = _Iteration(problem, model, how, b.copy(), sweeps, float(omega or 1.0), accel, patience, trigger,
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
                    iteration.norm2[maybe] = _dot(iteration.fine.r[maybe], iteration.fine.r[maybe])
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
            result = _fall_back(problems[k], monitor, iteration, how, note, row=k, spent=wall / len(b))
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
