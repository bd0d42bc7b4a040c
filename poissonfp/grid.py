"""Uniform grids of interior points on boxes in 1, 2 or 3 dimensions."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

__all__ = ["Grid"]


@dataclass(frozen=True)
class Grid:
    """Interior points of a uniform grid on the box ``[lower, upper]``.

    Along dimension ``d`` there are ``shape[d]`` interior points with spacing
    ``h_d = (upper[d] - lower[d]) / (shape[d] + 1)``; the boundary points are not stored.

    >>> g = Grid(lower=(0.0,), upper=(1.0,), shape=(3,))
    >>> g.spacing
    (0.25,)
    >>> g.axes[0].tolist()
    [0.25, 0.5, 0.75]
    """

    lower: tuple[float, ...]
    upper: tuple[float, ...]
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        if not (len(self.lower) == len(self.upper) == len(self.shape)) or not 1 <= len(self.shape) <= 3:
            raise ValueError("lower, upper and shape must all have length 1, 2 or 3")
        if any(n < 1 for n in self.shape):
            raise ValueError(f"every dimension needs at least one interior point, got {self.shape}")
        if any(b <= a for a, b in zip(self.lower, self.upper)):
            raise ValueError("upper must exceed lower in every dimension")

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        """Number of interior points (unknowns)."""
        return int(np.prod(self.shape))

    @property
    def spacing(self) -> tuple[float, ...]:
        return tuple((b - a) / (n + 1) for a, b, n in zip(self.lower, self.upper, self.shape))

    @property
    def cell_volume(self) -> float:
        """Product of the spacings: the quadrature weight of one grid point."""
        return float(np.prod(self.spacing))

    @cached_property
    def axes(self) -> tuple[np.ndarray, ...]:
        """Interior coordinates along each dimension."""
        return tuple(a + h * np.arange(1, n + 1) for a, h, n in zip(self.lower, self.spacing, self.shape))

    def coordinates(self) -> tuple[np.ndarray, ...]:
        """Broadcastable coordinate arrays (``indexing='ij'``, sparse) of the interior points."""
        return tuple(np.meshgrid(*self.axes, indexing="ij", sparse=True))

    def points(self) -> np.ndarray:
        """All interior points as an array of shape ``(size, ndim)``, C order."""
        full = np.meshgrid(*self.axes, indexing="ij")
        return np.stack([c.ravel() for c in full], axis=1)

    def with_shape(self, shape: tuple[int, ...]) -> Grid:
        """The same box with another number of interior points."""
        return Grid(self.lower, self.upper, tuple(shape))

    def describe(self) -> str:
        """Short human-readable shape, e.g. ``'256x256'``."""
        return "x".join(str(n) for n in self.shape)
