"""Run experiments x seeds, aggregate the claims and write ``summary.json``, ``report.md`` and figures.

Ctrl-C (a ``KeyboardInterrupt``) ends the run early: the experiment runs that finished are kept, and the
summary and report are written for them, marked ``interrupted``. Every file is written atomically.
"""
from __future__ import annotations

import dataclasses
import logging
import platform
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from poissonfp import __version__
from poissonfp.diagnostics.base import ExperimentResult, load_experiment, make_settings
from poissonfp.diagnostics.verdicts import (
    EXIT_EVIDENCE_FAILED,
    EXIT_HELD,
    EXIT_INTERRUPTED,
    EXIT_SANITY_FAILED,
    SuiteResult,
    aggregate_claims,
    claim_counts,
    exit_status,
)
from poissonfp.interrupts import interrupt_exit_code
from poissonfp.results import save_figure, write_json, write_text

__all__ = [
    "EXIT_EVIDENCE_FAILED",
    "EXIT_HELD",
    "EXIT_INTERRUPTED",
    "EXIT_SANITY_FAILED",
    # defined in poissonfp.diagnostics.verdicts (the report reads them too), kept here
    "SuiteResult",
    "aggregate_claims",
    "claim_counts",
    "exit_status",
    "run_suite",
    "summary_dict",
]

logger = logging.getLogger(__name__)

#: ``on_progress(experiment, seed, done, total)``.
SuiteProgress = Callable[[str, int, float, float], None]

def run_suite(
    names: Sequence[str],
    seeds: Sequence[int],
    *,
    quick: bool = False,
    control: bool = False,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    out_dir: str | Path | None = None,
    on_progress: SuiteProgress | None = None,
    threads: int | None = None,
) -> SuiteResult:
    """Run each experiment with each seed; with ``out_dir``, write figures, summary and report there.

    Settings are resolved for every experiment before anything runs, so a bad override fails fast.
    ``control`` applies each experiment's negative-control preset. ``threads`` sets torch's intra-op
    threads for the duration of the run only (restored afterwards).
    """
    experiments = [load_experiment(name) for name in names]
    settings = {e.name: make_settings(e, quick, (overrides or {}).get(e.name), control) for e in experiments}
    with torch_threads(threads):
        suite = _run(experiments, settings, seeds, quick, control, out_dir, on_progress)
    if out_dir is not None:
        try:
            _write(suite, Path(out_dir))
        except KeyboardInterrupt:  # an interrupt while writing: write again, marked
            suite.interrupted, suite.interrupt_exit = True, interrupt_exit_code()
            _write(suite, Path(out_dir))
    return suite


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Use ``threads`` torch threads inside the block, restoring the previous number on exit."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _run(experiments, settings, seeds, quick, control, out_dir, on_progress) -> SuiteResult:
    results: list[ExperimentResult] = []
    runtime: dict[str, float] = {}
    figures: defaultdict[str, dict] = defaultdict(dict)
    suite = SuiteResult(results, list(seeds), quick, {n: dataclasses.asdict(s) for n, s in settings.items()},
                        runtime, figures, torch.get_num_threads(), control)
    suite_start = time.perf_counter()
    try:
        for experiment in experiments:
            start = time.perf_counter()
            for seed in seeds:
                def progress(done, total, name=experiment.name, s=seed):
                    if on_progress is not None:
                        on_progress(name, s, done, total)

                result = experiment.run(settings[experiment.name], seed, progress)
                logger.info("%s seed %d: %.1f s", experiment.name, seed, result.runtime_s)
                if out_dir is not None:
                    figures[experiment.name][seed] = _save_figures(experiment.figures(result), Path(out_dir), result)
                results.append(result)
            runtime[experiment.name] = time.perf_counter() - start
    except KeyboardInterrupt:
        logger.warning("interrupted: keeping the %d runs that finished", len(results))
        suite.interrupted, suite.interrupt_exit = True, interrupt_exit_code()
    runtime["total"] = time.perf_counter() - suite_start
    suite.figures = dict(figures)
    return suite


def _write(suite: SuiteResult, out_dir: Path) -> None:
    from poissonfp.diagnostics.report import write_report

    write_json(out_dir / "summary.json", summary_dict(suite))
    write_text(out_dir / "report.md", write_report(suite))


def _save_figures(figs: Mapping[str, Any], out_dir: Path, result: ExperimentResult) -> dict[str, str]:
    paths = {}
    for name, fig in figs.items():
        relative = Path(result.experiment) / f"{name}_seed{result.seed}.png"
        save_figure(fig, out_dir / relative)
        paths[name] = relative.as_posix()
    return paths


def summary_dict(suite: SuiteResult) -> dict[str, Any]:
    """The content of ``summary.json``."""
    return {
        "passed": suite.passed,
        "control": suite.control,
        "interrupted": suite.interrupted,
        "counts": claim_counts(suite),
        "exit_status": exit_status(suite),
        "claims": [dataclasses.asdict(c) for r in suite.results for c in r.claims],
        "aggregate": aggregate_claims(suite.results),
        "observations": [dataclasses.asdict(o) for r in suite.results for o in r.observations],
        "seeds": suite.seeds,
        "quick": suite.quick,
        "settings": suite.settings,
        "runtime_s": suite.runtime_s,
        "runtime_per_seed_s": {f"{r.experiment}/seed{r.seed}": r.runtime_s for r in suite.results},
        "figures": suite.figures,
        "environment": {
            "poissonfp": __version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "torch_threads": suite.threads,
        },
    }
