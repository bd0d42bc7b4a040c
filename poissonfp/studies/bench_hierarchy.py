"""Benchmark rows of the multilevel hybrid off the box: variable and high-contrast coefficients, Neumann
sides, all-Neumann, masks (L-shape, disk), a 3D coefficient, non-zero boundary data on the box.

Every method reaches the same accuracy, the ``discretization`` criterion (``||u - u_exact||_inf <= 1.5
||u_h - u_exact||_inf``, on the zero-mean iterate when every side is Neumann), in one process with BLAS
on one thread (threadpoolctl), and every ratio is formed from times of the same run:

- ``hybrid``: :func:`poissonfp.solvers.solve` with the case's settings (its wall time, its cycles and
  work in fine sweep-equivalents);
- ``pyamg_rs`` / ``pyamg_sa``: PyAMG's Ruge-Stueben and smoothed-aggregation solvers (V-cycles). The
  cycles needed are counted with a callback; the time is a second solve of exactly that many cycles without
  it: ``setup_s`` (building the hierarchy) and ``solve_s`` (the cycles: the time with the hierarchy reused);
- ``direct``: SuperLU of the assembled matrix (bordered when singular), below ``direct_max_unknowns`` (a
  tenth of it in 3D);
- ``dst``: the sine transform, on the constant-coefficient Dirichlet box only.

Each entry is the fastest of ``repeats`` runs. Ratios ``x_over_hybrid`` > 1 mean the hybrid is faster;
``x_reused_over_hybrid_reused`` compares both with their hierarchies reused (the hybrid's time less the
``hierarchy_s`` its solve measured: the cycles and the coarsest set-up remain).
"""
from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from poissonfp.case import load_case
from poissonfp.problem import Problem, build_problem

__all__ = [
    "HIERARCHY_PLAN",
    "QUICK_HIERARCHY_PLAN",
    "format_hierarchy_markdown",
    "hierarchy_row",
    "run_hierarchy_bench",
    "with_reuse",
]

_CASES = Path(__file__).resolve().parent / "bench_cases"
_2D, _3D = (127, 255, 511, 1023), (31, 63, 127)
#: (case, sizes) of the rows: cases of studies/bench_cases, or shipped ones.
HIERARCHY_PLAN: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("2d_coefficient", _2D), ("2d_contrast", _2D), ("2d_neumann", _2D), ("2d_all_neumann", _2D),
    ("2d_lshape", _2D), ("2d_disk", _2D), ("3d_coefficient", _3D), ("2d_boundary", _2D))
QUICK_HIERARCHY_PLAN = (("2d_contrast", (31,)), ("2d_boundary", (31,)))


def _case_path(name: str) -> Path:
    """A bench-only case of ``studies/bench_cases``, else the shipped case of that name."""
    from poissonfp.catalog import find_case

    path = _CASES / f"{name}.toml"
    return path if path.exists() else find_case(name)


def _fastest(run: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    best, value = math.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        value = run()
        best = min(best, time.perf_counter() - start)
    return best, value


def _error(problem: Problem, x: np.ndarray) -> float:
    u = problem.operator.project(x.reshape(problem.grid.shape))
    assert problem.exact is not None
    return float(np.max(np.abs(u - problem.exact)))


def _pyamg(problem: Problem, kind: str, threshold: float, repeats: int, max_cycles: int = 100) -> dict[str, Any]:
    import pyamg

    matrix, rhs = problem.operator.matrix.tocsr(), problem.rhs.ravel()
    build = pyamg.ruge_stuben_solver if kind == "rs" else pyamg.smoothed_aggregation_solver
    solver = build(matrix)
    cycles = [0]

    class Reached(Exception):
        pass

    def count(x: np.ndarray) -> None:
        cycles[0] += 1
        if _error(problem, x) <= threshold:
            raise Reached

    with contextlib.suppress(Reached):
        solver.solve(rhs, x0=np.zeros(rhs.size), tol=1e-300, maxiter=max_cycles, callback=count)
    setup_s, solver = _fastest(lambda: build(matrix), repeats)
    solve_s, x = _fastest(lambda: solver.solve(rhs, x0=np.zeros(rhs.size), tol=1e-300, maxiter=cycles[0]), repeats)
    return {"setup_s": setup_s, "solve_s": solve_s, "total_s": setup_s + solve_s, "cycles": cycles[0],
            "converged": _error(problem, x) <= threshold, "levels": len(solver.levels),
            "operator_complexity": float(solver.operator_complexity())}


def hierarchy_row(case_name: str, size: int, repeats: int = 3, direct_max_unknowns: int = 600_000) -> dict[str, Any]:
    """One row: every method on ``case_name`` at ``size`` points per axis (see the module docstring); the
    direct solve runs up to ``direct_max_unknowns`` in 2D and a tenth of it in 3D (its fill-in: 15 s at 31³)."""
    import scipy.sparse.linalg

    from poissonfp.solvers import StoppingCriterion, solve

    case = load_case(_case_path(case_name))
    problem = build_problem(case, size)
    criterion = StoppingCriterion("discretization")
    threshold = criterion.threshold(problem)
    options: dict[str, Any] = {"network": case.network, "training": case.training, "hybrid": case.hybrid}
    solve(problem, "hybrid", criterion, **options)  # compilation and first-touch costs
    runs = [solve(problem, "hybrid", criterion, **options) for _ in range(repeats)]
    best = min(runs, key=lambda r: r.wall_time_s)
    info = best.info
    row: dict[str, Any] = {
        "case": case_name, "size": size, "unknowns": int(problem.operator.inside.sum()),
        "hierarchy": info.get("hierarchy"), "discretization_error": problem.discretization_error_inf,
        "hybrid": {"time_s": best.wall_time_s, "converged": best.converged, "cycle": info.get("cycle"),
                   "cycles": info.get("cycles"), "work_sweep_equivalents": info.get("work_sweep_equivalents"),
                   "decision": info.get("decision", {}).get("method"), "boundary_lift": info.get("boundary_lift"),
                   "times_s": info.get("times_s"), "error_inf": best.final["error_vs_exact_inf"]}}
    for kind in ("rs", "sa"):
        row[f"pyamg_{kind}"] = _pyamg(problem, kind, threshold, repeats)
    if problem.grid.size <= direct_max_unknowns / (10 if problem.grid.ndim == 3 else 1):
        matrix = problem.operator.system_matrix().tocsc()
        rhs = problem.rhs.ravel() if matrix.shape[0] == problem.grid.size else np.append(problem.rhs.ravel(), 0.0)
        row["direct"] = {"time_s": _fastest(lambda: scipy.sparse.linalg.spsolve(matrix, rhs), 1)[0]}
    if problem.on_box:
        from poissonfp.operators import solve_dst

        row["dst"] = {"time_s": _fastest(lambda: solve_dst(problem.grid, problem.rhs), repeats)[0]}
    hybrid = best.wall_time_s
    ratios = {f"{kind}_with_setup_over_hybrid": row[f"pyamg_{kind}"]["total_s"] / hybrid for kind in ("rs", "sa")}
    ratios.update({f"{kind}_reused_over_hybrid": row[f"pyamg_{kind}"]["solve_s"] / hybrid for kind in ("rs", "sa")})
    for method in ("direct", "dst"):
        if method in row:
            ratios[f"{method}_over_hybrid"] = row[method]["time_s"] / hybrid
    row["ratios"] = ratios
    return with_reuse(row)


def with_reuse(row: dict[str, Any]) -> dict[str, Any]:
    """Add the hybrid's time with its hierarchy reused (its wall time less ``hierarchy_s``, the hierarchy's
    set-up measured inside the solve) and PyAMG's reused solve over it (both hierarchies reused)."""
    hybrid = row["hybrid"]
    hybrid["reused_s"] = hybrid["time_s"] - (hybrid.get("times_s") or {}).get("hierarchy_s", 0.0)
    for kind in ("rs", "sa"):
        row["ratios"][f"{kind}_reused_over_hybrid_reused"] = row[f"pyamg_{kind}"]["solve_s"] / hybrid["reused_s"]
    return row


def run_hierarchy_bench(plan=HIERARCHY_PLAN, repeats: int = 3, callback: Callable[[dict], None] | None = None,
                        max_unknowns: int = 2_100_000) -> dict[str, Any]:
    """Every row of ``plan`` (BLAS and the hybrid's torch on one thread); returns ``{"rows": [...],
    "machine": ...}``. ``callback`` receives each finished row; sizes above ``max_unknowns`` are skipped."""
    from threadpoolctl import threadpool_limits

    from poissonfp.studies.bench import machine_info

    machine = machine_info()
    rows = []
    with threadpool_limits(1):
        for case_name, sizes in plan:
            for size in sizes:
                dim = 3 if case_name.startswith("3d") else 2
                if size ** dim > max_unknowns:
                    continue
                row = hierarchy_row(case_name, size, repeats)
                rows.append(row)
                if callback is not None:
                    callback(row)
    import os

    machine["load_average_after"] = list(os.getloadavg())
    return {"machine": machine, "repeats": repeats, "rows": rows}


def format_hierarchy_markdown(data: dict[str, Any]) -> str:
    """The rows as a markdown table: times in seconds, cycles, the hybrid's work, and the ratios."""
    def cell(value: float | None, digits: str = ".3g") -> str:
        return "-" if value is None else format(value, digits)

    lines = ["| case | grid | hybrid s (cycles, sweep-eq) | hybrid reused s | PyAMG RS s (set-up s, cycles) | PyAMG SA "
             "s (set-up s, cycles) | direct s | dst s | RS / hybrid | SA / hybrid | RS / hybrid, both reused | SA / "
             "hybrid, both reused | direct / hybrid | dst / hybrid |", "|" + " --- |" * 14]
    for row in data["rows"]:
        row = with_reuse(row) if "reused_s" not in row["hybrid"] else row
        h, rs, sa, q = row["hybrid"], row["pyamg_rs"], row["pyamg_sa"], row["ratios"]
        work = h["work_sweep_equivalents"]
        grid = "x".join([str(row["size"])] * (3 if row["case"].startswith("3d") else 2))
        lines.append(
            f"| {row['case']} | {grid} | {cell(h['time_s'])} ({h['cycles']}, {cell(work, '.1f')}) | {cell(h['reused_s'])} | "
            f"{cell(rs['total_s'])} ({cell(rs['setup_s'])}, {rs['cycles']}) | {cell(sa['total_s'])} "
            f"({cell(sa['setup_s'])}, {sa['cycles']}) | {cell(row.get('direct', {}).get('time_s'))} | "
            f"{cell(row.get('dst', {}).get('time_s'))} | {cell(q['rs_with_setup_over_hybrid'], '.2f')} | "
            f"{cell(q['sa_with_setup_over_hybrid'], '.2f')} | {cell(q['rs_reused_over_hybrid_reused'], '.2f')} | "
            f"{cell(q['sa_reused_over_hybrid_reused'], '.2f')} | {cell(q.get('direct_over_hybrid'), '.2f')} | "
            f"{cell(q.get('dst_over_hybrid'), '.3f')} |")
    return "\n".join(lines) + "\n"
