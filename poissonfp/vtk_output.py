"""The solution as a VTK rectilinear grid (``.vtr``) for ParaView and VisIt, boundary values included.

A rectilinear grid is VTK's structured grid for axis-aligned boxes: each axis is stored once, and
ParaView and VisIt read it as they read any structured grid. The file is written by pyevtk (binary,
appended raw data); 1D and 2D grids are written as one-point-thick 3D grids, as VTK expects.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from poissonfp.grid import Grid

__all__ = ["with_boundary", "write_vtk"]


def with_boundary(grid: Grid, interior: np.ndarray, boundary: Callable[..., np.ndarray]) -> tuple[list, np.ndarray]:
    """The axes with their end points and ``interior`` padded with ``boundary`` (g) on the boundary."""
    axes = [np.concatenate(([lo], a, [hi])) for lo, a, hi in zip(grid.lower, grid.axes, grid.upper)]
    coords = np.meshgrid(*axes, indexing="ij", sparse=True)
    full = np.array(np.broadcast_to(boundary(*coords), tuple(len(a) for a in axes)), dtype=float)
    full[(slice(1, -1),) * grid.ndim] = interior
    return axes, full


def write_vtk(path: str | os.PathLike, grid: Grid, fields: dict[str, np.ndarray],
              boundary: dict[str, Callable[..., np.ndarray]]) -> Path:
    """Write interior ``fields`` (each padded with ``boundary[name]``) to ``path`` (suffix ``.vtr``).

    Args:
        path: the file to write; its suffix must be ``.vtr`` (pyevtk appends it itself).
        grid: the interior grid of the fields.
        fields: point data by name, each of shape ``grid.shape``.
        boundary: for each field name, the function giving its boundary values (fields without one
            get zero on the boundary).
    """
    from pyevtk.hl import gridToVTK

    path = Path(path)
    if path.suffix != ".vtr":
        raise ValueError(f"a VTK rectilinear grid file ends in .vtr, got {path.name}")
    zero = lambda *c: np.zeros(np.broadcast_shapes(*(a.shape for a in c)))  # noqa: E731
    point_data, axes = {}, None
    for name, values in fields.items():
        axes, full = with_boundary(grid, values, boundary.get(name, zero))
        point_data[name] = np.ascontiguousarray(full.reshape(full.shape + (1,) * (3 - grid.ndim)))
    if axes is None:
        raise ValueError("no field to write")
    axes3 = [np.ascontiguousarray(a, dtype=float) for a in axes] + [np.zeros(1)] * (3 - grid.ndim)
    gridToVTK(str(path.with_suffix("")), *axes3, pointData=point_data)
    return path
