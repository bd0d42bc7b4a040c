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
Ctrl-C stops the run: the rows measured so far are returned, the last one marked ``partial`` and the
whole marked ``interrupted``.
"""
from __future__ import annotations

import dataclasses
import datetime
import logging
import math
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from poissonfp.api import criterion_of, solve_case
from poissonfp.case import Case, load_case
from poissonfp.jacobi_theory import predicted_sweeps
from poissonfp.methods import BENCH_METHODS as METHODS
from poissonfp.methods import BENCH_OPTIONAL as OPTIONAL_METHODS
from poissonfp.methods import BENCH_VARIANTS as VARIANTS
from poissonfp.problem import Problem, build_problem
from poissonfp.solvers import SOLVERS, DivergenceError, Monitor, SolveResult, StoppingCriterion, applicable_methods
from poissonfp.solvers.jacobi import JacobiIteration, check_batch, jacobi_factor
from poissonfp.studies.bench_kernel import kernel_bandwidth, sweep_time
from poissonfp.studies.bench_plan import CASES_DIR, FULL_PLAN, QUICK_PLAN, BenchConfig, ProblemPlan, quick_config

__all__ = [
    "CASES_DIR",
    "FULL_PLAN",
    "METHODS",
    "OPTIONAL_METHODS",
    "QUICK_PLAN",
    "BenchConfig",
    "ProblemPlan",
    "machine_info",
    "quick_config",
    "run_bench",
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
            notify({"event": "problem", "problem": case.name, "sizes": [_size_label(s) for s in plan.sizes]})
            _warm_up(_sized(case, plan.sizes[0]), chosen)
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
            "interrupted": interrupted, "machine": machine, "config": _config_record(config),
            "methods": list(methods), "skipped_methods": [m for m in config.methods if m not in methods],
            "rows": rows, "checks": checks, "checks_passed": all(c["passed"] for c in checks) if checks else None,
            "scaling": scaling_exponents(rows)}


def _size_label(size: int | tuple[int, ...]) -> int | list[int]:
    return list(size) if isinstance(size, tuple) else size


def _sized(case: Case, size: int | tuple[int, ...]) -> Case:
    """``case`` at ``size`` (a tuple: the points of every axis, checked against memory like --n)."""
    if not isinstance(size, tuple):
        return case.with_overrides(size=size)
    resized = dataclasses.replace(case, grid_size=tuple(size))
    resized.interior_shape()
    return resized


def scaling_exponents(rows: list[dict]) -> dict[str, dict[str, dict[str, float | None]]]:
    """Per problem with three or more sizes and per method, the least-squares exponents ``p`` of
    ``time ~ N^p`` and ``work ~ N^p`` (N unknowns) over the sizes where the method has a value."""
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for problem in dict.fromkeys(r["problem"] for r in rows):
        mine = [r for r in rows if r["problem"] == problem]
        if len(mine) < 3:
            continue
        for method in dict.fromkeys(m for r in mine for m in r["results"]):
            fits = {}
            for key in ("time_s", "work_sweeps"):
                points = [(r["unknowns"], r["results"][method].get(key)) for r in mine if method in r["results"]]
                points = [(n, v) for n, v in points if v]
                fits[key] = _slope(points) if len(points) >= 2 else None
            out.setdefault(problem, {})[method] = {"time_exponent": fits["time_s"],
                                                   "work_exponent": fits["work_sweeps"]}
    return out


def _slope(points: list[tuple[int, float]]) -> float:
    x = [math.log(n) for n, _ in points]
    y = [math.log(v) for _, v in points]
    mx, my = sum(x) / len(x), sum(y) / len(y)
    return sum((a - mx) * (b - my) for a, b in zip(x, y)) / (sum((a - mx) ** 2 for a in x) or 1.0)


def _config_record(config: BenchConfig) -> dict[str, Any]:
    record = dataclasses.asdict(config)
    record["plan"] = [{"case": p.case, "sizes": [_size_label(z) for z in p.sizes], "overrides": dict(p.overrides),
                       "methods": list(p.methods)} for p in config.plan]
    record["case_overrides"] = dict(config.case_overrides)
    return record


def _registered(methods: tuple[str, ...], notify: Event) -> tuple[str, ...]:
    known = [m for m in methods if _solver(m) in SOLVERS]
    for method in methods:
        if method not in known:
            logger.warning("skipping %s: not registered in poissonfp.solvers.SOLVERS", method)
            notify({"event": "skipped", "method": method, "reason": "not registered"})
    return tuple(known)


def _solver(method: str) -> str:
    return VARIANTS[method][0] if method in VARIANTS else method


def _options(case: Case, method: str) -> dict[str, Any]:
    """Solver options of a bench variant (the hybrid with another coarsest solver); none otherwise."""
    if method not in VARIANTS:
        return {}
    return {"hybrid": dataclasses.replace(case.hybrid, **VARIANTS[method][1])}


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


def _warm_up(case: Case, methods: tuple[str, ...]) -> None:
    """One throwaway solve per method at the problem's first size (two training steps for the networks):
    compilation and first calls at that size are not timed. Pure Jacobi only compiles (its first real
    run is the whole solve)."""
    from poissonfp.solvers.jacobi import warm_up as warm_up_jacobi

    first = case.with_overrides(adam_steps=2, lbfgs_steps=0)
    problem = build_problem(first)
    warm_up_jacobi(problem.grid.ndim)
    if not problem.on_box:
        from poissonfp.solvers.csr_jacobi import warm_up as warm_up_csr

        warm_up_csr()
    for method in methods:
        if method == "jacobi" or not_applicable(problem, method):
            continue
        try:
            _, result = solve_case(first, _solver(method), problem=problem, track_modes=False,
                                   **_options(first, method))
        except DivergenceError:
            continue  # a barely trained network may diverge; the first calls happened anyway
        if result.interrupted:
            raise KeyboardInterrupt  # a signal during a warm-up ends the bench (never swallowed)


def _bench_row(config: BenchConfig, case: Case, size, methods: tuple[str, ...], first: bool,
               past: dict[str, list[tuple[int, float]]], notify: Event, rows: list) -> dict[str, Any]:
    """All methods on one (problem, size): records, ratios, the kernel's bandwidth, predictor checks.
    The row is appended to ``rows`` before the first solve and marked ``partial`` until complete, so an
    interrupt leaves what was measured."""
    problem = build_problem(case)
    criterion = criterion_of(case)
    where = {"problem": case.name, "size": _size_label(size), "shape": list(problem.grid.shape),
             "unknowns": _unknowns(problem)}
    results: dict[str, Any] = {}
    checks: list[Any] = []
    row = {**where, "criterion": criterion.kind, "metric": criterion.metric,
           "threshold": criterion.threshold(problem), "discretization_error_inf": problem.discretization_error_inf,
           "results": results, "ratios": _ratios(results), "kernel": None, "checks": checks, "partial": True}
    rows.append(row)
    for method in methods:
        notify({"event": "start", "method": method, **where})
        reason = not_applicable(problem, method)
        if reason:
            record = {"method": method, "status": "not_applicable", "computed": False, "converged": None,
                      "time_s": None, "wall_time_s": None, "note": f"not applicable: {reason}"}
        elif method == "jacobi" and not problem.on_box:
            record = _jacobi_off_box(config, case, problem, first, past.get("jacobi", []))
        elif method == "jacobi":
            record, check, row["kernel"] = _jacobi(config, case, problem, first, where)
            checks += [check] if check else []
            if check:
                notify({"event": "check", **check})
        else:
            record = _budgeted(config, case, problem, method, past.get(method, []))
        if record.get("wall_time_s"):
            past.setdefault(method, []).append((problem.grid.size, float(record["wall_time_s"])))  # type: ignore[arg-type]  # a number in every record
        results[method] = record
        row["ratios"] = _ratios(results)
        notify({"event": "done", "method": method, "record": record, **where})
    del row["partial"]
    return row


def _unknowns(problem: Problem) -> int:
    """The unknowns of ``problem``: the grid points inside the domain (all of them on the box)."""
    return problem.grid.size if problem.general is None else int(problem.general.inside.sum())


def not_applicable(problem: Problem, method: str) -> str:
    """Why ``method`` does not apply to ``problem`` ("" when it does): box-only solvers off the box (the
    coarsest-solve controls apply everywhere: off the box the hybrid's Galerkin hierarchy has a coarsest
    level too)."""
    if problem.on_box:
        return ""
    if _solver(method) not in applicable_methods(problem, (_solver(method),)):
        return f"{method} needs the constant-coefficient Dirichlet box"
    return ""


def _jacobi_off_box(config: BenchConfig, case: Case, problem: Problem, first: bool,
                    past: list[tuple[int, float]]) -> dict[str, Any]:
    """Pure Jacobi off the box: no exact sweep count exists, so it runs for real at the first size and
    where its time extrapolated from the smaller sizes fits ``jacobi_real_budget_s``; beyond, it is not
    run and its time is not computed. The per-sweep time of its CSR kernel is recorded beside that of
    the box stencil on the same grid (the control)."""
    per_sweep = sweep_time(problem, case.solver.omega, config.kernel_min_time_s)
    box = Problem(problem.grid, problem.source, problem.rhs, name="box stencil (control)")
    sweeps = {"sweep_time_s": per_sweep, "box_sweep_time_s": sweep_time(box, case.solver.omega,
                                                                          config.kernel_min_time_s)}
    estimate = _estimate(past, problem.grid.size)
    if first or estimate is None or estimate <= config.jacobi_real_budget_s:
        return {**_measure(config, case, problem, "jacobi"), **sweeps, "estimated_time_s": estimate}
    note = (f"not run: no exact sweep count off the box; estimated {estimate:.3g} s (extrapolated from the "
            f"smaller sizes) > real-run budget {config.jacobi_real_budget_s:.3g} s")
    return {"method": "jacobi", "status": "not_run", "computed": False, "converged": None, "time_s": None,
            "wall_time_s": None, "estimated_time_s": estimate, "note": note, **sweeps}


def _jacobi(config: BenchConfig, case: Case, problem: Problem, first: bool,
            where: dict) -> tuple[dict, dict | None, dict]:
    """Pure Jacobi: predicted count, per-sweep time and bandwidth; a real run (checked) or a computed time."""
    start = time.perf_counter()
    predicted = predicted_sweeps(problem, criterion_of(case), case.solver.omega)
    predict_time = time.perf_counter() - start
    kernel = {**where, **kernel_bandwidth(problem, case.solver.omega, config.kernel_min_time_s)}
    if case.network.device == "cuda":  # pure Jacobi runs through torch there: time its sweeps
        kernel["sweep_time_s"] = _device_sweep_time(problem, case.solver.omega, config.kernel_min_time_s)
        kernel["sweep_device"] = "cuda"
    estimate = predicted * kernel["sweep_time_s"]
    if first or estimate <= config.jacobi_real_budget_s:
        record = _measure(config, case, problem, "jacobi")
        record.update(predicted_sweeps=predicted, predict_time_s=predict_time, estimated_time_s=estimate)
        return record, _check(config, case, problem, predicted, record, kernel, where), kernel
    record = {"method": "jacobi", "status": "computed", "computed": True, "converged": True, "time_s": estimate,
              "wall_time_s": None, "iterations": predicted, "predicted_sweeps": predicted,
              "predict_time_s": predict_time, "estimated_time_s": estimate, "work_sweeps": float(predicted),
              "work_how": "sweeps (computed)", "factor_per_iteration": jacobi_factor(problem, case.solver.omega),
              "note": f"computed: {predicted:,} sweeps (exact, DST-I) x {kernel['sweep_time_s']:.3e} s/sweep"}
    return record, None, kernel


def _device_sweep_time(problem: Problem, omega: float, min_time_s: float, device: str = "cuda") -> float:
    """Seconds per torch Jacobi sweep on ``device`` (best of three timed batches of at least ``min_time_s``)."""
    import torch

    from poissonfp.solvers.torch_backend import TorchLevel, sweep_seconds

    level = TorchLevel(problem.grid, torch.device(device))
    count, best = 8, math.inf
    while True:
        per_sweep = sweep_seconds(level, omega, count)
        if per_sweep * count >= min_time_s or count >= 2**16:
            break
        count *= 4
    for _ in range(3):
        best = min(best, sweep_seconds(level, omega, count))
    return best


def _check(config: BenchConfig, case: Case, problem: Problem, predicted: int, record: dict, kernel: dict,
           where: dict) -> dict[str, Any]:
    """Predicted against real sweep count. The real run checks its criterion after batches of
    :func:`~poissonfp.solvers.jacobi.check_batch` sweeps, so ``real - batch < predicted <= real``.
    Where a batch exceeds the tolerance (small counts), an exact check runs too: the criterion fails
    after ``predicted - 1`` sweeps and holds after ``predicted`` (sweep-by-sweep precision)."""
    real = int(record["iterations"])
    batch = check_batch(problem.grid.size, real, case.solver.check_every) + 1
    relative = (real - predicted) / real if real else 0.0
    exact = None
    if batch > config.check_tolerance * real:
        exact = _exact_check(problem, criterion_of(case), case.solver.omega, predicted)
    passed = bool(record["converged"]) and (exact if exact is not None else abs(relative) <= config.check_tolerance)
    return {**where, "predicted": predicted, "real": real, "batch_tolerance": batch,
            "within_batch": 0 <= real - predicted < batch, "relative_difference": relative,
            "exact_check": exact, "passed": passed,
            "model_sweep_time_s": kernel["sweep_time_s"],
            "real_sweep_time_s": record["wall_time_s"] / real if real and record["wall_time_s"] else None}


def _exact_check(problem: Problem, criterion: StoppingCriterion, omega: float, predicted: int) -> bool:
    """Whether the first iterate meeting the criterion is the predicted one: it holds after ``k`` sweeps
    and fails after ``k - 1``, where ``k = predicted`` (``predicted - 1`` for the residual criterion,
    whose real runs see the residual one sweep late)."""
    first = max(predicted - (criterion.kind == "residual"), 0)
    monitor, iteration = Monitor(problem, criterion), JacobiIteration(problem, omega)
    holds, done = [], 0
    for count in ([first - 1, first] if first > 0 else [0]):
        if count > done:
            iteration.sweep(count - done)
            done = count
        holds.append(monitor.satisfied(monitor.metrics(iteration.solution)[criterion.metric]))
    return holds == [False, True] or holds == [True]


def _estimate(points: list[tuple[int, float]], unknowns: int) -> float | None:
    """Time at ``unknowns`` extrapolated from (unknowns, seconds) at smaller sizes (power law, exponent
    fitted on the last two points, between 1 and 3; 2 from one point, as 3D sparse LU needs)."""
    if not points:
        return None
    (n1, t1), exponent = points[-1], 2.0
    if len(points) > 1 and points[-2][1] > 0 and n1 > points[-2][0]:
        n0, t0 = points[-2]
        exponent = min(3.0, max(1.0, math.log(t1 / t0) / math.log(n1 / n0)))
    return t1 * (unknowns / n1) ** exponent


def _budgeted(config: BenchConfig, case: Case, problem: Problem, method: str,
              past: list[tuple[int, float]]) -> dict[str, Any]:
    estimate = _estimate(past, problem.grid.size)
    if estimate is not None and estimate > config.method_budget_s:
        note = f"skipped: estimated {estimate:.0f} s > budget {config.method_budget_s:.0f} s"
        logger.info("%s at %s: %s", method, problem.grid.describe(), note)
        return {"method": method, "status": "skipped", "computed": False, "converged": None, "time_s": None,
                "wall_time_s": None, "estimated_time_s": estimate, "note": note}
    return _measure(config, case, problem, method)


def _measure(config: BenchConfig, case: Case, problem: Problem, method: str) -> dict[str, Any]:
    """Solve (repeated while fast; a first solve under ``warm_repeat_below_s`` at least twice); the
    fastest solve counts. A diverging solver gives a record; an interrupted solve re-raises Ctrl-C."""
    times: list[float] = []
    while True:
        try:
            _, result = solve_case(case, _solver(method), problem=problem, track_modes=False,
                                   **_options(case, method))
        except DivergenceError as err:
            logger.warning("%s diverged at %s: %s", method, problem.grid.describe(), err)
            return {"method": method, "status": "diverged", "computed": False, "converged": False,
                    "time_s": None, "wall_time_s": None, "note": f"diverged: {err}"}
        if result.stop_reason == "interrupted":
            raise KeyboardInterrupt
        times.append(result.wall_time_s)
        warm = len(times) > 1 or method == "jacobi" or result.wall_time_s >= config.warm_repeat_below_s
        if (warm and result.wall_time_s >= config.repeat_below_s) or len(times) >= config.max_repeats:
            return _record(method, result, times)


def _record(method: str, result: SolveResult, times: list[float]) -> dict[str, Any]:
    metric = result.info.get("criterion")
    scalars = {k: v for k, v in result.info.items() if isinstance(v, (int, float, str, bool)) or v is None}
    if isinstance(result.info.get("decision"), dict):
        scalars["decision"] = result.info["decision"].get("method")
    reached = bool(result.converged)
    return {"method": method, "status": "measured" if reached else "not_reached", "computed": False,
            "converged": reached, "stop_reason": result.stop_reason, "time_s": min(times) if reached else None,
            "wall_time_s": min(times), "times_s": times, "iterations": result.iterations,
            "dnn_steps": result.dnn_steps, **{k: result.final.get(k) for k in (
                "rel_residual", "error_vs_exact_inf", "error_vs_discrete_rel_l2")},
            **work_of(method, result), "criterion": metric, "info": scalars,
            "note": "" if reached else f"criterion not reached ({result.stop_reason})"}


def work_of(method: str, result: SolveResult) -> dict[str, Any]:
    """Work in sweep-equivalents (one unit: a Jacobi sweep over the fine grid) and the mean reduction
    factor of the relative residual per iteration (sweep or cycle), with how each was obtained.

    Jacobi: its sweeps. The hybrid: the work its cycles counted (see :mod:`poissonfp.solvers.multilevel`).
    PyAMG: cycles x 4 x operator complexity (a V(1,1) Gauss-Seidel cycle: two smoothing sweeps, a
    residual and the transfers per level, each about one matrix pass; an estimate). The network and the
    direct solvers have no sweep-equivalent (``None``).
    """
    info = result.info
    if method == "jacobi":
        work, how = float(result.iterations), "sweeps"
    elif _solver(method) == "hybrid" and "work_sweep_equivalents" in info:
        work, how = float(info["work_sweep_equivalents"]), "counted"
    elif method == "multigrid" and info.get("operator_complexity"):
        work, how = 4.0 * result.iterations * float(info["operator_complexity"]), "estimated"
    else:
        work, how = None, None
    factor = info.get("cycle_factor") if _solver(method) == "hybrid" else None
    if factor is None:
        factor = _history_factor(result.history)
    return {"work_sweeps": work, "work_how": how, "factor_per_iteration": factor}


def _history_factor(history: dict[str, list]) -> float | None:
    """``(r_last / r_first) ** (1 / iterations between)`` over the history's records with iterations > 0."""
    points = [(i, r) for i, r in zip(history["iteration"], history["rel_residual"]) if i and r]
    if len(points) < 2 or points[-1][0] <= points[0][0] or points[0][1] <= 0:
        return None
    (i0, r0), (i1, r1) = points[0], points[-1]
    return (r1 / r0) ** (1.0 / (i1 - i0)) if r1 > 0 else None


def _ratios(results: dict[str, dict]) -> dict[str, Any]:
    """Speed-ups from times of this run: hybrid over Jacobi (t_jacobi / t_hybrid), hybrid over the DNN
    alone (t_dnn / t_hybrid), multigrid over hybrid (t_hybrid / t_multigrid) and the network's share
    (t_hybrid-exact / t_hybrid: above 1 when the network beats an exact coarsest solve)."""
    times: dict[str, Any] = {m: r.get("time_s") for m, r in results.items()}

    def ratio(slow: str, fast: str) -> float | None:
        return times[slow] / times[fast] if times.get(slow) and times.get(fast) else None

    return {"hybrid_over_jacobi": ratio("jacobi", "hybrid"), "hybrid_over_dnn": ratio("dnn", "hybrid"),
            "multigrid_over_hybrid": ratio("hybrid", "multigrid"),
            "network_share": ratio("hybrid-exact", "hybrid"),
            "jacobi_computed": bool(results.get("jacobi", {}).get("computed"))}
