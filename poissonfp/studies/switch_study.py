"""The trade-off in the switch point M (the article's panel d), from the entries of a comparison.

A method run at several M (the article's scheme, the hybrid) costs ``M t_step + S(M) t_sweep``: training
``M`` steps, then ``S(M)`` sweeps. Training pays where the sweeps it saves per step exceed
``ρ = t_step / t_sweep``. :func:`switch_study` reads every entry's measured phases and returns, per method:

- ``runs``: per M the wall time, its training and sweep parts (seconds), the sweeps and steps;
- ``optimum_switch`` (the fastest M that reached the criterion), its wall time and
  ``speedup_vs_jacobi_at_optimum`` (pure Jacobi from zero over it);
- ``time_per_step_s`` and ``time_per_sweep_s`` pooled over the runs, their ratio ``step_to_sweep_ratio``;
- ``sweeps_saved_per_step``: per M, ``(S_0 - S(M)) / (M - M_0)`` against the method's baseline: for the
  article's scheme pure Jacobi from zero (M_0 = 0: what its training competes with; its own M = 0 starts
  from the untrained network, whose error in the slowest mode Jacobi from zero never has), for the hybrid
  its smallest M run (the untrained features); ``training_pays``: whether that exceeds ρ (the break-even).

Pure data: records in, a dict out.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from poissonfp.methods import SWITCHED_METHODS

__all__ = ["SWITCHED_METHODS", "phase_times", "switch_study"]



def phase_times(record: dict) -> tuple[float | None, float | None]:
    """(training seconds, sweep-phase seconds) of one entry; the hybrid's sweep phase includes its
    corrections. None when the entry did not record them."""
    info = record.get("info") or {}
    times = info.get("times_s") or {}
    training = info.get("training_time_s", times.get("train_s"))
    if "jacobi_s" in times:
        sweeping = times["jacobi_s"]
    elif "cycles_s" in times or "tail_s" in times:
        sweeping = times.get("cycles_s", 0.0) + times.get("tail_s", 0.0)
    else:
        sweeping = None
    return training, sweeping


def _sweeps(record: dict) -> float:
    """Sweeps of the entry's sweep phase: Jacobi sweeps, or the multilevel hybrid's work in fine-grid
    sweep-equivalents (its ``iterations`` count cycles)."""
    info = record.get("info") or {}
    work = info.get("work_sweep_equivalents")
    return float(work) if work is not None else (record.get("iterations") or 0)


def _switch_of(record: dict) -> int | None:
    step = (record.get("info") or {}).get("switch_step")
    return int(step) if isinstance(step, int) else None


def switch_study(records: Sequence[dict], jacobi: dict | None = None) -> dict[str, Any]:
    """The trade-off per switched method that was run at two or more fixed M (see the module docstring).

    Args:
        records: comparison records (``label``, ``method``, ``reached``, ``wall_time_s``, ``iterations``,
            ``dnn_steps``, ``info``, and ``run_options`` with the fixed ``switch``).
        jacobi: the pure-Jacobi record, if one was run (for the speed-up and as the M-free baseline).
    """
    study = {}
    for method in SWITCHED_METHODS:
        runs = [r for r in records if r.get("method") == method and r.get("wall_time_s") is not None
                and isinstance((r.get("run_options") or {}).get("switch"), int)
                and (r.get("run_options") or {}).get("coarse", "network") == "network"]
        if len({r["run_options"]["switch"] for r in runs}) >= 2:
            study[method] = _study(method, sorted(runs, key=lambda r: r["run_options"]["switch"]), jacobi)
    return study


def _study(method: str, runs: list[dict], jacobi: dict | None) -> dict[str, Any]:
    rows = []
    for r in runs:
        training, sweeping = phase_times(r)
        rows.append({"switch": r["run_options"]["switch"], "label": r["label"], "reached": bool(r["reached"]),
                     "wall_time_s": r["wall_time_s"], "training_time_s": training, "sweep_time_s": sweeping,
                     "other_time_s": _rest(r["wall_time_s"], training, sweeping),
                     "dnn_steps": r.get("dnn_steps") or 0, "sweeps": _sweeps(r)})
    reached = [row for row in rows if row["reached"]]
    best = min(reached, key=lambda row: row["wall_time_s"]) if reached else None
    baseline = jacobi["wall_time_s"] if jacobi and jacobi.get("reached") else None
    steps = sum(row["dnn_steps"] for row in rows if row["training_time_s"] is not None)
    step_time = sum(row["training_time_s"] for row in rows if row["training_time_s"] is not None and row["dnn_steps"])
    sweeps = sum(row["sweeps"] for row in rows if row["sweep_time_s"] is not None)
    sweep_time = sum(row["sweep_time_s"] for row in rows if row["sweep_time_s"] is not None and row["sweeps"])
    t_step = step_time / steps if steps else None
    t_sweep = sweep_time / sweeps if sweeps else None
    if t_sweep is None and jacobi and jacobi.get("iterations"):
        t_sweep = jacobi["wall_time_s"] / jacobi["iterations"]
    ratio = t_step / t_sweep if t_step and t_sweep else None
    first = rows[0]
    if method == "article" and jacobi and jacobi.get("reached"):
        base = {"switch": 0, "sweeps": jacobi.get("iterations") or 0, "reached": True, "label": "jacobi"}
    else:
        base = first
    saved = {}
    for row in rows:
        if row["switch"] > base["switch"] and base["reached"] and row["reached"]:
            saved[str(row["switch"])] = (base["sweeps"] - row["sweeps"]) / (row["switch"] - base["switch"])
    return {
        "method": method,
        "switches": [row["switch"] for row in rows],
        "runs": rows,
        "optimum_switch": best["switch"] if best else None,
        "optimum_wall_time_s": best["wall_time_s"] if best else None,
        "speedup_vs_jacobi_at_optimum": baseline / best["wall_time_s"] if best and baseline else None,
        "jacobi_wall_time_s": baseline,
        "jacobi_sweeps": jacobi.get("iterations") if jacobi and jacobi.get("reached") else None,
        "time_per_step_s": t_step,
        "time_per_sweep_s": t_sweep,
        "step_to_sweep_ratio": ratio,
        "sweeps_saved_per_step": saved,
        "sweeps_saved_per_step_baseline": ("pure Jacobi from zero" if base is not first
                                           else f"{first['label']} (the smallest M run)"),
        "training_pays": {m: (v > ratio) if ratio else None for m, v in saved.items()},
    }


def _rest(wall: float, training: float | None, sweeping: float | None) -> float | None:
    if training is None or sweeping is None:
        return None
    return max(0.0, wall - training - sweeping) if math.isfinite(wall) else None
