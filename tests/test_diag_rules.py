"""Verdict rules (ordering with a margin, halving), exit statuses by claim kind, and an interrupted run."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from poissonfp.diagnostics.base import ExperimentResult
from poissonfp.diagnostics.ordering import halving_steps, ordered_with_margin, settled_crossings, smoothed
from poissonfp.diagnostics.suite import SuiteResult, claim_counts, exit_status


def test_near_ties_and_unsettled_peaks_are_not_an_order():
    assert ordered_with_margin([20, 200, 1300])
    assert not ordered_with_margin([21, 25, 26])  # the sin x10 near-tie the old rule accepted
    assert not ordered_with_margin([20, 200, None])
    assert ordered_with_margin([82000, 9500, 1500], increasing=False)


def test_a_dip_is_not_a_crossing_and_a_spike_is_smoothed_away():
    steps = np.arange(100)
    dip = np.ones(100)
    dip[5] = 0.0  # one record below the threshold, then back above until step 60
    dip[60:] = 0.05
    assert settled_crossings(steps, dip[:, None], 0.1) == [60]
    spike = dip.copy()
    spike[80] = 1.0  # a one-record spike late in training
    assert settled_crossings(steps, spike[:, None], 0.1) == [81]
    assert settled_crossings(steps, smoothed(spike[:, None]), 0.1) == [60]


def test_halving_compares_two_errors_over_the_same_epochs():
    epochs = np.arange(0, 100, 10)
    low, high = np.exp(-epochs / 10.0), np.exp(-epochs / 100.0)
    assert halving_steps(epochs, np.column_stack([low, high])) == [10, 70]


def _suite(*claims):
    result = ExperimentResult("x", 0, {})
    for passed, kind in claims:
        result.claim(f"{kind} {passed} {len(result.claims)}", passed, kind=kind, rule="r")
    return SuiteResult([result], [0], True, {"x": {}}, {"total": 0.0})


def test_exit_status_counts_evidence_and_sanity_apart():
    assert exit_status(_suite((True, "evidence"), (True, "sanity"))) == 0
    assert exit_status(_suite((False, "evidence"), (True, "sanity"))) == 1
    assert exit_status(_suite((True, "evidence"), (False, "sanity"))) == 3
    assert claim_counts(_suite((False, "evidence"), (True, "sanity"))) == {
        "evidence": {"claims": 1, "held": 0}, "sanity": {"claims": 1, "held": 1}}
    with pytest.raises(ValueError):
        _suite((True, "opinion"))


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_signal_saves_what_finished_marked_interrupted(tmp_path, signal_number):
    out = tmp_path / "out"
    command = [sys.executable, "-c", "from poissonfp.cli import main; main()", "diagnose", "fprinciple-1d", "--quick", "--quiet",
               "--seeds", ",".join(map(str, range(40))), "--set", "fprinciple-1d.epochs=150", "--out", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "MPLBACKEND": "Agg"})
    first = out / "fprinciple-1d" / "fit_snapshots_seed1.png"
    deadline = time.monotonic() + 60
    while not first.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal_number)
    _, stderr = process.communicate(timeout=60)
    code = 128 + signal_number  # 130 after SIGINT, 143 after SIGTERM
    assert process.returncode == code, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] and summary["exit_status"] == code and not summary["passed"]
    seeds = sorted({c["seed"] for c in summary["claims"]})
    assert seeds[:2] == [0, 1] and seeds == list(range(len(seeds))) and len(seeds) < 40
    assert "**INTERRUPTED**" in (out / "report.md").read_text()
    assert not [p for p in out.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]
