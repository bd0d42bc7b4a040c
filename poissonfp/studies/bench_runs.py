"""The benchmark's method runs: one solve of a method on a (problem, size), repeated while fast, its record
(time, work in sweep-equivalents, reduction factor per iteration), the budget that skips a method whose time
extrapolated from the smaller sizes is too long, the warm-up before a problem's first size, and which methods
apply off the box. :mod:`poissonfp.studies.bench` runs the matrix; pure Jacobi's measurements are in
:mod:`poissonfp.studies.bench_jacobi`."""
from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

from poissonfp.api import solve_case
from poissonfp.case import Case
from poissonfp.methods import BENCH_VARIANTS as VARIANTS
from poissonfp.problem import Problem, build_problem
from poissonfp.solvers import DivergenceError, SolveResult, applicable_methods
from poissonfp.studies.bench_plan import BenchConfig

__all__ = ["extrapolate", "measure", "measure_budgeted", "not_applicable", "solver_of", "solver_options_of",
           "warm_up", "work_of"]

logger = logging.getLogger(__name__)


def solver_of(method: str) -> str:
    """The solver a bench method runs (a variant of the hybrid runs the hybrid)."""
    return VARIANTS[method][0] if method in VARIANTS else method


def solver_options_of(case: Case, method: str) -> dict[str, Any]:
    """Solver options of a bench variant (the hybrid with another coarsest solver); none otherwise."""
    if method not in VARIANTS:
        return {}
    return {"hybrid": dataclasses.replace(case.hybrid, **VARIANTS[method][1])}


def not_applicable(problem: Problem, method: str) -> str:
    """Why ``method`` does not apply to ``problem`` ("" when it does): box-only solvers off the box (the
    coarsest-solve controls apply everywhere: off the box the hybrid's Galerkin hierarchy has a coarsest
    level too)."""
    if problem.on_box:
        return ""
    if solver_of(method) not in applicable_methods(problem, (solver_of(method),)):
        return f"{method} needs the constant-coefficient Dirichlet box"
    return ""


def warm_up(case: Case, methods: tuple[str, ...]) -> None:
    """One throwaway solve per method at the problem's first size (two training steps for the networks):
    compilation and first calls at that size are not timed. Pure Jacobi only compiles (its first real
    run is the whole solve)."""
    from poissonfp.solvers.classical.jacobi import warm_up as warm_up_jacobi

    first = case.with_overrides(adam_steps=2, lbfgs_steps=0)
    problem = build_problem(first)
    warm_up_jacobi(problem.grid.ndim)
    if not problem.on_box:
        from poissonfp.solvers.classical.csr_jacobi import warm_up as warm_up_csr

        warm_up_csr()
    for method in methods:
        if method == "jacobi" or not_applicable(problem, method):
            continue
        try:
            _, result = solve_case(first, solver_of(method), problem=problem, track_modes=False,
                                   **solver_options_of(first, method))
        except DivergenceError:
            continue  # a barely trained network may diverge; the first calls happened anyway
        if result.interrupted:
            raise KeyboardInterrupt  # a signal during a warm-up ends the bench (never swallowed)


def extrapolate(points: list[tuple[int, float]], unknowns: int) -> float | None:
    """Time at ``unknowns`` extrapolated from (unknowns, seconds) at smaller sizes (power law, exponent
    fitted on the last two points, between 1 and 3; 2 from one point, as 3D sparse LU needs)."""
    if not points:
        return None
    (n1, t1), exponent = points[-1], 2.0
    if len(points) > 1 and points[-2][1] > 0 and n1 > points[-2][0]:
        n0, t0 = points[-2]
        exponent = min(3.0, max(1.0, math.log(t1 / t0) / math.log(n1 / n0)))
    return t1 * (unknowns / n1) ** exponent


def measure_budgeted(config: BenchConfig, case: Case, problem: Problem, method: str,
              past: list[tuple[int, float]]) -> dict[str, Any]:
    estimate = extrapolate(past, problem.grid.size)
    if estimate is not None and estimate > config.method_budget_s:
        note = f"skipped: estimated {estimate:.0f} s > budget {config.method_budget_s:.0f} s"
        logger.info("%s at %s: %s", method, problem.grid.describe(), note)
        return {"method": method, "status": "skipped", "computed": False, "converged": None, "time_s": None,
                "wall_time_s": None, "estimated_time_s": estimate, "note": note}
    return measure(config, case, problem, method)


def measure(config: BenchConfig, case: Case, problem: Problem, method: str) -> dict[str, Any]:
    """Solve (repeated while fast; a first solve under ``warm_repeat_below_s`` at least twice); the
    fastest solve counts. A diverging solver gives a record; an interrupted solve re-raises Ctrl-C."""
    times: list[float] = []
    while True:
        try:
            _, result = solve_case(case, solver_of(method), problem=problem, track_modes=False,
                                   **solver_options_of(case, method))
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

    Jacobi: its sweeps. The hybrid: the work its cycles counted (see :mod:`poissonfp.solvers.hierarchy.multilevel`).
    PyAMG: cycles x 4 x operator complexity (a V(1,1) Gauss-Seidel cycle: two smoothing sweeps, a
    residual and the transfers per level, each about one matrix pass; an estimate). The network and the
    direct solvers have no sweep-equivalent (``None``).
    """
    info = result.info
    if method == "jacobi":
        work, how = float(result.iterations), "sweeps"
    elif solver_of(method) == "hybrid" and "work_sweep_equivalents" in info:
        work, how = float(info["work_sweep_equivalents"]), "counted"
    elif method == "multigrid" and info.get("operator_complexity"):
        work, how = 4.0 * result.iterations * float(info["operator_complexity"]), "estimated"
    else:
        work, how = None, None
    factor = info.get("cycle_factor") if solver_of(method) == "hybrid" else None
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
