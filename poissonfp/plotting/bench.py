"""Figures of the benchmark: ``plot_*(data) -> Figure``; they draw what they are given, never compute."""
from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure

__all__ = ["plot_bandwidth", "plot_scaling", "plot_time_vs_unknowns"]

_STYLE = {"jacobi": ("C0", "o"), "hybrid": ("C3", "s"), "dnn": ("C1", "^"), "multigrid": ("C2", "D"),
          "dst": ("C4", "v"), "direct": ("C5", "P"), "hybrid-exact": ("C6", "X"), "hybrid-none": ("C7", "*")}


def plot_time_vs_unknowns(series: dict[str, dict[str, list]], title: str) -> Figure:
    """Log-log wall time to accuracy against unknowns, one line per method.

    Args:
        series: method -> ``{"unknowns": [...], "time_s": [...], "computed": [...]}``; computed points
            (pure Jacobi's exact sweep count x measured per-sweep time) are drawn hollow.
        title: the figure title.
    """
    fig = Figure(figsize=(6.4, 4.6))
    ax = fig.subplots()
    for method, data in series.items():
        color, marker = _STYLE.get(method, ("k", "x"))
        ax.loglog(data["unknowns"], data["time_s"], color=color, marker=marker, label=method)
        hollow = [(n, t) for n, t, c in zip(data["unknowns"], data["time_s"], data["computed"]) if c]
        if hollow:
            ax.loglog(*zip(*hollow), linestyle="none", marker=marker, markersize=11, markerfacecolor="white",
                      color=color, label=f"{method} (computed)")
    ax.set_xlabel("unknowns")
    ax.set_ylabel("wall time to accuracy [s]")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def plot_scaling(times: dict[str, dict[str, list]], work: dict[str, dict[str, list]],
                 exponents: dict[str, dict[str, float | None]], problem: str) -> Figure:
    """Two log-log panels against unknowns, time to accuracy and work in sweep-equivalents, one line per
    method labelled with its fitted exponent (``exponents[method]["time_exponent" | "work_exponent"]``).
    Computed points (pure Jacobi's exact count x measured per-sweep time) are drawn hollow."""
    fig = Figure(figsize=(11.0, 4.6))
    for ax, series, key, label in zip(fig.subplots(1, 2), (times, work), ("time_exponent", "work_exponent"),
                                      ("wall time to accuracy [s]", "work [sweep-equivalents]")):
        for method, data in series.items():
            color, marker = _STYLE.get(method, ("k", "x"))
            p = (exponents.get(method) or {}).get(key)
            ax.loglog(data["unknowns"], data["time_s"], color=color, marker=marker,
                      label=f"{method} (N^{p:.2f})" if p is not None else method)
            hollow = [(n, t) for n, t, c in zip(data["unknowns"], data["time_s"], data["computed"]) if c]
            if hollow:
                ax.loglog(*zip(*hollow), linestyle="none", marker=marker, markersize=11, markerfacecolor="white",
                          color=color)
        ax.set_xlabel("unknowns N")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle(f"{problem}: cost against problem size (fitted exponents in the legend)")
    return fig


def plot_bandwidth(labels: Sequence[str], fractions: Sequence[float],
                   matched: Sequence[float] | None = None, target: float = 0.5) -> Figure:
    """Bar chart of the Jacobi kernel's bandwidth as a fraction of a single-thread copy, per grid.

    Args:
        labels: one label per grid (e.g. ``"2d 512x512"``).
        fractions: kernel bandwidth / copy bandwidth on arrays of the same size.
        matched: the same against a copy with the kernel's working set (3 arrays), optional.
        target: drawn as a horizontal line.
    """
    fig = Figure(figsize=(max(5.0, 0.7 * len(labels) + 2), 4.2))
    ax = fig.subplots()
    positions = range(len(labels))
    width = 0.4 if matched is not None else 0.7
    ax.bar([p - (width / 2 if matched is not None else 0) for p in positions], fractions, width,
           label="vs copy, same array size")
    if matched is not None:
        ax.bar([p + width / 2 for p in positions], matched, width, label="vs copy, same working set")
    ax.axhline(target, color="k", linestyle="--", linewidth=1, label=f"target {target:.0%}")
    ax.set_xticks(list(positions), labels, rotation=45, ha="right", fontsize="small")
    ax.set_ylabel("kernel bandwidth / copy bandwidth")
    ax.set_title("Jacobi sweep: 24 bytes per unknown against a single-thread copy")
    ax.legend(fontsize="small")
    return fig
