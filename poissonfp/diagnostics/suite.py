"""Run experiments x seeds, aggregate the claims and write ``summary.json``, ``report.md`` and figures."""
from __future__ import annotations

import dataclasses
import logging
import platform
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import torch

from poissonfp import __version__
from poissonfp.diagnostics.base import ExperimentResult, load_experiment, make_settings
from poissonfp.results import save_figure, to_jsonable, write_json, write_text

__all__ = ["SuiteResult", "aggregate_claims", "run_suite", "write_report"]

logger = logging.getLogger(__name__)

#: ``on_progress(experiment, seed, done, total)``.
SuiteProgress = Callable[[str, int, float, float], None]


@dataclass
class SuiteResult:
    """All results of one ``diagnose`` run, with the figure paths per experiment and seed."""

    results: list[ExperimentResult]
    seeds: list[int]
    quick: bool
    settings: dict[str, dict[str, Any]]
    runtime_s: dict[str, float]
    figures: dict[str, dict[int, dict[str, str]]] = field(default_factory=dict)
    threads: int = 0

    @property
    def passed(self) -> bool:
        """True when every claim held in every seed."""
        return all(c.passed for r in self.results for c in r.claims)


def run_suite(
    names: Sequence[str],
    seeds: Sequence[int],
    *,
    quick: bool = False,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    out_dir: str | Path | None = None,
    on_progress: SuiteProgress | None = None,
    threads: int | None = None,
) -> SuiteResult:
    """Run each experiment with each seed; with ``out_dir``, write figures, summary and report there.

    Settings are resolved for every experiment before anything runs, so a bad override fails fast.
    ``threads`` sets torch's intra-op threads for the duration of the run only (restored afterwards).
    """
    experiments = [load_experiment(name) for name in names]
    settings = {e.name: make_settings(e, quick, (overrides or {}).get(e.name)) for e in experiments}
    with torch_threads(threads):
        return _run(experiments, settings, seeds, quick, out_dir, on_progress)


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


def _run(experiments, settings, seeds, quick, out_dir, on_progress) -> SuiteResult:
    results, runtime, figures = [], {}, defaultdict(dict)
    suite_start = time.perf_counter()
    for experiment in experiments:
        start = time.perf_counter()
        for seed in seeds:
            def progress(done, total, name=experiment.name, s=seed):
                if on_progress is not None:
                    on_progress(name, s, done, total)

            result = experiment.run(settings[experiment.name], seed, progress)
            logger.info("%s seed %d: %.1f s", experiment.name, seed, result.runtime_s)
            results.append(result)
            if out_dir is not None:
                figures[experiment.name][seed] = _save_figures(experiment.figures(result), Path(out_dir), result)
        runtime[experiment.name] = time.perf_counter() - start
    runtime["total"] = time.perf_counter() - suite_start
    suite = SuiteResult(
        results, list(seeds), quick, {n: dataclasses.asdict(s) for n, s in settings.items()}, runtime, dict(figures),
        torch.get_num_threads(),
    )
    if out_dir is not None:
        write_json(Path(out_dir) / "summary.json", summary_dict(suite))
        write_text(Path(out_dir) / "report.md", write_report(suite))
    return suite


def _save_figures(figs: Mapping[str, Any], out_dir: Path, result: ExperimentResult) -> dict[str, str]:
    paths = {}
    for name, fig in figs.items():
        relative = Path(result.experiment) / f"{name}_seed{result.seed}.png"
        save_figure(fig, out_dir / relative)
        paths[name] = relative.as_posix()
    return paths


def aggregate_claims(results: Sequence[ExperimentResult]) -> list[dict[str, Any]]:
    """Group claims by experiment and statement: in how many seeds each held."""
    groups: dict[tuple[str, str], list] = defaultdict(list)
    for result in results:
        for claim in result.claims:
            groups[(claim.experiment, claim.claim)].append(claim)
    return [
        {
            "experiment": experiment,
            "claim": statement,
            "held": sum(c.passed for c in claims),
            "seeds": len(claims),
            "passed": all(c.passed for c in claims),
            "failed_seeds": [c.seed for c in claims if not c.passed],
        }
        for (experiment, statement), claims in groups.items()
    ]


def summary_dict(suite: SuiteResult) -> dict[str, Any]:
    """The content of ``summary.json``."""
    return {
        "passed": suite.passed,
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


def _format(value: Any) -> str:
    value = to_jsonable(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(_format(v) for v in value) + "]"
    return "n/a" if value is None else str(value)


def _measured(measured: Mapping[str, Any]) -> str:
    return "; ".join(f"{key} = {_format(value)}" for key, value in measured.items())


def write_report(suite: SuiteResult) -> str:
    """The Markdown report: verdicts with their numbers, observations, figures and settings."""
    verdict = "all claims held" if suite.passed else "SOME CLAIMS FAILED"
    lines = [
        "# F-Principle diagnostics",
        "",
        f"Preset: {'quick' if suite.quick else 'full (paper settings)'}; seeds: {suite.seeds}; "
        f"total runtime {suite.runtime_s['total']:.1f} s ({suite.threads} torch threads); verdict: **{verdict}**.",
        "",
    ]
    aggregate = aggregate_claims(suite.results)
    for name in suite.settings:
        lines += [f"## {name}", "", f"Runtime: {suite.runtime_s[name]:.1f} s.", "", "### Claims", ""]
        for group in (g for g in aggregate if g["experiment"] == name):
            mark = "PASS" if group["passed"] else "FAIL"
            lines.append(f"- **{mark}** {group['claim']} — held in {group['held']}/{group['seeds']} seeds")
            for result in (r for r in suite.results if r.experiment == name):
                for claim in (c for c in result.claims if c.claim == group["claim"]):
                    mark = "PASS" if claim.passed else "FAIL"
                    lines.append(f"  - seed {claim.seed}: {mark}; {_measured(claim.measured)}")
        observations = [o for r in suite.results if r.experiment == name for o in r.observations]
        if observations:
            lines += ["", "### Observations (no verdict)", ""]
            lines += [f"- seed {o.seed}: {o.observation}: {_measured(o.measured)}" for o in observations]
        lines += ["", "### Figures", ""]
        for seed, paths in suite.figures.get(name, {}).items():
            lines += [f"![{name} {fig} seed {seed}]({path})" for fig, path in paths.items()]
        lines += ["", "### Settings", "", "```"]
        lines += [f"{key} = {_format(value)}" for key, value in suite.settings[name].items()]
        lines += ["```", ""]
    return "\n".join(lines)
