"""The record of one ``diagnose`` run (:class:`SuiteResult`) and the verdicts counted from it: claims
grouped over seeds, counts per kind, the exit status. Read by the suite and by the report."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from poissonfp.diagnostics.base import KINDS, ExperimentResult

__all__ = [
    "EXIT_EVIDENCE_FAILED",
    "EXIT_HELD",
    "EXIT_INTERRUPTED",
    "EXIT_SANITY_FAILED",
    "SuiteResult",
    "aggregate_claims",
    "claim_counts",
    "exit_status",
]

#: Exit statuses of a suite: every claim held, an evidence claim failed, a sanity check failed (a bug),
#: interrupted.
EXIT_HELD, EXIT_EVIDENCE_FAILED, EXIT_SANITY_FAILED, EXIT_INTERRUPTED = 0, 1, 3, 130


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
    control: bool = False
    interrupted: bool = False
    #: 130 (SIGINT) or 143 (SIGTERM) when interrupted.
    interrupt_exit: int = EXIT_INTERRUPTED

    @property
    def passed(self) -> bool:
        """True when every claim held in every seed (and the run was not interrupted)."""
        return not self.interrupted and all(c.passed for r in self.results for c in r.claims)


def aggregate_claims(results: Sequence[ExperimentResult]) -> list[dict[str, Any]]:
    """Group claims by experiment and statement: in how many seeds each held (it passes if in all)."""
    groups: dict[tuple[str, str], list] = defaultdict(list)
    for result in results:
        for claim in result.claims:
            groups[(claim.experiment, claim.claim)].append(claim)
    return [
        {
            "experiment": experiment,
            "claim": statement,
            "kind": claims[0].kind,
            "rule": claims[0].rule,
            "held": sum(c.passed for c in claims),
            "seeds": len(claims),
            "passed": all(c.passed for c in claims),
            "failed_seeds": [c.seed for c in claims if not c.passed],
        }
        for (experiment, statement), claims in groups.items()
    ]


def claim_counts(suite: SuiteResult) -> dict[str, dict[str, int]]:
    """Per kind: how many claims there are and how many held in every seed."""
    aggregate = aggregate_claims(suite.results)
    return {
        kind: {"claims": sum(g["kind"] == kind for g in aggregate),
               "held": sum(g["kind"] == kind and g["passed"] for g in aggregate)}
        for kind in KINDS
    }


def exit_status(suite: SuiteResult) -> int:
    """130 (143 after SIGTERM) when interrupted, else 3 when a sanity check failed, 1 when an evidence claim failed, else 0.

    A control run follows the same rule: its evidence claims are expected to fail, so it exits 1.
    """
    if suite.interrupted:
        return suite.interrupt_exit
    counts = claim_counts(suite)
    if counts["sanity"]["held"] < counts["sanity"]["claims"]:
        return EXIT_SANITY_FAILED
    if counts["evidence"]["held"] < counts["evidence"]["claims"]:
        return EXIT_EVIDENCE_FAILED
    return EXIT_HELD
