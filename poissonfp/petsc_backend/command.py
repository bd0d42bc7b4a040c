"""``poissonfp solve CASE --backend petsc`` on every rank: read, lock, solve, save, the same exit codes.

Rank 0 alone prints (the other ranks' stdout and stderr go to /dev/null once MPI is up) and alone
locks and writes the output folder. Errors are collective (:func:`.distributed.collective`): every rank
raises the same one and exits with the same code, none is left waiting. Ctrl-C and SIGTERM (and, under
Open MPI's mpirun, the SIGCONT it sends every rank first: :func:`_termination_notice`) are recorded, not
raised: the convergence test checks them on all ranks at every iteration (an allreduce), so every rank
stops at the same iteration and the state reached is saved, marked ``interrupted``; a signal before the
solve starts ends the run with nothing written. mpirun kills the ranks ``odls_base_sigkill_timeout``
seconds (default 1) after its SIGTERM: give them time to write (``--mca odls_base_sigkill_timeout 30``);
killed earlier, the set is staged, so the folder keeps the previous set or nothing, never a partial one.
"""
from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import click

__all__ = ["solve_petsc"]


def _start_petsc(options: tuple[str, ...]) -> Any:
    """Initialise petsc4py with ``options`` (PETSc's own, e.g. ``-ksp_monitor``); return COMM_WORLD as mpi4py's."""
    import petsc4py

    petsc4py.init([sys.argv[0] if sys.argv else "poissonfp", *options])
    from petsc4py import PETSc

    return PETSc.COMM_WORLD.tompi4py()


def solve_petsc(case_file: Path, overrides: dict, out: Path | None, vtk: bool, quiet: bool, strict: bool,
                pc: str | None, options: tuple[str, ...]) -> None:
    """The ``solve`` command's distributed path (raises ``click.exceptions.Exit`` with the exit code)."""
    from mpi4py import MPI

    from poissonfp.case import load_case
    from poissonfp.cli.common import EXIT_INTERRUPTED, EXIT_NOT_REACHED, with_flags
    from poissonfp.interrupts import SignalGuard
    from poissonfp.petsc_backend.distributed import collective
    from poissonfp.results import OutputLock, check_output_folder

    mpi = _start_petsc(options)
    if mpi.rank != 0:
        sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    code = None
    with SignalGuard() as guard, guard.deferred(), _termination_notice(guard):
        case = collective(mpi, lambda: with_flags(load_case(case_file), **overrides))
        folder = Path(mpi.bcast(str(out or Path("results") / case.name)))
        lock = ExitStack()
        collective(mpi, lambda: lock.enter_context(OutputLock(check_output_folder(folder))) if mpi.rank == 0 else None)
        with lock:
            if mpi.allreduce(guard.received is not None, op=MPI.LOR):
                click.echo("interrupted before the solve started: nothing written", err=True)
                code = mpi.allreduce(guard.exit_code or EXIT_INTERRUPTED, op=MPI.MAX)
            else:
                result = _solve_and_save(mpi, case, folder, vtk, quiet, pc, guard)
        if code is None:
            code = mpi.allreduce(guard.exit_code or 0, op=MPI.MAX) or None
            if code is not None or result.interrupted:
                code = code or EXIT_INTERRUPTED
                click.echo(f"interrupted: the state reached was saved in {folder}/ (marked interrupted)", err=True)
            elif not result.converged and result.stop_reason != "exact":
                click.echo(f"warning: the stopping criterion was not reached ({result.stop_reason})", err=True)
                code = EXIT_NOT_REACHED if strict else None
    if code is not None:
        raise click.exceptions.Exit(code)


@contextmanager
def _termination_notice(guard) -> Iterator[None]:
    """Under mpirun, record SIGCONT as SIGTERM. Open MPI's mpirun, on Ctrl-C or SIGTERM, sends every rank
    SIGCONT at once, SIGTERM only ``odls_base_sigkill_timeout`` seconds later (default 1) and SIGKILL as
    many seconds after that: SIGCONT is the first and, by default, the only timely notice."""
    if not hasattr(signal, "SIGCONT") or "OMPI_COMM_WORLD_SIZE" not in os.environ:
        yield
        return
    previous = signal.signal(signal.SIGCONT, lambda _n, frame: guard._handle(signal.SIGTERM, frame))
    try:
        yield
    finally:
        signal.signal(signal.SIGCONT, previous)


def _solve_and_save(mpi: Any, case, folder: Path, vtk: bool, quiet: bool, pc: str | None, guard) -> Any:
    from poissonfp.cli.progress import SolveProgress
    from poissonfp.cli.summary import print_summary as _print_summary
    from poissonfp.petsc_backend.distributed import solve_distributed
    from poissonfp.petsc_backend.saving import save_distributed

    label = f"{case.solver.method} (petsc, {mpi.size} ranks)"
    with SolveProgress(label, quiet=quiet or mpi.rank != 0) as progress:
        solved = solve_distributed(case, pc, lambda: guard.received is not None, progress)
    result = solved.result
    problem = save_distributed(mpi, folder, case, solved, vtk)
    if mpi.rank == 0:
        _print_summary(case, problem, result, folder)
    return result
