"""``mpirun -n P poissonfp compare CASE --backend petsc``: the PETSc methods beside each other.

Every rank solves the case with each method in turn (:func:`~poissonfp.petsc_backend.distributed.solve_distributed`,
the same distributed grid); rank 0 alone prints the table and writes ``compare.json`` (one record per
method: iterations, wall time with the preconditioner's set-up, the criterion reached, the final errors and
peak memory per rank). The one-process comparison's figures and switch studies are not made here. A method
without a PETSc version is refused before any work, in one line (exit 2).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click

__all__ = ["DEFAULT_METHODS", "compare_petsc", "refused_methods"]

#: Methods compared when ``--methods`` is not given.
DEFAULT_METHODS = ("jacobi", "multigrid", "hybrid")


def refused_methods(methods) -> list[str]:
    """The methods in ``methods`` that have no PETSc version."""
    from poissonfp.petsc_backend import PETSC_METHODS

    return [m for m in methods if m not in PETSC_METHODS]


def compare_petsc(case_file: Path, methods, overrides: dict, out: Path | None, quiet: bool) -> None:
    """The ``compare`` command's distributed path (raises ``click.exceptions.Exit`` with the exit code)."""
    from poissonfp.case import load_case
    from poissonfp.cli.common import with_flags
    from poissonfp.methods import iteration_unit
    from poissonfp.petsc_backend.command import _start_petsc
    from poissonfp.petsc_backend.distributed import collective, solve_distributed
    from poissonfp.results import OutputLock, check_output_folder, staged_folder, write_json

    mpi = _start_petsc(())
    if mpi.rank != 0:
        sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    case = collective(mpi, lambda: with_flags(load_case(case_file), **overrides))
    folder = Path(mpi.bcast(str(out or Path("results") / f"{case.name}-compare")))
    collective(mpi, lambda: check_output_folder(folder) if mpi.rank == 0 else None)
    rows = []
    for method in methods or DEFAULT_METHODS:
        solved = solve_distributed(case.with_overrides(method=method), None, lambda: False, None)
        r = solved.result
        unit = iteration_unit(method, r.info) or "iterations"
        rows.append({"method": method, "iterations": r.iterations, "iteration_unit": unit, "wall_time_s": r.wall_time_s,
                     "converged": r.converged, "stop_reason": r.stop_reason, "final": r.final,
                     "ksp_type": r.info.get("ksp_type"), "pc_type": r.info.get("pc_type"),
                     "peak_memory_mb_per_rank": r.info.get("peak_memory_mb_per_rank"),
                     "threshold": r.info.get("threshold")})
        if not quiet and mpi.rank == 0:
            click.echo(f"{method}: {r.iterations} {unit}, {r.wall_time_s:.3f} s, {r.stop_reason}", err=True)

    def write() -> None:
        if mpi.rank != 0:
            return
        record = {"case": case.name, "grid": list(solved.layout.grid.shape), "backend": "petsc",
                  "ranks": mpi.size, "criterion": case.solver.criterion, "methods": rows}
        with OutputLock(folder), staged_folder(folder, first_out="compare.json", last_in="compare.json") as staging:
            write_json(Path(staging) / "compare.json", record)
        width = max(len(row["method"]) for row in rows)
        click.echo(f"{case.name}, grid {solved.layout.grid.describe()}, {mpi.size} ranks, criterion "
                   f"{case.solver.criterion}")
        click.echo(f"{'method':<{width}}  iterations  time (s)  reached  peak MB per rank")
        for row in rows:
            memory = "/".join(f"{m:.0f}" for m in row["peak_memory_mb_per_rank"] or [])
            click.echo(f"{row['method']:<{width}}  {row['iterations']:>10}  {row['wall_time_s']:>8.3f}  "
                       f"{'yes' if row['converged'] else 'no':>7}  {memory}")
        click.echo(f"written: {folder}/compare.json")

    collective(mpi, write)
