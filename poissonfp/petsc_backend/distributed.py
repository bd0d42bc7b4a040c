"""One distributed solve: the DMDA, each rank's rows, the KSP, the criterion, the result.

Every rank runs :func:`solve_distributed`; failures that can happen on one rank only (data not finite in
its block, a PETSc error) are made collective by :func:`collective`, so every rank raises the same
error and none is left waiting in a collective operation.
"""
from __future__ import annotations

import pickle
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from poissonfp.petsc_backend import PETSC_METHODS
from poissonfp.petsc_backend.assembly import LocalData, assemble_local, check_supported
from poissonfp.petsc_backend.layout import BoxLayout

__all__ = ["Distributed", "collective", "solve_distributed"]


def collective(comm: Any, work: Callable[[], Any]) -> Any:
    """``work()`` on every rank; if it raised on any rank, every rank raises the lowest such rank's error
    (a CaseError stays a CaseError: one line and exit 2 on the command line)."""
    try:
        value, error = work(), None
    except Exception as err:  # re-raised below on every rank
        value, error = None, err
    errors = comm.allgather(None if error is None else _portable(error))
    first = next((e for e in errors if e is not None), None)
    if first is not None:
        if error is not None and _portable(error) == first:
            raise error
        raise _restored(first)
    return value


def _portable(error: Exception) -> bytes:
    """``error`` as bytes every rank can turn back into it: a CaseError by its fields (its ``__init__``
    takes them, which plain pickling does not replay), an error that does not survive pickling as its text."""
    from poissonfp.case import CaseError

    if isinstance(error, CaseError):
        return pickle.dumps(("CaseError", (str(error.path), error.key, error.message, error.expected)))
    try:
        data = pickle.dumps(error)
        pickle.loads(data)
        return data
    except Exception:  # an unpicklable error travels as its text
        return pickle.dumps(RuntimeError(str(error)))


def _restored(data: bytes) -> Exception:
    from poissonfp.case import CaseError

    value = pickle.loads(data)
    if isinstance(value, tuple) and value[0] == "CaseError":
        return CaseError(*value[1])
    return value


@dataclass
class Distributed:
    """What a distributed solve leaves on every rank.

    Attributes:
        layout: the vertex grid; ``local`` this rank's data; ``solution`` / ``discrete`` PETSc vectors.
        result: the :class:`~poissonfp.solvers.base.SolveResult` (its ``solution`` is empty: the vector is
            gathered or written per rank by the caller); the same on every rank.
        discretization_error_inf: ``||u_h - u_exact||_inf`` or None.
    """

    layout: BoxLayout
    local: LocalData
    solution: Any
    discrete: Any
    result: Any
    discretization_error_inf: float | None


def _refuse(case, key: str, message: str, expected: str | None = None) -> None:
    from poissonfp.case import CaseError

    raise CaseError(case.path, key, message, expected)


def check_request(case, pc: str | None, ranks: int) -> None:
    """Refuse a method or ``--pc`` the backend lacks (CaseError, the same on every rank)."""
    from poissonfp.petsc_backend.krylov import has_parallel_lu

    method = case.solver.method
    if method not in PETSC_METHODS:
        _refuse(case, "--method", f"{method} is not available on --backend petsc",
                expected=", ".join(PETSC_METHODS))
    if pc is not None and method != "multigrid":
        _refuse(case, "--pc", f"applies to --method multigrid only (the method is {method})")
    if method == "hybrid":
        from poissonfp.petsc_backend.hybrid import check_hybrid

        check_hybrid(case)
    if method == "direct" and ranks > 1 and not has_parallel_lu():
        _refuse(case, "--method", "direct on several ranks needs PETSc built with MUMPS; run it on one rank")
    check_supported(case)


def solve_distributed(case, pc: str | None, interrupted: Callable[[], bool],
                      callback: Callable[[dict], None] | None) -> Distributed:
    """Solve ``case`` on ``PETSc.COMM_WORLD`` (every rank calls this)."""
    from petsc4py import PETSc

    from poissonfp.api import criterion_of
    from poissonfp.solvers.base import SolveResult

    comm = PETSc.COMM_WORLD
    mpi = comm.tompi4py()
    ranks = comm.getSize()
    check_request(case, pc, ranks)
    layout = BoxLayout.of_case(case)
    phases = {"start": _memory_mb()}
    da = collective(mpi, lambda: _dmda(case, layout, comm))
    levels = layout.multigrid_levels(da)
    method, pc = case.solver.method, pc or "mg"
    if method == "hybrid":  # before the assembly: at 256³ a refusal after it came a minute late
        _hybrid_hierarchy(case, layout, levels)
    if method == "multigrid" and pc == "mg" and levels < 2:
        _refuse(case, "--n", f"geometric multigrid cannot coarsen {layout.grid.describe()} on {ranks} rank(s) "
                "(it needs n + 1 divisible by 4 per axis, n interior points)", expected="n = 2^k - 1, or --pc gamg")
    matrix = da.createMatrix()
    started = time.perf_counter()
    local = collective(mpi, lambda: assemble_local(case, layout, da, matrix))
    matrix.assemble()
    assembly = time.perf_counter() - started
    phases["assembled"] = _memory_mb()
    rhs = _vector(da, local.rhs)
    exact = None if local.exact is None else _vector(da, local.exact)
    from poissonfp.petsc_backend.krylov import (
        CriterionTest,
        DistributedState,
        configure,
        direct_reference,
        reference_solve,
        shared_reference,
    )

    criterion = criterion_of(case)
    ksp = PETSc.KSP().create(comm=comm)
    ksp.setDM(da)
    ksp.setDMActive(False)
    ksp.setOperators(matrix)
    # u_h by the method's own hierarchy where it has one (one PCMG in memory), else by a KSP of its own,
    # destroyed before the method's is built
    shared = method in ("hybrid", "multigrid") and pc == "mg" and not direct_reference(matrix, da, ranks)
    if not shared:
        started = time.perf_counter()
        discrete, how = collective(mpi, lambda: reference_solve(matrix, rhs, da, levels, ranks))
        how["time_s"] = time.perf_counter() - started
        phases["reference"] = _memory_mb()
    setup_start = time.perf_counter()
    hybrid: tuple[dict[str, Any], Any] | None = None
    coarse_info: dict[str, Any] = {}
    if method == "hybrid":
        hybrid = collective(mpi, lambda: _hybrid(case, layout, levels, coarse_info))
    chosen = collective(mpi, lambda: configure(ksp, method, pc, levels, case.solver.omega, criterion, ranks, hybrid))
    setup = time.perf_counter() - setup_start
    phases["setup"] = _memory_mb()
    if shared:
        started = time.perf_counter()
        discrete, how = collective(mpi, lambda: shared_reference(ksp, matrix, rhs))
        how["time_s"] = time.perf_counter() - started
        phases["reference"] = _memory_mb()
        if hybrid is not None:
            hybrid[1].passes, hybrid[1].seconds = 0, 0.0
    state = DistributedState(rhs.norm() or 1.0, exact, (exact.norm() or 1.0) if exact is not None else 1.0,
                             discrete, discrete.norm() or 1.0)
    discretization = None
    if exact is not None:
        diff = discrete.duplicate()
        diff.waxpy(-1.0, exact, discrete)
        discretization = diff.norm(PETSc.NormType.NORM_INFINITY)
        diff.destroy()
    threshold = criterion.tol
    if criterion.kind == "discretization":
        if discretization is None:
            _refuse(case, "--criterion", "discretization needs an exact solution", expected="residual or discrete")
        threshold = criterion.factor * float(discretization or 0.0)
    rtol, _, _, max_it = ksp.getTolerances()
    test = CriterionTest(criterion, threshold, state, interrupted, callback, rtol, max_it)
    x = rhs.duplicate()
    x.set(0.0)
    test.record(x, 0, rhs.norm())
    if method != "direct":
        ksp.setConvergenceTest(test)
    test.start(setup)
    collective(mpi, lambda: ksp.solve(rhs, x))
    wall = test.elapsed()
    phases["solved"] = _memory_mb()
    iterations = 1 if method == "direct" else ksp.getIterationNumber()
    residual = x.duplicate()
    matrix.mult(x, residual)
    residual.aypx(-1.0, rhs)
    final = {"rel_residual": residual.norm() / state.rhs_norm, **state.errors(x)}
    if not np.isfinite(final["rel_residual"]):
        from poissonfp.solvers.base import DivergenceError

        raise DivergenceError(f"{method} on --backend petsc produced a non-finite iterate "
                              f"(KSP reason {ksp.getConvergedReason()})")
    for key in ("time_s", "iteration", "dnn_steps"):
        test.history[key].append({"time_s": wall, "iteration": iterations, "dnn_steps": 0}[key])
    for key, value in final.items():
        test.history[key].append(value)
    metric = final[criterion.metric]
    converged = metric is not None and metric <= threshold
    stop = "exact" if method == "direct" else (test.stop or ("converged" if ksp.getConvergedReason() > 0
                                                           else "stalled"))
    if stop == "converged" and not converged:
        stop = "final_check_failed"
    if stop != "interrupted" and converged and stop not in ("exact", "converged"):
        stop = "converged"
    memory = mpi.allgather(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
    phase_memory = mpi.allgather(phases)
    info = {"criterion": criterion.kind, "threshold": threshold, "backend": "petsc", "ranks": ranks,
            **chosen, "ksp_reason": int(ksp.getConvergedReason()), "vertices": list(layout.vertices),
            "multigrid_levels_possible": levels, "setup_time_s": setup, "assembly_time_s": assembly, "discrete_solution": how,
            "peak_memory_mb_per_rank": [round(m, 1) for m in memory],
            "memory_mb_per_rank_by_phase": {name: [[round(v, 1) for v in p[name]] for p in phase_memory]
                                            for name in phases}}
    if hybrid is not None:
        # "cycles" as the one-process hybrid records them: the summary and compare count V-cycles, not sweeps
        info.update({"cycle": "multilevel (PCMG V-cycles)", "cycles": int(iterations), "hybrid_levels": hybrid[0]["pc_mg_levels"],
                     "smoothing_omega": hybrid[0]["mg_levels_ksp_richardson_scale"],
                     "smoothing_sweeps": hybrid[0]["mg_levels_ksp_max_it"], "coarsest": case.hybrid.coarsest,
                     "decision": {"method": "multilevel", "reason": "not made on --backend petsc (pure Jacobi "
                                  "is priced on one process)"},
                     **coarse_info, **hybrid[1].summary()})
    result = SolveResult(method, np.zeros(0), bool(converged), stop, float(wall), int(iterations), 0, test.history,
                         {}, info, final, stop == "interrupted")
    ksp.destroy()
    return Distributed(layout, local, x, discrete, result, discretization)


def _hybrid(case, layout: BoxLayout, levels_possible: int, info: dict) -> tuple[dict[str, Any], Any]:
    """The hybrid's PETSc options and its coarse PCPYTHON context (the operator model loaded when the case
    names one: ``--model DIR``)."""
    from poissonfp.petsc_backend.hybrid import GatheredCoarse, hybrid_options

    model = None
    if case.operator.model:
        from poissonfp.learned.store import ModelError, load_model

        try:
            model = load_model(case.operator.model)
        except ModelError as err:
            _refuse(case, "--model", str(err))
    levels, coarse = _hybrid_hierarchy(case, layout, levels_possible)
    if model is not None and not model.across_sizes and tuple(model.grid.shape) != coarse:
        _refuse(case, "--model", f"the model's grid {model.grid.describe()} is not the coarsest level's "
                f"{'x'.join(map(str, coarse))} interior points ({levels} levels)",
                expected="a model trained on the coarsest grid, or an fno model")
    return hybrid_options(case, levels, layout.grid.ndim), GatheredCoarse(case, layout, model, info)


def _hybrid_hierarchy(case, layout: BoxLayout, levels_possible: int) -> tuple[int, tuple[int, ...]]:
    """The hybrid's PCMG levels and its coarsest grid's interior points per axis; refused (CaseError) where
    the coarsest level would have more than ``coarsest_points`` per axis."""
    from petsc4py import PETSc

    from poissonfp.petsc_backend.hybrid import hybrid_levels
    from poissonfp.solvers.hierarchy.multilevel import DEFAULT_COARSEST_POINTS

    levels = hybrid_levels(case, layout, levels_possible)
    coarse = tuple((n - 1) // 2 ** (levels - 1) - 1 for n in layout.vertices)
    points = case.hybrid.coarsest_points or DEFAULT_COARSEST_POINTS[layout.grid.ndim]
    if max(coarse) > points:  # every rank would gather (and solve) a grid this large
        _refuse(case, "--n", f"the hybrid's hierarchy cannot coarsen {layout.grid.describe()} to at most {points} "
                f"points per axis on {PETSc.COMM_WORLD.getSize()} rank(s) (it stops at {'x'.join(map(str, coarse))})",
                expected="n = 2^k (m + 1) - 1 with m <= the coarsest points, or fewer ranks")
    return levels, coarse


def _memory_mb() -> tuple[float, float]:
    """This process's resident set now and its peak so far, in MB (the current one from /proc where there is one)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    try:
        with open("/proc/self/statm") as statm:
            now = int(statm.read().split()[1]) * resource.getpagesize() / 2**20
    except OSError:
        now = peak
    return now, peak


def _dmda(case, layout: BoxLayout, comm: Any) -> Any:
    from petsc4py import PETSc

    try:
        return layout.create_dmda(comm)
    except PETSc.Error:
        _refuse(case, "mpirun -n", f"{comm.getSize()} ranks cannot share the grid of "
                f"{'x'.join(map(str, layout.vertices))} vertices (PETSc's split leaves a rank without points)",
                expected="fewer ranks or a larger --n")


def _vector(da: Any, values: np.ndarray) -> Any:
    vector = da.createGlobalVec()
    vector.setArray(np.ascontiguousarray(values, dtype=float).ravel())
    return vector
