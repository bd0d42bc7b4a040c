"""Compiled grid-transfer and residual kernels of the multilevel cycle (numba, single-threaded, fused).

Grid transfers are tensor products of 1D operators stored as padded tap lists: output point ``i`` along
an axis is ``Σ_t weights[i, t] * src[taps[i, t]]`` (unused taps carry weight 0). :func:`transfer_axis`
applies one such operator along the middle axis of an array viewed as ``(before, n, after)``, so one
kernel serves every axis of 1D, 2D and 3D grids. :func:`residual_1d` .. :func:`residual_3d` compute
``b - A u`` from the zero-padded iterate the Jacobi kernels work on
(:mod:`poissonfp.solvers.jacobi_kernels`).
"""
from __future__ import annotations

from numba import njit

__all__ = ["transfer_axis", "residual_1d", "residual_2d", "residual_3d", "add_interior_1d",
           "add_interior_2d", "add_interior_3d"]


@njit(cache=True)
def transfer_axis(src, taps, weights, out):  # pragma: no cover - compiled
    """``out[p, i, q] = Σ_t weights[i, t] src[p, taps[i, t], q]`` (src ``(P, n, Q)``, out ``(P, m, Q)``)."""
    before, m, after = out.shape
    count = taps.shape[1]
    for p in range(before):
        for i in range(m):
            for q in range(after):
                out[p, i, q] = 0.0
            for t in range(count):
                w = weights[i, t]
                if w != 0.0:
                    j = taps[i, t]
                    for q in range(after):
                        out[p, i, q] += w * src[p, j, q]


@njit(cache=True)
def residual_1d(u, b, c, diag, out):  # pragma: no cover - compiled
    """``out = b - A u`` with ``u`` zero-padded (shape n + 2)."""
    n = b.shape[0]
    for i in range(n):
        out[i] = b[i] - (diag * u[i + 1] - c[0] * (u[i] + u[i + 2]))


@njit(cache=True)
def residual_2d(u, b, c, diag, out):  # pragma: no cover - compiled
    """``out = b - A u`` with ``u`` zero-padded (shape (n0 + 2, n1 + 2))."""
    n0, n1 = b.shape
    for i in range(n0):
        for j in range(n1):
            au = (diag * u[i + 1, j + 1] - c[0] * (u[i, j + 1] + u[i + 2, j + 1])
                  - c[1] * (u[i + 1, j] + u[i + 1, j + 2]))
            out[i, j] = b[i, j] - au


@njit(cache=True)
def residual_3d(u, b, c, diag, out):  # pragma: no cover - compiled
    """``out = b - A u`` with ``u`` zero-padded (shape (n0 + 2, n1 + 2, n2 + 2))."""
    n0, n1, n2 = b.shape
    for i in range(n0):
        for j in range(n1):
            for k in range(n2):
                au = (diag * u[i + 1, j + 1, k + 1]
                      - c[0] * (u[i, j + 1, k + 1] + u[i + 2, j + 1, k + 1])
                      - c[1] * (u[i + 1, j, k + 1] + u[i + 1, j + 2, k + 1])
                      - c[2] * (u[i + 1, j + 1, k] + u[i + 1, j + 1, k + 2]))
                out[i, j, k] = b[i, j, k] - au


@njit(cache=True)
def add_interior_1d(u, e):  # pragma: no cover - compiled
    """``u[1:-1] += e``."""
    for i in range(e.shape[0]):
        u[i + 1] += e[i]


@njit(cache=True)
def add_interior_2d(u, e):  # pragma: no cover - compiled
    """``u[1:-1, 1:-1] += e``."""
    n0, n1 = e.shape
    for i in range(n0):
        for j in range(n1):
            u[i + 1, j + 1] += e[i, j]


@njit(cache=True)
def add_interior_3d(u, e):  # pragma: no cover - compiled
    """``u[1:-1, 1:-1, 1:-1] += e``."""
    n0, n1, n2 = e.shape
    for i in range(n0):
        for j in range(n1):
            for k in range(n2):
                u[i + 1, j + 1, k + 1] += e[i, j, k]
