"""``poissonfp compare CASE``: every method on one problem to one criterion, a table and the figures."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from poissonfp.cli.common import EXIT_INTERRUPTED, guarded, with_flags
from poissonfp.compare import DEFAULT_METHODS
from poissonfp.settings import METHODS

__all__ = ["compare"]


def _methods(ctx, param, value: str | None) -> tuple[str, ...]:
    if value is None:
        return DEFAULT_METHODS
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    unknown = [name for name in names if name not in METHODS]
    if unknown or not names:
        raise click.BadParameter(f"unknown method {unknown[0]!r}; expected a comma-separated list of "
                                 f"{', '.join(METHODS)}" if unknown else "no method given")
    return names


def _switches(ctx, param, value: str | None) -> tuple[int, ...]:
    if value is None:
        return ()
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items or not all(item.isascii() and item.isdigit() for item in items):
        raise click.BadParameter(f"expected comma-separated non-negative integers, got {value!r}")
    return tuple(int(item) for item in items)


class _ProgressLines:
    """One line per method: its label when it starts, its wall time and verdict when it ends."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def __call__(self, event: dict) -> None:
        if self.quiet:
            return
        if event["event"] == "start":  # skipped methods are reported by the library's logged warning
            sys.stderr.write(f"[{event['index'] + 1}/{event['count']}] {event['label']:<16}")
            sys.stderr.flush()
        elif event["event"] == "done":
            r = event["record"]
            wall = "-" if r["wall_time_s"] is None else f"{r['wall_time_s']:.3g} s"
            click.echo(f" {wall:>10}  {'reached' if r['reached'] else 'NOT reached'}", err=True)


@click.command()
@click.argument("case_file", metavar="CASE", type=click.Path(path_type=Path))
@click.option("--methods", callback=_methods,
              help=f"Comma-separated methods (default: {','.join(DEFAULT_METHODS)}).")
@click.option("--switch", "switches", callback=_switches,
              help="Comma-separated fixed hybrid switch points M, one extra hybrid entry each.")
@click.option("--n", "size", type=int, help="Grid size per dimension, in the case's unit (points or intervals).")
@click.option("--seed", type=int, help="Seed of every random choice (default: the case's).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (default: results/<case name>-compare/).")
@click.option("--quiet", is_flag=True, help="No progress lines.")
@guarded
def compare(case_file: Path, methods, switches, size, seed, out, quiet) -> None:
    """Solve CASE with every method to the case's stopping criterion; print a table, write compare.json
    and the figures (error against wall time, per-peak error heat maps, errors at the switch)."""
    from poissonfp.case import load_case
    from poissonfp.compare import compare_methods, format_table, save_comparison
    from poissonfp.problem import build_problem

    case = with_flags(load_case(case_file), size=size, seed=seed)
    problem = build_problem(case)
    if not quiet:
        click.echo(f"{case.name}, grid {problem.grid.describe()}: {len(methods)} methods to "
                   f"{case.solver.criterion} criterion", err=True)
    comparison = compare_methods(case, methods, switches, problem=problem, callback=_ProgressLines(quiet))
    out = out or Path("results") / f"{case.name}-compare"
    save_comparison(comparison, out)
    click.echo(f"{case.name}  grid {problem.grid.describe()}  criterion {comparison.metric} <= "
               f"{comparison.threshold:.3e}")
    click.echo(format_table(comparison))
    click.echo(f"outputs: {out}/")
    if comparison.interrupted:
        click.echo("interrupted: the methods measured so far were saved", err=True)
        raise click.exceptions.Exit(EXIT_INTERRUPTED)
