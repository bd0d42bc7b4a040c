"""The operator method with Neumann sides: the grid of unknowns includes the sides' nodes, so its box moves with
h; a model corrects a finer grid whose nodes contain its own (two-grid by coordinate) and refuses any other."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from poissonfp.cli import main
from poissonfp.grid import Grid
from poissonfp.solvers.hierarchy.multilevel import interpolation_1d
from poissonfp.solvers.hybrids.operator_transfer import _coordinate_interpolation, nested_nodes

CASE = "poissonfp/studies/bench_cases/2d_neumann.toml"  # Neumann on the left and the top


def _neumann_grid(n: int) -> Grid:
    """The unknowns of (-1, 1)² with Neumann nodes at x = -1 and y = 1 for n + 1 intervals per axis."""
    h = 2.0 / (n + 1)
    return Grid((-1.0 - h, -1.0), (1.0, 1.0 + h), (n + 1, n + 1))


def test_nested_nodes_accepts_a_refinement_of_the_neumann_grid_and_nothing_else():
    coarse = _neumann_grid(15)
    assert coarse.axes[0][0] == -1.0 and coarse.axes[1][-1] == 1.0  # the Neumann nodes are unknowns
    assert nested_nodes(_neumann_grid(31), coarse) and nested_nodes(_neumann_grid(63), coarse)
    assert not nested_nodes(_neumann_grid(30), coarse)  # another spacing: nodes do not match
    assert not nested_nodes(coarse, coarse)  # not finer
    assert not nested_nodes(_neumann_grid(31), Grid((-1.0, -1.0), (1.0, 1.0), (14, 14)))  # spacing 2/15


def test_coordinate_interpolation_is_the_index_interpolation_on_one_box_and_exact_for_linears():
    fine, coarse = Grid((0.0,), (1.0,), (31,)), Grid((0.0,), (1.0,), (15,))
    by_index = interpolation_1d(31, 15).toarray()
    by_coordinate = _coordinate_interpolation(fine.axes[0], coarse.axes[0], 0.0, 1.0).toarray()
    np.testing.assert_allclose(by_coordinate, by_index, atol=1e-12)
    f, c = _neumann_grid(31), _neumann_grid(15)  # Neumann at the low end: x = -1 is a node of both
    matrix = _coordinate_interpolation(f.axes[0], c.axes[0], c.lower[0], c.upper[0])
    linear = 1.0 - c.axes[0]  # zero at the Dirichlet end x = 1
    np.testing.assert_allclose(matrix @ linear, 1.0 - f.axes[0], atol=1e-12)


def _cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    out = tmp_path_factory.mktemp("neumann") / "model"
    result = _cli("train", CASE, "--n", 15, "--steps", 20, "--samples", 32, "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "model.json").read_text())["grid"]["shape"] == [16, 16]
    return out


def test_a_neumann_model_corrects_a_finer_grid_as_its_coarse_level(model, tmp_path):
    out = tmp_path / "solve"
    result = _cli("solve", CASE, "--n", 31, "--method", "operator", "--model", model, "--criterion", "residual",
                  "--tol", "1e-8", "--no-figures", "--quiet", "--out", out)
    assert result.exit_code == 0, result.output
    record = json.loads((out / "result.json").read_text())
    assert record["converged"] and record["info"]["model_use"] == "coarse level"
    assert record["info"]["network_calls"] >= 1


def test_a_grid_whose_nodes_are_not_the_models_refinement_is_refused_in_one_line(model, tmp_path):
    out = tmp_path / "solve"
    result = _cli("solve", CASE, "--n", 30, "--method", "operator", "--model", model, "--no-figures", "--quiet",
                  "--out", out)
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
    assert "neither its grid nor finer" in result.output and not out.exists()
