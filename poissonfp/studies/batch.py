"""Many right-hand sides, one set-up: solve K problems that share an operator with each method, building
what the method can reuse once.

What each method reuses (its set-up, timed apart from the solves):

- ``jacobi``: nothing (a sweep has no set-up; the compiled kernels are loaded before the clock starts).
- ``dst``: nothing (the sine transform has no set-up).
- ``direct``: one sparse LU factorisation (SuperLU); off the box the operator's cached factor
  (:meth:`~poissonfp.discrete_operator.DiscreteOperator.solve`), on the box its own.
- ``multigrid``: one PyAMG Ruge-Stueben hierarchy, one ``.solve`` per right-hand side.
- ``hybrid``: on the box (multilevel cycle) one hierarchy and one coarse space (network or basis), then per
  right-hand side full multigrid and V-cycles (the pure-Jacobi decision is not taken: the cycles always run);
  off the box (two-level cycles) nothing is reused.
- ``operator``: the loaded network; all K residuals are corrected in one network call
  (:func:`poissonfp.solvers.hybrids.operator.solve_operator_batch`).

BLAS and torch run on one thread throughout (timings comparable between methods). The criterion is the
case's, except that ``discretization`` (which needs an exact solution, unknown for an arbitrary source)
becomes the relative residual at the case's tolerance.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from poissonfp.interrupts import SignalGuard
from poissonfp.problem import Problem
from poissonfp.solvers.base import Monitor, SolveResult, StoppingCriterion

__all__ = ["BATCH_METHODS", "REUSE", "MethodBatch", "batch_criterion", "prepare", "run_method"]

#: Methods a batch runs (``dnn`` and ``article`` train on the case's continuous source: a grid source has none).
BATCH_METHODS = ("jacobi", "hybrid", "multigrid", "dst", "direct", "operator")

#: What each method builds once (recorded in batch.json).
REUSE = {
    "jacobi": "nothing (no set-up)",
    "dst": "nothing (no set-up)",
    "direct": "one sparse LU factorisation",
    "multigrid": "one PyAMG Ruge-Stueben hierarchy",
    "hybrid": "one multilevel hierarchy and coarse space",
    "operator": "the loaded network; one network call corrects all K residuals",
}

Solve = Callable[[Problem, Monitor], SolveResult]


@dataclass
class MethodBatch:
    """One method's run over the batch.

    Attributes:
        method: the method.
        setup_s: seconds spent building what is reused.
        results: one result per solved right-hand side, in order (fewer than K when interrupted).
        reuse: what was built once.
        interrupted: a Ctrl-C / SIGTERM cut the run short.
        batched_s: for ``operator``, the wall time of the one batched call (per-solve times are its share).
    """

    method: str
    setup_s: float = 0.0
    results: list[SolveResult] = field(default_factory=list)
    reuse: str = ""
    interrupted: bool = False
    batched_s: float | None = None

    def solve_times(self) -> list[float]:
        """Seconds per solve (for ``operator``: the batched call's time divided evenly)."""
        if self.batched_s is not None and self.results:
            return [self.batched_s / len(self.results)] * len(self.results)
        return [r.wall_time_s for r in self.results]

    def mean_solve_s(self) -> float | None:
        times = self.solve_times()
        return float(np.mean(times)) if times else None


def batch_criterion(criterion: StoppingCriterion) -> StoppingCriterion:
    """The criterion of a batch (see the module docstring)."""
    if criterion.kind != "discretization":
        return criterion
    return StoppingCriterion("residual", criterion.tol, criterion.max_iterations)


def prepare(method: str, base: Problem, criterion: StoppingCriterion, options: dict[str, Any]) -> tuple[Solve, str]:
    """Build what ``method`` reuses for problems sharing ``base``'s operator; returns (solve one, what was
    reused). Not for ``operator`` (see :func:`run_operator`)."""
    from poissonfp.solvers import SOLVERS

    if method == "direct":
        return _prepare_direct(base), REUSE[method]
    if method == "multigrid":
        from poissonfp.solvers.classical.reference import multigrid_cycles, multigrid_hierarchy

        hierarchy = multigrid_hierarchy(base)
        return (lambda p, m: multigrid_cycles(p, m, hierarchy)), REUSE[method]
    if method == "hybrid":
        from poissonfp.studies.batch_hybrid import prepare_hybrid

        prepared = prepare_hybrid(base, criterion, options)
        if prepared is not None:
            return prepared, REUSE[method]
        return (lambda p, m: SOLVERS["hybrid"](p, m, **options)), "nothing (two-level cycles off the box)"
    return (lambda p, m: SOLVERS[method](p, m, **options)), REUSE[method]


def _warm_up(method: str, ndim: int) -> None:
    """Compile (or load) the numba kernels ``method`` uses, before any clock starts."""
    if method in ("jacobi", "hybrid", "operator"):
        from poissonfp.solvers.classical.jacobi import warm_up

        warm_up(ndim)
    if method == "hybrid":
        from poissonfp.solvers.hierarchy.multilevel import warm_up as warm_up_cycles

        warm_up_cycles(ndim)


def _prepare_direct(base: Problem) -> Solve:
    from poissonfp.solvers.classical.reference import one_step

    operator = base.operator
    if operator.box:  # the operator's own solve is the sine transform there: factorise here
        import scipy.sparse.linalg

        factor = scipy.sparse.linalg.splu(operator.system_matrix().tocsc())
        shape, size = base.grid.shape, base.grid.size
        inverse = lambda rhs: factor.solve(rhs.ravel())[:size].reshape(shape)  # noqa: E731
    else:
        operator.solve(np.zeros(base.grid.shape))  # factorises once; later solves reuse the cached factor
        inverse = operator.solve
    return lambda p, m: one_step(p, m, "direct", lambda: inverse(p.rhs))


def run_method(method: str, base: Problem, problems: list[Problem], criterion: StoppingCriterion,
               options: dict[str, Any], progress: Callable[[str, int], None] | None = None,
               guard: SignalGuard | None = None) -> MethodBatch:
    """Set up ``method`` once and solve every problem; a Ctrl-C ends the run with the solves done (the one
    cut short included, marked interrupted). With ``guard`` (the command's signal guard) each solve is one
    :meth:`~poissonfp.interrupts.SignalGuard.solving` block, and a signal recorded meanwhile stops the run."""
    from poissonfp.neural.model import single_threaded

    solving = guard.solving if guard is not None else nullcontext
    record = MethodBatch(method)
    with single_threaded():
        _warm_up(method, base.grid.ndim)
        start = time.perf_counter()
        try:
            if method == "operator":
                with solving():
                    return run_operator(base, problems, criterion, options, record)
            solve_one, record.reuse = prepare(method, base, criterion, options)
            record.setup_s = time.perf_counter() - start
            for k, problem in enumerate(problems):
                with solving():
                    result = solve_one(problem, Monitor(problem, criterion))
                record.results.append(result)
                if result.interrupted or (guard is not None and guard.received is not None):
                    record.interrupted = True
                    break
                if progress is not None:
                    progress(method, k + 1)
        except KeyboardInterrupt:
            record.interrupted = True
            if not record.setup_s:
                record.setup_s = time.perf_counter() - start
    return record


def run_operator(base: Problem, problems: list[Problem], criterion: StoppingCriterion, options: dict[str, Any],
                 record: MethodBatch) -> MethodBatch:
    """All right-hand sides through :func:`~poissonfp.solvers.hybrids.operator.solve_operator_batch` (one network
    call per iteration corrects all K residuals). ``options["model"]`` is a loaded model or its folder."""
    from poissonfp.solvers.hybrids.operator import solve_operator_batch

    record.reuse = REUSE["operator"]
    start = time.perf_counter()
    model = options["model"]
    if not hasattr(model, "apply"):
        from poissonfp.learned.store import load_model

        model = load_model(model, device=options.get("device") or "cpu")
    record.setup_s = time.perf_counter() - start
    rhs = np.stack([p.rhs for p in problems])
    extra = {k: v for k, v in options.items() if k not in ("model", "device")}
    start = time.perf_counter()
    record.results = list(solve_operator_batch(base, rhs, model, criterion, **extra))
    record.batched_s = time.perf_counter() - start
    record.interrupted = any(r.interrupted for r in record.results)
    return record


def break_even(operator: MethodBatch, other: MethodBatch, training_s: float) -> dict[str, Any]:
    """After how many solves training + the operator's set-up and solves cost less than ``other``'s
    set-up and solves, from the mean per-solve times measured (``count`` None: never, the operator's
    solve is not faster)."""
    t_op, t_other = operator.mean_solve_s(), other.mean_solve_s()
    if t_op is None or t_other is None:
        return {"count": None, "reason": "no solve measured"}
    fixed = training_s + operator.setup_s - other.setup_s
    if fixed <= 0:
        return {"count": 1, "reason": "training and set-up cost less than the other's set-up"}
    if t_op >= t_other:
        return {"count": None, "reason": f"never: a solve costs {t_op:.3e} s against {t_other:.3e} s"}
    return {"count": max(1, math.ceil(fixed / (t_other - t_op))),
            "reason": f"{fixed:.3g} s of training and set-up repaid at {t_other - t_op:.3e} s per solve"}
