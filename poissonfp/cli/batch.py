"""``poissonfp solve CASE --sources FILE.npz`` / ``--family grf|case --count K``: many right-hand sides, one set-up.

Order of work: the case is read and its problem built, the sources read and checked (one line naming the
file and what was expected, exit 2, nothing written), the output folder checked and locked; then each
method is set up once and solves every right-hand side (:mod:`poissonfp.studies.batch`), and batch.json
and batch.png are written as one staged set. Ctrl-C / SIGTERM stops the run: the solves done are saved,
marked interrupted (exit 130 / 143).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from poissonfp.cli.common import EXIT_INTERRUPTED, EXIT_NOT_REACHED, EXIT_USAGE
from poissonfp.interrupts import SignalGuard

__all__ = ["batch_methods", "run_batch_command"]


def batch_methods(requested: tuple[str, ...] | None, method: str, on_box: bool, model: Path | None) -> tuple[str, ...]:
    """The methods to run: ``requested`` (``all``: every batch method that applies) or the single ``method``.

    Raises:
        click.UsageError: for a method a batch cannot run, or ``operator`` without ``--model``.
    """
    from poissonfp.studies.batch import BATCH_METHODS

    if requested == ("all",):
        return tuple(m for m in BATCH_METHODS if (on_box or m != "dst") and (model is not None or m != "operator"))
    methods = requested or (method,)
    for name in methods:
        if name not in BATCH_METHODS:
            raise click.UsageError(f"--methods: {name!r} cannot solve a batch (it trains on the case's continuous "
                                   f"source); expected some of {', '.join(BATCH_METHODS)} or all")
    if "dst" in methods and not on_box:
        raise click.UsageError("--methods: dst solves only the constant-coefficient Dirichlet box; this case is not one")
    if "operator" in methods and model is None:
        raise click.UsageError("--methods: operator needs --model MODEL_DIR (a folder written by poissonfp train)")
    return methods


def _sources(problem, case, sources: Path | None, family: str | None, count: int | None):
    """(the sources array, their description for batch.json); one line and exit 2 on bad input."""
    from poissonfp.studies.batch_sources import SourcesError, case_family_sources, family_sources, load_sources

    try:
        if sources is not None:
            if family is not None or count is not None:
                raise SourcesError("--sources: give either a sources file or --family/--count, not both")
            return load_sources(sources, problem.grid.shape), {"file": str(sources)}
        if family is None or count is None:
            raise SourcesError("--family and --count go together (e.g. --family grf --count 64)")
        if family == "case":
            array, record = case_family_sources(problem, case.source, count, case.seed,
                                                None if problem.general is None else problem.operator.inside)
            return array, {"family": family, "seed": case.seed, **record}
        return family_sources(family, problem, count, case.seed), {"family": family, "seed": case.seed}
    except SourcesError as err:
        click.echo(f"error: {err}", err=True)
        raise click.exceptions.Exit(EXIT_USAGE) from None


def run_batch_command(case, *, sources: Path | None, family: str | None, count: int | None,
                      methods: tuple[str, ...] | None, model: Path | None, out: Path | None, strict: bool,
                      quiet: bool) -> None:
    """Run the batch of a loaded case (see the module docstring) and print its summary."""
    from poissonfp.problem import build_problem
    from poissonfp.results import OutputLock, check_output_folder

    problem = build_problem(case)
    chosen = batch_methods(methods, case.solver.method, problem.on_box, model)
    array, described = _sources(problem, case, sources, family, count)
    loaded = _load_model(model) if model is not None and "operator" in chosen else None
    out = check_output_folder(out or Path("results") / f"{case.name}-batch")
    with SignalGuard() as guard, OutputLock(out):
        record = _run_and_save(case, problem, array, described, chosen, loaded, out, quiet, guard)
    _print_summary(record, out)
    code = guard.exit_code or (EXIT_INTERRUPTED if record["interrupted"] else None)
    if code is None and strict and not all(m["all_converged"] for m in record["methods"].values()):
        code = EXIT_NOT_REACHED
    if code is not None:
        raise click.exceptions.Exit(code)


def _load_model(model: Path):
    """The operator model of ``model`` (one line naming the folder and exit 2 when it cannot be used)."""
    from poissonfp.learned.store import ModelError, load_model

    try:
        return load_model(model, device="cpu")
    except ModelError as err:
        click.echo(f"error: {err}", err=True)
        raise click.exceptions.Exit(EXIT_USAGE) from None


def _run_and_save(case, problem, array, described, methods, model, out: Path, quiet: bool,
                  guard: SignalGuard) -> dict[str, Any]:
    from poissonfp.api import criterion_of, solver_options
    from poissonfp.cli.progress import StepProgress
    from poissonfp.solvers import method_options
    from poissonfp.studies.batch import batch_criterion, run_method
    from poissonfp.studies.batch_outputs import batch_record, save_batch
    from poissonfp.studies.batch_sources import problems_for

    criterion = batch_criterion(criterion_of(case))
    problems = problems_for(problem, array)
    runs = []
    progress = StepProgress(quiet=quiet)
    try:
        for method in methods:
            options = _options(method, solver_options(case), method_options, model)
            runs.append(run_method(method, problem, problems, criterion, options,
                                   lambda m, k: progress((m,), f"{m}: solve", k, len(problems)), guard))
            if runs[-1].interrupted or guard.received is not None:
                break
    except KeyboardInterrupt:
        pass
    finally:
        progress.close()
    with guard.deferred():
        training = _training_seconds(model) if model is not None else None
        record = batch_record(runs, case=case.name, grid=problem.grid.describe(), count=len(problems),
                              sources=described, criterion=criterion, training_s=training,
                              model=_model_summary(model))
        record["interrupted"] = record["interrupted"] or guard.received is not None
        save_batch(out, record)
    return record


def _options(method: str, defaults: dict[str, Any], method_options, model) -> dict[str, Any]:
    if method == "operator":  # the case's [operator] options (sweeps, accel, trigger, ...), the loaded model
        import inspect

        from poissonfp.solvers.hybrids.operator import solve_operator_batch

        takes = set(inspect.signature(solve_operator_batch).parameters) - {"problem", "rhs", "model", "criterion", "device"}
        return {**{key: value for key, value in defaults.items() if key in takes}, "model": model}
    takes = set(method_options(method))
    return {key: value for key, value in defaults.items() if key in takes}


def _training_seconds(model) -> float | None:
    value = model.meta.get("training_s")
    return None if value is None else float(value)


def _model_summary(model) -> dict[str, Any] | None:
    return None if model is None else {"folder": str(model.meta.get("folder", "")), "arch": model.meta.get("arch"), "fingerprint": model.meta.get("fingerprint"), "training_time_s": _training_seconds(model)}


def _print_summary(record: dict[str, Any], out: Path) -> None:
    click.echo(f"case        {record['case']}   grid {record['grid']}   {record['count']} right-hand sides")
    for method, data in record["methods"].items():
        mean = data["mean_solve_s"]
        verdict = "all converged" if data["all_converged"] else "NOT all converged"
        click.echo(f"{method:<11} set-up {data['setup_s']:.3g} s, {data['solves_done']} solves, "
                   f"{'n/a' if mean is None else f'{mean:.3g} s'} per solve, total {data['total_s']:.3g} s ({verdict})")
    for method, even in (record.get("break_even") or {}).items():
        click.echo(f"break-even  operator vs {method}: "
                   f"{even['count'] if even['count'] is not None else 'never'} solves ({even['reason']})")
    click.echo(f"outputs     {out}/batch.json, batch.png")
