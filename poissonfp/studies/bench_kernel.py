"""Per-sweep time of the compiled Jacobi kernel and its memory bandwidth against a single-thread copy.

Byte count of one sweep on ``N`` unknowns: read ``u``, read ``b``, write ``v`` = ``3 x 8 x N`` bytes
(neighbour reads of ``u`` are cache hits; the write-allocate read of ``v`` and the padding are not
counted). A copy moves ``2 x 8 x N`` bytes (read the source, write the destination; same convention,
as STREAM). Both are single-threaded, the copy on arrays of ``N`` doubles, so the fraction compares
like with like at every size (in cache for small grids, from memory for large ones). The sweep's
working set is 3 arrays, a copy's 2, so a second copy on ``1.5 N`` doubles (the same working set) is
measured too: it tells a cache-capacity effect from a slow kernel.
"""
from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from numba import njit

from poissonfp.problem import Problem
from poissonfp.solvers.classical.jacobi import jacobi_iteration

__all__ = ["BYTES_PER_UNKNOWN_SWEEP", "copy_bandwidth", "kernel_bandwidth", "sweep_time"]

BYTES_PER_UNKNOWN_SWEEP = 3 * 8


@njit(cache=True)
def _copy_loop(a, b, count):  # pragma: no cover - compiled
    """``count`` copies of ``n`` doubles, alternating a -> b and b -> a (no copy can be elided)."""
    n = a.shape[0]
    for r in range(count):
        if r % 2 == 0:
            for i in range(n):
                b[i] = a[i]
        else:
            for i in range(n):
                a[i] = b[i]
    return a[0] + b[n - 1]


def _best_rate(run: Callable[[int], object], min_time_s: float, repeats: int) -> float:
    """Seconds per unit of ``run(count)``: grow ``count`` until one call takes ``min_time_s``, then the
    fastest of ``repeats`` calls."""
    count = 1
    while True:
        start = time.perf_counter()
        run(count)
        elapsed = time.perf_counter() - start
        if elapsed >= min_time_s:
            break
        count *= 2 if elapsed <= 0 else max(2, min(64, int(1.5 * min_time_s / elapsed)))
    best = elapsed
    for _ in range(repeats - 1):
        start = time.perf_counter()
        run(count)
        best = min(best, time.perf_counter() - start)
    return best / count


def sweep_time(problem: Problem, omega: float = 1.0, min_time_s: float = 0.1, repeats: int = 3) -> float:
    """Seconds per Jacobi sweep of the compiled kernel on ``problem`` (best of ``repeats``): the stencil
    kernel on the box, the CSR kernel elsewhere."""
    iteration = jacobi_iteration(problem, omega)
    return _best_rate(lambda count: iteration.sweep(count), min_time_s, repeats)


def copy_bandwidth(unknowns: int, min_time_s: float = 0.1, repeats: int = 3) -> dict[str, float]:
    """Single-thread copy bandwidth in bytes/s on arrays of ``unknowns`` doubles: a compiled loop
    (numba) and ``np.copyto``."""
    a, b = np.random.default_rng(0).random(unknowns), np.zeros(unknowns)
    _copy_loop(a, b, 2)

    def numpy_copies(count: int) -> None:
        for r in range(count):
            np.copyto(b, a) if r % 2 == 0 else np.copyto(a, b)

    bytes_per_copy = 2 * 8 * unknowns
    return {"numba_loop": bytes_per_copy / _best_rate(lambda c: _copy_loop(a, b, c), min_time_s, repeats),
            "np_copyto": bytes_per_copy / _best_rate(numpy_copies, min_time_s, repeats)}


def kernel_bandwidth(problem: Problem, omega: float = 1.0, min_time_s: float = 0.1,
                     repeats: int = 3) -> dict[str, float]:
    """Per-sweep time, effective kernel bandwidth and its fraction of the best single-thread copy."""
    unknowns = problem.grid.size
    per_sweep = sweep_time(problem, omega, min_time_s, repeats)
    copy = copy_bandwidth(unknowns, min_time_s, repeats)
    kernel = BYTES_PER_UNKNOWN_SWEEP * unknowns / per_sweep
    best_copy = max(copy.values())
    matched = max(copy_bandwidth(unknowns * 3 // 2, min_time_s, repeats).values())
    return {"unknowns": unknowns, "sweep_time_s": per_sweep, "ns_per_unknown": per_sweep / unknowns * 1e9,
            "bytes_per_sweep": BYTES_PER_UNKNOWN_SWEEP * unknowns, "kernel_bytes_per_s": kernel,
            "copy_numba_bytes_per_s": copy["numba_loop"], "copy_numpy_bytes_per_s": copy["np_copyto"],
            "fraction_of_copy": kernel / best_copy, "copy_same_working_set_bytes_per_s": matched,
            "fraction_of_copy_same_working_set": kernel / matched}
