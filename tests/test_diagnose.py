"""``poissonfp diagnose``: the quick suite holds its evidence claims, its controls fail them, bad input exits 2."""
import json

import pytest
from click.testing import CliRunner

from poissonfp.cli import main
from poissonfp.diagnostics.base import EXPERIMENTS, load_experiment, make_settings
from poissonfp.settings import SettingError

OURS = ["fprinciple-1d", "parity", "digits"]  # poisson-1d has its own test module


def _diagnose(out, *args):
    return CliRunner().invoke(main, ["diagnose", *OURS, "--quick", "--seeds", "0", "--out", str(out), "--quiet", *args])


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("diagnose")
    return _diagnose(out), out


@pytest.fixture(scope="module")
def control_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("control")
    return _diagnose(out, "--control"), out


def _summary(out):
    return json.loads((out / "summary.json").read_text())


def test_quick_suite_holds_every_claim(quick_run):
    result, out = quick_run
    assert result.exit_code == 0, result.output
    summary = _summary(out)
    assert summary["passed"] and summary["quick"] and not summary["control"] and summary["seeds"] == [0]
    assert {c["experiment"] for c in summary["claims"]} == set(OURS)
    for claim in summary["claims"]:
        assert claim["passed"] and claim["kind"] in ("evidence", "sanity") and claim["rule"], claim
    counts = summary["counts"]
    assert counts["evidence"]["held"] == counts["evidence"]["claims"] >= 6
    assert counts["sanity"]["held"] == counts["sanity"]["claims"] == 2


def test_quick_suite_report_states_rules_settings_and_figures(quick_run):
    _, out = quick_run
    report = (out / "report.md").read_text()
    summary = _summary(out)
    assert report.count("**PASS**") == len(summary["aggregate"]) and "FAIL" not in report
    assert report.count("  - rule: ") == len(summary["aggregate"])
    assert report.count("### Settings beside the paper's") == len(OURS)
    assert "| tanh 200-200-200-100, Keras default initialisation (authors' code" in report
    for name in OURS:
        for path in summary["figures"][name]["0"].values():
            assert (out / path).stat().st_size > 10_000 and f"]({path})" in report


def test_fprinciple_settled_epochs_are_ordered_with_margin(quick_run):
    _, out = quick_run
    fit = next(c for c in _summary(out)["claims"] if c["experiment"] == "fprinciple-1d")["measured"]
    assert fit["peaks_k"] == [1, 3, 5]
    a, b, c = fit["settled_epoch"]
    assert 1.5 * a <= b and 1.5 * b <= c


def test_parity_sweep_shows_the_transition(quick_run):
    _, out = quick_run
    claims = {c["claim"]: c["measured"] for c in _summary(out)["claims"] if c["experiment"] == "parity"}
    sweep = claims["it generalises from a large training fraction"]
    assert sweep["fractions"] == [0.3, 0.9] and sweep["transition_between"] == [0.3, 0.9]  # measured, no interpolation
    aliasing = claims["where it fails, the network fills the unseen points with low-frequency content (aliasing)"]
    assert aliasing["fractions"] == [0.3] and min(aliasing["degree_gap"]) >= 0.5  # every failing fraction checked
    small = claims["it does not generalise from a small training fraction"]
    assert small["test_accuracy"] < 0.5 and small["neighbour_vote_accuracy"] < 0.05  # below chance, like the vote


def test_controls_fail_their_evidence_claims(control_run):
    result, out = control_run
    assert result.exit_code == 1, result.output
    summary = _summary(out)
    assert summary["control"] and not summary["passed"]
    failed = {(g["experiment"], g["claim"]) for g in summary["aggregate"] if not g["passed"]}
    assert ("fprinciple-1d", "the DFT peaks converge in order of frequency (low k first)") in failed
    # a sin network with its first layer x30 has no low-frequency bias: it fills the gaps at high degree
    assert ("parity", "where it fails, the network fills the unseen points with low-frequency content (aliasing)") in failed
    aliasing = next(c for c in _summary(out)["claims"] if c["claim"].startswith("where it fails"))["measured"]
    assert max(aliasing["degree_gap"]) < 0.5 and aliasing["fractions"]  # it does fail, and the gap is the reason
    digits = [g for g in summary["aggregate"] if g["experiment"] == "digits" and g["kind"] == "evidence"]
    assert digits and not any(g["passed"] for g in digits)
    assert all(g["passed"] for g in summary["aggregate"] if g["kind"] == "sanity")
    assert "**This is a negative control.**" in (out / "report.md").read_text()


@pytest.mark.parametrize(
    "args, needle",
    [
        (["nonsense"], "unknown experiment"),
        (["--seeds", "0,x"], "--seeds"),
        (["--seeds", "1,1"], "--seeds"),
        (["parity", "--set", "parity.nope=1"], "no setting"),
        (["parity", "--set", "parity.epochs=ten"], "parity.epochs: expected int"),
        (["parity", "--set", "parity.activation=bogus"], "parity.activation: expected one of"),
        (["parity", "--set", "parity.dimension=-1"], "parity.dimension: expected an integer >= 2"),
        (["parity", "--set", "parity.dimension=40"], "parity.dimension: expected an integer >= 2 and <= 16"),
        (["parity", "--set", "parity.learning_rate=nan"], "parity.learning_rate: expected a finite number"),
        (["parity", "--set", "parity.epochs=-5"], "parity.epochs: expected an integer >= 1"),
        (["parity", "--set", "parity.fractions=0.5,2.0"], "parity.fractions: expected a number > 0.0 and < 1.0"),
        (["parity", "--set", "parity.dtype=float16"], "parity.dtype: expected one of float32, float64"),
        (["poisson-1d", "--set", "poisson-1d.case=nowhere"], "case 'nowhere': no such case file"),
        (["--no-such-option"], "no-such-option"),
    ],
)
def test_usage_errors_exit_2_with_one_line_and_write_nothing(args, needle, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["diagnose", *args, "--out", str(out)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and needle in lines[0], result.output
    assert not out.exists()


def test_unwritable_out_is_refused_before_any_work(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    for out in ("/proc/x", str(blocker / "sub")):
        result = CliRunner().invoke(main, ["diagnose", "fprinciple-1d", "--quick", "--out", out])
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "--out" in lines[0] and "not a writable folder" in lines[0], result.output
        assert "(seed 0)" not in result.output  # no experiment started


def test_presets_change_sizes_and_lengths_only():
    length_or_size = {"widths", "epochs", "fractions", "intervals", "adam_steps", "jacobi_sweeps",
                      "jacobi_record_every", "record_every", "n", "samples", "held_out", "steps", "solve_n", "probes"}
    for name in EXPERIMENTS:
        experiment = load_experiment(name)
        assert set(experiment.quick) <= length_or_size, name
        assert experiment.control and experiment.control_description and experiment.paper, name
        full, quick = make_settings(experiment), make_settings(experiment, quick=True)
        assert {k for k in vars(full) if getattr(full, k) != getattr(quick, k)} == set(experiment.quick)
    quick = make_settings(load_experiment("parity"), quick=True, overrides={"fractions": "0.5,0.7"})
    assert quick.epochs < 2000 and quick.fractions == (0.5, 0.7)
    with pytest.raises(SettingError):
        load_experiment("mnist")


def test_failed_evidence_claim_exits_1_and_reports_fail(tmp_path):
    args = ["diagnose", "fprinciple-1d", "--quick", "--seeds", "0", "--set", "fprinciple-1d.epochs=20",
            "--out", str(tmp_path)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert "FAIL  [evidence] fprinciple-1d" in result.output and "fprinciple-1d (seed 0)" in result.output
    summary = _summary(tmp_path)
    assert summary["passed"] is False and summary["settings"]["fprinciple-1d"]["epochs"] == 20
    assert summary["exit_status"] == 1 and "**FAIL**" in (tmp_path / "report.md").read_text()


def _parity_claims(**changes):
    from poissonfp.diagnostics import parity

    settings = make_settings(load_experiment("parity"), quick=True,
                             overrides={"epochs": "200", "fractions": "0.2,0.3", **changes})
    return {c.claim: c for c in parity.run(settings, 0).claims}


def test_parity_fit_and_generalisation_claims_have_controls_that_break_them():
    # a low-frequency target (x1 * x2) is learnt from a small fraction: the no-generalisation claim fails
    low = _parity_claims(target_bits="2", widths="50,50,25")
    assert not low["it does not generalise from a small training fraction"].passed
    assert low["it does not generalise from a small training fraction"].measured["test_accuracy"] > 0.9
    # one hidden unit cannot represent a degree-10 character: the fit claim fails for lack of capacity
    narrow = _parity_claims(widths="1")
    assert not narrow["the network fits every training set"].passed
    assert max(narrow["the network fits every training set"].measured["train_accuracy"]) < 0.8
