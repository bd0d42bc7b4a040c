"""``poissonfp diagnose``: run the F-Principle experiments and check the paper's claims."""
from __future__ import annotations

import inspect
import tempfile
from collections import defaultdict
from pathlib import Path

import click

from poissonfp.case import CaseError
from poissonfp.cli.params import CommaList, NamedChoice, non_negative_integer
from poissonfp.cli.progress import StepProgress
from poissonfp.diagnostics.base import EXPERIMENTS, parse_override
from poissonfp.interrupts import SignalGuard
from poissonfp.settings import SettingError

#: Bounds of --seeds and --threads: each seed repeats every experiment; torch refuses absurd thread counts.
MAX_SEEDS = 64
MAX_SEED = 2**32 - 1
MAX_THREADS = 256


def _usage_error(message: str) -> click.UsageError:
    return click.UsageError(message, ctx=None)


def _prepare_out(out_dir: str) -> Path:
    """Create ``out_dir`` and prove it writable before any work (a usage error otherwise)."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".diagnose-write-test-"):
            pass
    except OSError as error:
        raise _usage_error(f"--out {out_dir!r} is not a writable folder: {error.strerror or error}") from None
    return out


@click.command()  # usage errors print one line: see poissonfp.cli.common.OneLineErrors
@click.argument("experiments", nargs=-1, type=NamedChoice(tuple(EXPERIMENTS), "experiment"))
@click.option("--quick", is_flag=True, help="Smaller sizes and shorter runs with the same thresholds.")
@click.option(
    "--control", is_flag=True,
    help="Negative control: a learner or target without the property; its evidence claims should FAIL.",
)
@click.option("--seeds", default="0,1,2", show_default=True, help="Comma-separated seeds; each claim must hold in all.",
              type=CommaList("seed", item=non_negative_integer, expected="distinct non-negative integers",
                             distinct=True))
@click.option(
    "--out", "out_dir", default="results/diagnose", show_default=True, type=click.Path(file_okay=False),
    help="Folder for summary.json, report.md and figures.",
)
@click.option(
    "--set", "settings", multiple=True, metavar="EXPERIMENT.KEY=VALUE", help="Override a setting (repeatable)."
)
@click.option(
    "--threads", default=1, show_default=True, type=click.IntRange(min=1, max=MAX_THREADS),
    help="Torch threads during the run (1 is fastest on a busy 2-core machine and reproducible).",
)
@click.option("--quiet", is_flag=True, help="No progress lines and no summary on the terminal.")
def diagnose(experiments, quick, control, seeds, out_dir, settings, threads, quiet) -> None:
    """Run F-Principle EXPERIMENTS (all by default) and check the paper's claims.

    Writes figures, summary.json and report.md to --out. Exit status: 0 when every claim holds in every
    seed, 1 when an evidence claim fails (the expected outcome of --control), 3 when a sanity check fails
    (a bug), 2 for usage errors, 130 when interrupted by Ctrl-C, 143 by SIGTERM (the runs that finished
    are reported, marked interrupted; a second signal never cuts the report short).
    """
    from poissonfp.diagnostics.suite import exit_status, run_suite

    names = list(experiments) or list(EXPERIMENTS)
    seed_list = list(seeds)
    if len(seed_list) > MAX_SEEDS or any(seed > MAX_SEED for seed in seed_list):
        raise _usage_error(f"--seeds: at most {MAX_SEEDS} seeds, each at most {MAX_SEED}; got {len(seed_list)} "
                           f"seeds up to {max(seed_list)}")
    overrides: dict[str, dict[str, str]] = defaultdict(dict)
    try:
        for text in settings:
            name, key, value = parse_override(text)
            if name not in names:
                raise SettingError("--set", "a setting of an experiment that is run", text)
            overrides[name][key] = value
        from poissonfp.diagnostics.base import load_experiment, make_settings

        chosen = {name: make_settings(load_experiment(name), quick, overrides.get(name), control) for name in names}
        _check_memory(chosen, len(seed_list), threads)  # every setting is checked before the output folder is touched
        out = _prepare_out(out_dir)
        progress = StepProgress(quiet)
        guard = SignalGuard()  # SIGINT and SIGTERM: stop, report the runs that finished, exit 130 / 143
        with guard:
            suite = run_suite(
                names, seed_list, quick=quick, control=control, overrides=overrides, out_dir=out,
                on_progress=lambda name, seed, done, total: progress((name, seed), f"{name} (seed {seed})",
                                                                     done, total),
                threads=threads,
            )
    except (SettingError, CaseError) as error:
        raise _usage_error(str(error)) from None
    except OSError as error:  # a full disk or a folder removed meanwhile: one line, no traceback
        click.echo(f"error: cannot write the outputs in {out_dir}: {error.strerror or error}", err=True)
        raise SystemExit(1) from None
    with guard, guard.deferred():  # a later signal never cuts the summary short
        _print_summary(suite, progress, quiet, control, out)
    raise SystemExit(exit_status(suite))


def _check_memory(settings: dict, seeds: int, threads: int) -> None:
    """Refuse (a usage error, exit 2) a run whose estimated memory exceeds this machine's; warn when it exceeds
    the memory available now (:mod:`poissonfp.diagnostics.memory`)."""
    from poissonfp.diagnostics.memory import available_memory_bytes, describe, suite_allocations
    from poissonfp.feasibility import physical_memory_bytes

    total, allocations = suite_allocations(settings, seeds, threads)
    physical, available = physical_memory_bytes(), available_memory_bytes()
    if physical and total > physical:
        raise _usage_error(f"these settings need {describe(total, allocations)}, more than this machine's "
                           f"{physical / 2**30:.1f} GiB of memory; lower that setting (--set), --seeds or --threads")
    if available and total > available:
        click.echo(f"warning: these settings need {describe(total, allocations)}, more than the "
                   f"{available / 2**30:.1f} GiB of memory available now; the run may swap or be killed", err=True)


def _print_summary(suite, progress: StepProgress, quiet: bool, control: bool, out: Path) -> None:
    from poissonfp.diagnostics.suite import aggregate_claims, claim_counts

    progress.close()
    if not quiet:
        for group in aggregate_claims(suite.results):
            mark = "PASS" if group["passed"] else "FAIL"
            held = f"held in {group['held']} of {group['seeds']} seeds"
            click.echo(f"{mark}  [{group['kind']}] {group['experiment']}: {group['claim']} ({held})")
        counts = claim_counts(suite)
        click.echo(
            f"evidence {counts['evidence']['held']}/{counts['evidence']['claims']} held, sanity "
            f"{counts['sanity']['held']}/{counts['sanity']['claims']}"
            f"{' (control: evidence expected to fail)' if control else ''}; {suite.runtime_s['total']:.1f} s; "
            f"report: {out / 'report.md'}"
        )
    if suite.interrupted:
        click.echo(f"interrupted: the {len(suite.results)} runs that finished are in {out}", err=True)


diagnose.help = f"{inspect.cleandoc(diagnose.help or '')}\n\nExperiments, in run order: {', '.join(EXPERIMENTS)}."
