"""Figures of a comparison (``poissonfp compare``): data in, Figure out (or drawn on ``ax=``); nothing here computes.

- :func:`plot_error_vs_time`: the criterion's error against wall time for every method, with the threshold;
- :func:`plot_mode_heatmap`: relative error of each spectral peak over DNN steps or Jacobi sweeps
  (the F-Principle picture: the DNN converges low -> high, Jacobi high -> low);
- :func:`plot_switch_mode_errors`: per-peak error of each switched method's iterate at the hand-over;
- :func:`plot_tradeoff`: the trade-off in the switch point M, training and sweep parts stacked;
- :func:`plot_seed_study`: the article's seeded switch study: exact sweeps, the slow modes' amplitude at
  the hand-over and the modelled time against M, one line per seed, classical stand-ins beside them.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.colors import LogNorm

from poissonfp.plotting.axes import panel_axes

__all__ = [
    "mode_label",
    "plot_error_vs_time",
    "plot_mode_heatmap",
    "plot_seed_study",
    "plot_switch_mode_errors",
    "plot_tradeoff",
]

METRIC_LABELS = {
    "rel_residual": r"$\|b - Au\|_2 / \|b\|_2$",
    "error_vs_exact_inf": r"$\|u - u_{\mathrm{exact}}\|_\infty$",
    "error_vs_discrete_rel_l2": r"$\|u - u_h\|_2 / \|u_h\|_2$",
}
#: Smallest error drawn on log scales (exact zeros would fall off the axis).
_FLOOR = 1e-16


def mode_label(mode: Sequence[int] | int) -> str:
    """``k=3`` for a 1D mode, ``k=(4,3)`` for a 2D one.

    >>> mode_label([3]), mode_label((4, 3))
    ('k=3', 'k=(4,3)')
    """
    mode = list(np.atleast_1d(mode))
    return f"k={mode[0]}" if len(mode) == 1 else "k=(" + ",".join(str(k) for k in mode) + ")"


def _floats(values: Sequence) -> np.ndarray:
    return np.asarray([np.nan if v is None else v for v in values], dtype=float)


def plot_error_vs_time(entries: Sequence[dict], metric: str, threshold: float, title: str, ax: Any = None,
                       threshold_label: str | None = None):
    """Error (the criterion's metric) against wall time, one curve per method, log-log.

    Args:
        entries: comparison records with ``label`` and ``history`` (``time_s`` and ``metric`` lists), and
            optionally ``switch_point``: ``(time, error)`` of the hand-over, drawn as a marker.
        metric: the history key to draw.
        threshold: the stopping threshold (horizontal line).
        title: figure title.
        ax: the axes to draw on (default: a new figure's).
        threshold_label: the legend of the horizontal line (default ``criterion <threshold>``).
    """
    (ax,) = panel_axes(ax, 1, (7.6, 4.8))
    marked = False
    for entry in entries:
        history = entry.get("history") or {}
        time_s, values = _floats(history.get("time_s", [])), _floats(history.get(metric, []))
        count = min(time_s.size, values.size)  # an interrupted record may leave one list a step longer
        time_s, values = time_s[:count], values[:count]
        keep = (time_s > 0) & np.isfinite(values)
        if not keep.any():
            continue
        style = "o-" if keep.sum() < 4 else "-"
        (line,) = ax.plot(time_s[keep], np.maximum(values[keep], _FLOOR), style, ms=4, lw=1.4,
                          label=entry["label"] + ("" if entry.get("reached") else " (not reached)"))
        point = entry.get("switch_point")
        if point is not None and point[0] > 0:
            ax.plot([point[0]], [max(point[1], _FLOOR)], "D", ms=6, mfc="none", mec=line.get_color(),
                    label=None if marked else "switch (training -> sweeps)")
            marked = True
    ax.axhline(threshold, color="k", ls=":", lw=1.0, label=threshold_label or f"criterion {threshold:.2e}")
    ax.set(xscale="log", yscale="log", xlabel="wall time [s]", ylabel=METRIC_LABELS.get(metric, metric),
           title=title)
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="best")
    return ax.figure


def plot_mode_heatmap(steps: Sequence[float], modes: Sequence, relative_error: Sequence[Sequence[float]],
                      xlabel: str, title: str, log_x: bool = False, ax: Any = None):
    """Heat map of the relative error of each tracked peak (rows) over steps (columns); red = small.

    Args:
        steps: DNN steps or Jacobi sweeps, one per record.
        modes: the peaks (wavenumber tuples), one per row.
        relative_error: one row of per-peak errors per record, shape ``(records, peaks)``.
        xlabel: what the steps count.
        title: figure title.
        log_x: logarithmic step axis (records at geometric sweep counts); steps <= 0 are not drawn.
        ax: the axes to draw on (default: a new figure's).
    """
    points, errors = _floats(steps), np.asarray(relative_error, dtype=float).reshape(len(steps), len(modes))
    keep = points > 0 if log_x else np.isfinite(points)
    points, errors = points[keep], np.maximum(errors[keep], _FLOOR)
    (ax,) = panel_axes(ax, 1, (7.2, 0.6 * len(modes) + 2.2))
    fig = ax.figure
    if points.size:
        finite = errors[np.isfinite(errors)]
        norm = LogNorm(vmin=max(finite.min(), finite.max() * 1e-12), vmax=finite.max())
        image = ax.pcolormesh(points, np.arange(len(modes)), errors.T, shading="nearest", cmap="RdYlBu", norm=norm)
        fig.colorbar(image, ax=ax, label=r"relative error $\Delta_F(k)$")
    ax.set_yticks(np.arange(len(modes)), [mode_label(m) for m in modes])
    ax.set(xlabel=xlabel, ylabel=r"peak $k$, basis $\sin(k\pi(x-a)/L)$", title=title)
    ax.title.set_fontsize(9)
    if log_x:
        ax.set_xscale("log")
    return fig


def plot_switch_mode_errors(labels: Sequence[str], modes: Sequence, errors: Sequence[Sequence[float]],
                            title: str, ax: Any = None):
    """Grouped bars: the relative error of each peak when the hybrid hands over, one group per entry.

    Args:
        labels: hybrid entry labels (``hybrid[auto]``, ``hybrid[M=30]``, ...).
        modes: the peaks, shared by every entry.
        errors: per entry, the relative error of each peak at the switch.
        title: figure title.
        ax: the axes to draw on (default: a new figure's).
    """
    values = np.maximum(np.asarray(errors, dtype=float).reshape(len(labels), len(modes)), _FLOOR)
    (ax,) = panel_axes(ax, 1, (max(5.0, 1.3 * len(labels) * len(modes) * 0.5 + 3), 4.2))
    width = 0.8 / len(modes)
    positions = np.arange(len(labels))
    for j, mode in enumerate(modes):
        ax.bar(positions + (j - (len(modes) - 1) / 2) * width, values[:, j], width, label=mode_label(mode))
    ax.set_xticks(positions, labels)
    ax.set(yscale="log", ylabel=r"relative error $\Delta_F(k)$ at the switch", xlabel="hybrid entry", title=title)
    ax.grid(alpha=0.3, axis="y", which="both")
    ax.legend(title="peak", fontsize=8)
    return ax.figure


def plot_tradeoff(study: dict, title: str, ax: Any = None):
    """The trade-off in M: wall time (left) and sweeps (right) against M, training and sweep parts stacked.

    Args:
        study: one method's ``switch_study`` record (``runs`` with ``switch``, ``training_time_s``,
            ``sweep_time_s``, ``other_time_s``, ``sweeps``, ``dnn_steps``, ``reached``;
            ``step_to_sweep_ratio``, ``jacobi_wall_time_s``, ``jacobi_sweeps``, ``optimum_switch``).
        title: figure title.
        ax: two axes to draw on, time and sweeps (default: a new figure's).

    Training is drawn in sweeps as ``M ρ`` (the sweeps its time would have bought, ρ = t_step / t_sweep).
    """
    runs = study["runs"]
    labels = [str(run["switch"]) + ("" if run["reached"] else "*") for run in runs]
    x = np.arange(len(runs))
    training = np.array([run["training_time_s"] or 0.0 for run in runs])
    sweeping = np.array([run["sweep_time_s"] or 0.0 for run in runs])
    other = np.array([run["other_time_s"] or 0.0 for run in runs])
    ratio = study.get("step_to_sweep_ratio") or 0.0
    sweeps = np.array([run["sweeps"] for run in runs], dtype=float)
    steps_as_sweeps = np.array([run["dnn_steps"] for run in runs], dtype=float) * ratio
    ax_time, ax_sweeps = panel_axes(ax, 2, (11, 4.4))
    fig = ax_time.figure
    ax_time.bar(x, training, color="tab:orange", label="training")
    ax_time.bar(x, sweeping, bottom=training, color="tab:blue",
                label="sweeps" + (" and corrections" if study.get("method") == "hybrid" else ""))
    ax_time.bar(x, other, bottom=training + sweeping, color="0.7", label="set-up, hand-over")
    ax_sweeps.bar(x, sweeps, color="tab:blue", label="Jacobi sweeps")
    ax_sweeps.bar(x, steps_as_sweeps, bottom=sweeps, color="tab:orange",
                  label=f"training as sweeps: M ρ, ρ = {ratio:,.0f}")
    for axis, key in ((ax_time, "jacobi_wall_time_s"), (ax_sweeps, "jacobi_sweeps")):
        if study.get(key):
            axis.axhline(study[key], color="k", ls="--", lw=1.0, label="pure Jacobi from zero")
        axis.set_xticks(x, labels)
        axis.set(xlabel="switch M (training steps)" + ("; * = criterion not reached" if "*" in "".join(labels) else ""))
        axis.grid(alpha=0.3, axis="y")
        axis.legend(fontsize=7)
    best = study.get("optimum_switch")
    if best is not None:
        index = [run["switch"] for run in runs].index(best)
        ax_time.annotate("optimum", (index, training[index] + sweeping[index] + other[index]),
                         ha="center", va="bottom", fontsize=8)
    ax_time.set(ylabel="wall time [s]")
    ax_sweeps.set(ylabel="sweeps (training in sweep-equivalents)")
    fig.suptitle(title, fontsize=9)
    return fig


def plot_seed_study(study: dict, title: str, ax: Any = None):
    """The article's seeded switch study: sweeps, slow-mode amplitude and modelled time against M.

    Args:
        study: the ``seed_study`` record of ``compare.json`` (``per_seed`` with ``runs`` holding ``switch``,
            ``sweeps``, ``slow_mode_bound``, ``slow_mode_amplitudes``, ``time_s``; ``jacobi_sweeps``,
            ``jacobi_time_s``, ``classical``).
        title: figure title.
        ax: three axes to draw on (default: a new figure's).
    """
    ax_sweeps, ax_modes, ax_time = panel_axes(ax, 3, (16, 4.6))
    fig = ax_sweeps.figure
    for index, seed in enumerate(study["per_seed"]):
        color = f"C{index}"
        runs = seed["runs"]
        m = np.array([run["switch"] for run in runs])
        ax_sweeps.plot(m, [max(run["sweeps"], 1) for run in runs], "o-", ms=3, color=color,
                       label=f"seed {seed['seed']}: exact sweeps")
        bounds = [run["slow_mode_bound"] for run in runs]
        if all(b is not None for b in bounds):
            ax_sweeps.plot(m, np.maximum(bounds, 1), "x", color=color, ms=5,
                           label="slowest modes alone (lower bound)" if index == 0 else None)
        amplitudes = np.array([run["slow_mode_amplitudes"] for run in runs], dtype=float)
        for k, style in zip(range(min(2, amplitudes.shape[1])), ("-", "--")):
            ax_modes.plot(m, np.maximum(amplitudes[:, k], _FLOOR), style, color=color, lw=1.2,
                          label=f"seed {seed['seed']}, k = {k + 1}")
        ax_time.plot(m, [run["time_s"] for run in runs], "o-", ms=3, color=color, label=f"seed {seed['seed']}")
        best = seed["optimum_switch"]
        ax_time.plot([best], [seed["optimum_time_s"]], "*", ms=12, color=color)
    ax_sweeps.axhline(study["jacobi_sweeps"], color="k", ls="--", lw=1.0, label="pure Jacobi from zero")
    ax_time.axhline(study["jacobi_time_s"], color="k", ls="--", lw=1.0, label="pure Jacobi from zero")
    for j, stand_in in enumerate(study.get("classical") or []):
        lines: dict[str, Any] = dict(color="0.4", ls=(0, (1, 2 + j)), lw=1.2, label=stand_in["label"])
        ax_sweeps.axhline(max(stand_in["sweeps"], 1), **lines)
        ax_time.axhline(stand_in["time_s"], **lines)
    threshold = study.get("threshold")
    if study.get("criterion") == "discrete" and threshold:
        ax_modes.axhline(threshold, color="k", ls=":", lw=1.0, label=f"criterion {threshold:.0e}")
    ax_sweeps.set(yscale="log", xlabel="switch M (Adam steps)", ylabel="Jacobi sweeps to the criterion",
                  title="sweeps (DST-I exact count; sweeps <= 0 drawn at 1)")
    ax_modes.set(yscale="log", xlabel="switch M (Adam steps)", ylabel=r"$|\hat e_k| / \|u_h\|$ at the hand-over",
                 title="the slowest modes' amplitude at the hand-over")
    ax_time.set(yscale="log", xlabel="switch M (Adam steps)", ylabel="CPU time [s] (modelled, see compare.json)",
                title="training (measured) + sweeps x time per sweep; * optimum")
    for axis in (ax_sweeps, ax_modes, ax_time):
        axis.title.set_fontsize(9)
        axis.grid(alpha=0.3, which="both")
        axis.legend(fontsize=6)
    fig.suptitle(title, fontsize=9)
    return fig
