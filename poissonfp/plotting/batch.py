"""The figure of a batch of solves: time per solve, and cumulative time against the number of solves with
the break-even counts marked. Draws batch.json's record; never computes a measurement."""
from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

__all__ = ["plot_batch"]

_STYLE = {"jacobi": "C0", "hybrid": "C3", "multigrid": "C2", "dst": "C4", "direct": "C5", "operator": "C1"}


def plot_batch(record: dict[str, Any]) -> Figure:
    """Left: wall time of each solve per method. Right: set-up (training included for ``operator``) plus the
    solves done, cumulated; dashed beyond the batch, the mean solve time extended to the largest break-even
    count, which is marked on the operator's line."""
    fig = Figure(figsize=(11.0, 4.4))
    per_solve, cumulative = fig.subplots(1, 2)
    methods = record["methods"]
    training = record.get("operator_training_s") or 0.0
    even = {m: b["count"] for m, b in (record.get("break_even") or {}).items() if b.get("count")}
    horizon = max([record["count"], *even.values()]) if even else record["count"]
    for method, data in methods.items():
        color = _STYLE.get(method, "k")
        times = np.array([s["wall_time_s"] for s in data["solves"]], dtype=float)
        if times.size == 0:
            continue
        counts = np.arange(1, times.size + 1)
        per_solve.semilogy(counts, times, color=color, marker=".", label=method)
        start = data["setup_s"] + (training if method == "operator" else 0.0)
        total = start + np.cumsum(times)
        what = "training + set-up" if method == "operator" else "set-up"
        cumulative.loglog(counts, total, color=color, label=f"{method} ({what} {start:.3g} s)")
        if horizon > times.size:
            ahead = np.unique(np.geomspace(times.size, horizon * 1.5, 50).astype(int))
            cumulative.loglog(ahead, total[-1] + (ahead - times.size) * times.mean(), color=color, linestyle="--")
    if "operator" in methods and methods["operator"]["solves"]:
        data = methods["operator"]
        mean = data["mean_solve_s"]
        for other, count in even.items():
            at = training + data["setup_s"] + count * mean
            cumulative.plot([count], [at], marker="o", color=_STYLE.get(other, "k"), markersize=8,
                            markerfacecolor="white")
            cumulative.annotate(f"{count} vs {other}", (count, at), fontsize="x-small", xytext=(4, -10),
                                textcoords="offset points")
    per_solve.set_xlabel("solve")
    per_solve.set_ylabel("wall time per solve [s]")
    per_solve.set_title(f"{record['case']}, {record['grid']}: time per solve")
    cumulative.set_xlabel("number of solves")
    cumulative.set_ylabel("cumulative time [s] (set-up, training, solves)")
    cumulative.set_title("cumulative time; circles: break-even (dashed: extrapolated)")
    for ax in (per_solve, cumulative):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="x-small")
    return fig
