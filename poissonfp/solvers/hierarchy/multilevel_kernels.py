"""Compiled grid-transfer and residual kernels of the multilevel cycle (numba, single-threaded, fused).

Grid transfers are tensor products of 1D operators stored as padded tap lists: output point ``i`` along
axis ``d`` is ``Σ_t weights_d[i, t] * src[taps_d[i, t]]`` (unused taps carry weight 0; an axis that is
not coarsened has one tap of weight 1). ``restrict_Nd`` writes ``out = (R_0 ⊗ .. ⊗ R_{d-1}) src`` in one
pass over the output; ``interpolate_add_Nd`` adds ``(P_0 ⊗ ..) coarse`` to the interior of a zero-padded
fine iterate in one pass. ``residual_Nd`` computes ``b - A u`` from the zero-padded iterate the Jacobi
kernels work on (:mod:`poissonfp.solvers.classical.jacobi_kernels`). ``smooth_Nd`` are those sweeps without the
statistics of the last one, for the cycle's smoothing where nothing is measured; ``measured_sweep_Nd``
is the one sweep that measures (the statistics of :mod:`poissonfp.solvers.classical.jacobi_kernels`).
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "interpolate_add_1d",
    "interpolate_add_2d",
    "interpolate_add_3d",
    "measured_sweep_1d",
    "measured_sweep_2d",
    "measured_sweep_3d",
    "residual_1d",
    "residual_2d",
    "residual_3d",
    "restrict_1d",
    "restrict_2d",
    "restrict_3d",
    "smooth_1d",
    "smooth_2d",
    "smooth_3d",
]


@njit(cache=True)
def restrict_1d(src, t0, w0, out):  # pragma: no cover - compiled
    for i in range(out.shape[0]):
        s = 0.0
        for a in range(t0.shape[1]):
            s += w0[i, a] * src[t0[i, a]]
        out[i] = s


@njit(cache=True)
def restrict_2d(src, t0, w0, t1, w1, out):  # pragma: no cover - compiled
    m0, m1 = out.shape
    for i in range(m0):
        for j in range(m1):
            s = 0.0
            for a in range(t0.shape[1]):
                wa = w0[i, a]
                row = t0[i, a]
                for b in range(t1.shape[1]):
                    s += wa * w1[j, b] * src[row, t1[j, b]]
            out[i, j] = s


@njit(cache=True)
def restrict_3d(src, t0, w0, t1, w1, t2, w2, out):  # pragma: no cover - compiled
    m0, m1, m2 = out.shape
    for i in range(m0):
        for j in range(m1):
            for k in range(m2):
                s = 0.0
                for a in range(t0.shape[1]):
                    for b in range(t1.shape[1]):
                        wab = w0[i, a] * w1[j, b]
                        for c in range(t2.shape[1]):
                            s += wab * w2[k, c] * src[t0[i, a], t1[j, b], t2[k, c]]
                out[i, j, k] = s


@njit(cache=True)
def interpolate_add_1d(coarse, t0, w0, u):  # pragma: no cover - compiled
    """``u[1:-1] += P coarse``."""
    for i in range(u.shape[0] - 2):
        s = 0.0
        for a in range(t0.shape[1]):
            s += w0[i, a] * coarse[t0[i, a]]
        u[i + 1] += s


@njit(cache=True)
def interpolate_add_2d(coarse, t0, w0, t1, w1, u):  # pragma: no cover - compiled
    """``u[1:-1, 1:-1] += (P_0 ⊗ P_1) coarse``."""
    n0, n1 = u.shape[0] - 2, u.shape[1] - 2
    for i in range(n0):
        for j in range(n1):
            s = 0.0
            for a in range(t0.shape[1]):
                wa = w0[i, a]
                row = t0[i, a]
                for b in range(t1.shape[1]):
                    s += wa * w1[j, b] * coarse[row, t1[j, b]]
            u[i + 1, j + 1] += s


@njit(cache=True)
def interpolate_add_3d(coarse, t0, w0, t1, w1, t2, w2, u):  # pragma: no cover - compiled
    """``u[1:-1, 1:-1, 1:-1] += (P_0 ⊗ P_1 ⊗ P_2) coarse``."""
    n0, n1, n2 = u.shape[0] - 2, u.shape[1] - 2, u.shape[2] - 2
    for i in range(n0):
        for j in range(n1):
            for k in range(n2):
                s = 0.0
                for a in range(t0.shape[1]):
                    for b in range(t1.shape[1]):
                        wab = w0[i, a] * w1[j, b]
                        for c in range(t2.shape[1]):
                            s += wab * w2[k, c] * coarse[t0[i, a], t1[j, b], t2[k, c]]
                u[i + 1, j + 1, k + 1] += s


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
def smooth_1d(u, v, b, c, inv_diag, omega, count):  # pragma: no cover - compiled
    """``count`` ω-Jacobi sweeps ping-ponging ``u`` -> ``v`` -> ``u`` (zero-padded), no statistics: the
    loop vectorises (the statistics sweep of jacobi_kernels does not; measured 171 against 26 µs at 255²)."""
    n = b.shape[0]
    for _ in range(count):
        for i in range(n):
            v[i + 1] = (1.0 - omega) * u[i + 1] + omega * inv_diag * (b[i] + c[0] * (u[i] + u[i + 2]))
        u, v = v, u


@njit(cache=True)
def smooth_2d(u, v, b, c, inv_diag, omega, count):  # pragma: no cover - compiled
    """As :func:`smooth_1d` in 2D."""
    n0, n1 = b.shape
    for _ in range(count):
        for i in range(n0):
            for j in range(n1):
                neighbours = c[0] * (u[i, j + 1] + u[i + 2, j + 1]) + c[1] * (u[i + 1, j] + u[i + 1, j + 2])
                v[i + 1, j + 1] = (1.0 - omega) * u[i + 1, j + 1] + omega * inv_diag * (b[i, j] + neighbours)
        u, v = v, u


@njit(cache=True)
def smooth_3d(u, v, b, c, inv_diag, omega, count):  # pragma: no cover - compiled
    """As :func:`smooth_1d` in 3D."""
    n0, n1, n2 = b.shape
    for _ in range(count):
        for i in range(n0):
            for j in range(n1):
                for k in range(n2):
                    neighbours = (c[0] * (u[i, j + 1, k + 1] + u[i + 2, j + 1, k + 1])
                                  + c[1] * (u[i + 1, j, k + 1] + u[i + 1, j + 2, k + 1])
                                  + c[2] * (u[i + 1, j + 1, k] + u[i + 1, j + 1, k + 2]))
                    v[i + 1, j + 1, k + 1] = ((1.0 - omega) * u[i + 1, j + 1, k + 1]
                                              + omega * inv_diag * (b[i, j, k] + neighbours))
        u, v = v, u



@njit(cache=True)
def measured_sweep_1d(u, v, b, c, inv_diag, omega, reference):  # pragma: no cover - compiled
    """One ω-Jacobi sweep ``u -> v`` returning the row statistics of jacobi_kernels: squared update
    norm, squared and maximum error against ``reference`` (empty: skipped)."""
    n = b.shape[0]
    stats = np.zeros((1, 3))
    with_error = reference.shape[0] > 0
    for i in range(n):
        old = u[i + 1]
        new = (1.0 - omega) * old + omega * inv_diag * (b[i] + c[0] * (u[i] + u[i + 2]))
        v[i + 1] = new
        d = new - old
        stats[0, 0] += d * d
        if with_error:
            e = abs(new - reference[i])
            stats[0, 1] += e * e
            stats[0, 2] = max(stats[0, 2], e)
    return stats


@njit(cache=True)
def measured_sweep_2d(u, v, b, c, inv_diag, omega, reference):  # pragma: no cover - compiled
    """As :func:`measured_sweep_1d` in 2D (one statistics row per grid row)."""
    n0, n1 = b.shape
    stats = np.zeros((n0, 3))
    with_error = reference.shape[0] > 0
    for i in range(n0):
        for j in range(n1):
            old = u[i + 1, j + 1]
            neighbours = c[0] * (u[i, j + 1] + u[i + 2, j + 1]) + c[1] * (u[i + 1, j] + u[i + 1, j + 2])
            new = (1.0 - omega) * old + omega * inv_diag * (b[i, j] + neighbours)
            v[i + 1, j + 1] = new
            d = new - old
            stats[i, 0] += d * d
            if with_error:
                e = abs(new - reference[i, j])
                stats[i, 1] += e * e
                stats[i, 2] = max(stats[i, 2], e)
    return stats


@njit(cache=True)
def measured_sweep_3d(u, v, b, c, inv_diag, omega, reference):  # pragma: no cover - compiled
    """As :func:`measured_sweep_1d` in 3D (one statistics row per first-axis plane)."""
    n0, n1, n2 = b.shape
    stats = np.zeros((n0, 3))
    with_error = reference.shape[0] > 0
    for i in range(n0):
        for j in range(n1):
            for k in range(n2):
                old = u[i + 1, j + 1, k + 1]
                neighbours = (c[0] * (u[i, j + 1, k + 1] + u[i + 2, j + 1, k + 1])
                              + c[1] * (u[i + 1, j, k + 1] + u[i + 1, j + 2, k + 1])
                              + c[2] * (u[i + 1, j + 1, k] + u[i + 1, j + 1, k + 2]))
                new = (1.0 - omega) * old + omega * inv_diag * (b[i, j, k] + neighbours)
                v[i + 1, j + 1, k + 1] = new
                d = new - old
                stats[i, 0] += d * d
                if with_error:
                    e = abs(new - reference[i, j, k])
                    stats[i, 1] += e * e
                    stats[i, 2] = max(stats[i, 2], e)
    return stats
