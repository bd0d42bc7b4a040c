"""``diagnose`` estimates the memory of its settings before any work: refuses beyond the machine's memory
(one line, exit 2, nothing written) and warns beyond the memory available now."""
from __future__ import annotations

from click.testing import CliRunner

from poissonfp.cli import main
from poissonfp.diagnostics.base import load_experiment, make_settings
from poissonfp.diagnostics.memory import BASE_BYTES, suite_allocations

HUGE = ["fprinciple-1d", "--set", "fprinciple-1d.epochs=1000000", "--set", "fprinciple-1d.points=100000"]


def _settings(**overrides):
    return {"fprinciple-1d": make_settings(load_experiment("fprinciple-1d"), True,
                                           {k: str(v) for k, v in overrides.items()}, False)}


def test_the_estimate_grows_with_the_settings_that_drive_it():
    small, _ = suite_allocations(_settings(), 1, 1)
    assert BASE_BYTES < small < 2**30
    history, allocations = suite_allocations(_settings(epochs=1_000_000, points=100_000), 1, 1)
    assert history > 350 * 2**30  # the output kept at every epoch: 1e6 x 1e5 float32
    assert next(a for a in allocations if a.key).key == "fprinciple-1d.epochs"
    assert suite_allocations(_settings(), 1, 256)[0] > small  # threads
    assert suite_allocations(_settings(epochs=100_000), 64, 1)[0] > suite_allocations(_settings(epochs=100_000), 1, 1)[0]


def test_settings_beyond_the_machine_are_refused_in_one_line(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["diagnose", *HUGE, "--out", str(out)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "GiB" in lines[0] and "fprinciple-1d.epochs" in lines[0]
    assert not out.exists()


def test_settings_beyond_the_memory_available_now_are_warned_about(tmp_path, monkeypatch):
    monkeypatch.setattr("poissonfp.diagnostics.memory.available_memory_bytes", lambda: 1)
    monkeypatch.setattr("poissonfp.diagnostics.suite.run_suite", lambda *a, **k: (_ for _ in ()).throw(OSError(28, "stop here")))
    result = CliRunner().invoke(main, ["diagnose", "fprinciple-1d", "--quick", "--seeds", "0", "--out",
                                       str(tmp_path / "out")])
    assert "warning: these settings need about" in result.output and "available now" in result.output
