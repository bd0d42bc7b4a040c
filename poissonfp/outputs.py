"""What a solve leaves on disk, and reading it back.

An output set is ``result.json``, ``solution.npz``, the figures and optionally ``solution.vtr``. It is
written into a staging folder beside the destination and moved into place only once complete
(:func:`poissonfp.results.staged_folder`), ``result.json`` last: a folder never holds a
``result.json`` next to a partial set. :func:`load_result` reads a set back.
"""
from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path
from typing import Any

import numpy as np

from poissonfp.case import Case
from poissonfp.environment import environment_record
from poissonfp.grid import Grid
from poissonfp.problem import Problem
from poissonfp.settings import CRITERION_METRICS
from poissonfp.results import read_json, save_figure, staged_folder, write_json, write_npz
from poissonfp.solvers.base import HISTORY_KEYS, SolveResult

__all__ = ["OUTPUT_FILES", "result_record", "save_solve_outputs", "load_result"]

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
                     for table in ("solver", "network", "training", "hybrid")},
        "history": summary["history"],
        "modes": summary["modes"],
        "info": summary["info"],
        "poissonfp_version": __version__,
        "environment": environment_record(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def save_solve_outputs(out_dir: str | Path, case: Case, problem: Problem, result: SolveResult,
                       vtk: bool = False) -> list[Path]:
    """Write the output set of one solve into ``out_dir`` (see the module docstring); with ``vtk``
    also ``solution.vtr``. Returns the paths written."""
    out = Path(out_dir)
    with staged_folder(out, first_out="result.json", last_in="result.json", owned=OUTPUT_FILES) as staging:
        names = _write_set(staging, case, problem, result, vtk)
    return [out / name for name in names]


def _write_set(folder: Path, case: Case, problem: Problem, result: SolveResult, vtk: bool) -> list[str]:
    from poissonfp.plotting.solution import plot_convergence, plot_field, plot_mode_errors

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
        write_vtk(folder / "solution.vtr", grid, fields, boundary)
        names.append("solution.vtr")
    label = f"{case.name}, {result.method}, grid {grid.describe()}"
    figures = {"solution.png": plot_field(grid, u, f"Solution ({label})", reference=problem.exact)}
    if problem.exact is not None:
        figures["error.png"] = plot_field(grid, np.abs(u - problem.exact), f"|u - u_exact| ({label})",
                                          label="|error|", log=True)
    metric = CRITERION_METRICS.get(result.info.get("criterion"), CRITERION_METRICS["residual"])
    figures["convergence.png"] = plot_convergence(result.history, metric, result.info.get("threshold"),
                                                  f"Convergence ({label})")
    if result.modes:
        figures["modes.png"] = plot_mode_errors(result.modes["modes"], result.modes["relative_error"],
                                                result.modes["time_s"], f"Error per spectral peak ({label})")
    for name, figure in figures.items():
        save_figure(figure, folder / name)
    write_json(folder / "result.json", result_record(case, problem, result))
    return [*names, *figures, "result.json"]


def load_result(folder: str | Path) -> tuple[Problem, SolveResult]:
    """Read an output set written by ``poissonfp solve`` (or :func:`save_solve_outputs`).

    Returns the problem's data (grid, source, right-hand side, exact solution when known; its
    ``functions`` rebuilt from the recorded expressions) and the :class:`SolveResult` (solution,
    verdict, history, modes, info and final errors) as they were saved.

    Raises:
        FileNotFoundError: ``folder`` lacks ``result.json`` or ``solution.npz``.
    """
    folder = Path(folder)
    record = read_json(folder / "result.json")
    if not (folder / "solution.npz").exists() and (folder / "parts.json").exists():
        from poissonfp.petsc_backend.saving import read_parts  # a large grid written per rank (--backend petsc)

        arrays = read_parts(folder)
    else:
        with np.load(folder / "solution.npz") as data:
            arrays = {key: data[key] for key in data.files}
    grid = Grid(tuple(record["lower"]), tuple(record["upper"]), tuple(record["grid_shape"]))
    problem = Problem(grid, arrays.get("source", arrays["rhs"]), arrays["rhs"], arrays.get("exact"),
                      record["case"], _functions(record.get("problem")))
    final = {key: record.get(key) for key in HISTORY_KEYS[3:]}
    info = dict(record.get("info") or {})
    info.setdefault("criterion", record.get("criterion"))
    info.setdefault("threshold", record.get("threshold"))
    result = SolveResult(record["method"], arrays["solution"], bool(record["converged"]), record["stop_reason"],
                         float(record["wall_time_s"]), int(record["iterations"]), int(record.get("dnn_steps", 0)),
                         record["history"], record.get("modes") or {}, info, final,
                         bool(record.get("interrupted", False)))
    return problem, result


def _functions(expressions: dict | None) -> dict:
    """The recorded expressions parsed again (empty for sets written before they were recorded)."""
    if not expressions:
        return {}
    from poissonfp.expressions import parse_expression

    variables = tuple(expressions["variables"])
    return {name: parse_expression(text, variables) for name in ("source", "boundary", "exact")
            if (text := expressions.get(name)) is not None}
