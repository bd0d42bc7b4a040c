"""The Markdown report of a ``diagnose`` run: verdicts with their rules and numbers, settings beside the
paper's, observations and figures."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from poissonfp.diagnostics.base import load_experiment
from poissonfp.diagnostics.verdicts import SuiteResult, aggregate_claims, claim_counts, exit_status
from poissonfp.results import to_jsonable

__all__ = ["paper_settings_table", "write_report"]


def _format(value: Any) -> str:
    value = to_jsonable(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(_format(v) for v in value) + "]"
    return "n/a" if value is None else str(value)


def _measured(measured: Mapping[str, Any]) -> str:
    return "; ".join(f"{key} = {_format(value)}" for key, value in measured.items())


def _header(suite: SuiteResult) -> list[str]:
    counts = claim_counts(suite)
    evidence, sanity = counts["evidence"], counts["sanity"]
    preset = "quick (smaller sizes and shorter runs; the same thresholds)" if suite.quick else "full"
    lines = [
        "# F-Principle diagnostics",
        "",
        f"Preset: {preset}; seeds: {suite.seeds}; total runtime {suite.runtime_s['total']:.1f} s "
        f"({suite.threads} torch threads); exit status {exit_status(suite)}.",
        "",
        f"- **Evidence** (claims that fail when the paper's effect is absent): {evidence['held']} of "
        f"{evidence['claims']} held in every seed.",
        f"- **Sanity** (identities and theorems; a failure means a bug): {sanity['held']} of {sanity['claims']} "
        "held in every seed.",
        "",
    ]
    if suite.control:
        lines += [
            "**This is a negative control.** Each experiment ran with a learner or data that lacks the property "
            "the paper claims; its evidence claims are expected to FAIL. A control whose evidence claims hold "
            "would show a check that cannot fail. Exit status 1 (evidence failed) is the expected outcome.",
            "",
        ]
    if suite.interrupted:
        lines += ["**INTERRUPTED**: only the experiment runs that finished are reported.", ""]
    return lines


def _paper_table(name: str, settings: Mapping[str, Any]) -> list[str]:
    experiment = load_experiment(name)
    if not experiment.paper:
        return []
    lines = ["### Settings beside the paper's", "", "| setting | paper (source) | this run | deviation and why |",
             "|---|---|---|---|"]
    for row in experiment.paper:
        ours = "; ".join(f"{key} = {_format(settings[key])}" for key in row.keys)
        lines.append(f"| {row.label} | {row.paper} ({row.source}) | {ours} | {row.deviation or 'none'} |")
    return [*lines, ""]


def paper_settings_table() -> str:
    """The settings of every experiment beside the paper's, as a Markdown table generated from the code's
    defaults (full and ``--quick``) and each experiment's :class:`~poissonfp.diagnostics.base.PaperSetting`
    rows (docs/diagnostics.md holds a copy; a test keeps them equal)."""
    from poissonfp.diagnostics.base import EXPERIMENTS, make_settings

    lines = ["| experiment | setting | paper | source | here: full (quick where it differs) | deviation and why |",
             "|---|---|---|---|---|---|"]
    for name in EXPERIMENTS:
        experiment = load_experiment(name)
        full, quick = make_settings(experiment), make_settings(experiment, quick=True)
        for row in experiment.paper:
            ours = []
            for key in row.keys:
                value, short = getattr(full, key), getattr(quick, key)
                ours.append(f"{key} = {_format(value)}" + ("" if short == value else f" ({_format(short)})"))
            lines.append(f"| {name} | {row.label} | {row.paper} | {row.source} | {'; '.join(ours)} | "
                         f"{row.deviation or 'none'} |")
    return "\n".join(lines)


def _claims(suite: SuiteResult, name: str) -> list[str]:
    lines = ["### Claims", ""]
    for group in (g for g in aggregate_claims(suite.results) if g["experiment"] == name):
        mark = "PASS" if group["passed"] else "FAIL"
        lines.append(f"- **{mark}** ({group['kind']}) {group['claim']} — held in {group['held']} of "
                     f"{group['seeds']} seeds")
        lines.append(f"  - rule: {group['rule']}")
        for result in (r for r in suite.results if r.experiment == name):
            for claim in (c for c in result.claims if c.claim == group["claim"]):
                lines.append(f"  - seed {claim.seed}: {'PASS' if claim.passed else 'FAIL'}; {_measured(claim.measured)}")
    return lines


def write_report(suite: SuiteResult) -> str:
    """The Markdown report."""
    lines = _header(suite)
    for name in suite.settings:
        experiment = load_experiment(name)
        lines += [f"## {name}", "", experiment.description + ".", ""]
        if suite.control:
            lines += [f"Control: {experiment.control_description}; its evidence claims are expected to fail.", ""]
        if name in suite.runtime_s:
            lines += [f"Runtime: {suite.runtime_s[name]:.1f} s.", ""]
        elif not any(r.experiment == name for r in suite.results):
            lines += ["Not run (interrupted).", ""]
        lines += _paper_table(name, suite.settings[name])
        lines += _claims(suite, name)
        observations = [o for r in suite.results if r.experiment == name for o in r.observations]
        if observations:
            lines += ["", "### Observations (no verdict)", ""]
            lines += [f"- seed {o.seed}: {o.observation}: {_measured(o.measured)}" for o in observations]
        lines += ["", "### Figures", ""]
        for seed, paths in suite.figures.get(name, {}).items():
            lines += [f"![{name} {fig} seed {seed}]({path})" for fig, path in paths.items()]
        lines += ["", "### All settings", "", "```"]
        lines += [f"{key} = {_format(value)}" for key, value in suite.settings[name].items()]
        lines += ["```", ""]
    return "\n".join(lines)
