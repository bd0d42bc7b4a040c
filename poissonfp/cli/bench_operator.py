"""``poissonfp bench --operator --model DIR [--model DIR ...]``: the operator rows of the benchmark
(:mod:`poissonfp.studies.bench_operator`): each trained model beside its untrained control (the same architecture
trained 0 steps, built in seconds), pure Jacobi and PyAMG, from one run; writes bench_operator.json and
bench_operator.md into --out.

A model folder that cannot be used is one line naming it (exit 2) before any work; Ctrl-C (SIGTERM) saves
the rows measured so far, marked interrupted, and exits 130 (143).
"""
from __future__ import annotations

from pathlib import Path

import click

from poissonfp.cli.common import EXIT_INTERRUPTED, EXIT_USAGE
from poissonfp.cli.progress import ProgressLine
from poissonfp.interrupts import SignalGuard

__all__ = ["run_operator_bench_command"]


def _check_models(models: tuple[Path, ...]) -> None:
    from poissonfp.learned.store import ModelError, load_model

    if not models:
        raise click.UsageError("--operator needs at least one --model MODEL_DIR (written by poissonfp train)")
    for folder in models:
        try:
            load_model(folder)
        except ModelError as err:
            click.echo(f"error: {err}", err=True)
            raise click.exceptions.Exit(EXIT_USAGE) from None


def run_operator_bench_command(models: tuple[Path, ...], out: Path, quick: bool, quiet: bool) -> None:
    """Run the operator rows (``quick``: the smallest size per dimension, GRF and bump sources only)."""
    from poissonfp.results import staged_folder, write_json, write_text
    from poissonfp.studies.bench_operator import (
        SIZES,
        OperatorBenchConfig,
        format_operator_markdown,
        run_operator_bench,
    )

    _check_models(models)
    config = OperatorBenchConfig(tuple(str(m) for m in models))
    if quick:
        config = OperatorBenchConfig(config.models, ("grf", "bump"), tuple((d, s[:1]) for d, s in SIZES.items()))
    lines: dict[str, ProgressLine] = {}

    def progress(event: dict) -> None:
        if event["event"] == "start":
            lines["now"] = ProgressLine(f"  {event['case']} {event['size']} {event['source']:<5}", quiet)
            lines["now"].update("running", force=True)
        elif "now" in lines:
            row = event["row"]
            untrained = f", untrained {row['untrained']['time_s']:.3g} s" if "untrained" in row else ""
            lines.pop("now").finish(f"operator {row['operator']['time_s']:.3g} s{untrained}, multigrid "
                                    f"{row['multigrid']['time_s']:.3g} s, jacobi {row['jacobi']['time_s']:.3g} s")

    with SignalGuard() as guard:
        with guard.solving():
            data = run_operator_bench(config, progress)
        with guard.deferred():
            data["interrupted"] = data["interrupted"] or guard.received is not None
            with staged_folder(out, owned=("bench_operator.json", "bench_operator.md")) as staging:
                write_json(staging / "bench_operator.json", data)
                write_text(staging / "bench_operator.md", format_operator_markdown(data))
    click.echo(format_operator_markdown(data))
    click.echo(f"wrote {out}/bench_operator.json, bench_operator.md")
    if data["interrupted"] or guard.exit_code:
        raise click.exceptions.Exit(guard.exit_code or EXIT_INTERRUPTED)
