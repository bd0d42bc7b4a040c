"""What a ``diagnose`` run will hold in memory, estimated from its settings before any work.

Per experiment the large allocations are counted from its settings: the network's parameters with their
gradients and Adam state (4 copies), the activations of a full-batch step (3 values per sample and hidden
unit), the matrices an experiment builds once (digits' Gaussian filters, n x n each; the non-uniform DFT
phases, frequencies x samples complex; operator's training set, samples x n² doubles twice), and the
history it records while training (fprinciple-1d keeps the output at every epoch: epochs x points
float32). Experiments run one after the other, so the peak is the interpreter with torch, plus the
largest experiment's working set, plus what every finished run keeps for the figures and the report (its
history, per seed), plus torch's thread pool.

Measured on this machine (``/usr/bin/time -v`` peak resident set, 1 thread): the interpreter with torch
and the experiment modules ~0.35 GiB (:data:`BASE_BYTES` rounds it up); a torch thread in a full-batch
step adds ~0.1 MiB (256 threads: 304 against 282 MiB for one, :data:`THREAD_BYTES` rounds it up).
Against whole runs (peak resident set of ``poissonfp diagnose fprinciple-1d --quick --seeds 0``, with and
without ``--set fprinciple-1d.epochs=500 --set fprinciple-1d.points=100000``): 0.43 GiB measured, 0.50
estimated; 0.89 GiB measured, 1.08 estimated. The estimate is an upper bound, not a prediction.
"""
from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

__all__ = [
    "BASE_BYTES",
    "THREAD_BYTES",
    "Allocation",
    "available_memory_bytes",
    "describe",
    "experiment_allocations",
    "suite_allocations",
]

#: The interpreter with torch, numpy, scipy and the experiment modules imported.
BASE_BYTES = 512 * 2**20
#: One torch thread's resident cost during a step (its stack and scratch).
THREAD_BYTES = 1 * 2**20
#: Values kept per sample and hidden unit by one training step (pre-activation, activation, gradient).
_ACTIVATION_COPIES = 3
#: Copies of a parameter: value, gradient and Adam's two moments.
_PARAMETER_COPIES = 4
#: The digits data set (scikit-learn's handwritten digits: 1,797 images of 8 x 8 pixels, 10 classes).
_DIGITS = (1797, 64, 10)


class Allocation(NamedTuple):
    """One large allocation: the setting that drives it (``experiment.key``), what it is, its bytes, and
    whether every finished run keeps it (``per_seed``) or it is freed when the run ends."""

    key: str
    what: str
    bytes: int
    per_seed: bool = False


def _itemsize(settings: Any) -> int:
    return 8 if getattr(settings, "dtype", "float32") == "float64" else 4


def _network(name: str, settings: Any, inputs: int, samples: int, outputs: int) -> list[Allocation]:
    """The parameters (with Adam state) and one full-batch step's activations of ``settings.widths``."""
    if getattr(settings, "learner", "network") != "network":
        return [Allocation(f"{name}.learner", f"{samples:,} x {outputs} free values with Adam state",
                           samples * outputs * _itemsize(settings) * _PARAMETER_COPIES)]
    widths = tuple(settings.widths)
    sizes = (inputs, *widths, outputs)
    parameters = sum((a + 1) * b for a, b in itertools.pairwise(sizes))
    itemsize = _itemsize(settings)
    return [Allocation(f"{name}.widths", f"{parameters:,} network parameters with gradients and Adam state",
                       parameters * itemsize * _PARAMETER_COPIES),
            Allocation(f"{name}.widths", f"activations of {samples:,} samples x {sum(widths):,} units",
                       samples * sum(widths) * itemsize * _ACTIVATION_COPIES)]


def experiment_allocations(name: str, settings: Any) -> list[Allocation]:
    """The large allocations of one run of experiment ``name`` with ``settings``, largest first."""
    found: list[Allocation] = []
    if name == "fprinciple-1d":
        found += _network(name, settings, 1, settings.points, 1)
        found.append(Allocation(f"{name}.epochs", f"the output at each of {settings.epochs:,} epochs "
                                f"({settings.points:,} float32 values)", settings.epochs * settings.points * 4))
        found.append(Allocation(f"{name}.epochs", f"Delta_F and the loss at {settings.epochs:,} epochs",
                                settings.epochs * (len(settings.wavenumbers) + 1) * 8, per_seed=True))
    elif name == "parity":
        samples = 2**settings.dimension
        found += _network(name, settings, settings.dimension, samples, 1)
        found.append(Allocation(f"{name}.dimension", f"the hypercube: {samples:,} points x {settings.dimension}",
                                samples * settings.dimension * 8 * 4))
        found.append(Allocation(f"{name}.frequency_count", f"DFT phases: {settings.frequency_count:,} frequencies x "
                                f"{samples:,} points (complex)", settings.frequency_count * samples * 16 * 2))
        found.append(Allocation(f"{name}.frequency_count", "the recorded spectra (3 per direction, 2 directions)",
                                6 * settings.frequency_count * 8, per_seed=True))
    elif name == "digits":
        samples, pixels, classes = _DIGITS
        outputs = 1 if settings.target == "label" else classes
        found += _network(name, settings, pixels, samples, outputs)
        filters = len(settings.delta_factors)
        found.append(Allocation(f"{name}.delta_factors", f"{filters} Gaussian filters of {samples:,}² entries "
                                "(float64, then float32 copies)", filters * samples**2 * (8 + 4)))
        records = settings.epochs // max(settings.record_every, 1) + 1
        found.append(Allocation(f"{name}.epochs", f"Delta_F, e_low and e_high at {records:,} records",
                                records * (settings.frequency_count + 2 * filters) * 8, per_seed=True))
    elif name == "poisson-1d":
        points = settings.intervals - 1
        found += _network(name, settings, 1, settings.intervals + 1, 1)
        records = (settings.adam_steps // max(settings.record_every, 1)
                   + settings.jacobi_sweeps // max(settings.jacobi_record_every, 1) + 2)
        found.append(Allocation(f"{name}.jacobi_sweeps", f"Delta_F at {records:,} records of the DNN and Jacobi",
                                records * (settings.peaks + 1) * 8, per_seed=True))
        found.append(Allocation(f"{name}.intervals", f"grid arrays of {points:,} points", 16 * points * 8))
    elif name == "operator":
        cells = (settings.n + 1) ** 2
        found.append(Allocation(f"{name}.samples", f"the training set: {settings.samples + settings.held_out:,} "
                                f"right-hand sides and solutions of {cells:,} values",
                                2 * (settings.samples + settings.held_out) * cells * 8))
        found.append(Allocation(f"{name}.solve_n", f"solve arrays of {(settings.solve_n + 1) ** 2:,} points",
                                16 * (settings.solve_n + 1) ** 2 * 8))
    return sorted(found, key=lambda a: -a.bytes)


def suite_allocations(settings: Mapping[str, Any], seeds: int, threads: int) -> tuple[int, list[Allocation]]:
    """(estimated peak bytes, every allocation with its count) of running ``settings`` (experiment ->
    settings, in run order) for ``seeds`` seeds on ``threads`` torch threads."""
    every: list[Allocation] = [Allocation("", "the interpreter with torch", BASE_BYTES),
                               Allocation("threads", f"{threads} torch threads", threads * THREAD_BYTES)]
    working, kept = 0, 0
    for name, values in settings.items():
        allocations = experiment_allocations(name, values)
        working = max(working, sum(a.bytes for a in allocations if not a.per_seed))
        for a in allocations:
            if a.per_seed:
                every.append(Allocation(a.key, f"{a.what}, kept for each of {seeds} seeds", a.bytes * seeds, True))
                kept += a.bytes * seeds
            else:
                every.append(a)
    total = BASE_BYTES + threads * THREAD_BYTES + working + kept
    return total, sorted(every, key=lambda a: -a.bytes)


def available_memory_bytes() -> int | None:
    """Memory the system can give now without swapping (``MemAvailable``), or None where it does not say."""
    try:
        with open("/proc/meminfo", encoding="ascii") as file:
            for line in file:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def describe(total: int, allocations: Sequence[Allocation]) -> str:
    """``about X GiB (largest: ..., Y GiB)`` for messages."""
    largest = next((a for a in allocations if a.key), allocations[0])
    return (f"about {total / 2**30:,.1f} GiB (largest: {largest.what}, {largest.bytes / 2**30:,.1f} GiB"
            + (f", set by {largest.key}" if largest.key else "") + ")")


