"""First-call costs paid before the clock starts, so that a solve's wall time is its steady cost.

Compiled kernels (numba) compile once per process (cached on disk); torch's first steps at a new
size are slow (allocator, kernel selection: measured ~1.6 s for the first Adam steps on 999 points in
``compare``). :func:`warm_up_method` pays them with a throwaway solve: the classical methods on a tiny
grid (their kernels do not depend on the size), the neural ones on the real problem with two
training steps and one correction. Every command that reports a wall time calls it first.
"""
from __future__ import annotations

import logging

from poissonfp.case import Case
from poissonfp.problem import Problem, build_problem
from poissonfp.solvers.base import DivergenceError

__all__ = ["warm_up_method", "WARM_UP_POINTS"]

logger = logging.getLogger(__name__)

#: Interior points per dimension of the throwaway classical solves.
WARM_UP_POINTS = 7


def warm_up_method(case: Case, problem: Problem, method: str) -> None:
    """Run ``method`` once with a tiny budget so that compilation and first calls happen now."""
    from poissonfp.api import solve_case

    logger.debug("warming up %s", method)
    if method in ("dnn", "hybrid"):
        short = case.with_overrides(adam_steps=min(case.training.adam_steps, 2), lbfgs_steps=0, max_iterations=1,
                                    corrections=min(case.hybrid.corrections, 1), switch=2)
        target = problem
    else:
        short = case.with_overrides(size=WARM_UP_POINTS + (case.grid_unit == "intervals"))
        target = build_problem(short)
    try:
        solve_case(short, method, problem=target, track_modes=False)
    except DivergenceError:
        pass  # a barely trained network may diverge; the first calls happened anyway
