"""The 1D DeepONet: its shape contract, training (F-Principle per band), model folders and the operator solve."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from poissonfp.cli import main
from poissonfp.discrete_operator import box_operator
from poissonfp.grid import Grid
from poissonfp.learned.architectures import ACROSS_SIZES, ARCHITECTURES, DEFAULTS, DIMENSIONS, build_network
from poissonfp.learned.store import load_model, save_model
from poissonfp.learned.training import train_operator
from poissonfp.problem import Problem
from poissonfp.solvers import StoppingCriterion, solve
from poissonfp.solvers.hybrids.operator import check_model

GRID = Grid((0.0,), (1.0,), (31,))
SMALL = {"width": 64, "depth": 3, "basis": 16}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained():
    return train_operator(box_operator(GRID), case="tiny", arch="deeponet", settings=SMALL, samples=1024, held_out=32,
                          steps=800, batch=16, learning_rate=2e-3, seed=1)


@pytest.fixture(scope="module")
def untrained():
    return train_operator(box_operator(GRID), case="tiny", arch="deeponet", settings=SMALL, samples=16, held_out=32,
                          steps=0, seed=1)


def test_deeponet_maps_a_batch_of_residuals_on_its_grid_and_refuses_other_shapes():
    import torch

    network = build_network("deeponet", 1, seed=0, shape=(31,), **SMALL)
    assert network.points == 31 and network(torch.zeros(5, 1, 31)).shape == (5, 1, 31)
    with pytest.raises(ValueError, match=r"\(batch, 1, 31\)"):
        network(torch.zeros(2, 1, 32))
    with pytest.raises(ValueError, match="1D grids only"):
        build_network("deeponet", 2, seed=0, shape=(7, 7))
    with pytest.raises(ValueError, match="1D grids only"):
        build_network("deeponet", 1, seed=0)  # no grid: no sensors
    # the same seed gives the same weights, and the global generator is untouched
    again = build_network("deeponet", 1, seed=0, shape=(31,), **SMALL)
    assert all(torch.equal(a, b) for a, b in zip(network.state_dict().values(), again.state_dict().values()))


def test_registry_and_cli_choices_agree():
    from poissonfp.cli.train import ARCH_DIMENSIONS, ARCHS, FAMILY_NAMES
    from poissonfp.learned.training import FAMILIES

    assert ARCHS == ARCHITECTURES and ARCH_DIMENSIONS == DIMENSIONS and FAMILY_NAMES == FAMILIES
    assert set(DEFAULTS) == set(ACROSS_SIZES) == set(ARCHITECTURES) and not ACROSS_SIZES["deeponet"]


def test_training_learns_the_low_band_and_not_the_high_one(trained, untrained):
    _, report = trained
    _, control = untrained
    errors = [band["error"] for band in report["held_out"]["bands"]]
    assert errors[0] < 0.05 and errors[-1] > 0.5  # F-Principle of an operator network
    assert report["held_out"]["energy"] < 0.3 * control["held_out"]["energy"]
    assert control["held_out"]["bands"][0]["error"] > 0.5  # the untrained control has learned nothing


def test_model_folder_round_trip_records_the_sensors(trained, tmp_path, rng):
    model, _ = trained
    save_model(model, tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["arch"] == "deeponet" and meta["settings"] == {**SMALL, "points": 31}
    loaded = load_model(tmp_path / "m")
    r = rng.standard_normal((3, 31))
    np.testing.assert_array_equal(loaded.apply(r), model.apply(r))
    np.testing.assert_allclose(np.stack([loaded.apply(row) for row in r]), loaded.apply(r), rtol=1e-5, atol=1e-7)


def _problem(n):
    return Problem.from_functions(Grid((0.0,), (1.0,), (n,)), lambda x: np.exp(-3 * x) * np.sin(2 * np.pi * x) + x,
                                  name="tiny")


def test_check_model_accepts_it_on_its_grid_and_as_the_coarse_level_and_refuses_other_sizes(trained):
    model, _ = trained
    assert check_model(_problem(31), model)[0] == "same grid"
    assert check_model(_problem(63), model)[0] == "coarse level"  # a V-cycle whose coarsest solve is the network
    assert check_model(_problem(40), model)[0] == "coarse level"  # a two-grid (the coarsening chain misses 31)
    from poissonfp.solvers.hybrids.operator import OperatorSolveError

    with pytest.raises(OperatorSolveError, match="neither its grid nor finer"):
        check_model(_problem(15), model)  # not across sizes: its branch net reads 31 sensors


@pytest.mark.parametrize("n", [31, 63])
def test_operator_solve_with_the_deeponet_beats_the_untrained_control(trained, untrained, n):
    criterion = StoppingCriterion("residual", 1e-10)
    problem = _problem(n)
    exact = problem.operator.solve(problem.rhs)
    # the evidence: a call after every block (the prototype's alternation); the default trigger prices a 1D call
    # at thousands of sweeps and so rarely calls at all, which says nothing about what the network learned
    result = solve(problem, "operator", criterion, model=trained[0], fallback=False, trigger="always")
    control = solve(problem, "operator", criterion, model=untrained[0], fallback=False, trigger="always")
    assert result.converged and np.max(np.abs(result.solution - exact)) < 1e-8 * np.max(np.abs(exact))
    assert control.info["network_calls"] > 3 * result.info["network_calls"]
    priced = solve(problem, "operator", criterion, model=trained[0], fallback=False)  # the default trigger
    assert priced.converged and np.max(np.abs(priced.solution - exact)) < 1e-8 * np.max(np.abs(exact))


def _cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_train_deeponet_command_and_solve_with_it(tmp_path):
    out = tmp_path / "model"
    result = _cli("train", "1d_article", "--arch", "deeponet", "--out", out, "--n", 32, "--steps", 20,
                  "--samples", 16, "--quiet")
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "model.json").read_text())
    assert meta["arch"] == "deeponet" and meta["settings"]["points"] == 31 and meta["steps_done"] == 20
    solved = _cli("solve", "1d_article", "--method", "operator", "--model", out, "--n", 64, "--out",
                  tmp_path / "solve", "--quiet", "--criterion", "residual", "--tol", 1e-8)
    assert solved.exit_code == 0, solved.output
    info = json.loads((tmp_path / "solve" / "result.json").read_text())["info"]
    assert info["model_arch"] == "deeponet" and info["model_use"] == "coarse level"
