"""Whether a solve can run on this machine, checked before any work: its memory and its device.

Memory: an up-front estimate, so that a size that cannot fit is refused before any allocation.

The estimate adds the large arrays a method holds at its peak: float64 grid arrays for every method,
and for the neural methods the network's parameters with their Adam state, the activations of a
training step on the collocation points, and the Galerkin feature matrix ``Φ`` (grid points x
(last width + 1) doubles, counted twice for the copies made while it is built). Measured on
2d_square's hybrid (width 128, auto switch at step 0): peak resident memory 0.75 GiB at 512² and 1.6 GiB
at 1024², of which ``Φ`` is 0.27 and 1.08 GiB and the interpreter with torch ~0.45 GiB; the estimate
(1.3 and 5.1 GiB, with the training it may do) is an upper bound.
"""
from __future__ import annotations

import itertools
import math
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

from poissonfp.case_schema import CaseError

if TYPE_CHECKING:
    from poissonfp.case import Case

__all__ = [
    "WORKING_ARRAYS",
    "Allocation",
    "check_device",
    "check_feasible",
    "check_memory",
    "physical_memory_bytes",
    "solve_allocations",
]

#: Float64 arrays of the grid's size a solve may hold at once.
WORKING_ARRAYS = 16
#: Values kept per collocation point and hidden unit by one training step (pre-activation, activation and
#: gradient); measured: 2d_square's dnn at 256² peaks 0.2 GiB above the interpreter, 3 x 65,536 x 128 doubles.
_ACTIVATION_COPIES = 3
#: Copies of a parameter: the value, its gradient and Adam's two moments.
_PARAMETER_COPIES = 4
_NEURAL = ("dnn", "hybrid")


class Allocation(NamedTuple):
    """One large allocation: which setting drives it, what it is, and its size in bytes."""

    driver: str
    what: str
    bytes: int


def physical_memory_bytes() -> int | None:
    """The machine's physical memory, or None where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def solve_allocations(case: Case, method: str | None = None) -> list[Allocation]:
    """The large allocations of solving ``case`` with ``method`` (default: the case's), largest first.

    Drivers are ``"grid"`` (the number of points), ``"widths"`` and ``"quadrature_order"``.
    """
    method = method or case.solver.method
    shape = case.interior_shape()
    points = math.prod(shape)
    found = [Allocation("grid", f"{WORKING_ARRAYS} float64 arrays of {points:,} points", points * 8 * WORKING_ARRAYS)]
    if method in _NEURAL:
        network, training = case.network, case.training
        itemsize = 4 if network.dtype == "float32" else 8
        sizes = (len(shape), *network.widths, 1)
        parameters = sum((a + 1) * b for a, b in itertools.pairwise(sizes))
        found.append(Allocation("widths", f"{parameters:,} network parameters with gradients and Adam state",
                                parameters * itemsize * _PARAMETER_COPIES))
        steps = training.adam_steps + training.lbfgs_steps
        trains = steps > 0 if method == "dnn" or case.hybrid.switch == "auto" else int(case.hybrid.switch) > 0
        if not trains:
            collocation, driver = 0, "grid"
        elif training.points == "quadrature":
            cells = math.prod(n + 1 for n in shape)
            collocation = cells * training.quadrature_order ** len(shape)
            driver = "quadrature_order"
        else:
            collocation, driver = points, "grid"
        if collocation:
            found.append(Allocation(driver, f"training activations at {collocation:,} points x "
                                    f"{sum(network.widths):,} units", collocation * sum(network.widths) * itemsize
                                    * _ACTIVATION_COPIES))
        if method == "hybrid" or training.galerkin:
            columns = network.widths[-1] + 1
            found.append(Allocation("grid", f"Galerkin features: {points:,} points x {columns:,} columns, "
                                    "held twice", 2 * points * columns * 8))
            found.append(Allocation("widths", f"Galerkin matrices of {columns:,}² entries", 4 * columns**2 * 8))
    return sorted(found, key=lambda a: -a.bytes)


def check_memory(case: Case, method: str | None = None, keys: Mapping[str, str] | None = None) -> None:
    """Refuse a solve whose estimated memory exceeds the machine's physical memory.

    Args:
        case: the case, with its grid size and settings.
        method: the method that will run (default: the case's).
        keys: how to name each driver in the message (default: the case-file keys, e.g. ``"[grid] points"``).

    Raises:
        CaseError: One line naming the key that drives the largest allocation and the sizes.
    """
    memory = physical_memory_bytes()
    allocations = solve_allocations(case, method)
    total = sum(a.bytes for a in allocations)
    if not memory or total <= memory:
        return
    names = {"grid": f"[grid] {case.grid_unit}", "widths": "[network] widths",
             "quadrature_order": "[training] quadrature_order", **(keys or {})}
    largest = allocations[0]
    method = method or case.solver.method
    raise CaseError(case.path, names[largest.driver],
                    f"a {method} solve on {'x'.join(map(str, case.interior_shape()))} interior points needs about "
                    f"{total / 2**30:,.1f} GiB (largest: {largest.what}, {largest.bytes / 2**30:,.1f} GiB), more "
                    f"than this machine's {memory / 2**30:.1f} GiB of memory", expected="a smaller size")


def check_device(case: Case, method: str | None = None, key: str = "[network] device") -> None:
    """Refuse a solve on ``cuda`` (any method that takes a device: the neural ones and jacobi) where
    torch sees no CUDA GPU (imports torch only then).

    Raises:
        CaseError: One line naming ``key``.
    """
    if case.network.device != "cuda":
        return
    from poissonfp.solvers import SOLVERS, method_options

    method = method or case.solver.method
    if method not in SOLVERS or "device" not in method_options(method):
        return
    import torch

    if not torch.cuda.is_available():
        raise CaseError(case.path, key, "is 'cuda' but torch finds no CUDA GPU on this machine (or was built "
                        "without CUDA); use 'cpu'", expected="'cpu'")


def check_feasible(case: Case, method: str | None = None, keys: Mapping[str, str] | None = None) -> None:
    """:func:`check_memory` and :func:`check_device`; ``keys`` may also name ``"device"``."""
    check_memory(case, method, keys)
    check_device(case, method, (keys or {}).get("device", "[network] device"))
