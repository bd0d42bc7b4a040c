"""Figures of one solve: the solution, its error, the convergence history, the per-mode errors.

Every ``plot_*`` takes data (never a solver), draws it and returns the Figure; nothing here computes
a solution. Each accepts ``ax=`` to draw on axes a caller made (to compose panels; see each function
for how many axes it needs) and otherwise makes its own figure. 1D fields are drawn as curves, 2D as
images, 3D as the mid-plane slice of each axis pair. Curves with few points (a hybrid's or a direct
method's handful of records) get markers, so two records do not pass for a measured straight line.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.ticker import MaxNLocator, NullLocator, ScalarFormatter

from poissonfp.grid import Grid
from poissonfp.plotting.axes import panel_axes

__all__ = ["plot_convergence", "plot_field", "plot_mode_errors", "work_axis"]

#: Curves with at most this many points are drawn with markers.
FEW_POINTS = 25

_LABELS = {
    "rel_residual": r"$\|b - Au\|_2 / \|b\|_2$",
    "error_vs_exact_inf": r"$\|u - u_{\mathrm{exact}}\|_\infty$",
    "error_vs_exact_rel_l2": r"$\|u - u_{\mathrm{exact}}\|_2 / \|u_{\mathrm{exact}}\|_2$",
    "error_vs_discrete_rel_l2": r"$\|u - u_h\|_2 / \|u_h\|_2$",
}


def _slices(grid: Grid, values: np.ndarray) -> list[tuple[str, str, np.ndarray, tuple]]:
    """2D panels to draw: the field itself in 2D, three mid-plane slices in 3D."""
    names = "xyz"
    if grid.ndim == 2:
        return [("x", "y", values, (grid.axes[0], grid.axes[1]))]
    panels = []
    for drop in range(3):
        keep = [d for d in range(3) if d != drop]
        index: list[slice | int] = [slice(None)] * 3
        index[drop] = grid.shape[drop] // 2
        where = f"{names[drop]} = {grid.axes[drop][grid.shape[drop] // 2]:.3g}"
        panels.append((f"{names[keep[0]]} ({where})", names[keep[1]], values[tuple(index)],
                       (grid.axes[keep[0]], grid.axes[keep[1]])))
    return panels


def _marker(count: int) -> dict[str, Any]:
    return {"marker": "o", "markersize": 3.5} if count <= FEW_POINTS else {}


def plot_field(grid: Grid, values: np.ndarray, title: str, label: str = "u", log: bool = False,
               reference: np.ndarray | None = None, reference_label: str = "exact", ax=None,
               mask: np.ndarray | None = None):
    """Draw a grid function: a curve in 1D (with an optional reference curve), images otherwise.

    Args:
        grid: the grid of ``values``.
        values: interior values, shape ``grid.shape``.
        title: figure title.
        label: colour-bar / axis label.
        log: logarithmic colour (or y) scale, for error magnitudes.
        reference: a second curve to overlay in 1D (e.g. the exact solution).
        reference_label: its legend entry.
        ax: axes to draw on: one in 1D and 2D, three (one per mid-plane) in 3D.
        mask: True at the points of the domain; the others (a domain inside the box) are left blank.

    A field that is zero everywhere on a log scale (an exact solve's error) is drawn on a linear scale
    with a note, as there is no magnitude to show.
    """
    values = np.asarray(values, dtype=float)
    if mask is not None:
        values = np.where(mask, values, np.nan)
    magnitude = np.abs(values[np.isfinite(values)])
    if log and (magnitude.size == 0 or magnitude.max() == 0.0):
        log, title = False, f"{title}: 0 at every grid point"
    if grid.ndim == 1:
        (axis,) = panel_axes(ax, 1, (6.4, 3.6))
        shown = np.where(values > 0, values, np.nan) if log else values
        axis.plot(grid.axes[0], shown, lw=1.2, label=label, **_marker(grid.size))
        if reference is not None:
            axis.plot(grid.axes[0], reference, "k--", lw=0.8, label=reference_label)
            axis.legend()
        axis.set(xlabel="x", ylabel=label, title=title, yscale="log" if log else "linear")
        axis.grid(alpha=0.3)
        return axis.figure
    panels = _slices(grid, values)
    axes = panel_axes(ax, len(panels), (4.8 * len(panels), 4.0))
    for axis, (xlabel, ylabel, data, (xs, ys)) in zip(axes, panels):
        shown = np.ma.masked_invalid(np.where(data == 0, 1e-300, np.abs(data)) if log else data)
        norm = None
        if log:
            top = float(magnitude.max())
            bottom = max(top * 1e-8, float(magnitude[magnitude > 0].min()))
            norm = LogNorm(vmin=bottom if bottom < top else top / 10, vmax=top)
        image = axis.pcolormesh(xs, ys, shown.T, shading="auto", norm=norm, cmap="magma" if log else "viridis")
        axis.set(xlabel=xlabel, ylabel=ylabel, aspect="equal")
        axis.figure.colorbar(image, ax=axis, label=label, shrink=0.85, pad=0.02)
    axes[0].figure.suptitle(title)
    return axes[0].figure


def work_axis(history: dict[str, list]) -> tuple[np.ndarray, str, float | None]:
    """The x values of the iteration panel, its label, and where the network hands over (or None).

    Iterative methods use their iteration count. Records of a network phase all have iteration 0;
    they are placed at their training step instead, and the sweeps after the hand-over are counted
    from the last step, so a hybrid's panel shows both phases instead of a vertical line at 0.
    """
    iteration = np.asarray(history["iteration"], dtype=float)
    steps = np.asarray(history.get("dnn_steps", [0] * len(iteration)), dtype=float)
    if iteration.size == 0 or not np.any(steps > 0):
        return iteration, "iteration (sweeps / cycles)", None
    switch = float(steps.max())
    x = np.where(iteration > 0, switch + iteration, np.minimum(steps, switch))
    if not np.any(iteration > 0):
        return x, "network training steps", None
    return x, "network steps, then Jacobi sweeps (after the dotted line)", switch


def _network_phase_end(history: dict[str, list]) -> float | None:
    """Wall time at which a network phase ended (the last record at iteration 0 with training steps)."""
    steps = np.asarray(history.get("dnn_steps", []), dtype=float)
    if not np.any(steps > 0):
        return None
    iteration = np.asarray(history["iteration"], dtype=float)
    time_s = np.asarray(history["time_s"], dtype=float)
    network = time_s[(iteration == 0) & (steps > 0)]
    return float(network.max()) if network.size else None


def plot_convergence(history: dict[str, list], metric: str, threshold: float | None, title: str, ax=None):
    """Error norms against wall time and against work (iterations, network steps), with the threshold.

    The time axis starts at 0 and shades the network phase, if any (records crowded at its end get a log
    axis cut to them, :func:`_spread_time_axis`); the error axis is logarithmic unless no norm is positive
    (a one-point grid solved exactly). ``ax``: two axes (time, work), or one for the time panel alone.
    """
    axes = list(np.atleast_1d(ax)) if ax is not None else panel_axes(None, 2, (11, 4))
    time_s = np.asarray(history["time_s"], dtype=float)
    work, work_label, switch = work_axis(history)
    panels = [(axes[0], time_s, "wall time [s]")] + ([(axes[1], work, work_label)] if len(axes) > 1 else [])
    for key, label in _LABELS.items():
        values = np.asarray([np.nan if v is None else v for v in history.get(key, [])], dtype=float)
        if values.size == 0 or np.all(np.isnan(values)):
            continue
        style = "-" if key == metric else "--"
        label = f"{label} (stopping metric)" if key == metric else label
        for axis, x, _ in panels:
            axis.plot(x, values, style, label=label, **_marker(values.size))
    network_end = _network_phase_end(history)
    drawn = [np.asarray(line.get_ydata(), dtype=float) for line in axes[0].get_lines()]
    scale = "log" if any(np.any(values > 0) for values in drawn) else "linear"  # all zero: nothing to log
    for axis, _x, xlabel in panels:
        if threshold is not None and (threshold > 0 or scale == "linear"):
            axis.axhline(threshold, color="k", lw=0.8, ls=":", label="stopping threshold")
        axis.set(xlabel=xlabel, yscale=scale, ylabel="error")
        axis.set_xlim(left=0)
        axis.grid(alpha=0.3, which="both")
    if network_end:
        axes[0].axvspan(0, network_end, color="tab:orange", alpha=0.12, lw=0, label="network phase")
    _spread_time_axis(axes[0], time_s)
    if switch is not None and len(axes) > 1:
        axes[1].axvline(switch, color="k", lw=0.8, ls=":")
    if len(axes) > 1 and switch is None and np.nanmax(work, initial=0) > 10:
        axes[1].set_xscale("symlog", linthresh=1)
        axes[1].set_xlim(left=0)
    elif len(axes) > 1:
        axes[1].xaxis.set_major_locator(MaxNLocator(integer=True))  # sweeps, cycles and steps are whole
    axes[0].legend(fontsize=8)
    axes[0].figure.suptitle(title)
    return axes[0].figure


#: A time panel whose records all lie in the last fraction ``1 - CROWDED`` of its linear axis gets a log axis.
CROWDED = 0.8


#: Share of the crowded time panel's width left free on each side of its records.
MARGIN = 0.1


def _spread_time_axis(axis, time_s: np.ndarray) -> None:
    """A log time axis, cut to the records, when they crowd at its end (a long set-up or network phase,
    then a few fast records: on a linear axis from 0 they would share the last few per cent of the width,
    and on a log axis over a decade around them, 0.268 s and 0.271 s, still 1 % of it). The records then
    span ``1 - 2 MARGIN`` of the width; a lone record sits in the middle of a factor-2 range."""
    positive = time_s[np.isfinite(time_s) & (time_s > 0)]
    if positive.size < 1 or positive.min() < CROWDED * positive.max():
        return
    axis.set_xscale("log")
    low, high = float(positive.min()), float(positive.max())
    if high <= low * (1 + 1e-9):
        low, high = low / 2**0.4, high * 2**0.4
    pad = (high / low) ** (MARGIN / (1 - 2 * MARGIN))
    axis.set_xlim(low / pad, high * pad)
    axis.set_xlabel(f"{axis.get_xlabel()} (log axis from {low / pad:.3g} s: set-up before)")
    if high / low < 10:  # within a decade: a few plain ticks (the log minor labels would overprint)
        axis.xaxis.set_major_locator(MaxNLocator(4))
        axis.xaxis.set_major_formatter(ScalarFormatter(useOffset=False))
        axis.xaxis.set_minor_locator(NullLocator())


def plot_mode_errors(modes: Sequence[Sequence[int]], relative_error: np.ndarray, time_s: Sequence[float],
                     title: str, ax=None):
    """Relative error of each tracked sine mode (against the discrete solution) over wall time."""
    (axis,) = panel_axes(ax, 1, (6.4, 4))
    errors = np.asarray(relative_error, dtype=float)
    for j, mode in enumerate(modes):
        axis.plot(time_s, np.maximum(errors[:, j], 1e-17), label="mode " + ",".join(map(str, mode)),
                  **_marker(len(time_s)))
    axis.set(xlabel="wall time [s]", ylabel="relative error of mode", yscale="log", title=title)
    axis.set_xlim(left=0)
    axis.grid(alpha=0.3, which="both")
    axis.legend()
    return axis.figure
