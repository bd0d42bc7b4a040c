"""Compiled weighted-Jacobi sweeps (numba): one fused loop per sweep, no temporaries.

The kernels are single-threaded on purpose: a threaded sweep synchronises once per sweep, and on a
shared 2-core machine a descheduled worker turns each barrier into a time slice (measured: 12 ms
instead of 0.007 ms per sweep at 128^2 while other processes ran).

Each ``sweeps_Nd`` runs ``count`` sweeps of ``u <- (1 - ω) u + ω D^{-1} (b + (L + U) u)`` ping-ponging
between two zero-padded buffers, and measures during the last sweep, per row, the squared update
norm, and the squared and maximum error against ``reference`` (an empty array skips the errors).
Since ``u_new - u_old = ω D^{-1} r_old``, the update norm gives the residual for free.
Returns the row statistics (rows x 3) reduced by the caller; the result sits in ``u`` when
``count`` is even and in ``v`` when it is odd. ``done`` (an int64 array of length 1) is incremented
after every sweep, so a caller knows how many sweeps ran even when a Ctrl-C interrupted it as the
kernel returned.
"""
from __future__ import annotations

import functools

import numpy as np
from numba import njit

__all__ = ["KERNELS", "sweeps_1d", "sweeps_2d", "sweeps_3d", "warm_up"]


@njit(cache=True)
def sweeps_1d(u, v, b, coefficients, inv_diag, omega, count, reference, done):  # pragma: no cover - compiled
    n = b.shape[0]
    c0 = coefficients[0]
    stats = np.zeros((1, 3))
    with_error = reference.shape[0] > 0
    for s in range(count):
        last = s == count - 1
        for i in range(n):
            old = u[i + 1]
            new = (1.0 - omega) * old + omega * inv_diag * (b[i] + c0 * (u[i] + u[i + 2]))
            v[i + 1] = new
            if last:
                d = new - old
                stats[0, 0] += d * d
                if with_error:
                    e = abs(new - reference[i])
                    stats[0, 1] += e * e
                    stats[0, 2] = max(stats[0, 2], e)
        u, v = v, u
        done[0] += 1
    return stats


@njit(cache=True)
def sweeps_2d(u, v, b, coefficients, inv_diag, omega, count, reference, done):  # pragma: no cover - compiled
    n0, n1 = b.shape
    c0, c1 = coefficients[0], coefficients[1]
    stats = np.zeros((n0, 3))
    with_error = reference.shape[0] > 0
    for s in range(count):
        last = s == count - 1
        for i in range(n0):
            for j in range(n1):
                old = u[i + 1, j + 1]
                neighbours = c0 * (u[i, j + 1] + u[i + 2, j + 1]) + c1 * (u[i + 1, j] + u[i + 1, j + 2])
                new = (1.0 - omega) * old + omega * inv_diag * (b[i, j] + neighbours)
                v[i + 1, j + 1] = new
                if last:
                    d = new - old
                    stats[i, 0] += d * d
                    if with_error:
                        e = abs(new - reference[i, j])
                        stats[i, 1] += e * e
                        stats[i, 2] = max(stats[i, 2], e)
        u, v = v, u
        done[0] += 1
    return stats


@njit(cache=True)
def sweeps_3d(u, v, b, coefficients, inv_diag, omega, count, reference, done):  # pragma: no cover - compiled
    n0, n1, n2 = b.shape
    c0, c1, c2 = coefficients[0], coefficients[1], coefficients[2]
    stats = np.zeros((n0, 3))
    with_error = reference.shape[0] > 0
    for s in range(count):
        last = s == count - 1
        for i in range(n0):
            for j in range(n1):
                for k in range(n2):
                    old = u[i + 1, j + 1, k + 1]
                    neighbours = (c0 * (u[i, j + 1, k + 1] + u[i + 2, j + 1, k + 1])
                                  + c1 * (u[i + 1, j, k + 1] + u[i + 1, j + 2, k + 1])
                                  + c2 * (u[i + 1, j + 1, k] + u[i + 1, j + 1, k + 2]))
                    new = (1.0 - omega) * old + omega * inv_diag * (b[i, j, k] + neighbours)
                    v[i + 1, j + 1, k + 1] = new
                    if last:
                        d = new - old
                        stats[i, 0] += d * d
                        if with_error:
                            e = abs(new - reference[i, j, k])
                            stats[i, 1] += e * e
                            stats[i, 2] = max(stats[i, 2], e)
        u, v = v, u
        done[0] += 1
    return stats


#: The sweep kernel per dimension.
KERNELS = {1: sweeps_1d, 2: sweeps_2d, 3: sweeps_3d}


@functools.cache
def warm_up(ndim: int) -> None:
    """Compile (or load from numba's cache) the kernel for ``ndim`` once per process, so that no
    solve's wall time includes compilation."""
    shape = (1,) * ndim
    KERNELS[ndim](np.zeros(tuple(3 for _ in shape)), np.zeros(tuple(3 for _ in shape)), np.zeros(shape),
                   np.ones(ndim), 0.5, 1.0, 1, np.zeros((0,) * ndim), np.zeros(1, dtype=np.int64))
