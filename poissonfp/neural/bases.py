"""Classical smooth coarse bases: the controls for the network's feature space in the two-level hybrid.

The hybrid's coarse space is the span of grid functions that vanish on the boundary. The network supplies
``[B h_1, .., B h_m, B]``; :func:`classical_features` supplies the same number of functions from a
classical smooth basis, so that a comparison shows what the network itself contributes:

- ``"polynomial"``: the bubble ``B(x) = Π_d (1 - t_d²)`` (``t`` the coordinates mapped to ``[-1, 1]^d``)
  times tensor products of Legendre polynomials ``P_{k_1}(t_1) ... P_{k_d}(t_d)``, ``0 <= k_d < p``;
- ``"sine"``: the lowest sine modes ``Π_d sin(k_d π (x_d - a_d) / (b_d - a_d))``, ``1 <= k_d <= p``
  (on the grid these are exact eigenvectors of the 5-point Laplacian, so their Galerkin projection is
  exact in those modes and does nothing else).

Both are full tensor products, so in ``d`` dimensions ``m = p^d`` functions: ``p`` is the integer whose
``p^d`` is nearest to the requested ``count`` (``m = count`` in 1D; ``count = 129`` gives ``p = 11``,
``m = 121`` in 2D and ``p = 5``, ``m = 125`` in 3D). ``p`` never exceeds the grid points of an axis.
"""
from __future__ import annotations

import numpy as np
from numpy.polynomial import legendre

from poissonfp.grid import Grid

__all__ = ["KINDS", "classical_features", "per_axis_count"]

#: The classical bases :func:`classical_features` builds.
KINDS = ("polynomial", "sine")


def per_axis_count(count: int, ndim: int, limit: int | None = None) -> int:
    """Functions per axis ``p`` whose tensor product ``p**ndim`` is nearest to ``count`` (ties: the smaller).

    >>> per_axis_count(101, 1), per_axis_count(129, 2), per_axis_count(129, 3)
    (101, 11, 5)
    """
    if count < 1:
        raise ValueError(f"count must be a positive integer, got {count}")
    low = max(1, int(np.floor(count ** (1.0 / ndim) + 1e-9)))
    candidates = (low, low + 1)
    p = min(candidates, key=lambda q: (abs(q**ndim - count), q))
    return min(p, limit) if limit is not None else p


def _axis_values(kind: str, t: np.ndarray, p: int) -> np.ndarray:
    """One axis's factors at the mapped coordinates ``t`` in (-1, 1): shape ``(len(t), p)``."""
    if kind == "polynomial":
        return (1.0 - t * t)[:, None] * legendre.legvander(t, p - 1)
    return np.sin(np.pi * np.outer((t + 1.0) / 2.0, np.arange(1, p + 1)))


def classical_features(grid: Grid, kind: str, count: int) -> np.ndarray:
    """Boundary-vanishing smooth functions on the interior grid points, as feature columns.

    Args:
        grid: the grid.
        kind: ``"polynomial"`` (bubble x Legendre tensor products) or ``"sine"`` (lowest sine modes).
        count: the number of functions wanted; the tensor structure gives ``p**grid.ndim`` of them, with
            ``p`` from :func:`per_axis_count` (capped at the smallest axis's number of points).

    Returns:
        ``Φ``, shape ``(grid.size, p**ndim)``, C-ordered rows like ``grid.points()``; the lowest tensor
        degrees (or wavenumbers) first.

    >>> phi = classical_features(Grid((0.0,), (1.0,), (7,)), "sine", 3)
    >>> phi.shape, bool(abs(phi[3, 0] - 1.0) < 1e-12)
    ((7, 3), True)
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    p = per_axis_count(count, grid.ndim, limit=min(grid.shape))
    factors = []
    for axis, a, b in zip(grid.axes, grid.lower, grid.upper):
        t = 2.0 * (axis - a) / (b - a) - 1.0
        factors.append(_axis_values(kind, t, p))
    phi = factors[0]
    for factor in factors[1:]:
        phi = np.einsum("ia,jb->ijab", phi, factor).reshape(phi.shape[0] * factor.shape[0], -1)
    return np.ascontiguousarray(phi)
