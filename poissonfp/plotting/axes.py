"""The axes every plotting function draws on: the caller's (``ax=``, to compose panels) or a new figure's."""
from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["panel_axes"]


def panel_axes(ax: Any, count: int, figsize: tuple[float, float]) -> list:
    """``count`` axes in a row: the caller's (one Axes or a sequence of ``count``) or those of a new
    figure of ``figsize`` inches with constrained layout on an Agg canvas (not registered with pyplot:
    nothing to close).

    Raises:
        ValueError: When the caller passes a different number of axes.
    """
    if ax is None:
        figure = Figure(figsize=figsize, layout="constrained")
        FigureCanvasAgg(figure)
        return list(np.atleast_1d(figure.subplots(1, count, squeeze=False)[0]))
    axes = list(np.atleast_1d(ax))
    if len(axes) != count:
        raise ValueError(f"this plot needs {count} axes, got {len(axes)}")
    return axes
