"""What pure Jacobi will cost, priced the way :func:`~poissonfp.solvers.classical.jacobi.run_jacobi` runs it.

``run_jacobi`` checks the criterion after batches that start at one sweep and grow (``next_batch``), and
splits a batch into kernel calls of at most ``KERNEL_CALL_S``; every call ends with a sweep that measures
its statistics, which costs several plain sweeps (measured 171 against 26 µs at 255²). A short run is
therefore dominated by calls, not sweeps: one price per sweep (a single timed sweep) undercounts it
(29 µs priced against 79 µs run at 255², which made the decision pick Jacobi on high-frequency cases
that the cycles solve 2.2-2.6x faster). :func:`measure_price` times calls of one sweep as
``run_jacobi`` makes them and calls of :data:`PRICE_BATCH`
sweeps; :func:`jacobi_seconds` replays the batch schedule with those two prices.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from poissonfp.solvers.classical.jacobi import KERNEL_CALL_S, next_batch

__all__ = ["PRICE_SWEEPS", "JacobiPrice", "jacobi_seconds", "measure_price"]

#: Sweeps of the timed call of several sweeps.
PRICE_BATCH = 4
#: One-sweep calls timed (``run_jacobi``'s first batches are one sweep each).
PRICE_CALLS = 5
#: Sweeps :func:`measure_price` runs (one untimed, :data:`PRICE_CALLS`, two calls of :data:`PRICE_BATCH`).
PRICE_SWEEPS = 1 + PRICE_CALLS + 2 * PRICE_BATCH


@dataclass(frozen=True)
class JacobiPrice:
    """Seconds of a plain sweep inside a kernel call and of one kernel call of one sweep (its statistics
    and the criterion check included)."""

    plain_s: float
    call_s: float


def measure_price(iteration, monitor, reference, scale) -> JacobiPrice:
    """Time ``iteration`` (a Jacobi iteration from zero, which pure Jacobi then continues) as
    ``run_jacobi`` drives it: :data:`PRICE_CALLS` calls of one sweep (its first batches), then two of
    :data:`PRICE_BATCH` sweeps, each with the criterion check. Medians and minima resist a shared
    machine's noise. A real run calls after history records (paused, but they leave the caches cold):
    the replay of a 246-sweep run at 255² came out 1.0-1.4x below the run on a quiet machine; emulating
    the records here cost 5 ms per call, more than the error. Runs :data:`PRICE_SWEEPS` sweeps."""
    criterion = monitor.criterion

    def timed(count: int) -> float:
        start = time.perf_counter()
        monitor.satisfied(criterion.from_sweep(iteration.sweep(count, reference), scale))
        return time.perf_counter() - start

    iteration.sweep(1)  # pays the page faults of fresh buffers
    call = float(np.median([timed(1) for _ in range(PRICE_CALLS)]))
    batch = min(timed(PRICE_BATCH) for _ in range(2))
    plain = max((batch - call) / (PRICE_BATCH - 1), 0.05 * call, 1e-9)
    return JacobiPrice(plain, max(call, plain))


def jacobi_seconds(sweeps: float, grid_size: int, price: JacobiPrice, batch: int = 0, done: int = PRICE_SWEEPS,
                   stop_above: float = math.inf) -> float:
    """Seconds ``run_jacobi`` takes for ``sweeps`` more sweeps after ``done``, replaying its batches and
    kernel calls; the replay stops once the total passes ``stop_above`` (a comparison needs no more)."""
    total, left = 0.0, max(0.0, sweeps)
    per_call = max(1, int(KERNEL_CALL_S / max(price.plain_s, 1e-12)))
    while left > 0 and total <= stop_above:
        count = min(next_batch(grid_size, done, batch), math.ceil(left))
        calls = math.ceil(count / per_call)
        total += calls * price.call_s + (count - calls) * price.plain_s
        done += count
        left -= count
    return total
