"""The public Python API, mirrored by the CLI: load a case, build its problem, solve it.

>>> from poissonfp import load_case, solve_case
>>> case = load_case("cases/2d_square.toml").with_overrides(size=31)   # doctest: +SKIP
>>> problem, result = solve_case(case, method="dst")                   # doctest: +SKIP
>>> result.converged, result.final["error_vs_exact_inf"]               # doctest: +SKIP
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from poissonfp.case import Case
from poissonfp.problem import Problem, build_problem
from poissonfp.settings import default_criterion
from poissonfp.solvers import SOLVERS, SolveResult, StoppingCriterion, method_options, solve

__all__ = ["criterion_of", "solve_case", "solver_options", "tracked_modes"]


def criterion_of(case: Case) -> StoppingCriterion:
    """The stopping criterion a case asks for."""
    s = case.solver
    kind = s.criterion or default_criterion(case.exact is not None)  # a loaded case has one
    return StoppingCriterion(kind=kind, tol=s.tol, max_iterations=s.max_iterations)


def solver_options(case: Case) -> dict[str, Any]:
    """Method options from a case's settings tables (:func:`solve_case` passes each method those it takes)."""
    return {
        "omega": case.solver.omega,
        "check_every": case.solver.check_every,
        "network": case.network,
        "training": case.training,
        "hybrid": case.hybrid,
        "multigrid": case.multigrid,
        "seed": case.seed,
        "device": case.network.device,
        "model": case.operator.model or None,
        "sweeps": case.operator.sweeps,
        "accel": case.operator.accel,
        "trigger": case.operator.trigger,
        "coarse_sweeps": case.operator.coarse_sweeps,
        "cycle_sweeps": case.operator.cycle_sweeps,
        "call_price": case.operator.call_price,
    }


def tracked_modes(problem: Problem, count: int = 3) -> list[tuple[int, ...]]:
    """The modes to follow: the ``count`` largest peaks of the discrete solution's sine spectrum,
    completed by its largest remaining coefficients when it has fewer peaks, sorted by frequency. No modes
    (an empty list: not available) off the constant-coefficient Dirichlet box, where sine modes are not
    A's eigenvectors."""
    if not problem.on_box:
        return []
    from poissonfp.spectral import dst_coefficients, dst_peaks

    modes = dst_peaks(problem.discrete_solution, count)
    if len(modes) < count:
        amplitude = np.abs(dst_coefficients(problem.discrete_solution))
        for index in np.argsort(-amplitude, axis=None, kind="stable"):
            mode = tuple(int(i) + 1 for i in np.unravel_index(index, amplitude.shape))
            if len(modes) == count:
                break
            if mode not in modes:
                modes.append(mode)
    return sorted(modes, key=lambda m: (sum(k * k for k in m), m))


def solve_case(
    case: Case,
    method: str | None = None,
    *,
    problem: Problem | None = None,
    callback: Callable[[dict], None] | None = None,
    track_modes: bool = True,
    **options: Any,
) -> tuple[Problem, SolveResult]:
    """Solve a case with ``method`` (default: the case's), returning the problem and the result.

    Args:
        case: a loaded (and possibly overridden) case.
        method: solver name; None uses ``case.solver.method``.
        problem: a problem already built from ``case`` (saves rebuilding it).
        callback: receives every history record.
        track_modes: record the error of the solution's three spectral peaks over time.
        **options: override any option of the method (see :func:`poissonfp.solvers.method_options`).

    Raises:
        CaseError: If the method's estimated memory exceeds the machine's.
        TypeError: For an option the method does not take.
    """
    from poissonfp.feasibility import check_feasible

    method = method or case.solver.method
    other = {} if method == case.solver.method else dict.fromkeys(("grid", "widths", "quadrature_order"), "method")
    check_feasible(case, method, keys=other)
    problem = problem if problem is not None else build_problem(case)
    modes = tracked_modes(problem) if track_modes else None
    takes = set(method_options(method)) if method in SOLVERS else set()
    defaults = {key: value for key, value in solver_options(case).items() if key in takes}
    result = solve(problem, method, criterion_of(case), callback=callback, modes=modes, **{**defaults, **options})
    result.info.setdefault("case", case.name)
    return problem, result
