"""Pure Jacobi and the multilevel hybrid on a torch device (``device="cuda"``; ``"cpu"`` in the tests).

Same stopping rules, records and ``info`` keys as the numpy solvers: the hybrid is the one orchestration of
:func:`~poissonfp.solvers.hybrids.hybrid_multilevel.run_hybrid` on a
:class:`~poissonfp.solvers.hybrids.torch_hybrid.TorchBackend`, pure Jacobi is
:func:`~poissonfp.solvers.classical.torch_jacobi.solve_jacobi_torch`; the clock waits for the device before every reading.
"""
from __future__ import annotations

from poissonfp.problem import Problem
from poissonfp.solvers.base import Monitor, SolveResult
from poissonfp.solvers.classical.torch_jacobi import solve_jacobi_torch

__all__ = ["solve_hybrid_torch", "solve_jacobi_torch"]


def solve_hybrid_torch(problem: Problem, monitor: Monitor, *, device: str, **options) -> SolveResult:
    """The multilevel hybrid on ``device`` (options as :func:`~poissonfp.solvers.hybrids.hybrid_multilevel.run_hybrid`);
    the box only: the torch hierarchy is the rediscretised stencil."""
    from poissonfp.solvers.base import require_box
    from poissonfp.solvers.hybrids.hybrid_multilevel import run_hybrid
    from poissonfp.solvers.hybrids.torch_hybrid import TorchBackend

    require_box(problem, "the multilevel hybrid on a torch device (the stencil hierarchy)")
    return run_hybrid(problem, monitor, TorchBackend(device), device=device, **options)
