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
from poissonfp.results import atomic_path, save_figure, staged_folder, write_json
from poissonfp.settings import CRITERION_METRICS
from poissonfp.solvers.base import HISTORY_KEYS, SolveResult

__all__ = ["OUTPUT_FILES", "result_record", "save_solve_outputs", "write_arrays"]

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


#: Arrays of at most this many bytes are always deflated (the history, the axes: microseconds).
SMALL_ARRAY_BYTES = 1 << 20
#: A larger array is deflated when at least this fraction of its entries is zero (a mask's outside, a zero
#: source): those shrink 20-1000x, fast (30 ms for 8 MB). Float fields of a solve shrink only to 70-95 %
#: for ~0.5 s per 8 MB (1023²), so they are stored as they are.
ZERO_FRACTION_TO_DEFLATE = 0.5


def write_arrays(path: str | Path, arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` to an ``.npz`` archive atomically (``np.load`` reads it like ``np.savez``'s).

    Each member is deflated where that pays (:data:`SMALL_ARRAY_BYTES`, :data:`ZERO_FRACTION_TO_DEFLATE`),
    stored otherwise: ``np.savez_compressed`` spent 1.9 of the 2.1 s of writing a 1023² 2d_square set in zlib
    to make it 6 % smaller (39.5 against 41.9 MB); 2d_lshape's set grows from 17.7 to 25 MB, 0.9 s faster.
    """
    import time
    import zipfile

    stamp = time.localtime()[:6]
    with atomic_path(path, suffix=".npz") as tmp, zipfile.ZipFile(tmp, "w", allowZip64=True) as archive:
        for name, value in arrays.items():
            value = np.asanyarray(value)
            deflate = value.nbytes <= SMALL_ARRAY_BYTES or (
                np.count_nonzero(value) <= (1.0 - ZERO_FRACTION_TO_DEFLATE) * value.size)
            member = zipfile.ZipInfo(f"{name}.npy", date_time=stamp)
            member.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
            with archive.open(member, "w", force_zip64=True) as stream:
                np.lib.format.write_array(stream, value, allow_pickle=False)
    return Path(path)


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
    write_arrays(folder / "solution.npz", arrays)
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
