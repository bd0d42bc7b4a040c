"""What a `poissonfp solve` process must import before the hybrid computes anything, each step timed with
perf_counter after the previous one (run it in a fresh process, e.g. five times: the floor of issue 16, item 4).

usage: OPENBLAS_NUM_THREADS=1 python docs/scripts/import_floor.py
prints: numpy, the command line (click and poissonfp.cli), sympy, scipy.fft, numba, numba's compiler context
(what its cache does before loading the first kernel), torch; seconds.
"""
import time

t0 = time.perf_counter()
import numpy  # noqa: E402,F401

t1 = time.perf_counter()
import poissonfp.cli  # noqa: E402,F401

t2 = time.perf_counter()
import sympy  # noqa: E402,F401

t3 = time.perf_counter()
import scipy.fft  # noqa: E402,F401

t4 = time.perf_counter()
import numba  # noqa: E402,F401

t5 = time.perf_counter()
from numba.core.registry import cpu_target  # noqa: E402

cpu_target.target_context.refresh()
t6 = time.perf_counter()
import torch  # noqa: E402,F401

t7 = time.perf_counter()
names = ("numpy", "command line", "sympy", "scipy.fft", "numba", "numba context", "torch")
stamps = (t0, t1, t2, t3, t4, t5, t6, t7)
print(", ".join(f"{name} {b - a:.3f}" for name, a, b in zip(names, stamps, stamps[1:])))
