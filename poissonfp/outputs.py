"""What a solve leaves on disk: ``result.json``, ``solution.npz`` and figures (all written atomically)."""
from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path
from typing import Any

import numpy as np

from poissonfp import __version__
from poissonfp.case import Case
from poissonfp.problem import Problem
from poissonfp.results import save_figure, write_json, write_npz
from poissonfp.solvers import HISTORY_KEYS, SolveResult

__all__ = ["result_record", "save_solve_outputs"]


def result_record(case: Case, problem: Problem, result: SolveResult) -> dict[str, Any]:
    """The JSON record of one solve (the content of ``result.json``)."""
    summary = result.summary()
    return {
        "case": case.name,
        "case_file": str(case.path),
        "method": result.method,
        "grid_shape": list(problem.grid.shape),
        "lower": list(problem.grid.lower),
        "upper": list(problem.grid.upper),
        "seed": case.seed,
        "criterion": result.info.get("criterion"),
        "threshold": result.info.get("threshold"),
        "discretization_error_inf": problem.discretization_error_inf,
        **{k: summary[k] for k in ("converged", "stop_reason", "wall_time_s", "iterations", "dnn_steps")},
        **{k: summary[k] for k in HISTORY_KEYS[3:]},
        "settings": {table: dataclasses.asdict(getattr(case, table))
                     for table in ("solver", "network", "training", "hybrid")},
        "history": summary["history"],
        "modes": summary["modes"],
        "info": summary["info"],
        "poissonfp_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def save_solve_outputs(out_dir: str | Path, case: Case, problem: Problem, result: SolveResult) -> list[Path]:
    """Write ``result.json``, ``solution.npz`` and the figures of one solve into ``out_dir``."""
    from poissonfp.plotting import plot_convergence, plot_field, plot_mode_errors

    out = Path(out_dir)
    grid, u = problem.grid, result.solution
    arrays = {"solution": u, "rhs": problem.rhs, "discrete_solution": problem.discrete_solution,
              **{f"axis_{d}": a for d, a in enumerate(grid.axes)},
              **{f"history_{k}": np.asarray([np.nan if v is None else v for v in result.history[k]], float)
                 for k in HISTORY_KEYS}}
    if problem.exact is not None:
        arrays["exact"] = problem.exact
    if result.modes:
        arrays["modes"] = np.asarray(result.modes["modes"])
        arrays["mode_relative_error"] = np.asarray(result.modes["relative_error"], dtype=float)
    paths = [write_json(out / "result.json", result_record(case, problem, result)),
             write_npz(out / "solution.npz", **arrays)]
    label = f"{case.name}, {result.method}, grid {grid.describe()}"
    paths.append(save_figure(plot_field(grid, u, f"Solution ({label})", reference=problem.exact),
                             out / "solution.png"))
    if problem.exact is not None:
        paths.append(save_figure(plot_field(grid, np.abs(u - problem.exact), f"|u - u_exact| ({label})",
                                            label="|error|", log=True), out / "error.png"))
    metric = {"discretization": "error_vs_exact_inf", "discrete": "error_vs_discrete_rel_l2"}.get(
        result.info.get("criterion"), "rel_residual")
    paths.append(save_figure(plot_convergence(result.history, metric, result.info.get("threshold"),
                                              f"Convergence ({label})"), out / "convergence.png"))
    if result.modes:
        paths.append(save_figure(plot_mode_errors(result.modes["modes"], result.modes["relative_error"],
                                                  result.modes["time_s"], f"Error per spectral peak ({label})"),
                                 out / "modes.png"))
    return paths
