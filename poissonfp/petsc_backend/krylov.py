"""The methods on PETSc: a KSP per method, the stopping criterion as its convergence test, the history.

Defaults go into PETSc's options database only where the user set nothing, so ``-ksp_*`` / ``-pc_*``
given after ``--`` on the command line (or in ``PETSC_OPTIONS``) override them.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from poissonfp.solvers.base import HISTORY_KEYS, StoppingCriterion

__all__ = ["CriterionTest", "DistributedState", "configure", "direct_reference", "reference_solve", "shared_reference"]


@contextmanager
def _defaults(values: dict[str, Any]) -> Iterator[None]:
    """Put ``values`` into PETSc's options database where the user set nothing, for the block only (a
    later solve in the same process starts from the user's options again)."""
    from petsc4py import PETSc

    options = PETSc.Options()
    added = [name for name in values if not options.hasName(name)]
    for name in added:
        options[name] = values[name]
    try:
        yield
    finally:
        for name in added:
            options.delValue(name)


def has_parallel_lu() -> bool:
    from petsc4py import PETSc

    return bool(PETSc.Sys.hasExternalPackage("mumps"))


def configure(ksp: Any, method: str, pc: str, levels: int, omega: float, criterion: StoppingCriterion,
              ranks: int, hybrid: tuple[dict[str, Any], Any] | None = None) -> dict[str, Any]:
    """Set ``ksp`` up (``KSPSetUp``: the preconditioner is built) for ``method`` (``--pc`` ``pc`` for
    multigrid; ``hybrid``: the hybrid's options and its coarse PCPYTHON context) and return what was
    chosen, for the record."""
    base: dict[str, Any] = {"ksp_max_it": criterion.max_iterations, "ksp_atol": 0.0,
                            "ksp_rtol": criterion.tol if criterion.kind == "residual" else 1e-300}
    if method == "jacobi":
        base.update({"ksp_type": "richardson", "ksp_richardson_scale": omega, "pc_type": "jacobi",
                     "ksp_norm_type": "unpreconditioned"})
    elif method == "multigrid":
        base.update({"ksp_type": "cg", "ksp_norm_type": "unpreconditioned"})
        if pc == "mg":
            base.update({"pc_type": "mg", "pc_mg_levels": levels, "pc_mg_galerkin": "both",
                         "mg_levels_ksp_type": "chebyshev", "mg_levels_pc_type": "jacobi"})
        elif pc == "hypre":
            base.update({"pc_type": "hypre", "pc_hypre_type": "boomeramg"})
        else:
            base.update({"pc_type": "gamg"})
    elif method == "direct":
        base.update({"ksp_type": "preonly", "pc_type": "lu"})
        if ranks > 1:
            base["pc_factor_mat_solver_type"] = "mumps"
    elif method == "hybrid" and hybrid is not None:
        base.update(hybrid[0])
    with _defaults(base):  # PCMG reads its levels' options at set-up
        ksp.setFromOptions()
        if hybrid is not None and ksp.getPC().getType() == "mg":
            coarse = ksp.getPC().getMGCoarseSolve().getPC()
            coarse.setType("python")
            coarse.setPythonContext(hybrid[1])
        ksp.setUp()
    chosen = {"ksp_type": ksp.getType(), "pc_type": ksp.getPC().getType()}
    if chosen["pc_type"] == "mg":
        chosen["mg_levels"] = ksp.getPC().getMGLevels()
    return chosen


@dataclass
class DistributedState:
    """What the criterion and the history measure a distributed iterate against.

    Attributes:
        rhs_norm: ``||b||_2`` (1 where zero).
        exact: the exact solution as a PETSc vector (0 at boundary nodes and outside), or None.
        exact_norm: its 2-norm (1 where zero).
        discrete: the discrete solution ``u_h`` (a tight reference solve), or None.
        discrete_norm: its 2-norm (1 where zero).
    """

    rhs_norm: float
    exact: Any = None
    exact_norm: float = 1.0
    discrete: Any = None
    discrete_norm: float = 1.0
    scratch: Any = field(default=None, repr=False)

    def errors(self, x: Any) -> dict[str, float | None]:
        """The error norms of iterate ``x`` (collective)."""
        from petsc4py import PETSc

        out: dict[str, float | None] = {"error_vs_exact_rel_l2": None, "error_vs_exact_inf": None,
                                        "error_vs_discrete_rel_l2": None}
        if self.scratch is None:
            self.scratch = x.duplicate()
        if self.exact is not None:
            self.scratch.waxpy(-1.0, self.exact, x)
            out["error_vs_exact_rel_l2"] = self.scratch.norm(PETSc.NormType.NORM_2) / self.exact_norm
            out["error_vs_exact_inf"] = self.scratch.norm(PETSc.NormType.NORM_INFINITY)
        if self.discrete is not None:
            self.scratch.waxpy(-1.0, self.discrete, x)
            out["error_vs_discrete_rel_l2"] = self.scratch.norm(PETSc.NormType.NORM_2) / self.discrete_norm
        return out


class CriterionTest:
    """The case's stopping criterion as a KSP convergence test, keeping the history.

    Every rank calls it at every iteration (PETSc does); the decision uses only collective norms and an
    allreduce of the interrupt flag, so every rank stops at the same iteration.

    Args:
        criterion: the stopping criterion; its threshold ``threshold``.
        state: the reference vectors.
        interrupted: returns True on a rank that received SIGINT / SIGTERM.
        callback: gets every history record (rank 0 draws the progress line).
        rtol: the residual criterion's tolerance as PETSc has it (``-ksp_rtol`` may have changed it).
    """

    def __init__(self, criterion: StoppingCriterion, threshold: float, state: DistributedState,
                 interrupted: Callable[[], bool], callback: Callable[[dict], None] | None, rtol: float,
                 max_iterations: int) -> None:
        self.criterion, self.threshold, self.state = criterion, threshold, state
        self.interrupted, self.callback = interrupted, callback
        self.threshold_used = rtol if criterion.kind == "residual" else threshold
        self.max_iterations = max_iterations
        self.history: dict[str, list] = {k: [] for k in HISTORY_KEYS}
        self.stop: str | None = None
        self.iterations = 0
        self._start = time.perf_counter()
        self._paused = 0.0
        self._first: float | None = None

    def start(self, already: float = 0.0) -> None:
        """Start the stopwatch now, ``already`` seconds in (the preconditioner's set-up)."""
        self._start, self._paused = time.perf_counter() - already, 0.0

    def elapsed(self) -> float:
        return time.perf_counter() - self._start - self._paused

    def __call__(self, ksp: Any, its: int, rnorm: float) -> Any:
        from mpi4py import MPI
        from petsc4py import PETSc

        reasons = PETSc.KSP.ConvergedReason
        self.iterations = its
        if not math.isfinite(rnorm):
            self.stop = "diverged"
            return reasons.DIVERGED_NANORINF
        stop_now = ksp.getComm().tompi4py().allreduce(bool(self.interrupted()), op=MPI.LOR)
        needs_errors = self.criterion.kind != "residual"
        record = its < 10 or its % max(1, its // 10) == 0
        value = rnorm / self.state.rhs_norm
        if needs_errors or record or stop_now:
            entry = self.record(ksp.getSolution(), its, rnorm)
            value = entry[self.criterion.metric]
        if stop_now:
            self.stop = "interrupted"
            return reasons.CONVERGED_ITS
        if value is not None and value <= self.threshold_used:
            self.stop = "converged"
            return reasons.CONVERGED_RTOL if self.criterion.kind == "residual" else reasons.CONVERGED_ATOL
        if its >= self.max_iterations:
            self.stop = "max_iterations"
            return reasons.DIVERGED_MAX_IT
        return reasons.ITERATING

    def record(self, x: Any, its: int, rnorm: float | None = None) -> dict:
        """Append a history record of iterate ``x`` (the stopwatch paused meanwhile)."""
        paused_at = time.perf_counter()
        now = paused_at - self._start - self._paused
        if self.history["iteration"] and self.history["iteration"][-1] == its:
            self._paused += time.perf_counter() - paused_at
            return {k: v[-1] for k, v in self.history.items()}
        rel = None if rnorm is None else rnorm / self.state.rhs_norm
        entry: dict[str, Any] = {"time_s": now, "iteration": its, "dnn_steps": 0, "rel_residual": rel, **self.state.errors(x)}
        for key in HISTORY_KEYS:
            self.history[key].append(entry[key])
        if self.callback is not None:
            value = entry.get(self.criterion.metric)
            entry["phase"] = ""
            entry["progress"] = self._progress(value)
            if rel is not None:
                self.callback(entry)
        self._paused += time.perf_counter() - paused_at
        return entry

    def _progress(self, value: float | None) -> float:
        if value is None or not math.isfinite(value) or value <= 0:
            return 0.0
        self._first = self._first or value
        if value <= self.threshold_used or self._first <= self.threshold_used:
            return 1.0
        return min(1.0, max(0.0, math.log(self._first / value) / math.log(self._first / self.threshold_used)))


#: Rows up to which the reference solve factorises, per dimension (LU fill grows like n log n in 2D and
#: n^(4/3) in 3D: 63³ took minutes and 1.7 GB per rank, 127² a fraction of a second).
DIRECT_LIMIT = {1: 10**7, 2: 10**6, 3: 40_000}


def direct_reference(matrix: Any, da: Any, ranks: int) -> bool:
    """Whether :func:`reference_solve` factorises (small systems, a parallel LU on several ranks)."""
    return matrix.getSize()[0] <= DIRECT_LIMIT[da.getDim()] and (ranks == 1 or has_parallel_lu())


def shared_reference(ksp: Any, matrix: Any, rhs: Any) -> tuple[Any, dict]:
    """``u_h`` by the method's own KSP (set up: its PCMG hierarchy is the one the method then uses) to a
    relative residual of 1e-13 from zero, or to round-off (no 2x gain over 5 iterations), its tolerances
    restored afterwards (its convergence test is left for the caller to set): one hierarchy in memory
    instead of two (at 127³ on one rank the reference's own PCMG kept 510 MB, 240 B per unknown)."""
    from petsc4py import PETSc

    rtol, atol, divtol, max_it = ksp.getTolerances()
    ksp.setTolerances(rtol=1e-13, atol=0.0, max_it=200)
    target = 1e-13 * (rhs.norm() or 1.0)
    norms: list[float] = []
    reasons = PETSc.KSP.ConvergedReason

    def tight(_ksp: Any, its: int, rnorm: float) -> Any:
        """1e-13, or round-off: no 2x gain over 5 iterations (255³ hybrid: stuck at 3.7e-13 for 180 cycles)."""
        norms.append(rnorm)
        if rnorm <= target:
            return reasons.CONVERGED_RTOL
        if its >= 5 and rnorm > 0.5 * norms[-6]:
            return reasons.CONVERGED_ITS
        return reasons.DIVERGED_MAX_IT if its >= 200 else reasons.ITERATING

    ksp.setConvergenceTest(tight)
    x = rhs.duplicate()
    x.set(0.0)
    try:
        ksp.solve(rhs, x)
    finally:
        ksp.setTolerances(rtol=rtol, atol=atol, divtol=divtol, max_it=max_it)  # the caller sets its own test
    residual = rhs.duplicate()
    matrix.mult(x, residual)
    residual.aypx(-1.0, rhs)
    relative = residual.norm() / (rhs.norm() or 1.0)
    residual.destroy()
    how = {"how": f"the method's {ksp.getType()} + {ksp.getPC().getType()} to 1e-13 (its hierarchy shared)",
           "iterations": ksp.getIterationNumber(), "rel_residual": relative}
    return x, how


def reference_solve(matrix: Any, rhs: Any, da: Any, levels: int, ranks: int) -> tuple[Any, dict]:
    """``u_h``, the discrete solution, with its own KSP (options prefix ``ref_``): a sparse LU (MUMPS where
    PETSc has it) when the system has at most :data:`DIRECT_LIMIT` rows, else CG with PCMG (or GAMG) to a
    relative residual of 1e-13. Returns the vector and how it was computed."""
    from petsc4py import PETSc

    ksp = PETSc.KSP().create(comm=matrix.getComm())
    ksp.setOptionsPrefix("ref_")
    ksp.setOperators(matrix)
    lu = direct_reference(matrix, da, ranks)
    if lu:
        ksp.setType("preonly")
        ksp.getPC().setType("lu")
        if has_parallel_lu():
            ksp.getPC().setFactorSolverType("mumps")
    else:
        ksp.setDM(da)
        ksp.setDMActive(False)
        ksp.setType("cg")
        ksp.setNormType(PETSc.KSP.NormType.UNPRECONDITIONED)
        ksp.setTolerances(rtol=1e-13, atol=0.0, max_it=1000)
        pc = ksp.getPC()
        if levels >= 2:
            pc.setType("mg")
            pc.setMGLevels(levels)
        else:
            pc.setType("gamg")
    x = rhs.duplicate()
    x.set(0.0)
    with _defaults({"ref_pc_mg_galerkin": "both"} if not lu and levels >= 2 else {}):
        ksp.setFromOptions()
        ksp.solve(rhs, x)
    residual = rhs.duplicate()
    matrix.mult(x, residual)
    residual.aypx(-1.0, rhs)
    relative = residual.norm() / (rhs.norm() or 1.0)
    residual.destroy()
    how = {"how": "sparse LU" if lu else f"CG + {ksp.getPC().getType()} to 1e-13",
           "iterations": ksp.getIterationNumber(), "rel_residual": relative}
    ksp.destroy()
    return x, how
