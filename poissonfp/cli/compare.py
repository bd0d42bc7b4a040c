"""``poissonfp compare CASE``: every method on one problem to one criterion, a table and the figures."""
from __future__ import annotations

from pathlib import Path

import click

from poissonfp.cli.common import EXIT_INTERRUPTED, guarded, with_flags
from poissonfp.cli.params import CommaList, NamedChoice, switch_point
from poissonfp.cli.progress import ProgressLine
from poissonfp.interrupts import SignalGuard
from poissonfp.methods import ALONE_1D_ONLY, COARSE_SPACES, DEVICES, METHODS, compare_defaults
from poissonfp.settings import CRITERIA

__all__ = ["compare"]


class _ProgressLines:
    """One progress line per method (:class:`~poissonfp.cli.progress.ProgressLine`): its label when it
    starts, its wall time and verdict when it ends."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.line: ProgressLine | None = None

    def __call__(self, event: dict) -> None:
        if event["event"] == "start":  # skipped methods are reported by the library's logged warning
            self.line = ProgressLine(f"[{event['index'] + 1}/{event['count']}] {event['label']:<20}", self.quiet)
            self.line.update("running", force=True)
        elif event["event"] == "done" and self.line is not None:
            r = event["record"]
            wall = "-" if r["wall_time_s"] is None else f"{r['wall_time_s']:.3g} s"
            self.line.finish(f"{wall:>10}  {'reached' if r['reached'] else 'NOT reached'}")
            self.line = None


@click.command()
@click.argument("case_file", metavar="CASE", type=click.Path(path_type=Path))
@click.option("--methods", type=CommaList("method", METHODS),
              help=f"Comma-separated methods (default in 1D: {','.join(compare_defaults(1))}; in 2D and 3D without "
                   f"{' and '.join(ALONE_1D_ONLY)}, which cannot converge or only repeat Jacobi there).")
@click.option("--switch", "switches", default=(), metavar="M,...",
              type=CommaList("switch point", item=switch_point,
                             expected="comma-separated non-negative integers or 'auto'"),
              help="Comma-separated switch points M (integers or 'auto'): one hybrid and one article entry "
                   "each (the article's scheme has no 'auto').")
@click.option("--coarse", "coarses", type=CommaList("coarse space", COARSE_SPACES), default=(),
              help="Comma-separated classical coarse bases (polynomial, sine): one extra hybrid entry each.")
@click.option("--n", "size", type=int, help="Grid size per dimension, in the case's unit (points or intervals).")
@click.option("--criterion", type=NamedChoice(CRITERIA, "criterion"), help="Stopping criterion (default: the case's).")
@click.option("--tol", type=float, help="Tolerance of the residual / discrete criteria.")
@click.option("--device", type=NamedChoice(DEVICES, "device"), help="Where neural methods run.")
@click.option("--repeat", type=click.IntRange(min=1), default=1, show_default=True,
              help="Runs per entry; the table reports the median wall time and its spread.")
@click.option("--seed", type=int, help="Seed of every random choice (default: the case's).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (default: results/<case name>-compare/).")
@click.option("--model", type=click.Path(path_type=Path),
              help="An operator model folder (poissonfp train): adds the operator method to the default methods.")
@click.option("--quiet", is_flag=True, help="No progress lines.")
@guarded
def compare(case_file: Path, methods, switches, coarses, size, criterion, tol, device, repeat, seed, out,
            model, quiet) -> None:
    """Solve CASE with every method to the case's stopping criterion; print a table, write compare.json
    (with the switch study of every method run at several M) and the figures (error against wall time,
    the trade-off in M, per-peak error heat maps, errors at the hand-over). Ctrl-C (SIGTERM) saves what was
    measured, marked interrupted, and exits with 130 (143); a second signal never cuts the saving short."""
    from poissonfp.case import load_case
    from poissonfp.studies.compare import compare_methods, default_methods
    from poissonfp.studies.compare_outputs import save_comparison
    from poissonfp.problem import build_problem

    with SignalGuard() as guard:  # SIGINT and SIGTERM take one path; a second signal is only recorded
        try:
            case = with_flags(load_case(case_file), size=size, seed=seed, criterion=criterion, tol=tol,
                              device=device, **({} if model is None else {"model": str(model)}))
            problem = build_problem(case)
            if model is not None:
                _check_model(case, problem)
        except KeyboardInterrupt:
            click.echo("interrupted before anything was measured: nothing written", err=True)
            raise click.exceptions.Exit(guard.exit_code or EXIT_INTERRUPTED) from None
        from poissonfp.solvers import applicable_methods

        chosen = methods or default_methods(problem.grid.ndim) + (("operator",) if model is not None else ())
        off_box = [] if methods is not None else [m for m in chosen if m not in applicable_methods(problem, chosen)]
        chosen = tuple(m for m in chosen if m not in off_box)
        if not quiet:
            left_out = [m for m in compare_defaults(1) if m not in chosen and m not in off_box] if methods is None else []
            click.echo(f"{case.name}, grid {problem.grid.describe()}: methods {','.join(chosen)} to the "
                       f"{case.solver.criterion} criterion" + (f", {repeat} runs each" if repeat > 1 else "")
                       + (f" ({', '.join(left_out)} left out by default in {problem.grid.ndim}D; name them with "
                          f"--methods)" if left_out else "")
                       + (f" ({', '.join(off_box)} left out: box only)" if off_box else ""), err=True)
        try:
            comparison = compare_methods(case, chosen, switches, coarses=coarses, repeat=repeat, problem=problem,
                                         callback=_ProgressLines(quiet))  # a signal ends it with what was measured
        except KeyboardInterrupt:  # only in the few lines before the comparison's own handler
            click.echo("interrupted before anything was measured: nothing written", err=True)
            raise click.exceptions.Exit(guard.exit_code or EXIT_INTERRUPTED) from None
        out = out or Path("results") / f"{case.name}-compare"
        with guard.deferred():  # the outputs and the table are written whole, whatever arrives meanwhile
            save_comparison(comparison, out)
            _print_comparison(comparison, problem, out)
    if comparison.interrupted:
        click.echo("interrupted: the methods measured so far were saved (compare.json: interrupted = true)",
                   err=True)
    if comparison.interrupted or guard.exit_code:
        raise click.exceptions.Exit(guard.exit_code or EXIT_INTERRUPTED)


def _check_model(case, problem) -> None:
    """Refuse an unusable operator model before any work: one line naming the folder, exit 2."""
    from poissonfp.cli.common import EXIT_USAGE
    from poissonfp.learned.store import ModelError, load_model
    from poissonfp.solvers.operator import OperatorSolveError, check_model

    try:
        check_model(problem, load_model(case.operator.model))
    except (ModelError, OperatorSolveError) as err:
        click.echo(f"error: {err}", err=True)
        raise click.exceptions.Exit(EXIT_USAGE) from None


def _print_comparison(comparison, problem, out: Path) -> None:
    from poissonfp.studies.compare import format_table

    click.echo(f"{comparison.case}  grid {problem.grid.describe()}  criterion {comparison.metric} <= "
               f"{comparison.threshold:.3e}")
    click.echo(format_table(comparison))
    for method, study in comparison.to_dict()["switch_study"].items():
        optimum = comparison.entry(f"{method}[M={study['optimum_switch']}]")
        click.echo(_study_line(method, study, optimum.record.get("speedup_spread") if optimum else None))
    click.echo(f"outputs: {out}/")


def _study_line(method: str, study: dict, spread: float | None) -> str:
    from poissonfp.studies.compare import format_speedup

    ratio, saved = study["step_to_sweep_ratio"], study["sweeps_saved_per_step"]
    speedup = study["speedup_vs_jacobi_at_optimum"]
    return (f"switch study {method}: optimum M = {study['optimum_switch']}"
            + (f" ({format_speedup(speedup, spread)} x pure Jacobi)" if speedup else "")
            + (f"; one step costs {ratio:,.0f} sweeps" if ratio else "")
            + ("; sweeps saved per step " + ", ".join(f"M={m}: {v:,.0f}" for m, v in saved.items()) if saved else ""))
