"""Figures of the ``operator`` diagnostic: they draw what they are given, never compute a measurement."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

__all__ = ["plot_band_errors", "plot_step_reductions"]


def plot_band_errors(bands: Sequence[str], errors: Sequence[float], title: str) -> Figure:
    """Held-out relative error of the network per DST band (log scale), with 1 (no information) marked."""
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    ax.bar(range(len(bands)), errors, color="C1")
    ax.set_yscale("log")
    ax.axhline(1.0, color="k", linestyle=":", label="error 1 (nothing learned)")
    ax.set_xticks(range(len(bands)), [f"{b}" for b in bands])
    ax.set_xlabel("band of max_d k_d / n_d")
    ax.set_ylabel("relative error ||P_b (N(r) - A⁻¹r)|| / ||P_b A⁻¹r||")
    ax.set_title(title, fontsize="small")
    ax.legend(fontsize="small")
    return fig


def plot_step_reductions(binned: dict[str, Any], title: str) -> Figure:
    """Error reduction (after / before) per network call, per sweep and per block of sweeps, against frequency."""
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    edges = np.asarray(binned["edges"])
    centres = (edges[:-1] + edges[1:]) / 2
    ax.semilogy(centres, binned["call"], marker="o", color="C1", label="per network call")
    ax.semilogy(centres, binned["sweep"], marker="s", color="C0", label="per ω-Jacobi sweep")
    ax.semilogy(centres, binned["sweep_block"], marker=".", color="C0", linestyle="--",
                label="per block of sweeps between calls")
    ax.axhline(1.0, color="k", linestyle=":")
    ax.set_xlabel("frequency max_d k_d / n_d")
    ax.set_ylabel("error reduction (DST norm after / before)")
    ax.set_title(title, fontsize="small")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return fig
