"""``[operator] trigger / coarse_sweeps / cycle_sweeps`` read from a case file, validated, and passed to the
operator iteration by ``solve`` (one right-hand side) and the batch path (tiny 1D model, 31 points)."""
import inspect
import json

import pytest
from click.testing import CliRunner

from poissonfp.api import solve_case, solver_options
from poissonfp.case import load_case
from poissonfp.cli import main
from poissonfp.discrete_operator import box_operator
from poissonfp.grid import Grid
from poissonfp.learned.store import save_model
from poissonfp.learned.training import train_operator
from poissonfp.settings import OperatorSettings
from poissonfp.solvers.hybrids import operator as operator_solver

CASE = """
name = "opt1d"
seed = 0
[domain]
lower = [0.0]
upper = [1.0]
[grid]
points = 31
[problem]
exact = "sin(pi*x) + 0.3*sin(3*pi*x)"
boundary = "0"
[solver]
method = "operator"
criterion = "residual"
tol = 1e-8
[operator]
model = "{model}"
{extra}
"""


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:  # trained at 15 points: at 31 it is the coarse level of a V-cycle (cycle_sweeps and coarse_sweeps used)
        model, _ = train_operator(box_operator(Grid((0.0,), (1.0,), (15,))), case="opt1d",
                                  settings={"width": 4, "depth": 3}, samples=16, held_out=8, steps=20, batch=8, seed=1)
    finally:
        torch.set_num_threads(threads)
    return save_model(model, tmp_path_factory.mktemp("model") / "m15")


def _case(tmp_path, model_dir, extra):
    path = tmp_path / "opt1d.toml"
    path.write_text(CASE.format(model=str(model_dir).replace("\\", "/"), extra=extra))
    return path


def test_settings_defaults_and_choices_are_the_solvers():
    defaults = inspect.signature(operator_solver.solve_operator).parameters
    settings = OperatorSettings()
    assert settings.trigger == defaults["trigger"].default
    assert settings.coarse_sweeps == defaults["coarse_sweeps"].default
    assert settings.cycle_sweeps == defaults["cycle_sweeps"].default
    assert settings.call_price == defaults["call_price"].default
    assert settings.sweeps == defaults["sweeps"].default
    from dataclasses import fields

    choices = {f.name: f.metadata["choices"] for f in fields(OperatorSettings)}
    assert choices["trigger"] == operator_solver.TRIGGERS and choices["accel"] == operator_solver.ACCELERATIONS


def test_case_options_reach_the_solver(tmp_path, model_dir):
    infos = {}
    for label, extra in (("default", ""), ("always", 'trigger = "always"'),
                         ("cheap", "coarse_sweeps = 0\ncycle_sweeps = 1"), ("dear", "coarse_sweeps = 60\ncycle_sweeps = 12")):
        case = load_case(_case(tmp_path, model_dir, extra))
        assert {"trigger", "coarse_sweeps", "cycle_sweeps"} <= set(solver_options(case))
        _, result = solve_case(case, track_modes=False)
        assert result.converged, label
        infos[label] = result.info
    assert infos["default"]["trigger"] == "stall" and infos["always"]["trigger"] == "always"
    # The always-trigger calls after every block: at least one call per block of sweeps.
    assert infos["always"]["network_calls"] >= infos["always"]["sweeps"] // infos["always"]["sweeps_per_call"] - 1
    # The correction's smoothing work grows with the sweeps around the call and in the V-cycle.
    work = {k: infos[k]["correction_sweep_equivalents"] for k in ("cheap", "default", "dear")}
    assert work["cheap"] < work["default"] < work["dear"], work


def test_the_batch_path_passes_the_case_options(tmp_path, model_dir):
    path = _case(tmp_path, model_dir, 'trigger = "always"\ncycle_sweeps = 2')
    case = load_case(path)
    out = tmp_path / "batch"
    result = CliRunner().invoke(main, ["solve", str(path),
                                       "--family", "grf", "--count", "2", "--methods", "operator",
                                       "--model", str(model_dir), "--out", str(out), "--quiet"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    from poissonfp.cli.batch import _options
    from poissonfp.solvers import method_options

    options = _options("operator", solver_options(case), method_options, "MODEL")
    assert options["trigger"] == "always" and options["cycle_sweeps"] == 2 and options["model"] == "MODEL"
    record = json.loads((out / "batch.json").read_text())
    assert record["methods"]["operator"]["all_converged"]


@pytest.mark.parametrize(("extra", "key", "expected"), [
    ('trigger = "sometimes"', "[operator] trigger", "one of 'stall', 'always'"),
    ("coarse_sweeps = -1", "[operator] coarse_sweeps", "a non-negative integer"),
    ("cycle_sweeps = 1.5", "[operator] cycle_sweeps", "a non-negative integer"),
    ('cycle_sweeps = "8"', "[operator] cycle_sweeps", "a non-negative integer"),
    ("call_price = -5", "[operator] call_price", "non-negative"),
    ('call_price = "cheap"', "[operator] call_price", "non-negative"),
])
def test_bad_values_are_one_line_naming_file_key_and_expected(tmp_path, model_dir, extra, key, expected):
    path = _case(tmp_path, model_dir, extra)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["solve", str(path), "--out", str(out), "--quiet"], catch_exceptions=False)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and key in lines[0] and expected in lines[0], lines
    assert not out.exists()
