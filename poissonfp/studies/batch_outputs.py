"""batch.json and batch.png of a batch of solves (see :mod:`poissonfp.studies.batch`).

batch.json holds, per method: what was reused, the set-up time, each solve's wall time, iterations, work
(sweep-equivalents where the method counts them), converged flag, stop reason and final criterion value,
the total (set-up + solves) and whether the run was interrupted; with ``operator`` among the methods, the
model's recorded training time and the break-even count against every other method.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from poissonfp.studies.batch import MethodBatch, break_even

__all__ = ["BATCH_FILES", "batch_record", "save_batch"]

#: The files of a batch output set (an older set's files are replaced or removed).
BATCH_FILES = ("batch.json", "batch.png")


def _solve_entry(index: int, seconds: float, result, metric: str) -> dict[str, Any]:
    info = result.info
    work = info.get("work_sweep_equivalents")
    if work is None and result.method == "jacobi":
        work = float(result.iterations)
    return {"index": index, "wall_time_s": seconds, "iterations": result.iterations,
            "network_calls": info.get("network_calls"), "work_sweep_equivalents": work, "converged": result.converged,
            "stop_reason": result.stop_reason, "criterion_value": result.final.get(metric),
            "interrupted": result.interrupted, "fallback": info.get("fallback")}


def _batch_work(run: MethodBatch) -> float | None:
    """The operator batch's whole work in sweep-equivalents (as solve_operator_batch counts it), else None."""
    if run.batched_s is None or not run.results:
        return None
    return run.results[0].info.get("work_sweep_equivalents")


def method_record(run: MethodBatch, metric: str) -> dict[str, Any]:
    """The JSON-able record of one method's run."""
    times = run.solve_times()
    solves = [_solve_entry(k, t, r, metric) for k, (t, r) in enumerate(zip(times, run.results))]
    return {"reuse": run.reuse, "setup_s": run.setup_s, "solves_done": len(solves),
            "solve_total_s": float(sum(times)), "total_s": run.setup_s + float(sum(times)),
            "mean_solve_s": run.mean_solve_s(), "median_solve_s": float(np.median(times)) if times else None,
            "all_converged": bool(solves) and all(s["converged"] for s in solves),
            "batched_call_s": run.batched_s, "batch_work_sweep_equivalents": _batch_work(run),
            "interrupted": run.interrupted, "solves": solves}


def batch_record(runs: list[MethodBatch], *, case: str, grid: str, count: int, sources: dict[str, Any],
                 criterion, training_s: float | None, model: dict[str, Any] | None = None) -> dict[str, Any]:
    """The content of batch.json."""
    from poissonfp.environment import environment_record

    by_method = {run.method: run for run in runs}
    record: dict[str, Any] = {
        "case": case, "grid": grid, "count": count, "sources": sources,
        "criterion": {"kind": criterion.kind, "tol": criterion.tol, "metric": criterion.metric},
        "interrupted": any(run.interrupted for run in runs),
        "methods": {run.method: method_record(run, criterion.metric) for run in runs},
        "operator_training_s": training_s, "model": model,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "environment": environment_record(),
    }
    operator = by_method.get("operator")
    if operator is not None and training_s is not None:
        record["break_even"] = {m: break_even(operator, run, training_s) for m, run in by_method.items()
                                if m != "operator"}
    else:
        record["break_even"] = None
    return record


def save_batch(out: str | Path, record: dict[str, Any]) -> list[Path]:
    """Write batch.json and batch.png into ``out`` as one staged set (batch.json last)."""
    from poissonfp.plotting.batch import plot_batch
    from poissonfp.results import save_figure, staged_folder, write_json

    out = Path(out)
    with staged_folder(out, first_out="batch.json", last_in="batch.json", owned=BATCH_FILES) as staging:
        save_figure(plot_batch(record), staging / "batch.png")
        write_json(staging / "batch.json", record)
    return [out / name for name in BATCH_FILES]
