"""``poissonfp diagnose``: run the F-Principle experiments and check the paper's claims."""
from __future__ import annotations

import inspect
import sys
from collections import defaultdict
from pathlib import Path

import click

from poissonfp.diagnostics.base import EXPERIMENTS, SettingsError, parse_override


def _usage_error(message: str) -> click.UsageError:
    return click.UsageError(message, ctx=None)


def _parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise _usage_error(f"--seeds expects comma-separated integers, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise _usage_error(f"--seeds expects distinct non-negative integers, got {text!r}")
    return seeds


class _Progress:
    """One progress bar per experiment and seed, on stderr."""

    def __init__(self) -> None:
        self._bars: dict[tuple[str, int], object] = {}

    def __call__(self, name: str, seed: int, done: float, total: float) -> None:
        key = (name, seed)
        if key not in self._bars:
            for bar in self._bars.values():
                bar.render_finish()
            bar = click.progressbar(length=int(total), label=f"{name} (seed {seed})", file=sys.stderr)
            bar.render_progress()
            self._bars[key] = bar
        bar = self._bars[key]
        bar.update(int(done) - bar.pos)

    def close(self) -> None:
        for bar in self._bars.values():
            bar.render_finish()


@click.command()  # usage errors print one line: see poissonfp.cli.common.OneLineErrors
@click.argument("experiments", nargs=-1)
@click.option("--quick", is_flag=True, help="Smaller settings that still show each effect (seconds, not minutes).")
@click.option("--seeds", default="0", show_default=True, help="Comma-separated seeds, e.g. 0,1,2.")
@click.option(
    "--out", "out_dir", default="results/diagnose", show_default=True, type=click.Path(file_okay=False),
    help="Folder for summary.json, report.md and figures.",
)
@click.option(
    "--set", "settings", multiple=True, metavar="EXPERIMENT.KEY=VALUE", help="Override a setting (repeatable)."
)
@click.option(
    "--threads", default=1, show_default=True, type=click.IntRange(min=1),
    help="Torch threads during the run (1 is fastest on a busy 2-core machine and reproducible).",
)
@click.option("--quiet", is_flag=True, help="No progress bars and no summary on the terminal.")
def diagnose(experiments, quick, seeds, out_dir, settings, threads, quiet) -> None:
    """Run F-Principle EXPERIMENTS (all by default) and check the paper's claims.

    Writes figures, summary.json and report.md to --out. Exit status: 0 when every claim holds in every
    seed, 1 when one fails, 2 for usage errors.
    """
    from poissonfp.diagnostics.suite import aggregate_claims, run_suite

    names = list(experiments) or list(EXPERIMENTS)
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        raise _usage_error(f"unknown experiment {unknown[0]!r}; choose from {', '.join(EXPERIMENTS)}")
    seed_list = _parse_seeds(seeds)
    overrides: dict[str, dict[str, str]] = defaultdict(dict)
    try:
        for text in settings:
            name, key, value = parse_override(text)
            if name not in names:
                raise SettingsError(f"--set {text!r} names an experiment that is not run")
            overrides[name][key] = value
        progress = None if quiet else _Progress()
        suite = run_suite(
            names, seed_list, quick=quick, overrides=overrides, out_dir=Path(out_dir), on_progress=progress,
            threads=threads,
        )
    except SettingsError as error:
        raise _usage_error(str(error)) from None
    if progress is not None:
        progress.close()
    if not quiet:
        for group in aggregate_claims(suite.results):
            mark = "PASS" if group["passed"] else "FAIL"
            held = f"held in {group['held']}/{group['seeds']} seeds"
            click.echo(f"{mark}  {group['experiment']}: {group['claim']} ({held})")
        click.echo(f"{suite.runtime_s['total']:.1f} s; report: {Path(out_dir) / 'report.md'}")
    raise SystemExit(0 if suite.passed else 1)


diagnose.help = f"{inspect.cleandoc(diagnose.help)}\n\nExperiments, in run order: {', '.join(EXPERIMENTS)}."
