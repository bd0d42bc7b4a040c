"""``poissonfp diagnose``: the quick suite holds its claims and writes its outputs; usage errors exit 2."""
import json

import pytest
from click.testing import CliRunner

from poissonfp.cli import main
from poissonfp.diagnostics.base import EXPERIMENTS, SettingsError, load_experiment, make_settings

OURS = ["fprinciple-1d", "parity", "digits"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("diagnose")
    result = CliRunner().invoke(main, ["diagnose", *OURS, "--quick", "--seeds", "0", "--out", str(out), "--quiet"])
    return result, out


def test_quick_suite_holds_every_claim(quick_run):
    result, out = quick_run
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["passed"] and summary["quick"] and summary["seeds"] == [0]
    assert {c["experiment"] for c in summary["claims"]} == set(OURS)
    for claim in summary["claims"]:
        assert claim["passed"] and claim["seed"] == 0 and claim["measured"], claim
    assert all(group["held"] == group["seeds"] == 1 for group in summary["aggregate"])
    assert set(summary["settings"]) == set(OURS) and summary["runtime_s"]["total"] > 0


def test_quick_suite_writes_report_and_figures(quick_run):
    _, out = quick_run
    report = (out / "report.md").read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert report.count("**PASS**") == len(summary["aggregate"]) and "FAIL" not in report
    for name in OURS:
        for path in summary["figures"][name]["0"].values():
            assert (out / path).stat().st_size > 10_000
            assert f"]({path})" in report


def test_fprinciple_claim_numbers_are_ordered(quick_run):
    _, out = quick_run
    claims = json.loads((out / "summary.json").read_text())["claims"]
    fit = next(c for c in claims if c["experiment"] == "fprinciple-1d")["measured"]
    assert fit["peaks_k"] == [1, 3, 5]
    assert fit["first_epoch_below_threshold"] == sorted(fit["first_epoch_below_threshold"])


@pytest.mark.parametrize(
    "args, needle",
    [
        (["nonsense"], "unknown experiment"),
        (["--seeds", "0,x"], "--seeds"),
        (["--seeds", "1,1"], "--seeds"),
        (["parity", "--set", "parity.nope=1"], "no setting"),
        (["parity", "--set", "parity.epochs=ten"], "expects int"),
        (["--no-such-option"], "no-such-option"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args, needle, tmp_path):
    result = CliRunner().invoke(main, ["diagnose", *args, "--out", str(tmp_path)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and needle in lines[0], result.output
    assert "Traceback" not in result.output


def test_registry_and_settings_presets():
    assert list(EXPERIMENTS)[:1] == ["fprinciple-1d"] and set(OURS) <= set(EXPERIMENTS)
    experiment = load_experiment("parity")
    assert make_settings(experiment).epochs == 2000
    quick = make_settings(experiment, quick=True, overrides={"fractions": "0.5,0.7"})
    assert quick.epochs < 2000 and quick.fractions == (0.5, 0.7)
    with pytest.raises(SettingsError):
        load_experiment("mnist")


def test_failed_claim_exits_1_and_reports_fail(tmp_path):
    args = ["diagnose", "fprinciple-1d", "--quick", "--set", "fprinciple-1d.epochs=20", "--out", str(tmp_path)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert "FAIL  fprinciple-1d" in result.output and "fprinciple-1d (seed 0)" in result.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["passed"] is False and summary["settings"]["fprinciple-1d"]["epochs"] == 20
    assert "**FAIL**" in (tmp_path / "report.md").read_text()
