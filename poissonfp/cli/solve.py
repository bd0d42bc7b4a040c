"""``poissonfp solve CASE``: solve one case with one method and save the outputs."""
from __future__ import annotations

from pathlib import Path

import click

from poissonfp.cli.common import EXIT_INTERRUPTED, Progress, guarded, with_flags

__all__ = ["solve"]


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3e}"


@click.command()
@click.argument("case_file", metavar="CASE", type=click.Path(path_type=Path))
@click.option("--method", help="jacobi, direct, dst, multigrid, dnn, hybrid or article (default: the case's).")
@click.option("--n", "size", type=int, help="Grid size per dimension, in the case's unit (points or intervals).")
@click.option("--tol", type=float, help="Tolerance of the residual / discrete criteria.")
@click.option("--criterion", help="residual, discretization or discrete (default: the case's).")
@click.option("--switch", help="Hybrid: DNN steps before Jacobi takes over, or 'auto'.")
@click.option("--coarse", help="Hybrid coarse space: network, polynomial or sine (default: the case's).")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), help="Seed of every random choice (default: the case's).")
@click.option("--device", help="cpu or cuda (neural methods).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (default: results/<case name>/).")
@click.option("--quiet", is_flag=True, help="No progress line.")
@guarded
def solve(case_file: Path, method, size, tol, criterion, switch, coarse, seed, device, out, quiet) -> None:
    """Solve -Δu = f for CASE (a case file, or a shipped case's name: see `poissonfp cases`) and write
    result.json, solution.npz and figures."""
    from poissonfp.api import solve_case
    from poissonfp.case import load_case
    from poissonfp.outputs import save_solve_outputs
    from poissonfp.problem import build_problem

    switch = int(switch) if switch is not None and switch.isascii() and switch.isdigit() else switch
    case = with_flags(load_case(case_file), method=method, size=size, tol=tol, criterion=criterion,
                      switch=switch, coarse=coarse, seed=seed, device=device)
    problem = build_problem(case)
    progress = Progress(f"{case.solver.method} {problem.grid.describe()}", quiet)
    try:
        _, result = solve_case(case, problem=problem, callback=progress)
    finally:
        progress.close()
    out = out or Path("results") / case.name
    save_solve_outputs(out, case, problem, result)
    _print_summary(case, problem, result, out)
    if result.stop_reason == "interrupted":
        click.echo("interrupted: the state reached was saved", err=True)
        raise click.exceptions.Exit(EXIT_INTERRUPTED)


def _print_summary(case, problem, result, out: Path) -> None:
    f = result.final
    verdict = "reached" if result.converged else "NOT reached"
    click.echo(f"case        {case.name} ({case.path})")
    click.echo(f"method      {result.method}   grid {problem.grid.describe()} ({problem.grid.size:,} unknowns)")
    click.echo(f"criterion   {result.info['criterion']} <= {result.info['threshold']:.3e}: {verdict} "
               f"({result.stop_reason})")
    click.echo(f"iterations  {result.iterations:,}   dnn steps {result.dnn_steps:,}   "
               f"wall time {result.wall_time_s:.3f} s")
    click.echo(f"residual    {_fmt(f['rel_residual'])} (relative)")
    click.echo(f"error       vs exact: {_fmt(f['error_vs_exact_inf'])} (max), {_fmt(f['error_vs_exact_rel_l2'])} "
               f"(rel l2); vs discrete: {_fmt(f['error_vs_discrete_rel_l2'])} (rel l2)")
    if problem.discretization_error_inf is not None:
        click.echo(f"             discretization error (best possible, max): {problem.discretization_error_inf:.3e}")
    click.echo(f"outputs     {out}/")
