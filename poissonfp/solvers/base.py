"""What every solver shares: the result type, the stopping criterion and the monitor.

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
from poissonfp.settings import CRITERIA, CRITERION_METRICS

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
    >>> from poissonfp.solvers import solve
    >>> problem = Problem.from_functions(Grid((0.0,), (1.0,), (63,)), lambda x: np.ones_like(x))
    >>> def stop_after_one(entry):
    ...     if entry["iteration"] >= 1:
    ...         raise StopSolve
    >>> solve(problem, "multigrid", StoppingCriterion("residual", tol=1e-14), callback=stop_after_one).stop_reason
    'stopped'
    """


def norm2(values: np.ndarray) -> float:
    """The Euclidean norm of ``values`` without underflow or overflow: the entries are divided by their
    largest magnitude before squaring (``np.linalg.norm`` squares them as they are, so a vector of size
    1e-200 has norm 0 and one of size 1e300 norm inf). NaN when an entry is NaN, inf when one is inf.

    >>> norm2(np.array([3e-200, 4e-200])), norm2(np.array([3e300, 4e300]))
    (5e-200, 5e+300)
    """
    values = np.asarray(values)
    if values.size == 0:
        return 0.0
    largest = float(np.max(np.abs(values)))
    if largest == 0.0 or not math.isfinite(largest):
        return largest if not np.isnan(values).any() else math.nan
    return largest * float(np.linalg.norm(values / largest))


def _relative(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, the denominator taken as 1 where it is 0."""
    return numerator / (denominator or 1.0)


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


@dataclass(frozen=True)
class StoppingCriterion:
    """When a solve has reached its goal.

    Args:
        kind: ``"residual"`` (``||b - Au|| / ||b|| <= tol``), ``"discretization"``
            (``||u - u_exact||_inf <= 1.5 ||u_h - u_exact||_inf``) or ``"discrete"``
            (``||u - u_h|| / ||u_h|| <= tol``).
        tol: tolerance of the residual and discrete criteria.
        max_iterations: sweeps (or cycles) after which an iterative solver gives up.
        factor: the multiple of the discretization error accepted by ``"discretization"``.
    """

    kind: str = "residual"
    tol: float = 1e-8
    max_iterations: int = 5_000_000
    factor: float = 1.5

    def __post_init__(self) -> None:
        if self.kind not in CRITERIA:
            raise ValueError(f"unknown stopping criterion {self.kind!r}; expected one of {', '.join(CRITERIA)}")
        uses_tol = self.kind != "discretization"  # which ignores tol: 0 is accepted there
        for name, value, low in (("tol", self.tol, 0.0), ("factor", self.factor, 1.0)):
            number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            strict = name == "tol" and uses_tol
            if not number or value < low or (strict and value == low):
                relation = ">" if strict else ">="
                raise ValueError(f"{name} must be a finite number {relation} {low:g} for the {self.kind} "
                                 f"criterion, got {value!r}")
        if isinstance(self.max_iterations, bool) or not isinstance(self.max_iterations, int) \
                or self.max_iterations < 1:
            raise ValueError(f"max_iterations must be a positive integer, got {self.max_iterations!r}")

    def threshold(self, problem: Problem) -> float:
        """The value the criterion's metric must reach on ``problem``."""
        if self.kind == "discretization":
            error = problem.discretization_error_inf
            if error is None:
                raise ValueError("the discretization criterion needs an exact solution")
            return self.factor * error
        return self.tol

    @property
    def metric(self) -> str:
        """The history key the criterion reads."""
        return CRITERION_METRICS[self.kind]

    def reference(self, problem: Problem) -> np.ndarray | None:
        """The array the metric measures the iterate against (C-contiguous, for the sweep kernels):
        the exact solution (``"discretization"``), the discrete solution (``"discrete"``) or None."""
        if self.kind == "discretization":
            return np.ascontiguousarray(problem.exact)
        if self.kind == "discrete":
            return np.ascontiguousarray(problem.discrete_solution)
        return None

    def scale(self, problem: Problem) -> float:
        """The norm the metric divides by: ``||b||`` (residual), ``||u_h||`` (discrete) or 1 (discretization,
        an absolute max-norm); 1 where that norm is zero."""
        if self.kind == "residual":
            return norm2(problem.rhs) or 1.0
        if self.kind == "discrete":
            return norm2(problem.discrete_solution) or 1.0
        return 1.0

    def from_norms(self, *, residual_norm: float, error_max: float, error_l2: float, scale: float) -> float:
        """The metric from the norms a sweep kernel returns: ``||b - Au||_2``, ``max|u - reference|`` and
        ``||u - reference||_2`` (only the one the criterion reads needs to be meaningful)."""
        if self.kind == "discretization":
            return float(error_max)
        return float(residual_norm if self.kind == "residual" else error_l2) / scale

    def from_sweep(self, stats: dict[str, float], scale: float) -> float:
        """The metric from a sweep's statistics (keys ``residual_norm``, ``error_max``, ``error_sq``
        and optionally ``unit``: the squared error is of the iterate divided by ``unit``)."""
        return self.from_norms(residual_norm=stats["residual_norm"], error_max=stats["error_max"],
                               error_l2=math.sqrt(stats["error_sq"]) * stats.get("unit", 1.0), scale=scale)

    def evaluate(self, problem: Problem, u: np.ndarray, reference: np.ndarray | None = None,
                 scale: float | None = None) -> float:
        """The metric of iterate ``u``, computed directly (``reference`` and ``scale`` may be passed in
        when already at hand)."""
        scale = self.scale(problem) if scale is None else scale
        if self.kind == "residual":
            norm = norm2(problem.rhs - problem.operator.apply(u))
            return self.from_norms(residual_norm=norm, error_max=math.nan, error_l2=math.nan, scale=scale)
        u = problem.operator.project(u)  # all-Neumann problems: compare the solution of zero mean
        diff = u - (self.reference(problem) if reference is None else reference)
        return self.from_norms(residual_norm=math.nan, error_max=float(np.max(np.abs(diff))),
                               error_l2=norm2(diff), scale=scale)

    def describe(self, problem: Problem) -> str:
        return f"{self.metric} <= {self.threshold(problem):.3e}"


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
        from poissonfp.settings import CRITERION_METRICS

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
