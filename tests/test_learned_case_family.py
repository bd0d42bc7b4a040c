"""The ``case`` family (the case's source with random parameters) and the train command's options around it:
--family, --spread, --arch, --steps 0, --resume and a real Ctrl-C."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from poissonfp.cli import main
from poissonfp.grid import Grid
from poissonfp.learned.family import FamilyError, case_sources, source_parameters
from poissonfp.learned.training import band_energy, family_record

GRID = Grid((0.0,), (1.0,), (63,))


def test_every_written_number_but_exponents_becomes_a_parameter():
    parameters = source_parameters("3*sin(2*pi*x) + x**2/4 - 0.5", ("x",))
    assert sorted(parameters.nominal) == [-0.5, 0.25, 2.0, 3.0]
    assert "**2" in parameters.template and "pi" in parameters.template  # exponents and pi are kept
    assert source_parameters("sin(x) + 4*sin(4*x)", ("x",)).template == "p1*sin(p2*x) + sin(x)"


def test_draws_are_the_formula_at_parameters_within_the_stated_range():
    parameters = source_parameters("2*sin(3*x)", ("x",))
    fields, values = case_sources(parameters, GRID, 200, seed=5, spread=0.2)
    nominal = np.array(parameters.nominal)
    assert values.shape == (200, 2)
    assert np.all(values >= nominal * 0.8 - 1e-12) and np.all(values <= nominal * 1.2 + 1e-12)
    assert np.all(np.ptp(values, axis=0) > 0.35 * nominal)  # spread over the range, not a point
    x = GRID.axes[0]
    amplitude, frequency = (values[:, list(nominal).index(2.0)], values[:, list(nominal).index(3.0)])
    expected = amplitude[:, None] * np.sin(frequency[:, None] * x)
    expected /= np.sqrt(np.mean(expected**2, axis=1, keepdims=True))
    np.testing.assert_allclose(fields, expected, atol=1e-12)
    again, _ = case_sources(parameters, GRID, 200, seed=5, spread=0.2)
    other, _ = case_sources(parameters, GRID, 200, seed=6, spread=0.2)
    np.testing.assert_array_equal(fields, again)
    assert not np.allclose(fields, other)


def test_the_mask_zeroes_the_outside():
    mask = GRID.axes[0] < 0.5
    fields, _ = case_sources(source_parameters("1 + 2*x", ("x",)), GRID, 4, seed=0, mask=mask)
    assert np.all(fields[:, ~mask] == 0) and np.allclose(np.sqrt(np.mean(fields[:, mask] ** 2, axis=1)), 1.0)


@pytest.mark.parametrize("source, match", [
    ("sin(pi*x)", "no number to vary"),
    ("0", "no number to vary"),
    ("2", "only scale it"),  # a constant expression
    ("3*sin(pi*x)", "only scale it"),  # one number, an amplitude
    ("2*sin(pi*x)/3 + 5*sin(pi*x)", "only scale it"),  # sympy folds the two amplitudes into one
    ("sqrt(x - 0.25)", "not finite"),
])
def test_sources_with_nothing_to_learn_are_refused(source, match):
    with pytest.raises(FamilyError, match=match):
        case_sources(source_parameters(source, ("x",)), GRID, 8, seed=0)


@pytest.mark.parametrize("source", ["2*x*(1 - x)/3", "3*sin(pi*x) + 2*sin(2*pi*x)", "exp(-50*(x - 0.5)**2)"])
def test_sources_whose_numbers_change_their_shape_are_accepted(source):
    fields, _ = case_sources(source_parameters(source, ("x",)), GRID, 8, seed=0)
    singular = np.linalg.svd(fields, compute_uv=False)
    assert singular[1] > 1e-6 * singular[0]


def test_spread_out_of_range_is_refused():
    parameters = source_parameters("sin(3*x)", ("x",))
    for spread in (0.0, 1.0, -0.1):
        with pytest.raises(FamilyError, match=r"in \(0, 1\)"):
            case_sources(parameters, GRID, 4, seed=0, spread=spread)


def test_the_record_states_the_draw_and_the_measured_spectrum():
    record = family_record("case", {"source": "sin(x) + 4*sin(4*x)", "spread": 0.1}, 1)
    assert record["name"] == "case" and record["spread"] == 0.1 and record["parameters"] == {"p1": 4.0, "p2": 4.0}
    assert "0.9" in record["draw"] or "1 - 0.1" in record["draw"]
    fields, _ = case_sources(source_parameters("sin(40*x)", ("x",)), GRID, 16, seed=0)  # the frequency varies
    shares = band_energy(fields)
    assert abs(sum(s["share"] for s in shares) - 1.0) < 1e-12
    low = band_energy(case_sources(source_parameters("sin(3*x) + x", ("x",)), GRID, 16, seed=0)[0])
    assert low[0]["share"] > 0.9 and shares[0]["share"] < low[0]["share"]
    with pytest.raises(ValueError, match="unknown case family setting"):
        family_record("case", {"source": "sin(3*x)", "k0": 2.0}, 1)


def _cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_train_on_the_case_family_records_it_and_the_steps_0_control(tmp_path):
    out = tmp_path / "model"
    result = _cli("train", "1d_article", "--family", "case", "--spread", 0.1, "--arch", "deeponet", "--out", out,
                  "--n", 32, "--steps", 0, "--samples", 16, "--quiet")
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "model.json").read_text())
    family = meta["family"]
    assert family["name"] == "case" and family["spread"] == 0.1 and family["source"].startswith("sin(x) + 4*sin(4*x)")
    assert len(family["parameters"]) == 6 and len(family["band_energy"]) == 4
    assert meta["steps"] == meta["steps_done"] == 0 and not meta["interrupted"]  # the untrained control, saved
    assert meta["held_out"]["bands"][0]["error"] > 0.5
    assert not (out / "checkpoint.pt").exists()


@pytest.mark.parametrize("args, message", [
    (["2d_square", "--arch", "deeponet"], "serves 1D grids"),
    (["2d_lshape", "--family", "case"], "no number to vary"),
    (["CONSTANT", "--family", "case"], "only scale it"),
    (["SCALED", "--family", "case"], "only scale it"),
    (["1d_article", "--spread", "0.3"], "only the case family"),
    (["1d_article", "--family", "case", "--spread", "1.5"], "in (0, 1)"),
    (["1d_article", "--family", "gaussian"], "family"),
    (["1d_article", "--arch", "deepnet"], "architecture"),
    (["2d_square", "--n", "7"], "too coarse for the unet"),
    (["1d_article", "--arch", "fno", "--n", "6"], "too coarse for the fno"),
])
def test_bad_input_for_the_new_options_is_one_line_exit_2_and_nothing_written(tmp_path, args, message):
    text = ("name = 'c'\n[domain]\nlower = [0.0]\nupper = [1.0]\n[grid]\npoints = 31\n"
            "[problem]\nsource = '{}'\nboundary = '0'\n")
    cases = {}
    for name, source in (("CONSTANT", "2"), ("SCALED", "3*sin(pi*x)")):
        cases[name] = tmp_path / f"{name}.toml"
        cases[name].write_text(text.format(source))
    out = tmp_path / "out"
    result = _cli("train", *[cases.get(a, a) for a in args], "--out", out, "--steps", 0, "--quiet")
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1 and message in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_train_on_cuda_without_a_gpu_is_one_line_exit_2_and_nothing_written(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # also on a machine with a GPU
    out = tmp_path / "out"
    result = _cli("train", "1d_article", "--out", out, "--steps", 0, "--device", "cuda", "--quiet")
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1 and "--device cuda" in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_resume_continues_with_the_interrupted_runs_family_and_architecture(tmp_path):
    from poissonfp.case import load_case
    from poissonfp.learned.training import train_operator
    from poissonfp.problem import build_problem

    case = load_case("1d_article")
    operator = build_problem(case, size=32).operator

    def stop(record):
        if record["step"] >= 10:
            raise KeyboardInterrupt

    train_operator(operator, case="1d_article", arch="deeponet", samples=8, held_out=4, steps=30, batch=4, seed=3,
                   family="case", family_settings={"source": case.source.text, "spread": 0.2}, callback=stop,
                   out=str(tmp_path / "m"))
    before = json.loads((tmp_path / "m" / "model.json").read_text())
    assert before["interrupted"] and before["steps_done"] == 10 and (tmp_path / "m" / "checkpoint.pt").exists()
    result = _cli("train", "1d_article", "--out", tmp_path / "m", "--resume", "--quiet")
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["steps_done"] == 30 and not meta["interrupted"] and meta["arch"] == "deeponet"
    assert meta["family"]["name"] == "case" and meta["family"]["spread"] == 0.2
    assert not (tmp_path / "m" / "checkpoint.pt").exists()


def test_a_real_ctrl_c_saves_an_interrupted_model_that_resume_finishes(tmp_path):
    from tests.signals import expected_exit, signal_command

    out = tmp_path / "m"
    code, stderr = signal_command(["train", "1d_article", "--arch", "deeponet", "--family", "case", "--n", "64",
                                   "--samples", "64", "--steps", "1000000", "--out", str(out)], "step ", ("SIGINT",),
                                  0.2)
    assert code == expected_exit(("SIGINT",)) and "Traceback" not in stderr, stderr
    meta = json.loads((out / "model.json").read_text())
    assert meta["interrupted"] and 0 < meta["steps_done"] < 1_000_000 and (out / "checkpoint.pt").exists()
    target = meta["steps_done"] + 5
    result = _cli("train", "1d_article", "--out", out, "--resume", "--steps", target, "--quiet")
    assert result.exit_code == 0, result.output
    resumed = json.loads((out / "model.json").read_text())
    assert resumed["steps_done"] == target and not resumed["interrupted"] and resumed["family"]["name"] == "case"
    assert not (out / "checkpoint.pt").exists()
