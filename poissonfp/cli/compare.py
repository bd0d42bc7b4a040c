"""``poissonfp compare CASE``: every method on one problem to one criterion, a table and the figures."""
from __future__ import annotations

from pathlib import Path

import click

from poissonfp.cli.common import EXIT_INTERRUPTED, guarded, with_flags
from poissonfp.cli.params import CommaList, NamedChoice, non_negative_integer, switch_point
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
        if event["event"] == "seed":  # the article's seeded switch study: one training trajectory per seed
            if self.line is not None:
                self.line.finish("done")
            self.line = ProgressLine(f"switch study, seed {event['seed']} ({event['index'] + 1}/{event['count']})",
                                     self.quiet)
            self.line.update("training, counting sweeps", force=True)
        elif event["event"] == "start":
            if self.line is not None:  # the seeded study ended
                self.line.finish("done")  # skipped methods are reported by the library's logged warning
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
              type=CommaList("switch point", item=switch_point, ranges=True,
                             expected="comma-separated non-negative integers, ranges START:STOP:STEP or 'auto'"),
              help="Comma-separated switch points M (integers, ranges START:STOP:STEP with STOP included, or "
                   "'auto'): one hybrid and one article entry each (the article's scheme has no 'auto'). With the "
                   "article's scheme at two or more M, a switch study over seeds counts the sweeps at every M.")
@click.option("--seeds", type=CommaList("seed", item=non_negative_integer, distinct=True, ranges=True,
                                        expected="comma-separated distinct non-negative integers"),
              help="Seeds of the article's switch study (default 0,1,2 when one runs).")
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
@click.option("--backend", type=click.Choice(("local", "petsc")), default="local", show_default=True,
              help="petsc: the PETSc methods (jacobi, multigrid, hybrid, direct) beside each other, run as "
                   "`mpirun -n P poissonfp compare CASE --backend petsc`; rank 0 writes compare.json.")
@guarded
def compare(case_file: Path, methods, switches, coarses, size, criterion, tol, device, repeat, seed, out,
            quiet, seeds, model, backend) -> None:
    """Solve CASE with every method to the case's stopping criterion; print a table, write compare.json
    (with the switch study of every method run at several M) and the figures (error against wall time,
    the trade-off in M, per-peak error heat maps, errors at the hand-over). Ctrl-C (SIGTERM) saves what was
    measured, marked interrupted, and exits with 130 (143); a second signal never cuts the saving short."""
    from poissonfp.case import load_case
    from poissonfp.cli.solve import _check_backend
    from poissonfp.results import OutputLock, check_output_folder

    _check_backend(backend, None, ())
    if backend == "petsc":
        _compare_petsc(case_file, methods, size, criterion, tol, seed, out, quiet, model)
        return
    with SignalGuard() as guard:  # SIGINT and SIGTERM take one path; a second signal is only recorded
        try:
            case = with_flags(load_case(case_file), size=size, seed=seed, criterion=criterion, tol=tol,
                              device=device, **({} if model is None else {"model": str(model)}))
            out = check_output_folder(out or Path("results") / f"{case.name}-compare")  # before any work
        except KeyboardInterrupt:
            click.echo("interrupted before anything was measured: nothing written", err=True)
            raise click.exceptions.Exit(guard.exit_code or EXIT_INTERRUPTED) from None
        with OutputLock(out):
            comparison, _problem = _compare_locked(case, out, methods, switches, coarses, repeat, quiet, guard, seeds,
                                                 model is not None)
    if comparison.interrupted:
        click.echo("interrupted: the methods measured so far were saved (compare.json: interrupted = true)",
                   err=True)
    if comparison.interrupted or guard.exit_code:
        raise click.exceptions.Exit(guard.exit_code or EXIT_INTERRUPTED)


def _compare_petsc(case_file: Path, methods, size, criterion, tol, seed, out, quiet: bool, model) -> None:
    """``--backend petsc``: one line and exit 2 for a method without a PETSc version, else every method on PETSc."""
    from poissonfp.cli.common import EXIT_USAGE
    from poissonfp.petsc_backend import launcher_rank
    from poissonfp.petsc_backend.compare import compare_petsc, refused_methods

    refused = refused_methods(methods or ())
    if refused:
        if launcher_rank() == 0:
            click.echo(f"error: --backend petsc has no {', '.join(refused)} (it runs jacobi, multigrid, hybrid, "
                       "direct)", err=True)
        raise click.exceptions.Exit(EXIT_USAGE)
    overrides = dict(size=size, seed=seed, criterion=criterion, tol=tol, model=None if model is None else str(model))
    compare_petsc(case_file, methods, overrides, out, quiet)


def _compare_locked(case, out: Path, methods, switches, coarses, repeat: int, quiet: bool, guard: SignalGuard,
                    seeds=None, with_model: bool = False):
    """Build, compare and save (staged: the set appears whole, compare.json last) under the output lock."""
    from poissonfp.problem import build_problem
    from poissonfp.results import staged_folder
    from poissonfp.studies.compare import compare_methods, default_methods
    from poissonfp.studies.compare_outputs import save_comparison
    from poissonfp.studies.switch_seeds import study_switches

    try:
        problem = build_problem(case)
    except KeyboardInterrupt:
        click.echo("interrupted before anything was measured: nothing written", err=True)
        raise click.exceptions.Exit(guard.exit_code or EXIT_INTERRUPTED) from None
    if with_model:
        _check_model(case, problem)
    from poissonfp.solvers import applicable_methods

    chosen = methods or default_methods(problem.grid.ndim) + (("operator",) if with_model else ())
    off_box = [] if methods is not None else [m for m in chosen if m not in applicable_methods(problem, chosen)]
    chosen = tuple(m for m in chosen if m not in off_box)
    if seeds and not study_switches(chosen, switches):
        raise click.BadParameter("applies to the article's switch study: run 'article' (--methods) at two or "
                                 "more integer switch points (--switch)", param_hint="'--seeds'")
    if not quiet:
        left_out = [m for m in compare_defaults(1) if m not in chosen and m not in off_box] if methods is None else []
        click.echo(f"{case.name}, grid {problem.grid.describe()}: methods {','.join(chosen)} to the "
                   f"{case.solver.criterion} criterion" + (f", {repeat} runs each" if repeat > 1 else "")
                   + (f" ({', '.join(left_out)} left out by default in {problem.grid.ndim}D; name them with "
                      f"--methods)" if left_out else "")
                   + (f" ({', '.join(off_box)} left out: box only)" if off_box else ""), err=True)
    try:
        comparison = compare_methods(case, chosen, switches, coarses=coarses, repeat=repeat, problem=problem,
                                     callback=_ProgressLines(quiet), seeds=seeds or None)  # a signal ends it
    except KeyboardInterrupt:  # only in the few lines before the comparison's own handler
        click.echo("interrupted before anything was measured: nothing written", err=True)
        raise click.exceptions.Exit(guard.exit_code or EXIT_INTERRUPTED) from None
    with guard.deferred():  # the outputs and the table are written whole, whatever arrives meanwhile
        with staged_folder(out, first_out="compare.json", last_in="compare.json") as staging:
            save_comparison(comparison, staging)
        _print_comparison(comparison, problem, out)
    return comparison, problem
def _check_model(case, problem) -> None:
    """Refuse an unusable operator model before any work: one line naming the folder, exit 2."""
    from poissonfp.cli.common import EXIT_USAGE
    from poissonfp.learned.store import ModelError, load_model
    from poissonfp.solvers.hybrids.operator import OperatorSolveError, check_model

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
        line = _study_line(method, study, optimum.record.get("speedup_spread") if optimum else None)
        if method == "article" and comparison.seed_study is not None:  # three timed M of one seed, not the study
            line = line.replace("switch study article:", "timed article entries only (the case's seed, wall time):")
        click.echo(line)
    if comparison.seed_study is not None:
        click.echo(_seed_study_lines(comparison.seed_study))
    click.echo(f"outputs: {out}/")


def _seed_study_lines(study: dict) -> str:
    """The seeded study in three lines: optimum and speed-up (median, range), losses to pure Jacobi, stand-ins."""
    def spread(key: str, spec: str) -> str:
        record = study[key]
        if record["median"] is None:
            return "-"
        return f"{record['median']:{spec}} (seeds: {', '.join(format(v, spec) for v in record['per_seed'])})"

    seeds = ",".join(map(str, study["seeds"]))
    lines = [f"seeded switch study, article, M in {study['switches'][0]}..{study['switches'][-1]} "
             f"({len(study['switches'])} points), seeds {seeds}: optimum M {spread('optimum_switch', 'g')}, "
             f"{spread('speedup_at_optimum', '.2f')} x pure Jacobi ({study['jacobi_sweeps']:,} sweeps; "
             f"CPU time modelled: training measured + exact sweeps x {study['time_per_sweep_s'] * 1e6:.2f} us)",
             f"  M > 0 losing to pure Jacobi: {spread('fraction_losing_in_time', '.2f')} of M in time, "
             f"{spread('fraction_losing_in_sweeps', '.2f')} in sweeps"]
    lines += [f"  {c['label']}: {c['sweeps']:,} sweeps, {c['time_s']:.3g} s" for c in study["classical"]]
    return "\n".join(lines)


def _study_line(method: str, study: dict, spread: float | None) -> str:
    from poissonfp.studies.compare import format_speedup

    ratio, saved = study["step_to_sweep_ratio"], study["sweeps_saved_per_step"]
    speedup = study["speedup_vs_jacobi_at_optimum"]
    return (f"switch study {method}: optimum M = {study['optimum_switch']}"
            + (f" ({format_speedup(speedup, spread)} x pure Jacobi)" if speedup else "")
            + (f"; one step costs {ratio:,.0f} sweeps" if ratio else "")
            + ("; sweeps saved per step " + ", ".join(f"M={m}: {v:,.0f}" for m, v in saved.items()) if saved else ""))
