"""Benchmark: wall time to discretization accuracy of every solver over a matrix of problems and sizes.

Every method solves each (problem, size) to the same criterion: ``discretization``
(``||u - u_exact||_inf <= 1.5 ||u_h - u_exact||_inf``) where an exact solution is known, ``discrete``
with tol 1e-4 for ``2d_bump``. Every ratio is formed from times measured in the same run.

Pure Jacobi runs for real where its estimated time (the exact sweep count of
:mod:`poissonfp.jacobi_theory` times the measured per-sweep time) fits ``jacobi_real_budget_s``, and
always at a problem's smallest size. Beyond, and only there, its time is *computed*: exact sweep count
x per-sweep time measured in this run. Every real run checks the predicted count against the real one
(relative difference within ``check_tolerance``, and inside the real run's last check batch), so the
computed rows stand on checks made in the same run. Other methods are skipped at a size where their
time, extrapolated from the smaller sizes, exceeds ``method_budget_s``; methods not registered in
:data:`poissonfp.solvers.SOLVERS` are skipped with a logged warning.

Beside the time, every record holds the work in sweep-equivalents (:func:`work_of`) and the mean
reduction factor per iteration; :func:`scaling_exponents` fits ``time ~ N^p`` and ``work ~ N^p`` per
method over a problem's sizes. ``hybrid-exact`` and ``hybrid-none`` rerun the hybrid with its network
replaced by an exact coarsest solve and by nothing, so the network's share is measured, not assumed.
Off the constant-coefficient Dirichlet box (``2d_lshape``, ``2d_disk``) there is no exact sweep count: pure
Jacobi (the CSR kernel there) runs for real where its time extrapolated from the smaller sizes fits
``jacobi_real_budget_s`` and is not run beyond (the row says so; nothing is computed); the box-only
methods (``dst``) are recorded as ``not_applicable`` with the reason; the controls that change the
multilevel cycle's coarsest solve (``hybrid-exact``, ``hybrid-none``) run there too (the Galerkin
hierarchy).
The pieces: the plan (:mod:`~poissonfp.studies.bench_plan`), the method runs
(:mod:`~poissonfp.studies.bench_runs`), pure Jacobi's measurements (:mod:`~poissonfp.studies.bench_jacobi`),
the table's ratios and exponents (:mod:`~poissonfp.studies.bench_table`); this module runs the matrix.
Ctrl-C stops the run: the rows measured so far are returned, the last one marked ``partial`` and the
whole marked ``interrupted``.
"""
from __future__ import annotations

import dataclasses
import datetime
import logging
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from poissonfp.api import criterion_of
from poissonfp.case import Case, load_case
from poissonfp.methods import BENCH_METHODS as METHODS
from poissonfp.methods import BENCH_OPTIONAL as OPTIONAL_METHODS
from poissonfp.problem import build_problem
from poissonfp.solvers import SOLVERS
from poissonfp.studies.bench_jacobi import measure_jacobi, measure_jacobi_off_box
from poissonfp.studies.bench_plan import CASES_DIR, FULL_PLAN, QUICK_PLAN, BenchConfig, ProblemPlan, quick_config
from poissonfp.studies.bench_runs import measure_budgeted, not_applicable, solver_of, warm_up, work_of
from poissonfp.studies.bench_table import config_record, ratios, scaling_exponents, size_label, unknowns

__all__ = [
    "CASES_DIR",
    "FULL_PLAN",
    "METHODS",
    "OPTIONAL_METHODS",
    "QUICK_PLAN",
    "BenchConfig",
    "ProblemPlan",
    "machine_info",
    "not_applicable",
    "quick_config",
    "run_bench",
    "scaling_exponents",
    "work_of",
]

logger = logging.getLogger(__name__)

#: Cases only the benchmark runs (problems a new user would write, not tuned on): looked up here when
#: ``cases_dir`` has no file of that name.
BENCH_CASES_DIR = Path(__file__).resolve().parent / "bench_cases"
#: Sweep cap of every real run (the cases' 5 million would stop pure Jacobi at 1D n = 4000).
MAX_ITERATIONS = 10**9

Event = Callable[[dict], None]


def machine_info() -> dict[str, Any]:
    """CPU model, cores, memory, load and library versions of this machine."""
    import numba
    import numpy
    import scipy

    info: dict[str, Any] = {"cpu_model": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                            "cores_usable": len(os.sched_getaffinity(0)), "memory_gib": None,
                            "load_average": list(os.getloadavg()), "platform": platform.platform(),
                            "python": platform.python_version(), "numpy": numpy.__version__,
                            "scipy": scipy.__version__, "numba": numba.__version__}
    for path, key, parse in (("/proc/cpuinfo", "model name", str.strip),
                             ("/proc/meminfo", "MemTotal", lambda v: round(int(v.split()[0]) / 2**20, 1))):
        try:
            line = next(line for line in Path(path).read_text().splitlines() if line.startswith(key))
            info["cpu_model" if key == "model name" else "memory_gib"] = parse(line.split(":", 1)[1])
        except (OSError, StopIteration, ValueError):
            pass
    return info


def run_bench(config: BenchConfig | None = None, callback: Event | None = None) -> dict[str, Any]:
    """Run the benchmark; return the content of ``bench.json``.

    Args:
        config: what to run (default: the full plan, :class:`BenchConfig`).
        callback: receives progress events ``{"event": "problem" | "start" | "done" | "skipped" |
            "check", ...}``.
    """
    config = config if config is not None else BenchConfig()
    notify = callback or (lambda event: None)
    started, clock = datetime.datetime.now(datetime.UTC), time.perf_counter()
    machine = machine_info()
    methods = _registered(config.methods, notify)
    rows: list[dict[str, Any]] = []
    checks: list[Any] = []
    interrupted = False
    try:
        for plan in config.plan:
            case = _load(config, plan)
            chosen = tuple(m for m in methods if not plan.methods or m in plan.methods)
            notify({"event": "problem", "problem": case.name, "sizes": [size_label(s) for s in plan.sizes]})
            warm_up(_sized(case, plan.sizes[0]), chosen)
            past: dict[str, list[tuple[int, float]]] = {}
            for index, size in enumerate(plan.sizes):
                row = _bench_row(config, _sized(case, size), size, chosen, index == 0, past, notify, rows)
                checks += row.pop("checks")
    except KeyboardInterrupt:
        interrupted = True
        if rows and rows[-1].get("partial"):
            checks += rows[-1].pop("checks", [])
    machine["load_average_after"] = list(os.getloadavg())
    return {"started": started.isoformat(timespec="seconds"), "elapsed_s": time.perf_counter() - clock,
            "interrupted": interrupted, "machine": machine, "config": config_record(config),
            "methods": list(methods), "skipped_methods": [m for m in config.methods if m not in methods],
            "rows": rows, "checks": checks, "checks_passed": all(c["passed"] for c in checks) if checks else None,
            "scaling": scaling_exponents(rows)}


def _sized(case: Case, size: int | tuple[int, ...]) -> Case:
    """``case`` at ``size`` (a tuple: the points of every axis, checked against memory like --n)."""
    if not isinstance(size, tuple):
        return case.with_overrides(size=size)
    resized = dataclasses.replace(case, grid_size=tuple(size))
    resized.interior_shape()
    return resized


def _registered(methods: tuple[str, ...], notify: Event) -> tuple[str, ...]:
    known = [m for m in methods if solver_of(m) in SOLVERS]
    for method in methods:
        if method not in known:
            logger.warning("skipping %s: not registered in poissonfp.solvers.SOLVERS", method)
            notify({"event": "skipped", "method": method, "reason": "not registered"})
    return tuple(known)


def _load(config: BenchConfig, plan: ProblemPlan) -> Case:
    overrides = {"switch": "auto", **dict(config.case_overrides), **dict(plan.overrides),
                 "max_iterations": MAX_ITERATIONS}
    bench_only = BENCH_CASES_DIR / f"{plan.case}.toml"
    if config.cases_dir is None:
        name: str | Path = bench_only if bench_only.exists() else plan.case
    else:
        name = Path(config.cases_dir) / f"{plan.case}.toml"
        if not name.exists() and bench_only.exists():
            name = bench_only
    return load_case(name).with_overrides(**overrides)


def _bench_row(config: BenchConfig, case: Case, size, methods: tuple[str, ...], first: bool,
               past: dict[str, list[tuple[int, float]]], notify: Event, rows: list) -> dict[str, Any]:
    """All methods on one (problem, size): records, ratios, the kernel's bandwidth, predictor checks.
    The row is appended to ``rows`` before the first solve and marked ``partial`` until complete, so an
    interrupt leaves what was measured."""
    problem = build_problem(case)
    criterion = criterion_of(case)
    where = {"problem": case.name, "size": size_label(size), "shape": list(problem.grid.shape),
             "unknowns": unknowns(problem)}
    results: dict[str, Any] = {}
    checks: list[Any] = []
    row = {**where, "criterion": criterion.kind, "metric": criterion.metric,
           "threshold": criterion.threshold(problem), "discretization_error_inf": problem.discretization_error_inf,
           "results": results, "ratios": ratios(results), "kernel": None, "checks": checks, "partial": True}
    rows.append(row)
    for method in methods:
        notify({"event": "start", "method": method, **where})
        reason = not_applicable(problem, method)
        if reason:
            record = {"method": method, "status": "not_applicable", "computed": False, "converged": None,
                      "time_s": None, "wall_time_s": None, "note": f"not applicable: {reason}"}
        elif method == "jacobi" and not problem.on_box:
            record = measure_jacobi_off_box(config, case, problem, first, past.get("jacobi", []))
        elif method == "jacobi":
            record, check, row["kernel"] = measure_jacobi(config, case, problem, first, where)
            checks += [check] if check else []
            if check:
                notify({"event": "check", **check})
        else:
            record = measure_budgeted(config, case, problem, method, past.get(method, []))
        if record.get("wall_time_s"):
            past.setdefault(method, []).append((problem.grid.size, float(record["wall_time_s"])))  # type: ignore[arg-type]  # a number in every record
        results[method] = record
        row["ratios"] = ratios(results)
        notify({"event": "done", "method": method, "record": record, **where})
    del row["partial"]
    return row
