"""Classical coarse bases (``[hybrid] coarse``): their functions, their Galerkin solutions, the hybrid over them."""
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from poissonfp.case import load_case
from poissonfp.cli import main
from poissonfp.grid import Grid
from poissonfp.neural.bases import classical_features, per_axis_count
from poissonfp.neural.galerkin import GalerkinSpace
from poissonfp.operators import apply_laplacian
from poissonfp.problem import Problem, build_problem
from poissonfp.solvers import StoppingCriterion, solve

CASES = Path(__file__).resolve().parents[1] / "cases"
SMALL = {"1d_article": 64, "2d_square": 15, "2d_bump": 15, "3d_cube": 7}


@pytest.mark.parametrize("ndim, count, per_axis", [(1, 101, 101), (2, 129, 11), (3, 129, 5), (2, 2, 1)])
def test_tensor_structure_gives_the_nearest_count(ndim, count, per_axis):
    assert per_axis_count(count, ndim) == per_axis
    grid = Grid((0.0,) * ndim, (1.0,) * ndim, (12,) * ndim)
    for kind in ("polynomial", "sine"):
        assert classical_features(grid, kind, count).shape == (grid.size, min(per_axis, 12) ** ndim)


def test_sine_features_are_the_discrete_eigenvectors():
    grid = Grid((0.0, 0.0), (2.0, 1.0), (9, 7))
    phi = classical_features(grid, "sine", 9)  # modes k, l <= 3
    applied = apply_laplacian(grid, phi[:, 4].reshape(grid.shape))  # mode (2, 2)
    eigenvalue = sum(4 / h**2 * np.sin(2 * np.pi * h / (2 * (b - a))) ** 2
                     for h, a, b in zip(grid.spacing, grid.lower, grid.upper))
    np.testing.assert_allclose(applied.ravel(), eigenvalue * phi[:, 4], rtol=1e-12, atol=1e-9)


def test_polynomial_space_reproduces_a_cubic_exactly():
    # central differences are exact for cubics, so u_h = u lies in span{bubble x P_0, bubble x P_1}
    grid = Grid((-1.0,), (1.0,), (40,))
    problem = Problem.from_functions(grid, lambda x: 6 * x, exact=lambda x: x * (1 - x * x))
    space = GalerkinSpace(grid, classical_features(grid, "polynomial", 4))
    np.testing.assert_allclose(space.correction(problem.rhs), problem.exact, atol=1e-12)


@pytest.mark.parametrize("kind", ["polynomial", "sine"])
@pytest.mark.parametrize("name", sorted(SMALL))
def test_hybrid_over_a_classical_basis_matches_the_direct_solution(name, kind):
    # a fixed switch: the cycles run (auto may predict pure Jacobi cheaper on these tiny grids)
    case = load_case(CASES / f"{name}.toml").with_overrides(size=SMALL[name], coarse=kind, switch=0)
    problem = build_problem(case)
    criterion = StoppingCriterion("discrete", tol=1e-10)
    result = solve(problem, "hybrid", criterion, network=case.network, training=case.training,
                   hybrid=case.hybrid, seed=case.seed)
    direct = solve(problem, "direct", criterion).solution
    assert result.converged and result.dnn_steps == 0
    assert np.linalg.norm(result.solution - direct) / np.linalg.norm(direct) < 1e-9
    coarsest = result.info.get("coarsest_shape", problem.grid.shape)  # multilevel: the coarsest grid's
    features = per_axis_count(case.network.widths[-1] + 1, problem.grid.ndim, min(coarsest))
    assert result.info["coarse"] == kind and result.info["galerkin_features"] == features ** problem.grid.ndim


def test_cli_coarse_flag_and_bad_value(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(main, ["solve", str(CASES / "2d_square.toml"), "--n", "15", "--coarse", "sine", "--out",
                              str(tmp_path), "--quiet"])
    assert ok.exit_code == 0, ok.output
    assert json.loads((tmp_path / "result.json").read_text())["settings"]["hybrid"]["coarse"] == "sine"
    bad = runner.invoke(main, ["solve", str(CASES / "2d_square.toml"), "--coarse", "chebyshev"])
    assert bad.exit_code == 2 and "--coarse" in bad.output and len(bad.output.strip().splitlines()) == 1
