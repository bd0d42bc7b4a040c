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
from pathlib import Path

import click

from poissonfp.cli.common import EXIT_INTERRUPTED, EXIT_NOT_REACHED, guarded, with_flags
from poissonfp.cli.params import NamedChoice
from poissonfp.cli.progress import SolveProgress
from poissonfp.interrupts import SignalGuard
from poissonfp.methods import COARSE_SPACES, DEVICES, METHODS
from poissonfp.petsc_backend import BACKENDS, PRECONDITIONERS
from poissonfp.results import OutputLock, check_output_folder
from poissonfp.settings import CRITERIA

__all__ = ["solve"]

logger = logging.getLogger(__name__)


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3e}"


@click.command()
@click.argument("case_file", metavar="CASE", type=click.Path(path_type=Path))
@click.argument("petsc_options", nargs=-1, type=click.UNPROCESSED, metavar="[-- PETSC_OPTIONS]")
@click.option("--method", type=NamedChoice(METHODS, "method"), help="Solution method (default: the case's).")
@click.option("--n", "size", type=int, help="Grid size per dimension, in the case's unit (points or intervals).")
@click.option("--tol", type=float, help="Tolerance of the residual / discrete criteria.")
@click.option("--criterion", type=NamedChoice(CRITERIA, "criterion"), help="Stopping criterion (default: the case's).")
@click.option("--switch", help="Hybrid: DNN steps before Jacobi takes over, or 'auto'.")
@click.option("--coarse", type=NamedChoice(COARSE_SPACES, "coarse space"),
              help="Hybrid coarse space (default: the case's).")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), help="Seed of every random choice (default: the case's).")
@click.option("--device", type=NamedChoice(DEVICES, "device"), help="Where neural methods run.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (default: results/<case name>/).")
@click.option("--format", "formats", type=click.Choice(["npz", "vtk"]), multiple=True,
              help="Extra solution formats: vtk adds solution.vtr for ParaView/VisIt (npz is always written).")
@click.option("--strict", is_flag=True, help="Exit with 3 when the stopping criterion is not reached.")
@click.option("--quiet", is_flag=True, help="No progress line.")
@click.option("--backend", type=click.Choice(BACKENDS), default="local", show_default=True,
              help="local: one process; petsc: PETSc over MPI, run as `mpirun -n P poissonfp solve ...` "
                   "(see README, MPI / PETSc).")
@click.option("--pc", type=click.Choice(PRECONDITIONERS),
              help="--backend petsc, --method multigrid: geometric PCMG (default), hypre (BoomerAMG) or gamg.")
@guarded
def solve(case_file: Path, petsc_options, method, size, tol, criterion, switch, coarse, seed, device, out, formats,
          strict, quiet, backend, pc) -> None:
    """Solve -Δu = f for CASE (a case file, or a shipped case's name: see `poissonfp cases`) and write
    result.json, solution.npz and figures. With --backend petsc, PETSc options (-ksp_*, -pc_*) may follow
    `--`."""
    from poissonfp.case import load_case

    _check_backend(backend, pc, petsc_options)
    if backend == "petsc":
        from poissonfp.petsc_backend.command import solve_petsc

        switch = int(switch) if switch is not None and switch.isascii() and switch.isdigit() else switch
        overrides = dict(method=method, size=size, tol=tol, criterion=criterion, switch=switch, coarse=coarse,
                         seed=seed, device=device)
        return solve_petsc(case_file, overrides, out, "vtk" in formats, quiet, strict, pc, tuple(petsc_options))
    with SignalGuard() as guard:
        try:
            logger.debug("reading the case %s", case_file)
            switch = int(switch) if switch is not None and switch.isascii() and switch.isdigit() else switch
            case = with_flags(load_case(case_file), method=method, size=size, tol=tol, criterion=criterion,
                              switch=switch, coarse=coarse, seed=seed, device=device)
            out = check_output_folder(out or Path("results") / case.name)
            with OutputLock(out):
                result = _solve_and_save(case, out, "vtk" in formats, quiet, guard)
        except KeyboardInterrupt:
            click.echo("interrupted before the case was read: nothing written", err=True)
            raise click.exceptions.Exit(guard.exit_code or EXIT_INTERRUPTED) from None
        code = guard.exit_code or (EXIT_INTERRUPTED if result.interrupted else None)
        if code is not None:
            click.echo(f"interrupted: the state reached was saved in {out}/ (marked interrupted)", err=True)
        elif not result.converged and result.stop_reason != "exact":
            click.echo(f"warning: the stopping criterion was not reached ({result.stop_reason})", err=True)
            code = EXIT_NOT_REACHED if strict else None
        if code is not None:
            raise click.exceptions.Exit(code)


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


def _solve_and_save(case, out: Path, vtk: bool, quiet: bool, guard: SignalGuard):
    """Build, solve and save. Once the case is read and ``out`` locked, a signal always ends in a
    saved set: before the solver has a state, the initial guess (zero), marked interrupted; a signal
    during the save lets it finish."""
    from poissonfp.api import solve_case
    from poissonfp.outputs import save_solve_outputs
    from poissonfp.problem import build_problem

    problem = None
    try:
        problem = build_problem(case)
        logger.info("solving %s with %s on %s (outputs: %s)", case.name, case.solver.method,
                    problem.grid.describe(), out)
        with SolveProgress(f"{case.solver.method} {problem.grid.describe()}", _training_budget(case),
                           quiet=quiet) as progress, guard.solving():
            _, result = solve_case(case, problem=problem, callback=progress)
    except KeyboardInterrupt:
        with guard.deferred():
            problem = problem if problem is not None else build_problem(case)
            result = _initial_state(case, problem)
    with guard.deferred():
        result.interrupted = result.interrupted or guard.received is not None
        save_solve_outputs(out, case, problem, result, vtk=vtk)
        _print_summary(case, problem, result, out)
    return result


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


def _print_summary(case, problem, result, out: Path) -> None:
    f = result.final
    verdict = "reached" if result.converged else "NOT reached"
    click.echo(f"case        {case.name} ({case.path})")
    click.echo(f"method      {result.method}   grid {problem.grid.describe()} ({problem.grid.size:,} unknowns)")
    click.echo(f"criterion   {result.info['criterion']} <= {result.info['threshold']:.3e}: {verdict} "
               f"({result.stop_reason}{', interrupted' if result.interrupted and result.stop_reason != 'interrupted' else ''})")
    from poissonfp.methods import iteration_unit

    unit = iteration_unit(result.method, result.info)
    work = result.info.get("work_sweep_equivalents")
    click.echo(f"iterations  {result.iterations:,}{' ' + unit if unit else ''}"
               + (f" ({work:,.0f} sweep-equivalents)" if work is not None and unit != "sweeps" else "")
               + f"   dnn steps {result.dnn_steps:,}   wall time {result.wall_time_s:.3f} s")
    click.echo(f"residual    {_fmt(f['rel_residual'])} (relative)")
    click.echo(f"error       vs exact: {_fmt(f['error_vs_exact_inf'])} (max), {_fmt(f['error_vs_exact_rel_l2'])} "
               f"(rel l2); vs discrete: {_fmt(f['error_vs_discrete_rel_l2'])} (rel l2)")
    if problem.discretization_error_inf is not None:
        click.echo(f"             discretization error (best possible, max): {problem.discretization_error_inf:.3e}")
    click.echo(f"outputs     {out}/")
