"""Compiled batched kernels of the operator iteration on the box (numba, single-threaded).

Every array whose first axis is the batch holds one right-hand side per row; iterates are zero-padded
(``(K, n0 + 2, ...)``), right-hand sides and residuals are not. The per-row work is done by the kernels of
:mod:`poissonfp.solvers.hierarchy.multilevel_kernels` and :mod:`poissonfp.solvers.hierarchy.nested_kernels` (reused, called
inside the compiled loop over rows: no Python loop per right-hand side). New here is only
``block_Nd``: ``count`` ω-Jacobi sweeps on the rows listed that record every sweep's squared residual norm
for free (``u_new - u_old = ω D⁻¹ r_old`` on the box, whose diagonal is constant) and stop a row once its
residual reaches its target.
"""
from __future__ import annotations

import functools
from typing import Any

import numpy as np
from numba import njit

from poissonfp.solvers.hierarchy.multilevel_kernels import (
    interpolate_add_1d,
    interpolate_add_2d,
    interpolate_add_3d,
    residual_1d,
    residual_2d,
    residual_3d,
    restrict_1d,
    restrict_2d,
    restrict_3d,
    smooth_1d,
    smooth_2d,
    smooth_3d,
)
from poissonfp.solvers.hierarchy.nested_kernels import (
    interpolate_nested_1d,
    interpolate_nested_2d,
    interpolate_nested_3d,
    restrict_nested_1d,
    restrict_nested_2d,
    restrict_nested_3d,
)

__all__ = ["BLOCK", "INTERPOLATE", "RESIDUAL", "RESTRICT", "SMOOTH", "compile_for"]


@njit(cache=True, fastmath=True)
def block_1d(u, v, b, rows, c, inv_diag, omega, count, target, norms, done):  # pragma: no cover - compiled
    """Per row ``k`` of ``rows``: up to ``count`` sweeps ``u[k] -> v[k] -> u[k]``; ``norms[k, s]`` is the squared
    residual of the iterate before sweep ``s``; a row stops after the sweep that found it at or under
    ``target[k]`` (squared); ``done[k]`` the sweeps run. The result is left in ``u`` (copied back after an odd
    count)."""
    n = b.shape[1]
    scale = 1.0 / (omega * inv_diag) ** 2
    for q in range(rows.shape[0]):
        k = rows[q]
        a, z, bk = u[k], v[k], b[k]
        m = 0
        for s in range(count):
            total = 0.0
            for i in range(n):
                old = a[i + 1]
                new = (1.0 - omega) * old + omega * inv_diag * (bk[i] + c[0] * (a[i] + a[i + 2]))
                z[i + 1] = new
                total += (new - old) * (new - old)
            norms[k, s] = total * scale
            a, z = z, a
            m += 1
            if norms[k, s] <= target[k]:
                break
        done[k] = m
        if m % 2 == 1:
            u[k, :] = v[k, :]


@njit(cache=True, fastmath=True)
def block_2d(u, v, b, rows, c, inv_diag, omega, count, target, norms, done):  # pragma: no cover - compiled
    """As :func:`block_1d` in 2D."""
    n0, n1 = b.shape[1], b.shape[2]
    scale = 1.0 / (omega * inv_diag) ** 2
    for q in range(rows.shape[0]):
        k = rows[q]
        a, z, bk = u[k], v[k], b[k]
        m = 0
        for s in range(count):
            total = 0.0
            for i in range(n0):
                for j in range(n1):
                    old = a[i + 1, j + 1]
                    neighbours = c[0] * (a[i, j + 1] + a[i + 2, j + 1]) + c[1] * (a[i + 1, j] + a[i + 1, j + 2])
                    new = (1.0 - omega) * old + omega * inv_diag * (bk[i, j] + neighbours)
                    z[i + 1, j + 1] = new
                    total += (new - old) * (new - old)
            norms[k, s] = total * scale
            a, z = z, a
            m += 1
            if norms[k, s] <= target[k]:
                break
        done[k] = m
        if m % 2 == 1:
            u[k, :, :] = v[k, :, :]


@njit(cache=True, fastmath=True)
def block_3d(u, v, b, rows, c, inv_diag, omega, count, target, norms, done):  # pragma: no cover - compiled
    """As :func:`block_1d` in 3D."""
    n0, n1, n2 = b.shape[1], b.shape[2], b.shape[3]
    scale = 1.0 / (omega * inv_diag) ** 2
    for q in range(rows.shape[0]):
        k = rows[q]
        a, z, bk = u[k], v[k], b[k]
        m = 0
        for s in range(count):
            total = 0.0
            for i in range(n0):
                for j in range(n1):
                    for t in range(n2):
                        old = a[i + 1, j + 1, t + 1]
                        neighbours = (c[0] * (a[i, j + 1, t + 1] + a[i + 2, j + 1, t + 1])
                                      + c[1] * (a[i + 1, j, t + 1] + a[i + 1, j + 2, t + 1])
                                      + c[2] * (a[i + 1, j + 1, t] + a[i + 1, j + 1, t + 2]))
                        new = (1.0 - omega) * old + omega * inv_diag * (bk[i, j, t] + neighbours)
                        z[i + 1, j + 1, t + 1] = new
                        total += (new - old) * (new - old)
            norms[k, s] = total * scale
            a, z = z, a
            m += 1
            if norms[k, s] <= target[k]:
                break
        done[k] = m
        if m % 2 == 1:
            u[k, :, :, :] = v[k, :, :, :]


# -- the multilevel kernels over the rows ``rows`` of a batch ---------------------------------------------

@njit(cache=True)
def smooth_batch_1d(u, v, b, rows, c, inv_diag, omega, count):  # pragma: no cover - compiled
    for q in range(rows.shape[0]):
        k = rows[q]
        smooth_1d(u[k], v[k], b[k], c, inv_diag, omega, count)


@njit(cache=True)
def smooth_batch_2d(u, v, b, rows, c, inv_diag, omega, count):  # pragma: no cover - compiled
    for q in range(rows.shape[0]):
        k = rows[q]
        smooth_2d(u[k], v[k], b[k], c, inv_diag, omega, count)


@njit(cache=True)
def smooth_batch_3d(u, v, b, rows, c, inv_diag, omega, count):  # pragma: no cover - compiled
    for q in range(rows.shape[0]):
        k = rows[q]
        smooth_3d(u[k], v[k], b[k], c, inv_diag, omega, count)


@njit(cache=True)
def residual_batch_1d(u, b, rows, c, diag, out):  # pragma: no cover - compiled
    for q in range(rows.shape[0]):
        k = rows[q]
        residual_1d(u[k], b[k], c, diag, out[k])


@njit(cache=True)
def residual_batch_2d(u, b, rows, c, diag, out):  # pragma: no cover - compiled
    for q in range(rows.shape[0]):
        k = rows[q]
        residual_2d(u[k], b[k], c, diag, out[k])


@njit(cache=True)
def residual_batch_3d(u, b, rows, c, diag, out):  # pragma: no cover - compiled
    for q in range(rows.shape[0]):
        k = rows[q]
        residual_3d(u[k], b[k], c, diag, out[k])


@njit(cache=True)
def restrict_batch_1d(src, out, rows, nested, scale, buffer, t0, w0):  # pragma: no cover - compiled
    for q in range(rows.shape[0]):
        k = rows[q]
        if nested:
            restrict_nested_1d(src[k], scale, buffer, out[k])
        else:
            restrict_1d(src[k], t0, w0, out[k])


@njit(cache=True)
def restrict_batch_2d(src, out, rows, nested, scale, buffer, t0, w0, t1, w1):  # pragma: no cover - compiled
    for q in range(rows.shape[0]):
        k = rows[q]
        if nested:
            restrict_nested_2d(src[k], scale, buffer, out[k])
        else:
            restrict_2d(src[k], t0, w0, t1, w1, out[k])


@njit(cache=True)
def restrict_batch_3d(src, out, rows, nested, scale, buffer, t0, w0, t1, w1, t2, w2):  # pragma: no cover - compiled
    for q in range(rows.shape[0]):
        k = rows[q]
        if nested:
            restrict_nested_3d(src[k], scale, buffer, out[k])
        else:
            restrict_3d(src[k], t0, w0, t1, w1, t2, w2, out[k])


@njit(cache=True)
def interpolate_batch_1d(coarse, u, rows, nested, buffer, t0, w0):  # pragma: no cover - compiled
    """``u[k]`` (padded) ``+= P coarse[k]`` (padded) for ``k`` in ``rows``."""
    for q in range(rows.shape[0]):
        k = rows[q]
        if nested:
            interpolate_nested_1d(coarse[k], buffer, u[k])
        else:
            interpolate_add_1d(coarse[k, 1:-1], t0, w0, u[k])


@njit(cache=True)
def interpolate_batch_2d(coarse, u, rows, nested, buffer, t0, w0, t1, w1):  # pragma: no cover - compiled
    for q in range(rows.shape[0]):
        k = rows[q]
        if nested:
            interpolate_nested_2d(coarse[k], buffer, u[k])
        else:
            interpolate_add_2d(coarse[k, 1:-1, 1:-1], t0, w0, t1, w1, u[k])


@njit(cache=True)
def interpolate_batch_3d(coarse, u, rows, nested, buffer, t0, w0, t1, w1, t2, w2):  # pragma: no cover - compiled
    for q in range(rows.shape[0]):
        k = rows[q]
        if nested:
            interpolate_nested_3d(coarse[k], buffer, u[k])
        else:
            interpolate_add_3d(coarse[k, 1:-1, 1:-1, 1:-1], t0, w0, t1, w1, t2, w2, u[k])


BLOCK: dict[int, Any] = {1: block_1d, 2: block_2d, 3: block_3d}
SMOOTH: dict[int, Any] = {1: smooth_batch_1d, 2: smooth_batch_2d, 3: smooth_batch_3d}
RESIDUAL: dict[int, Any] = {1: residual_batch_1d, 2: residual_batch_2d, 3: residual_batch_3d}
RESTRICT: dict[int, Any] = {1: restrict_batch_1d, 2: restrict_batch_2d, 3: restrict_batch_3d}
INTERPOLATE: dict[int, Any] = {1: interpolate_batch_1d, 2: interpolate_batch_2d, 3: interpolate_batch_3d}



@functools.cache
def compile_for(ndim: int) -> None:
    """Run every kernel of dimension ``ndim`` once on a 3-point grid (numba compiles, or loads its cache, at
    the first call: seconds that must not fall into a timed solve)."""
    fine, coarse = (3,) * ndim, (1,) * ndim
    rows = np.zeros(1, dtype=np.int64)
    c = np.ones(ndim)
    padded = np.zeros((1, *tuple(n + 2 for n in fine)))
    b = np.zeros((1, *fine))
    BLOCK[ndim](padded, padded.copy(), b, rows, c, 0.25, 1.0, 2, np.zeros(1), np.zeros((1, 2)), np.zeros(1, dtype=np.int64))
    SMOOTH[ndim](padded, padded.copy(), b, rows, c, 0.25, 1.0, 1)
    RESIDUAL[ndim](padded, b, rows, c, 4.0, b.copy())
    taps = [a for _ in range(ndim) for a in (np.zeros((1, 1), dtype=np.int64), np.zeros((1, 1)))]
    buffer = np.zeros(fine[1:] if ndim > 1 else (1,))
    RESTRICT[ndim](b, np.zeros((1, *coarse)), rows, True, 1.0, buffer, *taps)
    RESTRICT[ndim](b, np.zeros((1, *coarse)), rows, False, 1.0, buffer, *taps)
    small = np.zeros((1, *tuple(n + 2 for n in coarse)))
    row = np.zeros(tuple(n + 2 for n in coarse[1:]) if ndim > 1 else (1,))
    INTERPOLATE[ndim](small, padded, rows, True, row, *taps)
    taps = [a for _ in range(ndim) for a in (np.zeros((3, 1), dtype=np.int64), np.zeros((3, 1)))]
    INTERPOLATE[ndim](small, padded, rows, False, row, *taps)
