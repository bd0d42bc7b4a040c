"""Figures of one solve: the solution, its error, the convergence history, the per-mode errors.

Every ``plot_*`` takes data (never a solver), draws it and returns the Figure; nothing here computes
a solution. 1D fields are drawn as curves, 2D as images, 3D as the mid-plane slice of each axis pair.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm

from poissonfp.grid import Grid

__all__ = ["plot_field", "plot_convergence", "plot_mode_errors"]

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
        index = [slice(None)] * 3
        index[drop] = grid.shape[drop] // 2
        where = f"{names[drop]} = {grid.axes[drop][grid.shape[drop] // 2]:.3g}"
        panels.append((f"{names[keep[0]]} ({where})", names[keep[1]], values[tuple(index)],
                       (grid.axes[keep[0]], grid.axes[keep[1]])))
    return panels


def plot_field(grid: Grid, values: np.ndarray, title: str, label: str = "u", log: bool = False,
               reference: np.ndarray | None = None, reference_label: str = "exact"):
    """Draw a grid function: a curve in 1D (with an optional reference curve), images otherwise.

    Args:
        grid: the grid of ``values``.
        values: interior values, shape ``grid.shape``.
        title: figure title.
        label: colour-bar / axis label.
        log: logarithmic colour (or y) scale, for error magnitudes.
        reference: a second curve to overlay in 1D (e.g. the exact solution).
        reference_label: its legend entry.
    """
    if grid.ndim == 1:
        fig, ax = plt.subplots(figsize=(6.4, 3.6))
        ax.plot(grid.axes[0], values, lw=1.2, label=label)
        if reference is not None:
            ax.plot(grid.axes[0], reference, "k--", lw=0.8, label=reference_label)
            ax.legend()
        ax.set(xlabel="x", ylabel=label, title=title, yscale="log" if log else "linear")
        ax.grid(alpha=0.3)
        return fig
    panels = _slices(grid, values)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.0), squeeze=False)
    for ax, (xlabel, ylabel, data, (xs, ys)) in zip(axes[0], panels):
        positive = np.maximum(np.abs(data), 1e-300)
        norm = LogNorm(vmin=max(positive.max() * 1e-8, positive.min()), vmax=positive.max()) if log else None
        image = ax.pcolormesh(xs, ys, (positive if log else data).T, shading="auto", norm=norm,
                              cmap="magma" if log else "viridis")
        ax.set(xlabel=xlabel, ylabel=ylabel, aspect="equal")
        fig.colorbar(image, ax=ax, label=label, shrink=0.85)
    fig.suptitle(title)
    return fig


def plot_convergence(history: dict[str, list], metric: str, threshold: float | None, title: str):
    """Error norms against wall time and iterations, with the stopping threshold."""
    fig, (ax_time, ax_iter) = plt.subplots(1, 2, figsize=(11, 4))
    time_s = np.asarray(history["time_s"], dtype=float)
    iteration = np.asarray(history["iteration"], dtype=float)
    for key, label in _LABELS.items():
        values = np.asarray([np.nan if v is None else v for v in history.get(key, [])], dtype=float)
        if values.size == 0 or np.all(np.isnan(values)):
            continue
        style = "-" if key == metric else "--"
        ax_time.plot(time_s, values, style, label=label)
        ax_iter.plot(iteration, values, style, label=label)
    for ax, xlabel in ((ax_time, "wall time [s]"), (ax_iter, "iteration (sweeps / cycles)")):
        if threshold is not None:
            ax.axhline(threshold, color="k", lw=0.8, ls=":", label="stopping threshold")
        ax.set(xlabel=xlabel, yscale="log", ylabel="error")
        if ax is ax_iter and np.nanmax(iteration, initial=0) > 10:
            ax.set_xscale("symlog", linthresh=1)
            ax.set_xlim(left=0)
        ax.grid(alpha=0.3, which="both")
    ax_time.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_mode_errors(modes: Sequence[Sequence[int]], relative_error: np.ndarray, time_s: Sequence[float],
                     title: str):
    """Relative error of each tracked sine mode (against the discrete solution) over wall time."""
    fig, ax = plt.subplots(figsize=(6.4, 4))
    errors = np.asarray(relative_error, dtype=float)
    for j, mode in enumerate(modes):
        ax.plot(time_s, np.maximum(errors[:, j], 1e-17), label="mode " + ",".join(map(str, mode)))
    ax.set(xlabel="wall time [s]", ylabel="relative error of mode", yscale="log", title=title)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return fig
