"""What every solver shares: the result type and the monitor (the stopping criterion is
:mod:`poissonfp.solvers.criterion`'s, re-exported here).

A :class:`Monitor` is created per solve. It owns the stopwatch (pausing it while it records
diagnostics, so that recording never inflates a solver's wall time), decides when the stopping
criterion holds, keeps the history and forwards each record to an optional callback (progress bars,
live plots). Solvers never print.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from poissonfp.case_schema import CaseError
from poissonfp.interrupts import finish_solving, raise_pending, shielded
from poissonfp.settings import CRITERION_METRICS
from poissonfp.solvers.criterion import StoppingCriterion, _relative, norm2

if TYPE_CHECKING:
    from poissonfp.problem import Problem

__all__ = ["HISTORY_KEYS", "DivergenceError", "Monitor", "SolveResult", "StopSolve", "StoppingCriterion", "norm2", "require_box"]

logger = logging.getLogger(__name__)

HISTORY_KEYS = (
    "time_s",
    "iteration",
    "dnn_steps",
    "rel_residual",
    "error_vs_exact_rel_l2",
    "error_vs_exact_inf",
    "error_vs_discrete_rel_l2",
)


class StopSolve(KeyboardInterrupt):
    """Raise it from a solve's ``callback`` to end the solve now: the solver returns the state reached
    with ``stop_reason = "stopped"`` (``"converged"`` if that state meets the criterion) and
    ``interrupted = False``. It travels the solvers' Ctrl-C path (hence the base class), so every method
    stops at its next record.

    >>> import numpy as np
    >>> from poissonfp.grid import Grid
    >>> from poissonfp.problem import Problem
    >>> from poissonfp.solvers import solve
    >>> problem = Problem.from_functions(Grid((0.0,), (1.0,), (63,)), lambda x: np.ones_like(x))
    >>> def stop_after_one(entry):
    ...     if entry["iteration"] >= 1:
    ...         raise StopSolve
    >>> solve(problem, "multigrid", StoppingCriterion("residual", tol=1e-14), callback=stop_after_one).stop_reason
    'stopped'
    """


def require_box(problem: Problem, what: str) -> None:
    """Refuse ``what`` unless ``problem`` is the constant-coefficient Dirichlet box.

    Raises:
        CaseError: keyed ``method``, naming what makes the problem general (exit 2 on the command line).
    """
    if not problem.on_box:
        assert problem.general is not None
        raise CaseError(problem.name, "method", f"{what} applies only to the constant-coefficient "
                            f"Dirichlet box; this problem has {problem.general.why_not_box}")


class DivergenceError(RuntimeError):
    """A solver produced a non-finite value (NaN or inf)."""


@dataclass
class SolveResult:
    """The outcome of one solve; every solver returns one.

    ``history`` maps each of :data:`HISTORY_KEYS` to an equally long list (None where unknown).
    ``modes`` optionally holds per-mode errors over time (see :mod:`poissonfp.spectral`).
    ``converged`` is the stopping criterion evaluated on ``solution``; ``stop_reason`` is one of
    ``"converged"``, ``"exact"`` (direct methods), ``"max_iterations"``, ``"stalled"`` (the multilevel
    hybrid's residual stopped falling: round-off), ``"interrupted"``, ``"stopped"`` (a callback raised
    :class:`StopSolve`) or
    ``"final_check_failed"`` (the solver's own estimate met the criterion, the final evaluation on the
    solution did not: Jacobi's update-based residual near round-off) and never contradicts it; ``interrupted`` says a Ctrl-C / SIGTERM cut the solve short.
    """

    method: str
    solution: np.ndarray
    converged: bool
    stop_reason: str
    wall_time_s: float
    iterations: int = 0
    dnn_steps: int = 0
    history: dict[str, list] = field(default_factory=lambda: {k: [] for k in HISTORY_KEYS})
    modes: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    final: dict[str, float | None] = field(default_factory=dict)
    interrupted: bool = False

    def __repr__(self) -> str:
        verdict = "converged" if self.converged else "not converged"
        shape = "x".join(map(str, np.shape(self.solution)))
        error = self.final.get("error_vs_exact_inf")
        error_text = "" if error is None else f", error_vs_exact_inf={error:.3e}"
        residual = self.final.get("rel_residual")
        residual_text = "" if residual is None else f", rel_residual={residual:.3e}"
        return (f"SolveResult(method={self.method!r}, {verdict} ({self.stop_reason}), solution {shape}, "
                f"iterations={self.iterations:,}, dnn_steps={self.dnn_steps:,}, "
                f"wall_time_s={self.wall_time_s:.4g}{residual_text}{error_text}, "
                f"{len(self.history.get('time_s', []))} history records)")

    def plot(self, ax=None, title: str | None = None):
        """The convergence figure of this solve (error norms against wall time and work, the criterion's
        metric and threshold marked); ``ax``: two axes, or one for the time panel alone. Returns the Figure.
        """
        from poissonfp.plotting.solution import plot_convergence

        metric = CRITERION_METRICS.get(str(self.info.get("criterion")), "rel_residual")
        return plot_convergence(self.history, metric, self.info.get("threshold"),
                                title or f"Convergence ({self.method})", ax=ax)

    def summary(self) -> dict[str, Any]:
        """The JSON-able record of ``result.json`` (without the solution array)."""
        return {
            "method": self.method,
            "converged": self.converged,
            "stop_reason": self.stop_reason,
            "interrupted": self.interrupted,
            "wall_time_s": self.wall_time_s,
            "iterations": self.iterations,
            "dnn_steps": self.dnn_steps,
            **{k: self.final.get(k) for k in HISTORY_KEYS[3:]},
            "history": self.history,
            "modes": self.modes,
            "info": self.info,
        }


class Monitor:
    """Measures a solve: stopwatch, stopping criterion, history and callbacks.

    Args:
        problem: the problem being solved.
        criterion: the stopping criterion.
        callback: called with every history record (a dict), e.g. to draw progress.
        modes: optional mode indices (tuples of 1-based sine wavenumbers) whose relative error against
            the discrete solution is recorded with every history record.
    """

    def __init__(
        self,
        problem: Problem,
        criterion: StoppingCriterion,
        callback: Callable[[dict], None] | None = None,
        modes: Sequence[tuple[int, ...]] | None = None,
    ) -> None:
        self.problem = problem
        self.criterion = criterion
        self.callback = callback
        self.modes = [tuple(m) for m in modes] if modes else []
        self.history: dict[str, list] = {k: [] for k in HISTORY_KEYS}
        self.mode_history: list[list[float]] = []
        self.threshold = criterion.threshold(problem)
        self._rhs_norm = norm2(problem.rhs) or 1.0
        self._paused = 0.0
        self._start = time.perf_counter()
        self._first_metric: float | None = None
        self.stopped = False  # the callback raised StopSolve

    # -- clock -------------------------------------------------------------------------------
    def restart(self) -> None:
        """Start the stopwatch now (call right before the solver's first operation)."""
        self._start = time.perf_counter()
        self._paused = 0.0

    def elapsed(self) -> float:
        """Solver wall time so far, excluding time spent recording diagnostics."""
        return time.perf_counter() - self._start - self._paused

    # -- metrics ------------------------------------------------------------------------------
    def metrics(self, u: np.ndarray) -> dict[str, float | None]:
        """All error norms of ``u`` that are known for this problem."""
        p = self.problem
        out: dict[str, float | None] = {
            "rel_residual": norm2(p.rhs - p.operator.apply(u)) / self._rhs_norm,
            "error_vs_exact_rel_l2": None,
            "error_vs_exact_inf": None,
            "error_vs_discrete_rel_l2": None,
        }
        u = p.operator.project(u)  # all-Neumann problems: the solution of zero mean
        if p.exact is not None:
            diff = u - p.exact
            out["error_vs_exact_rel_l2"] = _relative(norm2(diff), norm2(p.exact))
            out["error_vs_exact_inf"] = float(np.max(np.abs(diff)))
        if self.criterion.kind == "discrete" or p.exact is not None or self.modes:
            uh = p.discrete_solution
            out["error_vs_discrete_rel_l2"] = _relative(norm2(u - uh), norm2(uh))
        return out

    def satisfied(self, value: float | None) -> bool:
        """Whether the criterion's metric ``value`` meets the threshold."""
        raise_pending()
        return value is not None and value <= self.threshold

    def progress(self, value: float | None) -> float:
        """Rough fraction of the way to the threshold on a log scale (for progress bars)."""
        if value is None or not math.isfinite(value) or value <= 0:
            return 0.0
        if self._first_metric is None:
            self._first_metric = value
        start, goal = self._first_metric, self.threshold
        if value <= goal or start <= goal:
            return 1.0
        return float(min(1.0, max(0.0, math.log(start / value) / math.log(start / goal))))

    def record(self, u: np.ndarray, iteration: int, dnn_steps: int = 0, phase: str = "") -> dict:
        """Append a history record for iterate ``u``; the stopwatch is paused meanwhile.

        All or nothing: every history list (and the mode history) grows by one entry, or, when an
        exception (a Ctrl-C included) interrupts the appending, none does.
        """
        raise_pending()
        paused_at = time.perf_counter()
        try:
            now = paused_at - self._start - self._paused
            check_finite(u, f"{phase or 'solver'} iterate at iteration {iteration}")
            values = self.metrics(u)
            entry: dict[str, Any] = {"time_s": now, "iteration": iteration, "dnn_steps": dnn_steps, **values}
            mode_errors = self._mode_errors(u) if self.modes else None
            self._append(entry, mode_errors)
            entry["phase"] = phase
            entry["progress"] = self.progress(values[self.criterion.metric])
            if self.callback is not None and not self.stopped:
                try:
                    self.callback(entry)
                except StopSolve:
                    self.stopped = True
                    if phase != "final":  # the final record closes the solve anyway
                        raise
        finally:
            self._paused += time.perf_counter() - paused_at
        return entry

    def _append(self, entry: dict, mode_errors: list[float] | None) -> None:
        length = len(self.history["time_s"])
        try:
            for key in HISTORY_KEYS:
                self.history[key].append(entry[key])
            if mode_errors is not None:
                self.mode_history.append(mode_errors)
        except BaseException:
            for values in self.history.values():
                del values[length:]
            del self.mode_history[length:]
            raise

    def _mode_errors(self, u: np.ndarray) -> list[float]:
        from poissonfp.spectral import mode_errors_dst

        return mode_errors_dst(u, self.problem.discrete_solution, self.modes).tolist()

    def result(self, method: str, u: np.ndarray, stop_reason: str, iterations: int = 0,
               dnn_steps: int = 0, info: dict | None = None) -> SolveResult:
        """Close the solve: final record, convergence verdict, and the result object.

        The verdict is the criterion evaluated on the final iterate, and ``stop_reason`` never
        contradicts it: a solve whose final iterate meets the criterion reports ``"converged"`` (or
        ``"exact"`` for the direct methods), one that does not never does. ``interrupted`` keeps the
        fact that a Ctrl-C / SIGTERM cut the solve short. Runs shielded from a second signal (see
        :mod:`poissonfp.interrupts`); once it returns, an active signal guard defers every signal.
        """
        with shielded():
            finish_solving()
            wall = self.elapsed()
            entry = self.record(u, iterations, dnn_steps, phase="final")
            converged = self.satisfied(entry[self.criterion.metric])
            if self.stopped and stop_reason == "interrupted":
                stop_reason = "stopped"  # the callback asked for it: not a signal
            interrupted = stop_reason == "interrupted"
            if converged and stop_reason != "exact":
                stop_reason = "converged"
            elif not converged and stop_reason == "converged":
                stop_reason = "final_check_failed"  # the solver's cheap estimate passed, the true value not
            final = {k: entry[k] for k in HISTORY_KEYS[3:]}
            modes = {}
            if self.modes:
                modes = {"modes": [list(m) for m in self.modes], "relative_error": self.mode_history,
                         "time_s": list(self.history["time_s"]), "iteration": list(self.history["iteration"])}
            info = {"criterion": self.criterion.kind, "threshold": self.threshold, **(info or {})}
            return SolveResult(method, u, converged, stop_reason, wall, iterations, dnn_steps,
                               self.history, modes, info, final, interrupted)


def check_finite(u: np.ndarray, what: str) -> None:
    """Raise :class:`DivergenceError` if ``u`` holds NaN or inf."""
    if not np.all(np.isfinite(u)):
        raise DivergenceError(f"{what} is not finite (NaN or inf): the solver diverged")
