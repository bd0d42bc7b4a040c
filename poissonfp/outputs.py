"""What a solve leaves on disk (:mod:`poissonfp.loading` reads it back).

An output set is ``result.json``, ``solution.npz``, the figures and optionally ``solution.vtr``. It is
written into a staging folder inside the destination and moved into place only once complete
(:func:`poissonfp.results.staged_folder`), ``result.json`` last: a folder never holds a
``result.json`` next to a partial set. :func:`poissonfp.loading.load_result` reads a set back.
"""
from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path
from typing import Any

import numpy as np

from poissonfp.case import Case
from poissonfp.environment import environment_record
from poissonfp.problem import Problem
from poissonfp.results import save_figure, staged_folder, write_json, write_npz
from poissonfp.settings import CRITERION_METRICS
from poissonfp.solvers.base import HISTORY_KEYS, SolveResult

__all__ = ["OUTPUT_FILES", "result_record", "save_solve_outputs"]

#: Every file an output set may hold (``result.json`` is moved in last).
OUTPUT_FILES = ("solution.npz", "solution.vtr", "solution.png", "error.png", "convergence.png", "modes.png",
                "result.json")


def result_record(case: Case, problem: Problem, result: SolveResult) -> dict[str, Any]:
    """The JSON record of one solve (the content of ``result.json``)."""
    from poissonfp import __version__

    summary = result.summary()
    return {
        "case": case.name,
        "case_file": str(case.path),
        "case_text": case.text,
        "grid_size": list(case.grid_size),
        "description": case.description,
        "problem": {"variables": list(case.source.variables), "exact": case.exact.text if case.exact else None,
                    "source": case.source.text, "boundary": case.boundary.text},
        "method": result.method,
        "grid_shape": list(problem.grid.shape),
        "lower": list(problem.grid.lower),
        "upper": list(problem.grid.upper),
        "seed": case.seed,
        "criterion": result.info.get("criterion"),
        "threshold": result.info.get("threshold"),
        "discretization_error_inf": problem.discretization_error_inf,
        **{k: summary[k] for k in ("converged", "stop_reason", "interrupted", "wall_time_s", "iterations",
                                   "dnn_steps")},
        **{k: summary[k] for k in HISTORY_KEYS[3:]},
        "settings": {table: dataclasses.asdict(getattr(case, table))
                     for table in ("solver", "network", "training", "hybrid", "multigrid")},
        "history": summary["history"],
        "modes": summary["modes"],
        "info": summary["info"],
        "poissonfp_version": __version__,
        "environment": environment_record(),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def save_solve_outputs(out_dir: str | Path, case: Case, problem: Problem, result: SolveResult,
                       vtk: bool = False, figures: bool = True, timings: dict | None = None) -> list[Path]:
    """Write the output set of one solve into ``out_dir`` (see the module docstring); with ``vtk``
    also ``solution.vtr``, without ``figures`` no PNG. ``timings``, when given, receives the seconds spent
    on the figures (``"figures"``) and on the rest of the writing (``"write"``). Returns the paths written."""
    import time

    out = Path(out_dir)
    timings = {} if timings is None else timings
    started = time.perf_counter()
    with staged_folder(out, first_out="result.json", last_in="result.json", owned=OUTPUT_FILES) as staging:
        names = _write_set(staging, case, problem, result, vtk, figures, timings)
    timings["write"] = time.perf_counter() - started - timings.get("figures", 0.0)
    return [out / name for name in names]


def _write_set(folder: Path, case: Case, problem: Problem, result: SolveResult, vtk: bool, with_figures: bool,
               timings: dict) -> list[str]:
    grid, u = problem.grid, result.solution
    arrays = {"solution": u, "rhs": problem.rhs, "source": problem.source,
              "discrete_solution": problem.discrete_solution,
              **{f"axis_{d}": a for d, a in enumerate(grid.axes)},
              **{f"history_{k}": np.asarray([np.nan if v is None else v for v in result.history[k]], float)
                 for k in HISTORY_KEYS}}
    if problem.exact is not None:
        arrays["exact"] = problem.exact
    if result.modes:
        arrays["modes"] = np.asarray(result.modes["modes"])
        arrays["mode_relative_error"] = np.asarray(result.modes["relative_error"], dtype=float)
    write_npz(folder / "solution.npz", **arrays)
    names = ["solution.npz"]
    if vtk:
        from poissonfp.vtk_output import write_vtk

        fields = {"u": u} if problem.exact is None else {"u": u, "u_exact": problem.exact}
        boundary = {"u": case.boundary.numpy, "u_exact": case.boundary.numpy}
        if problem.general is not None:
            fields["inside"] = problem.operator.inside.astype(float)  # the domain: 1 inside, 0 in a cut-out
        write_vtk(folder / "solution.vtr", grid, fields, boundary)
        names.append("solution.vtr")
    if not with_figures:
        write_json(folder / "result.json", result_record(case, problem, result))
        return [*names, "result.json"]
    import time

    # matplotlib is imported only for figures: an interrupted solve's save (no figures) spent ~1 s importing it
    from poissonfp.plotting.solution import plot_convergence, plot_field, plot_mode_errors

    started = time.perf_counter()
    label = f"{case.name}, {result.method}, grid {grid.describe()}"
    mask = None if problem.general is None or problem.general.box else problem.operator.inside
    figures = {"solution.png": plot_field(grid, u, f"Solution ({label})", reference=problem.exact, mask=mask)}
    if problem.exact is not None:
        figures["error.png"] = plot_field(grid, np.abs(u - problem.exact), f"|u - u_exact| ({label})",
                                          label="|error|", log=True, mask=mask)
    metric = CRITERION_METRICS.get(str(result.info.get("criterion")), CRITERION_METRICS["residual"])
    figures["convergence.png"] = plot_convergence(result.history, metric, result.info.get("threshold"),
                                                  f"Convergence ({label})")
    if result.modes:
        figures["modes.png"] = plot_mode_errors(result.modes["modes"], result.modes["relative_error"],
                                                result.modes["time_s"], f"Error per spectral peak ({label})")
    for name, figure in figures.items():
        save_figure(figure, folder / name)
    timings["figures"] = time.perf_counter() - started
    write_json(folder / "result.json", result_record(case, problem, result))
    return [*names, *figures, "result.json"]
