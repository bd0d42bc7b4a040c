"""Figures of the F-Principle diagnostics: ``plot_*(data..., ax=None) -> Figure``; they never compute."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from poissonfp.plotting.axes import panel_axes

__all__ = [
    "plot_accuracy_sweep",
    "plot_degree_profiles",
    "plot_delta_f_heatmap",
    "plot_filter_errors",
    "plot_fit_snapshots",
    "plot_projected_spectra",
    "plot_spectrum_peaks",
]


def _figure(width: float = 6.4, height: float = 4.0, ncols: int = 1, ax: Any = None) -> tuple[Figure, list]:
    axes = panel_axes(ax, ncols, (width * ncols, height))
    return axes[0].figure, axes


def plot_delta_f_heatmap(
    delta_f: np.ndarray,
    peak_labels: Sequence[str],
    epochs: np.ndarray,
    *,
    title: str,
    xlabel: str = "epoch",
    first_epochs: Sequence[int | None] | None = None,
    vmax: float = 1.0,
    ax: Any = None,
) -> Figure:
    """Heat map of ``Delta_F`` (rows: recorded epochs, columns: peaks); red = small error, as in the paper."""
    fig, (ax,) = _figure(7.0, 3.2, ax=ax)
    extent = (epochs[0], epochs[-1], -0.5, len(peak_labels) - 0.5)
    image = ax.imshow(
        np.asarray(delta_f).T, aspect="auto", origin="lower", extent=extent, cmap="RdYlBu", vmin=0.0, vmax=vmax,
        interpolation="nearest",
    )
    ax.set_yticks(range(len(peak_labels)), peak_labels)
    if first_epochs is not None:
        for row, epoch in enumerate(first_epochs):
            if epoch is not None:
                ax.plot(epoch, row, marker="v", color="black", markersize=7)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("peak frequency")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label=rf"$\Delta_F(k)$ (relative error, clipped at {vmax:g})")
    return fig


def plot_fit_snapshots(x: np.ndarray, y: np.ndarray, snapshots: Mapping[int, np.ndarray], *, title: str,
                       ax: Any = None) -> Figure:
    """Target and network output at a few epochs, one panel per epoch."""
    epochs = sorted(snapshots)
    fig, axes = _figure(3.2, 3.0, ncols=len(epochs), ax=ax)
    for ax, epoch in zip(axes, epochs):
        ax.plot(x, y, color="black", lw=1.5, label="target")
        ax.plot(x, snapshots[epoch], color="tab:red", lw=1.2, ls="--", label="network")
        ax.set_title(f"epoch {epoch}")
        ax.set_xlabel("x (rad)")
    axes[0].set_ylabel("y")
    axes[0].legend(loc="lower right", fontsize="small")
    fig.suptitle(title)
    return fig


def plot_projected_spectra(
    frequencies: np.ndarray,
    panels: Mapping[str, Mapping[str, np.ndarray]],
    *,
    title: str,
    marks: Mapping[str, float] | None = None,
    ax: Any = None,
) -> Figure:
    """One panel per direction, each with several amplitude spectra ``|y_hat(k)|`` (label -> values)."""
    fig, axes = _figure(5.0, 3.6, ncols=len(panels), ax=ax)
    for ax, (direction, curves) in zip(axes, panels.items()):
        for label, values in curves.items():
            style = {"ls": ":", "color": "black"} if label.startswith("exact") else {}
            ax.plot(frequencies, values, label=label, **style)
        for name, k in (marks or {}).items():
            ax.axvline(k, color="grey", lw=0.8, ls="--")
            ax.annotate(name, (k, ax.get_ylim()[1]), fontsize="small", ha="left", va="top")
        ax.set_xlabel("frequency k (cycles per unit of p . x)")
        ax.set_ylabel(r"$|\hat{y}(k)|$")
        ax.set_title(f"along {direction}")
        ax.legend(fontsize="small")
    fig.suptitle(title)
    return fig


def plot_accuracy_sweep(
    fractions: Sequence[float], train_accuracy: Sequence[float], test_accuracy: Sequence[float],
    neighbour_accuracy: Sequence[float] | None = None, *, title: str, ax: Any = None,
) -> Figure:
    """Train and test accuracy against the training fraction (and a nearest-neighbour vote's test accuracy)."""
    fig, (ax,) = _figure(5.0, 3.6, ax=ax)
    ax.plot(fractions, train_accuracy, "o-", label="train")
    ax.plot(fractions, test_accuracy, "s-", label="test")
    if neighbour_accuracy is not None:
        ax.plot(fractions, neighbour_accuracy, "^:", color="grey", label="test, Hamming-neighbour vote")
    ax.axhline(0.5, color="grey", lw=0.8, ls="--", label="chance")
    ax.set_xlabel("fraction of the data set used for training")
    ax.set_ylabel("accuracy (sign of the output)")
    ax.set_ylim(0.0, 1.05)
    ax.set_title(title)
    ax.legend(fontsize="small")
    return fig


def plot_spectrum_peaks(frequencies: np.ndarray, amplitude: np.ndarray, peaks: Sequence[int], *, title: str,
                        ax: Any = None) -> Figure:
    """An amplitude spectrum with its selected peaks marked."""
    fig, (ax,) = _figure(5.5, 3.6, ax=ax)
    ax.plot(frequencies, amplitude, color="tab:blue")
    ax.plot(np.asarray(frequencies)[peaks], np.asarray(amplitude)[peaks], "o", color="black", label="selected peaks")
    ax.set_xlabel("frequency k (cycles per unit of the first principal component)")
    ax.set_ylabel(r"$\|\hat{y}(k)\|$")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend(fontsize="small")
    return fig


def plot_filter_errors(
    epochs: np.ndarray,
    low_errors: Mapping[str, np.ndarray],
    high_errors: Mapping[str, np.ndarray],
    *,
    title: str,
    ax: Any = None,
) -> Figure:
    """``e_low`` (solid) and ``e_high`` (dashed) over epochs, one colour per filter width; a dotted line at
    half of the initial error (the halving rule of the verdict)."""
    fig, (ax,) = _figure(6.0, 3.8, ax=ax)
    for i, label in enumerate(low_errors):
        colour = f"C{i}"
        ax.plot(epochs, low_errors[label], color=colour, label=rf"$e_{{low}}$, {label}")
        ax.plot(epochs, high_errors[label], color=colour, ls="--", label=rf"$e_{{high}}$, {label}")
    first = next(iter(low_errors.values()))[0]
    ax.axhline(0.5 * first, color="grey", lw=0.8, ls=":", label="half the initial error")
    ax.set_xlabel("epoch")
    ax.set_ylabel("relative error (Euclidean norm over the data set)")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend(fontsize="small", ncol=2)
    return fig


def plot_degree_profiles(
    fractions: Sequence[float], excess: Sequence[np.ndarray], aliasing: Sequence[np.ndarray], *, title: str,
    ax: Any = None,
) -> Figure:
    """Energy per Walsh degree: the network's excess over the true spectrum (solid, one line per training
    fraction) and the training subset's aliasing (dotted)."""
    fig, (ax,) = _figure(6.0, 3.8, ax=ax)
    for i, fraction in enumerate(fractions):
        degrees = np.arange(len(excess[i]))
        ax.plot(degrees, excess[i], "o-", color=f"C{i}", label=f"network excess, fraction {fraction}")
        ax.plot(degrees, aliasing[i], ":", color=f"C{i}", label=f"training-set aliasing, fraction {fraction}")
    ax.set_xlabel("Walsh degree |S| (frequency on the hypercube)")
    ax.set_ylabel("energy")
    ax.set_title(title)
    ax.legend(fontsize="x-small", ncol=2)
    return fig
