"""Every method on one problem, to one stopping criterion: the article's comparison (-Δu = f).

:func:`compare_methods` runs pure Jacobi, the DNN alone, the DNN-Jacobi hybrid (automatic switch and
each fixed switch as separate entries) and the classical references (multigrid, sine transform,
sparse direct) on the same problem and grid with the case's stopping criterion, after a throwaway
solve of each method with a tiny budget so that no timed run pays for compilation or first-call set-up.
Each entry is the ``result.json`` record of its solve plus ``speedup_vs_jacobi``: Jacobi's wall time
over the method's, given only when both reached the criterion.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from poissonfp.api import criterion_of, solve_case
from poissonfp.case import Case
from poissonfp.outputs import result_record
from poissonfp.problem import Problem, build_problem
from poissonfp.results import save_figure, write_json, write_text
from poissonfp.settings import METHODS
from poissonfp.solvers import SOLVERS, DivergenceError, SolveResult

__all__ = ["DEFAULT_METHODS", "Run", "ComparisonEntry", "Comparison", "plan_runs", "compare_methods",
           "format_table", "save_comparison"]

logger = logging.getLogger(__name__)

#: Methods compared when none are named: the baseline first, then the neural ones, then the references.
DEFAULT_METHODS = ("jacobi", "dnn", "hybrid", "multigrid", "dst", "direct")
#: Interior points per dimension of the throwaway warm-up solves.
_WARM_UP_POINTS = 4


@dataclass(frozen=True)
class Run:
    """One planned solve: its label in tables and figures, the method and its extra options."""

    label: str
    method: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ComparisonEntry:
    """One finished solve: the result and its JSON record (``result.json`` keys plus comparison keys)."""

    run: Run
    result: SolveResult | None
    record: dict[str, Any]

    @property
    def label(self) -> str:
        return self.run.label


@dataclass
class Comparison:
    """All entries of one comparison and what they were measured against."""

    case: str
    grid_shape: tuple[int, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    criterion: str
    metric: str
    threshold: float
    entries: list[ComparisonEntry]
    skipped: dict[str, str] = field(default_factory=dict)
    interrupted: bool = False

    def entry(self, label: str) -> ComparisonEntry | None:
        """The entry called ``label``, or None."""
        return next((e for e in self.entries if e.label == label), None)

    def to_dict(self) -> dict[str, Any]:
        """The content of ``compare.json``."""
        return {
            "case": self.case,
            "grid": {"shape": list(self.grid_shape), "lower": list(self.lower), "upper": list(self.upper)},
            "criterion": self.criterion,
            "metric": self.metric,
            "threshold": self.threshold,
            "entries": [e.record for e in self.entries],
            "skipped": self.skipped,
            "interrupted": self.interrupted,
        }


def plan_runs(methods: Sequence[str], switches: Sequence[int] | None = None) -> list[Run]:
    """The solves to run: one per method, the hybrid once with ``switch="auto"`` and once per switch.

    Fixed switches add hybrid entries even when ``"hybrid"`` itself is not listed.

    Raises:
        ValueError: for a method that poissonfp does not know.

    >>> [r.label for r in plan_runs(["jacobi", "hybrid"], [30])]
    ['jacobi', 'hybrid[auto]', 'hybrid[M=30]']
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown method {unknown[0]!r}; expected some of {', '.join(METHODS)}")
    runs: list[Run] = []
    for method in dict.fromkeys(methods):
        if method == "hybrid":
            runs.append(Run("hybrid[auto]", "hybrid", {"switch": "auto"}))
        else:
            runs.append(Run(method, method))
    runs += [Run(f"hybrid[M={m}]", "hybrid", {"switch": int(m)}) for m in dict.fromkeys(switches or ())]
    return runs


def compare_methods(
    case: Case,
    methods: Sequence[str] = DEFAULT_METHODS,
    switches: Sequence[int] | None = None,
    *,
    problem: Problem | None = None,
    callback: Callable[[dict], None] | None = None,
) -> Comparison:
    """Solve ``case`` with every method to the case's stopping criterion and compare the wall times.

    Methods not (yet) registered in :data:`poissonfp.solvers.SOLVERS` are skipped with a warning.

    Args:
        case: a loaded case (with its overrides applied).
        methods: method names (see :data:`DEFAULT_METHODS`).
        switches: fixed switch points of extra hybrid entries.
        problem: the problem built from ``case``, if already built.
        callback: receives progress events: ``{"event": "skipped" | "start" | "done", "label", ...}``;
            ``"done"`` carries the entry's ``record``.

    Returns:
        the :class:`Comparison`, entries in the order of :func:`plan_runs`; a solve interrupted by
        Ctrl-C ends the comparison early (``interrupted`` is then True).
    """
    problem = problem if problem is not None else build_problem(case)
    criterion = criterion_of(case)
    notify = callback or (lambda event: None)
    runs, skipped = [], {}
    for run in plan_runs(methods, switches):
        if run.method in SOLVERS:
            runs.append(run)
        else:
            skipped[run.label] = f"method {run.method!r} is not registered in poissonfp.solvers.SOLVERS yet"
            logger.warning("skipping %s: %s", run.label, skipped[run.label])
            notify({"event": "skipped", "label": run.label, "reason": skipped[run.label]})
    _warm_up(case, problem, {run.method for run in runs})
    entries, interrupted = [], False
    for index, run in enumerate(runs):
        notify({"event": "start", "label": run.label, "index": index, "count": len(runs)})
        entries.append(_run_one(case, problem, run))
        notify({"event": "done", "label": run.label, "index": index, "count": len(runs),
                "record": entries[-1].record})
        if entries[-1].record["stop_reason"] == "interrupted":
            interrupted = True  # Ctrl-C: keep what was measured, run nothing more
            break
    _add_speedups(entries)
    grid = problem.grid
    return Comparison(case.name, grid.shape, grid.lower, grid.upper, criterion.kind, criterion.metric,
                      criterion.threshold(problem), entries, skipped, interrupted)


def _case_for(case: Case, run: Run) -> Case:
    """The case with the run's hybrid switch written into its settings (``switch`` is also passed)."""
    if "switch" not in run.options:
        return case
    return dataclasses.replace(case, hybrid=dataclasses.replace(case.hybrid, switch=run.options["switch"]))


def _warm_up(case: Case, problem: Problem, methods: set[str]) -> None:
    """Solve once per method with a tiny budget, so that compilation and first calls happen here.

    Classical methods warm up on a tiny grid (their compiled kernels do not depend on the size); the
    neural ones on the real problem with two training steps and one correction, because torch's first
    steps at a new size are slow (measured: ~1.6 s for the first Adam steps on 999 points, untouched by a
    tiny-grid warm-up).
    """
    tiny = case.with_overrides(size=_WARM_UP_POINTS + (case.grid_unit == "intervals"))
    tiny_problem = build_problem(tiny)
    short = case.with_overrides(adam_steps=min(case.training.adam_steps, 2), lbfgs_steps=0, max_iterations=1,
                                corrections=min(case.hybrid.corrections, 1), switch=2)
    for method in sorted(methods):
        logger.debug("warming up %s", method)
        neural = method in ("dnn", "hybrid")
        try:
            solve_case(short if neural else tiny, method, problem=problem if neural else tiny_problem)
        except DivergenceError:
            pass  # a barely trained network may diverge; the first calls happened anyway


def _run_one(case: Case, problem: Problem, run: Run) -> ComparisonEntry:
    """Solve once; a diverging solver gives an entry that says so instead of aborting the comparison."""
    run_case = _case_for(case, run)
    criterion = criterion_of(run_case)
    try:
        _, result = solve_case(run_case, run.method, problem=problem, **run.options)
    except DivergenceError as err:
        logger.warning("%s diverged: %s", run.label, err)
        record = {"case": case.name, "method": run.method, "grid_shape": list(problem.grid.shape),
                  "converged": False, "stop_reason": "diverged", "wall_time_s": None, "error": str(err)}
        return ComparisonEntry(run, None, {"label": run.label, **record, "reached": False,
                                           "best_metric": None, "speedup_vs_jacobi": None,
                                           "note": f"diverged: {err}"})
    record = {"label": run.label, **result_record(run_case, problem, result)}
    best = _best(result.history.get(criterion.metric, []))
    record["reached"] = bool(result.converged)
    record["best_metric"] = best
    record["note"] = "" if result.converged else (
        f"never reached {criterion.describe(problem)} ({result.stop_reason}); best {_number(best)}")
    return ComparisonEntry(run, result, record)


def _best(values: Sequence[float | None]) -> float | None:
    finite = [v for v in values if v is not None]
    return min(finite) if finite else None


def _add_speedups(entries: list[ComparisonEntry]) -> None:
    """``speedup_vs_jacobi``: Jacobi's wall time over each entry's, when both reached the criterion."""
    jacobi = next((e for e in entries if e.label == "jacobi"), None)
    baseline = jacobi.record["wall_time_s"] if jacobi and jacobi.record["reached"] else None
    for entry in entries:
        wall = entry.record.get("wall_time_s")
        usable = baseline is not None and entry.record["reached"] and wall
        entry.record["speedup_vs_jacobi"] = baseline / wall if usable else None
    if jacobi is not None and baseline is not None:
        jacobi.record["speedup_vs_jacobi"] = 1.0


def _number(value: float | None, spec: str = ".2e") -> str:
    return "-" if value is None else format(value, spec)


TABLE_COLUMNS = ("method", "wall [s]", "sweeps", "DNN steps", "|u-u*|_inf", "rel. residual", "reached",
                 "speed-up")


def format_table(comparison: Comparison) -> str:
    """The comparison as an aligned text table, one row per entry, then a line per unreached method."""
    rows = [TABLE_COLUMNS]
    for entry in comparison.entries:
        r = entry.record
        reached = "yes" if r["reached"] else ("diverged" if r["stop_reason"] == "diverged" else "NO")
        rows.append((entry.label, _number(r["wall_time_s"], ".3g"), f"{r.get('iterations', 0) or 0:,}",
                     f"{r.get('dnn_steps', 0) or 0:,}", _number(r.get("error_vs_exact_inf")),
                     _number(r.get("rel_residual")), reached, _number(r["speedup_vs_jacobi"], ".3g")))
    widths = [max(len(row[i]) for row in rows) for i in range(len(TABLE_COLUMNS))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += [f"{e.label}: {e.record['note']}" for e in comparison.entries if e.record["note"]]
    lines += [f"{label}: skipped, {reason}" for label, reason in comparison.skipped.items()]
    return "\n".join(lines)


def save_comparison(comparison: Comparison, out_dir: str | Path) -> list[Path]:
    """Write ``compare.json``, ``table.txt`` and the figures into ``out_dir``; return the paths."""
    from poissonfp import compare_plots as plots

    out = Path(out_dir)
    data = comparison.to_dict()
    paths = [write_json(out / "compare.json", data), write_text(out / "table.txt", format_table(comparison) + "\n")]
    where = f"{comparison.case}, grid {'x'.join(map(str, comparison.grid_shape))}"
    paths.append(save_figure(plots.plot_error_vs_time(data["entries"], comparison.metric, comparison.threshold,
                                                      f"Error against wall time ({where})"),
                             out / "error_vs_time.png"))
    trained = _most_trained_entry(comparison)
    for entry, x_key, xlabel, name in ((trained, "dnn_steps", "DNN training steps", "modes_dnn.png"),
                                       (comparison.entry("jacobi"), "iteration", "Jacobi sweeps", "modes_jacobi.png")):
        if entry is not None and entry.record.get("modes"):
            steps, modes, errors = _mode_record(entry.record, x_key)
            title = f"Relative error per spectral peak, {entry.label} ({where})"
            paths.append(save_figure(plots.plot_mode_heatmap(steps, modes, errors, xlabel, title,
                                                             log_x=x_key == "iteration"), out / name))
    switch = _switch_mode_errors(comparison)
    if switch is not None:
        paths.append(save_figure(plots.plot_switch_mode_errors(*switch, f"Error per peak at the switch ({where})"),
                                 out / "switch_modes.png"))
    return paths


def _mode_record(record: dict, x_key: str) -> tuple[list, list, list]:
    """Steps (DNN steps or sweeps), modes and per-record relative errors of one entry's mode record.

    For DNN steps only the records taken during training (before any sweep) are kept."""
    modes = record["modes"]
    if x_key == "iteration":
        return list(modes["iteration"]), modes["modes"], modes["relative_error"]
    keep = [i for i, sweeps in enumerate(record["history"]["iteration"]) if sweeps == 0]
    return ([record["history"]["dnn_steps"][i] for i in keep], modes["modes"],
            [modes["relative_error"][i] for i in keep])


def _most_trained_entry(comparison: Comparison):
    """The dnn or hybrid entry that recorded the most DNN training (panel b needs training to show);
    None when no entry trained at all."""
    best, most = None, 0
    for entry in comparison.entries:
        if entry.run.method not in ("dnn", "hybrid") or not entry.record.get("modes"):
            continue
        steps, _, _ = _mode_record(entry.record, "dnn_steps")
        if len(set(steps)) > 1 and max(steps) > most:
            best, most = entry, max(steps)
    return best


def _switch_mode_errors(comparison: Comparison) -> tuple[list[str], list, list] | None:
    """Labels, peaks and per-peak relative errors at the switch of every hybrid entry that reports them
    (``info["modes_at_switch"]`` of method ``hybrid``)."""
    labels, modes, errors = [], None, []
    for entry in comparison.entries:
        at_switch = (entry.record.get("info") or {}).get("modes_at_switch")
        if entry.run.method != "hybrid" or not at_switch:
            continue
        if modes is not None and at_switch["modes"] != modes:
            continue  # every hybrid entry solves the same problem, so the peaks agree; guard anyway
        labels.append(entry.label)
        modes = at_switch["modes"]
        errors.append(at_switch["relative_error"])
    return (labels, modes, errors) if labels else None
