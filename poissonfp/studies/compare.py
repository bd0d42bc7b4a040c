"""Every method on one problem, to one stopping criterion: the article's comparison (-Δu = f).

:func:`compare_methods` runs pure Jacobi, the DNN alone, the network Galerkin two-level hybrid, the article's
DNN -> Jacobi scheme and the classical references (multigrid, sine transform, sparse direct) on the same
problem and grid with the case's stopping criterion, after a throwaway solve of each method with a tiny
budget so that no timed run pays for compilation or first-call set-up. Methods with a switch point (the
hybrid, the article's scheme) run once per requested M; the hybrid also once per classical coarse basis
asked for (``coarses``: the network's share, measured). With ``repeat = K`` every run is repeated K times
(interleaved, so slow drifts of a shared machine hit every method alike); the entry keeps the median wall
time, the run that produced it and the relative spread ``(max - min) / median``.

Each entry is the ``result.json`` record of its solve plus ``speedup_vs_jacobi`` (Jacobi's median wall
time over the method's, given only when both reached the criterion) and its relative uncertainty.
``switch_study`` (:mod:`poissonfp.studies.switch_study`) holds the trade-off in M of every method run at two or
more M. With the article's scheme at two or more fixed M, ``seed_study``
(:mod:`poissonfp.studies.switch_seeds`) adds its trade-off over seeds (default :data:`~poissonfp.studies.switch_seeds.STUDY_SEEDS`) and the
whole M grid from one training trajectory per seed and exact sweep counts; the timed article entries then
run at every M of a grid of at most :data:`~poissonfp.studies.switch_seeds.PANEL_SIZE` points, else at the smallest positive M, the median
optimum and the largest M (the article's panel). Ctrl-C at any point (warm-up included) ends the comparison: what was measured is kept and the
comparison is marked ``interrupted``.
"""
from __future__ import annotations

import dataclasses
import logging
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from poissonfp.api import criterion_of, solve_case
from poissonfp.case import Case
from poissonfp.jacobi_theory import NotOnBox
from poissonfp.methods import ALONE_1D_ONLY, METHODS, SWITCHED_METHODS, compare_defaults, iteration_unit
from poissonfp.outputs import result_record
from poissonfp.problem import Problem, build_problem
from poissonfp.solvers import SOLVERS, DivergenceError, SolveResult
from poissonfp.studies.bench import work_of
from poissonfp.studies.compare_table import _number, format_speedup, format_table
from poissonfp.studies.switch_seeds import STUDY_SEEDS, panel_switches, seed_study, study_switches
from poissonfp.studies.switch_study import switch_study

__all__ = [
    "ALONE_1D_ONLY",
    "DEFAULT_METHODS",
    "Comparison",
    "ComparisonEntry",
    "Run",
    "compare_methods",
    "default_methods",
    "format_speedup",
    "format_table",
    "plan_runs",
]

logger = logging.getLogger(__name__)

#: Methods compared when none are named (1D): every registered method, in the registry's order.
DEFAULT_METHODS = compare_defaults(1)
#: Interior points per dimension of the throwaway warm-up solves.
_WARM_UP_POINTS = 4
_NEURAL = ("dnn", "hybrid", "article", "operator")  # warmed up on the real problem (a model has one grid)


def default_methods(ndim: int) -> tuple[str, ...]:
    """The methods a comparison runs by default in ``ndim`` dimensions.

    >>> default_methods(2)
    ('jacobi', 'hybrid', 'multigrid', 'dst', 'direct')
    """
    return compare_defaults(ndim)


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
    repeat: int = 1
    seed_study: dict[str, Any] | None = None

    def entry(self, label: str) -> ComparisonEntry | None:
        """The entry called ``label``, or None."""
        return next((e for e in self.entries if e.label == label), None)

    def to_dict(self) -> dict[str, Any]:
        """The content of ``compare.json``."""
        records = [e.record for e in self.entries]
        jacobi = self.entry("jacobi")
        return {
            "case": self.case,
            "grid": {"shape": list(self.grid_shape), "lower": list(self.lower), "upper": list(self.upper)},
            "criterion": self.criterion,
            "metric": self.metric,
            "threshold": self.threshold,
            "repeat": self.repeat,
            "entries": records,
            "switch_study": switch_study(records, jacobi.record if jacobi else None),
            "seed_study": self.seed_study,
            "skipped": self.skipped,
            "interrupted": self.interrupted,
        }


def plan_runs(methods: Sequence[str], switches: Sequence[int | str] | None = None,
              coarses: Sequence[str] = (), article_switches: Sequence[int] | None = None) -> list[Run]:
    """The solves to run, one per method, switched methods once per switch point.

    Without ``switches`` the hybrid runs with ``switch="auto"`` and the article's scheme at the case's
    switch. With ``switches`` (integers and/or ``"auto"``) both run once per entry (the article's scheme
    has no automatic rule and skips ``"auto"`` unless it is the only entry); if neither is listed, the
    switches add hybrid entries. ``coarses`` (``"polynomial"``, ``"sine"``) add one hybrid entry each,
    with that classical coarse basis instead of the network's features. ``article_switches`` replaces the
    article's switch points (the panel of a seeded study, :func:`~poissonfp.studies.switch_seeds.panel_switches`).

    Raises:
        ValueError: for a method that poissonfp does not know.

    >>> [r.label for r in plan_runs(["jacobi", "hybrid", "article"], ["auto", 30])]
    ['jacobi', 'hybrid[auto]', 'hybrid[M=30]', 'article[M=30]']
    >>> [r.label for r in plan_runs(["jacobi"], [0], coarses=["sine"])]
    ['jacobi', 'hybrid[M=0]', 'hybrid[sine]']
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown method {unknown[0]!r}; expected some of {', '.join(METHODS)}")
    methods = list(dict.fromkeys(methods))
    if (switches or coarses) and not any(m in SWITCHED_METHODS for m in methods):
        methods.append("hybrid")
    points = list(dict.fromkeys(switches)) if switches else None
    runs: list[Run] = []
    for method in methods:
        if method == "hybrid":
            runs += [Run(f"hybrid[{_m(m)}]", "hybrid", {"switch": m}) for m in (points or ["auto"])]
            runs += [Run(f"hybrid[{kind}]", "hybrid", {"switch": 0, "coarse": kind})
                     for kind in dict.fromkeys(coarses) if kind != "network"]
        elif method == "article":
            fixed = [m for m in (article_switches if article_switches is not None else points or ()) if m != "auto"]
            runs += [Run(f"article[M={m}]", "article", {"switch": m}) for m in fixed] or [Run("article", "article")]
        else:
            runs.append(Run(method, method))
    return runs


def _m(switch: int | str) -> str:
    return "auto" if switch == "auto" else f"M={switch}"


def compare_methods(
    case: Case,
    methods: Sequence[str] | None = None,
    switches: Sequence[int | str] | None = None,
    *,
    coarses: Sequence[str] = (),
    repeat: int = 1,
    problem: Problem | None = None,
    callback: Callable[[dict], None] | None = None,
    seeds: Sequence[int] | None = None,
) -> Comparison:
    """Solve ``case`` with every method to the case's stopping criterion and compare the wall times.

    Methods not (yet) registered in :data:`poissonfp.solvers.SOLVERS` are skipped with a warning.

    Args:
        case: a loaded case (with its overrides applied).
        methods: method names (default: :func:`default_methods` of the case's dimension).
        switches: switch points M (integers or ``"auto"``) of the switched methods (see :func:`plan_runs`).
        coarses: classical coarse bases of extra hybrid entries.
        repeat: how many times each run is repeated (the median wall time is kept).
        problem: the problem built from ``case``, if already built.
        callback: receives progress events: ``{"event": "skipped" | "start" | "done", "label", ...}``;
            ``"done"`` carries the entry's ``record``; ``{"event": "seed", "seed", "index", "count"}``
            before each training trajectory of the seeded study.
        seeds: seeds of the article's switch study (default :data:`~poissonfp.studies.switch_seeds.STUDY_SEEDS` when one applies).

    Raises:
        ValueError: ``seeds`` given where no seeded study applies (see :func:`~poissonfp.studies.switch_seeds.study_switches`).

    Returns:
        the :class:`Comparison`, entries in the order of :func:`plan_runs`; Ctrl-C (during the warm-up or
        a solve) ends the comparison early with what was measured (``interrupted`` is then True).
    """
    if repeat < 1:
        raise ValueError(f"repeat must be a positive integer, got {repeat}")
    problem = problem if problem is not None else build_problem(case)
    methods = default_methods(problem.grid.ndim) if methods is None else methods
    criterion = criterion_of(case)
    notify = callback or (lambda event: None)
    grid_m = study_switches(methods, switches)
    if seeds is not None and not grid_m:
        raise ValueError("--seeds applies to the article's switch study: name the article's scheme in --methods "
                         "and two or more integer switch points")
    skipped: dict[str, str] = {}
    study, article_switches = None, None
    if grid_m and "article" in SOLVERS:
        try:
            study = seed_study(problem, criterion, grid_m, seeds or STUDY_SEEDS, training=case.training,
                               network=case.network, device=case.network.device, omega=case.solver.omega,
                               callback=notify)
        except KeyboardInterrupt:
            return Comparison(case.name, problem.grid.shape, problem.grid.lower, problem.grid.upper, criterion.kind,
                              criterion.metric, criterion.threshold(problem), [], skipped, True, repeat)
        except NotOnBox as err:
            skipped["seed_study"] = str(err)
        if study is not None and study["interrupted"]:
            return Comparison(case.name, problem.grid.shape, problem.grid.lower, problem.grid.upper, criterion.kind,
                              criterion.metric, criterion.threshold(problem), [], skipped, True, repeat, study)
        if study is not None:
            article_switches = panel_switches(grid_m, study["optimum_switch"]["median"])
    runs = []
    for run in plan_runs(methods, switches, coarses, article_switches):
        if run.method in SOLVERS:
            runs.append(run)
        else:
            skipped[run.label] = f"method {run.method!r} is not registered in poissonfp.solvers.SOLVERS yet"
            logger.warning("skipping %s: %s", run.label, skipped[run.label])
            notify({"event": "skipped", "label": run.label, "reason": skipped[run.label]})
    measured: dict[str, list[ComparisonEntry]] = {}
    interrupted = False
    try:
        _warm_up(case, problem, {run.method for run in runs})
        count = len(runs) * repeat
        for turn in range(repeat):
            for index, run in enumerate(runs):
                position = turn * len(runs) + index
                notify({"event": "start", "label": run.label, "index": position, "count": count,
                        "repeat": turn + 1})
                entry = _run_one(case, problem, run)
                measured.setdefault(run.label, []).append(entry)
                notify({"event": "done", "label": run.label, "index": position, "count": count,
                        "record": entry.record})
                if entry.record.get("interrupted"):
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        interrupted = True  # Ctrl-C: keep what was measured, run nothing more
    entries = [_median_entry(measured[run.label]) for run in runs if run.label in measured]
    _add_speedups(entries)
    grid = problem.grid
    return Comparison(case.name, grid.shape, grid.lower, grid.upper, criterion.kind, criterion.metric,
                      criterion.threshold(problem), entries, skipped, interrupted, repeat, study)


def _case_for(case: Case, run: Run) -> Case:
    """The case with the run's switch and coarse space written into its hybrid settings."""
    changes = {key: run.options[key] for key in ("switch", "coarse") if key in run.options}
    if not changes:
        return case
    return dataclasses.replace(case, hybrid=dataclasses.replace(case.hybrid, **changes))


def _warm_up(case: Case, problem: Problem, methods: set[str]) -> None:
    """Solve once per method with a tiny budget, so that compilation and first calls happen here.

    Classical methods warm up on a tiny grid (their compiled kernels do not depend on the size); the
    neural ones on the real problem with two training steps and one correction, because torch's first
    steps at a new size are slow (measured: ~1.6 s for the first Adam steps on 999 points, untouched by a
    tiny-grid warm-up). A warm-up solve interrupted by Ctrl-C raises ``KeyboardInterrupt`` (it is not
    swallowed).
    """
    tiny = case.with_overrides(size=_WARM_UP_POINTS + (case.grid_unit == "intervals"))
    tiny_problem = build_problem(tiny)
    short = case.with_overrides(adam_steps=min(case.training.adam_steps, 2), lbfgs_steps=0, max_iterations=1,
                                corrections=min(case.hybrid.corrections, 1), switch=2)
    for method in sorted(methods):
        logger.debug("warming up %s", method)
        neural = method in _NEURAL
        try:
            _, result = solve_case(short if neural else tiny, method, problem=problem if neural else tiny_problem,
                                   track_modes=False)
        except DivergenceError:
            continue  # a barely trained network may diverge; the first calls happened anyway
        if result.interrupted:
            raise KeyboardInterrupt


def _run_one(case: Case, problem: Problem, run: Run) -> ComparisonEntry:
    """Solve once; a diverging solver gives an entry that says so instead of aborting the comparison."""
    run_case = _case_for(case, run)
    criterion = criterion_of(run_case)
    try:
        # the coarse basis travels in the case's hybrid settings (_case_for), not as a solver option
        options = {key: value for key, value in run.options.items() if key != "coarse"}
        _, result = solve_case(run_case, run.method, problem=problem, **options)
    except DivergenceError as err:
        logger.warning("%s diverged: %s", run.label, err)
        record = {"case": case.name, "method": run.method, "grid_shape": list(problem.grid.shape),
                  "converged": False, "stop_reason": "diverged", "wall_time_s": None, "error": str(err)}
        return ComparisonEntry(run, None, {"label": run.label, "run_options": dict(run.options), **record,
                                           "reached": False, "best_metric": None, "speedup_vs_jacobi": None,
                                           "note": f"diverged: {err}"})
    record = {"label": run.label, "run_options": dict(run.options), **result_record(run_case, problem, result),
              "iteration_unit": iteration_unit(run.method, result.info), **work_of(run.method, result)}
    best = _best(result.history.get(criterion.metric, []))
    record["reached"] = bool(result.converged)
    record["best_metric"] = best
    record["note"] = "" if result.converged else (
        f"never reached {criterion.describe(problem)} ({result.stop_reason}); best {_number(best)}")
    return ComparisonEntry(run, result, record)


def _median_entry(entries: list[ComparisonEntry]) -> ComparisonEntry:
    """One entry for the repeats of a run: the run with the median wall time (the upper median for an even
    count), its record's ``wall_time_s`` the median of all, ``wall_time_runs_s`` every wall time and
    ``wall_time_spread`` their relative range ``(max - min) / median`` (None for a single run)."""
    timed = sorted((e for e in entries if e.record.get("wall_time_s") is not None),
                   key=lambda e: e.record["wall_time_s"])
    if not timed:
        chosen = entries[0]
        chosen.record.update(repeats=len(entries), wall_time_runs_s=[], wall_time_spread=None)
        return chosen
    chosen = timed[len(timed) // 2]
    walls = [e.record["wall_time_s"] for e in entries if e.record.get("wall_time_s") is not None]
    median = statistics.median(walls)
    reached = [bool(e.record["reached"]) for e in entries]
    chosen.record.update(repeats=len(entries), wall_time_s=median, wall_time_runs_s=walls,
                         wall_time_spread=(max(walls) - min(walls)) / median if len(walls) > 1 and median else None)
    if len(set(reached)) > 1:
        chosen.record["note"] = (chosen.record["note"] + "; " if chosen.record["note"] else "") + (
            f"reached the criterion in {sum(reached)} of {len(reached)} repeats")
    return chosen


def _best(values: Sequence[float | None]) -> float | None:
    finite = [v for v in values if v is not None]
    return min(finite) if finite else None


def _add_speedups(entries: list[ComparisonEntry]) -> None:
    """``speedup_vs_jacobi``: Jacobi's wall time over each entry's, when both reached the criterion, and
    ``speedup_spread``: its relative uncertainty, half the sum of both relative spreads (None without
    repeats)."""
    jacobi = next((e for e in entries if e.label == "jacobi"), None)
    baseline = jacobi.record["wall_time_s"] if jacobi and jacobi.record["reached"] else None
    base_spread = jacobi.record.get("wall_time_spread") if jacobi else None
    for entry in entries:
        wall = entry.record.get("wall_time_s")
        usable = baseline is not None and entry.record["reached"] and wall
        entry.record["speedup_vs_jacobi"] = baseline / wall if usable and baseline is not None else None
        spread = entry.record.get("wall_time_spread")
        entry.record["speedup_spread"] = (0.5 * (spread + base_spread) if usable and spread is not None
                                          and base_spread is not None else None)
    if jacobi is not None and baseline is not None:
        jacobi.record["speedup_vs_jacobi"] = 1.0
        jacobi.record["speedup_spread"] = 0.0 if base_spread is not None else None
