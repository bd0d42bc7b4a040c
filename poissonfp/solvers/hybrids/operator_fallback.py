"""The operator iteration's fallback: the multilevel hybrid from the iterate, when the network's calls stop
helping (:func:`poissonfp.solvers.hybrids.operator.solve_operator` and its batch, per row)."""
from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np

from poissonfp.problem import Problem
from poissonfp.solvers.base import Monitor, SolveResult, StoppingCriterion

__all__ = ["FALLBACK_ROUNDS", "fall_back"]

logger = logging.getLogger("poissonfp.solvers.hybrids.operator")


def _correction_problem(problem: Problem, criterion: StoppingCriterion, u: np.ndarray
                        ) -> tuple[Problem, StoppingCriterion] | None:
    """``A e = b − A u`` (homogeneous boundary data, no continuous data) and the criterion that makes
    ``u + e`` meet ``criterion`` on ``problem``: the same kind, its tolerance scaled by the norms (``‖b‖ / ‖r‖``
    for the residual, ``‖u_h‖ / ‖u_h − u‖`` for the discrete error). None for the discretization criterion
    (its exact solution has no counterpart for the correction)."""
    from poissonfp.solvers.criterion import norm2

    if criterion.kind not in ("residual", "discrete"):
        return None
    r = problem.rhs - problem.operator.apply(u)
    inner = dataclasses.replace(problem, source=r, rhs=r, exact=None, functions={})
    now = norm2(r) if criterion.kind == "residual" else norm2(problem.discrete_solution - u)
    if not now > 0:
        return None
    tol = min(criterion.tol * criterion.scale(problem) / now, 0.5)
    return inner, dataclasses.replace(criterion, tol=tol)


#: Corrections the fallback may solve in a row (a second one only where round-off left ``u + e`` a hair above
#: the threshold).
FALLBACK_ROUNDS = 3


def fall_back(problem: Problem, monitor: Monitor, u: np.ndarray, info: dict[str, Any], spent: float) -> SolveResult:
    """Continue with the multilevel hybrid from the operator iteration's iterate ``u``: it solves for the
    correction ``e`` of the current residual (``A e = b − A u``, to the tolerance that makes ``u + e`` meet the
    criterion); the work (``info["work_sweep_equivalents"]``) and seconds (``spent``) of the iteration so far are
    added to its own. Under the discretization criterion (no exact solution of the correction) it solves the
    problem again from zero. ``info`` (the iteration's, with ``fallback``: why) becomes the result's."""
    from poissonfp.settings import HybridSettings
    from poissonfp.solvers.hybrids.hybrid import solve_hybrid

    logger.warning("operator: falling back to the multilevel hybrid: %s", info["fallback"])
    before = float(info["work_sweep_equivalents"])
    info = {**info, "work_before_fallback": before}
    work, wall, reason, results = before, spent, "max_iterations", []
    for _ in range(FALLBACK_ROUNDS):
        correction = _correction_problem(problem, monitor.criterion, u)
        if correction is None:  # from zero: the hybrid's answer replaces the iterate
            inner = Monitor(problem, monitor.criterion, monitor.callback)
            result = solve_hybrid(problem, inner)
            u = result.solution
        else:
            inner = Monitor(correction[0], correction[1])
            # its cycles, without the pure-Jacobi decision (which reads the sine spectrum of a smooth right-hand
            # side: a residual's is rough, and the estimate picked thousands of sweeps for a 1e-4 reduction)
            result = solve_hybrid(correction[0], inner, hybrid=dataclasses.replace(HybridSettings(), fallback=False))
            u = u + result.solution
        results.append(result)
        work += float(result.info.get("work_sweep_equivalents") or result.iterations)
        wall += result.wall_time_s
        reason = result.stop_reason
        if correction is None or not result.converged \
                or monitor.criterion.evaluate(problem, u) <= monitor.threshold:
            break
    info["fallback_start"] = "zero" if correction is None else "iterate"
    info["fallback_result"] = {k: v for k, v in results[-1].info.items() if isinstance(v, (int, float, str, type(None)))}
    info["fallback_rounds"] = len(results)
    info["work_sweep_equivalents"] = work
    final = monitor.result("operator", u, reason, iterations=round(work), info=info)  # sweeps: the method's unit
    final.wall_time_s = wall
    return final
