"""``poissonfp solve CASE``: solve one case with one method and save the outputs.

Order of work: read the case, check the output folder and lock it (one line and exit 2 when it
cannot be used, before any computation), build the problem, solve, then write the output
set (staged, moved into place complete). Ctrl-C and SIGTERM take one path (:mod:`poissonfp.interrupts`):
during the solve they stop it and the state reached is saved marked ``interrupted``; before the case
is read and the output folder locked nothing is written; between that and the solver's first state
the initial state (zero) is saved, marked; while saving, the set is completed first. Exit codes: 0 done, 1 diverged or
failed write, 2 bad input or unusable ``--out``, 3 criterion not reached (only with ``--strict``),
130 Ctrl-C, 143 SIGTERM.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import click

from poissonfp.cli.common import EXIT_INTERRUPTED, EXIT_NOT_REACHED, guarded, with_flags
from poissonfp.cli.params import CommaList, NamedChoice
from poissonfp.cli.progress import SolveProgress
from poissonfp.cli.summary import compile_clock, seconds_since_start
from poissonfp.cli.summary import print_summary as _print_summary
from poissonfp.interrupts import SignalGuard, caused_by_interrupt
from poissonfp.methods import COARSE_SPACES, DEVICES, METHODS
from poissonfp.petsc_backend import BACKENDS, PRECONDITIONERS
from poissonfp.results import OutputLock, check_output_folder
from poissonfp.settings import CRITERIA
from poissonfp.studies.batch import BATCH_METHODS

__all__ = ["solve"]

logger = logging.getLogger(__name__)


@click.command()
@click.argument("case_file", metavar="CASE", type=click.Path(path_type=Path))
@click.argument("petsc_options", nargs=-1, type=click.UNPROCESSED, metavar="[-- PETSC_OPTIONS]")
@click.option("--method", type=NamedChoice(METHODS, "method"), help="Solution method (default: the case's).")
@click.option("--n", "size", type=int, help="Grid size per dimension, in the case's unit (points or intervals).")
@click.option("--tol", type=float, help="Tolerance of the residual / discrete criteria.")
@click.option("--criterion", type=NamedChoice(CRITERIA, "criterion"), help="Stopping criterion (default: the case's).")
@click.option("--switch", callback=lambda _ctx, _param, value: _switch(value),
              help="hybrid and article: network training steps M before Jacobi takes over, or 'auto' "
                   "(the case's [hybrid] switch by default).")
@click.option("--coarse", type=NamedChoice(COARSE_SPACES, "coarse space"),
              help="Hybrid coarse space (default: the case's).")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), help="Seed of every random choice (default: the case's).")
@click.option("--device", type=NamedChoice(DEVICES, "device"), help="Where neural methods run.")
@click.option("--model", type=click.Path(path_type=Path),
              help="Operator method: the model folder of `poissonfp train` (default: the case's [operator] model).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (default: results/<case name>/<method>/, one per method).")
@click.option("--format", "formats", type=click.Choice(["npz", "vtk"]), multiple=True,
              help="Extra solution formats: vtk adds solution.vtr for ParaView/VisIt (npz is always written).")
@click.option("--strict", is_flag=True, help="Exit with 3 when the stopping criterion is not reached.")
@click.option("--no-figures", "no_figures", is_flag=True, help="Write result.json and solution.npz only (no PNGs).")
@click.option("--quiet", is_flag=True, help="No progress line.")
@click.option("--sources", type=click.Path(path_type=Path),
              help="Batch: an .npz with array f (K, *grid) of float64 sources on the case's grid (its boundary "
                   "data apply); solves all K, writes batch.json.")
@click.option("--family", type=click.Choice(["grf", "case"]), help="Batch: draw the sources from this family (with "
              "--count): grf (Gaussian random fields) or case (the case's source, its numbers drawn within ±25%).")
@click.option("--count", type=click.IntRange(min=1), help="Batch: how many sources --family draws (>= 1).")
@click.option("--methods", type=CommaList("method", (*BATCH_METHODS, "all"), distinct=True),
              help="Batch: the methods to run (default: --method or the case's; all: every one that applies).")
@click.option("--backend", type=click.Choice(BACKENDS), default="local", show_default=True,
              help="local: one process; petsc: PETSc over MPI, run as `mpirun -n P poissonfp solve ...` "
                   "(see README, MPI / PETSc).")
@click.option("--pc", type=click.Choice(PRECONDITIONERS),
              help="--backend petsc, --method multigrid: geometric PCMG (default), hypre (BoomerAMG) or gamg.")
@guarded
def solve(case_file: Path, petsc_options, method, size, tol, criterion, switch, coarse, seed, device, model, out,
          formats, strict, no_figures, quiet, sources, family, count, methods, backend, pc) -> None:
    """Solve -Δu = f for CASE (a case file, or a shipped case's name: see `poissonfp cases`) and write
    result.json, solution.npz and figures; with --sources or --family, solve many right-hand sides with one
    set-up per method and write batch.json and batch.png. With --backend petsc, PETSc options (-ksp_*, -pc_*)
    may follow `--`."""
    from poissonfp.case import load_case

    _check_backend(backend, pc, petsc_options)
    if backend == "petsc":
        from poissonfp.petsc_backend.command import solve_petsc

        overrides = dict(method=method, size=size, tol=tol, criterion=criterion, switch=switch, coarse=coarse,
                         seed=seed, device=device, model=None if model is None else str(model))
        return solve_petsc(case_file, overrides, out, "vtk" in formats, quiet, strict, pc, tuple(petsc_options))

    if sources is not None or family is not None or count is not None or methods is not None:
        from poissonfp.cli.batch import run_batch_command

        case = with_flags(load_case(case_file), method=method, size=size, tol=tol, criterion=criterion,
                          switch=switch, coarse=coarse, seed=seed, device=device,
                          model=None if model is None else str(model))
        run_batch_command(case, sources=sources, family=family, count=count, methods=methods,
                          model=Path(case.operator.model) if case.operator.model else None, out=out, strict=strict,
                          quiet=quiet)
        return

    with SignalGuard() as guard:
        try:
            logger.debug("reading the case %s", case_file)
            started = time.perf_counter()
            startup = _startup_seconds()
            case = with_flags(load_case(case_file), method=method, size=size, tol=tol, criterion=criterion,
                              switch=switch, coarse=coarse, seed=seed, device=device,
                              model=None if model is None else str(model))
            _warn_ignored(case.solver.method, switch=switch, coarse=coarse, device=device)
            if case.solver.method == "operator":
                _check_operator_model(case)
            out = check_output_folder(out or Path("results") / case.name / case.solver.method)
            timings = {"load": time.perf_counter() - started}
            if startup is not None:  # the interpreter, numpy, click, ... up to this command
                timings["startup"] = startup
                timings["origin"] = started - startup
            with OutputLock(out):
                result = _solve_and_save(case, out, "vtk" in formats, quiet, guard, not no_figures, timings)
        except (KeyboardInterrupt, Exception) as error:
            if not caused_by_interrupt(error):  # a Ctrl-C inside a lazy import's class body arrives wrapped
                raise
            click.echo("interrupted before the case was read: nothing written", err=True)
            raise click.exceptions.Exit(guard.exit_code or EXIT_INTERRUPTED) from None
        code = guard.exit_code or (EXIT_INTERRUPTED if result.interrupted else None)
        if code is not None:
            click.echo(f"interrupted: the state reached was saved in {out}/ (marked interrupted)", err=True)
        elif not result.converged:  # a one-step solve ("exact") is held to the criterion like any other
            click.echo(f"warning: the stopping criterion was not reached ({result.stop_reason})", err=True)
            code = EXIT_NOT_REACHED if strict else None
    _leave(code)


def _leave(code: int | None) -> None:
    """End the command with ``code`` (None: 0). In the command-line process itself, once the output set is
    complete and the lock released, the streams are flushed and the process ends at once: the interpreter's
    teardown (destroying torch's, numba's and sympy's thousands of objects, module by module) took 1.0-2.4 s
    at load ~5 (``python -c "import torch"`` 4.96 s against 3.90 s ending with ``os._exit``), after the
    work was done. Called in-process (tests, another program), the command returns or raises as any does."""
    if not _command_process():
        if code is not None:
            raise click.exceptions.Exit(code)
        return
    import contextlib
    import os
    import sys

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more can reach it
            stream.flush()
    os._exit(code or 0)


def _check_backend(backend: str, pc, petsc_options) -> None:
    """Refuse, in one line on rank 0 and exit 2 on every rank, what only --backend petsc takes, a multi-rank
    launch without it, and --backend petsc without petsc4py / mpi4py."""
    from poissonfp.cli.common import EXIT_USAGE
    from poissonfp.petsc_backend import launcher_rank, launcher_size, missing_stack

    problem = None
    if backend == "petsc":
        problem = missing_stack()
    elif launcher_size() > 1:
        problem = (f"{launcher_size()} MPI ranks but --backend local solves on one process: add --backend petsc "
                   "(or run without mpirun)")
    elif pc is not None:
        problem = "--pc applies to --backend petsc only"
    elif petsc_options:
        problem = f"unexpected arguments {' '.join(petsc_options)} (PETSc options after -- need --backend petsc)"
    if problem is not None:
        if launcher_rank() == 0:
            click.echo(f"error: {problem}", err=True)
        raise click.exceptions.Exit(EXIT_USAGE)


def _switch(value: str | None) -> int | str | None:
    """``--switch``: checked as ``[hybrid] switch`` is (:func:`poissonfp.settings.check_switch`)."""
    from poissonfp.settings import SettingError, check_switch

    if value is None:
        return None
    try:
        return check_switch(value)
    except SettingError as err:
        raise click.BadParameter(f"expected {err.expected}, got {value!r}", param_hint="'--switch'") from None


#: flag -> the methods that use it (every other method ignores it)
_FLAG_USERS = {"switch": ("hybrid", "article"), "coarse": ("hybrid",), "device": ("jacobi", "dnn", "hybrid", "article")}


def _warn_ignored(method: str, **flags) -> None:
    """Warn (one line each) about flags the chosen method ignores: ``--switch 30`` with jacobi."""
    for name, value in flags.items():
        if value is not None and method not in _FLAG_USERS[name]:
            click.echo(f"warning: --{name} is ignored by {method} (only {', '.join(_FLAG_USERS[name])} use it)",
                       err=True)


def _solve_and_save(case, out: Path, vtk: bool, quiet: bool, guard: SignalGuard, figures: bool = True,
                    timings: dict | None = None):
    """Build, solve and save. Once the case is read and ``out`` locked, a signal always ends in a
    saved set: before the solver has a state, the initial guess (zero), marked interrupted; a signal
    during the save lets it finish. ``timings`` (seconds per stage) is completed with the build, solve and
    save."""
    from poissonfp.api import solve_case
    from poissonfp.outputs import save_solve_outputs
    from poissonfp.problem import build_problem

    timings = {} if timings is None else timings
    problem = None
    try:
        started = time.perf_counter()
        problem = build_problem(case)
        timings["build"] = time.perf_counter() - started
        started = time.perf_counter()
        _import_reference(problem)
        with compile_clock(timings, "compile_reference"):
            _ = problem.discrete_solution  # the criterion, the errors and solution.npz use it: its cost told apart
        timings["reference"] = time.perf_counter() - started
        logger.info("solving %s with %s on %s (outputs: %s)", case.name, case.solver.method,
                    problem.grid.describe(), out)
        started = time.perf_counter()
        _import_solver(case)
        timings["imports"] = time.perf_counter() - started
        started = time.perf_counter()
        with SolveProgress(f"{case.solver.method} {problem.grid.describe()}", _training_budget(case),
                           quiet=quiet) as progress, guard.solving(), compile_clock(timings):
            _, result = solve_case(case, problem=problem, callback=progress)
        timings["solve"] = time.perf_counter() - started
    except (KeyboardInterrupt, Exception) as error:
        if not caused_by_interrupt(error):  # e.g. RuntimeError("Error calling __set_name__") around a Ctrl-C
            raise
        with guard.deferred():
            problem = problem if problem is not None else build_problem(case)
            result = _initial_state(case, problem)
    with guard.deferred():
        result.interrupted = result.interrupted or guard.received is not None
        # an interrupted run saves its data and leaves at once: four figures take seconds on a busy machine
        save_solve_outputs(out, case, problem, result, vtk=vtk, figures=figures and not result.interrupted,
                           timings=timings)
        if "origin" in timings:
            timings["total"] = time.perf_counter() - timings["origin"]
        _print_summary(case, problem, result, out, timings)
    return result


def _command_process() -> bool:
    """Whether this process is the command line itself (the ``poissonfp`` script or ``python -m poissonfp``),
    not a test or another program calling the command in-process: the test of
    ``poissonfp.__main__._is_entry_point``, repeated here because importing that module from the command line
    would close an import cycle (``__main__`` imports the command line)."""
    import os
    import sys
    import threading

    path = sys.argv[0] if sys.argv and sys.argv[0] else ""
    name = os.path.basename(path)
    ours = name in ("poissonfp", "poissonfp.exe") or (name == "__main__.py"
                                                      and os.path.basename(os.path.dirname(path)) == "poissonfp")
    return ours and threading.current_thread() is threading.main_thread()


def _startup_seconds() -> float | None:
    """Seconds from the process's start to now in the command-line process (see :func:`_command_process`),
    else None."""
    return seconds_since_start() if _command_process() else None


def _import_reference(problem) -> None:
    """Off the box above :data:`~poissonfp.problem.LU_LIMIT` unknowns the discrete reference iterates with the
    Galerkin hierarchy's compiled kernels: import their module (and numba) before the reference's
    :func:`compile_clock`, which only watches compiles once numba is loaded."""
    from poissonfp.problem import LU_LIMIT

    if not problem.operator.box and problem.grid.size > LU_LIMIT:
        import poissonfp.solvers.hierarchy.multilevel_galerkin  # noqa: F401


def _import_solver(case) -> None:
    """Import the case's solver module (and torch where the run builds a network or runs on torch), and ready
    numba's compiler context where the solver loaded numba, so that the summary tells these loads apart from
    the solve: torch alone takes 1-3 s; numba's context (its lowering registries, imported on the first
    kernel loaded from its cache) 0.2-0.4 s."""
    import importlib
    import sys

    from poissonfp.solvers import SOLVERS

    if case.solver.method in SOLVERS:
        SOLVERS[case.solver.method]
        if case.solver.method == "hybrid" and case.hybrid.cycle == "multilevel":  # imported by the solver itself
            importlib.import_module("poissonfp.solvers.hybrids.hybrid_multilevel")
        if case.solver.method == "multigrid":  # PyAMG, imported by the solver itself (0.1-0.2 s)
            importlib.import_module("pyamg")
        if _uses_torch(case):
            importlib.import_module("poissonfp.neural.model")
    if "numba" in sys.modules:
        from numba.core.registry import cpu_target

        cpu_target.target_context.refresh()  # what numba's cache does before loading the first kernel


def _uses_torch(case) -> bool:
    """Whether solving ``case`` with its method loads torch: the neural methods, anything on ``cuda``, the
    two-level hybrid, and the multilevel hybrid whose coarsest space is the network's (the default); not the
    classical methods nor the hybrid with ``coarse = "polynomial"`` or ``"sine"`` (or an exact or smoothed
    coarsest level)."""
    method, hybrid = case.solver.method, case.hybrid
    if method in ("dnn", "article", "operator") or case.network.device == "cuda":
        return True
    return method == "hybrid" and (hybrid.cycle != "multilevel"
                                   or (hybrid.coarsest == "space" and hybrid.coarse == "network"))


def _check_operator_model(case) -> None:
    """Refuse, before any output, a missing or unusable model: one line, exit 2. A model of another grid is
    checked against the case's own operator rebuilt at the model's grid (its fingerprint)."""
    from poissonfp.cli.common import EXIT_USAGE
    from poissonfp.learned.store import ModelError, load_model, operator_fingerprint
    from poissonfp.problem import build_problem
    from poissonfp.solvers.hybrids.operator import OperatorSolveError, check_model

    def fail(message: str) -> None:
        click.echo(f"error: {message}", err=True)
        raise click.exceptions.Exit(EXIT_USAGE)

    if not case.operator.model:
        fail(f"{case.path}: method operator needs a model: --model MODEL_DIR or [operator] model")
    try:
        model = load_model(case.operator.model)
        problem = build_problem(case)
        how, _ = check_model(problem, model)
        if how == "coarse level":
            size = _training_size(case, tuple(model.grid.shape))
            if size is not None:
                model.check_operator(operator_fingerprint(build_problem(case, size=size).operator))
    except (ModelError, OperatorSolveError) as err:
        fail(str(err))


def _training_size(case, shape: tuple[int, ...]) -> int | None:
    """The case's grid size (``--n``) whose built grid of unknowns has ``shape`` (a Neumann side adds its nodes:
    31 points give 32 unknowns on that axis), or None (none of the nearby sizes matches)."""
    from poissonfp.case import CaseError
    from poissonfp.problem import build_problem

    for size in range(max(1, shape[0] - 3), shape[0] + 4):
        try:
            if tuple(build_problem(case, size=size).grid.shape) == shape:
                return size
        except (CaseError, ValueError):
            continue
    return None


def _initial_state(case, problem):
    """The result of a solve interrupted before its solver had a state: zero, marked interrupted."""
    import numpy as np

    from poissonfp.api import criterion_of
    from poissonfp.solvers.base import Monitor

    monitor = Monitor(problem, criterion_of(case))
    return monitor.result(case.solver.method, np.zeros(problem.grid.shape), "interrupted",
                          info={"interrupted_before": "the solver started"})


def _training_budget(case) -> int | None:
    """The network's step budget when it is fixed (for the progress line's ETA), else None."""
    if case.solver.method == "dnn":
        return case.training.adam_steps + case.training.lbfgs_steps
    if case.solver.method == "hybrid" and isinstance(case.hybrid.switch, int) and case.hybrid.switch > 0:
        return case.hybrid.switch
    return None
