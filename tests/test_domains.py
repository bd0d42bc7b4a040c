"""Domains inside the box, Neumann and mixed sides, variable coefficients: orders of convergence on
manufactured solutions that poissonfp does not ship, agreement of every applicable solver with the sparse
direct solve, and bad input refused in one line (exit 2)."""
import itertools
import math

import numpy as np
import pytest
from click.testing import CliRunner

from poissonfp.case import CaseError, load_case
from poissonfp.cli import main
from poissonfp.problem import build_problem
from poissonfp.solvers import StoppingCriterion, solve


def write(tmp_path, body, dim=2, points=31, name="case.toml"):
    box = {1: ("[0.0]", "[1.0]"), 2: ("[-1.0, -1.0]", "[1.0, 1.0]"), 3: ("[0.0, 0.0, 0.0]", "[1.0, 1.0, 1.0]")}[dim]
    text = f'[domain]\nlower = {box[0]}\nupper = {box[1]}\n{body.strip()}\n'
    if "[grid]" not in body:
        text += f"\n[grid]\npoints = {points}\n"
    path = tmp_path / name
    path.write_text(text)
    return path


def orders(path, sizes):
    """Max-norm discretization errors at ``sizes`` and the observed orders between successive sizes."""
    case = load_case(path)
    errors = [build_problem(case, n).discretization_error_inf for n in sizes]
    spacings = [1.0 / (n + 1) for n in sizes]
    return errors, [math.log(e0 / e1) / math.log(h0 / h1)
                    for e0, e1, h0, h1 in zip(errors, errors[1:], spacings, spacings[1:])]


DOMAIN = '''
inside = "{inside}"
[problem]
exact = "{exact}"
'''
SECOND_ORDER = {
    # a grid-aligned boundary: the box minus its upper-right quarter ([0,1]x[0,1] removed)
    "aligned mask": (DOMAIN.format(inside="max(-x, -y)", exact="cos(x + 2*y) + x**3"), 2),
    # a curved boundary cutting grid lines: an ellipse (Shortley-Weller)
    "ellipse": (DOMAIN.format(inside="1 - (x/0.95)**2 - (y/0.6)**2", exact="exp(-x) * cos(y) + y**3"), 2),
    "neumann side": ('''
[problem]
exact = "sin(x + 0.3) * exp(y / 2)"
[boundary.right]
type = "neumann"
''', 2),
    "mixed sides": ('''
[problem]
exact = "cos(1.3*x) * (1 + y**2) + x"
[boundary.left]
type = "neumann"
[boundary.top]
type = "neumann"
value = "2*y*cos(1.3*x)"
[boundary.bottom]
type = "dirichlet"
value = "2*cos(1.3*x) + x"
''', 2),
    "variable k": ('''
[problem]
exact = "sin(2*x) * cos(y) + y"
coefficient = "1 + 0.5*sin(x*y) + x**2"
''', 2),
    "variable k, curved, 3d": ('''
inside = "0.45**2 - (x - 0.5)**2 - (y - 0.5)**2 - (z - 0.4)**2 + 0.2"
[problem]
exact = "exp(x*y) + z**2 * x"
coefficient = "2 + x - y*z"
''', 3),
}


@pytest.mark.parametrize("name", SECOND_ORDER)
def test_second_order_on_manufactured_solutions(tmp_path, name):
    body, dim = SECOND_ORDER[name]
    sizes = (7, 15) if dim == 3 else (15, 31, 63)
    path = write(tmp_path, body, dim=dim)
    errors, observed = orders(path, sizes)
    assert all(e > 0 for e in errors)
    assert observed[-1] > 1.8, (errors, observed)


def test_three_dimensional_neumann_side_and_coefficient(tmp_path):
    path = write(tmp_path, '''
[problem]
exact = "cos(x) * exp(y) * (1 + z)"
coefficient = "1 + x*y*z"
[boundary.back]
type = "neumann"
[boundary.left]
type = "neumann"
''', dim=3)
    errors, observed = orders(path, (7, 15))
    assert observed[-1] > 1.8, (errors, observed)


def test_all_neumann_is_fixed_by_zero_mean(tmp_path):
    sides = "".join(f'[boundary.{s}]\ntype = "neumann"\n' for s in ("left", "right", "bottom", "top"))
    path = write(tmp_path, f'[problem]\nexact = "cos(pi*x/2 + 0.2) * sin(y) + x*y"\n{sides}')
    errors, observed = orders(path, (15, 31, 63))
    assert observed[-1] > 1.8, (errors, observed)
    problem = build_problem(load_case(path), 15)
    assert abs(problem.exact[problem.operator.inside].mean()) < 1e-12
    for method in ("jacobi", "multigrid", "direct"):
        result = solve(problem, method, StoppingCriterion("discretization"))
        assert result.converged and result.final["error_vs_exact_inf"] <= 1.5 * problem.discretization_error_inf


def test_compatible_all_neumann_data_is_accepted_on_a_coarse_grid(tmp_path):
    """The continuous flux balance is checked (to 1e-6), not the discrete one, which is only O(h²) small:
    ∫exp(3x) - sinh(3)/3 = 0 on (-1, 1)² with zero flux; the "1% off" case above is refused."""
    sides = "".join(f'[boundary.{s}]\ntype = "neumann"\n' for s in ("left", "right", "bottom", "top"))
    path = write(tmp_path, f'[problem]\nsource = "exp(3*x) - sinh(3)/3 + 0*y"\n{sides}', points=5)
    problem = build_problem(load_case(path))
    assert problem.operator.singular and abs(problem.rhs.sum()) < 1e-12


def test_lshape_corner_singularity_rates():
    """The 5-point scheme's max error sits next to the re-entrant corner and decays like h^(2/3)
    (Laasonen: h^(π/α), α = 3π/2); in the rms norm and away from the corner it decays like h^(4/3)."""
    case = load_case("2d_lshape")
    max_errors, rms_errors, far_errors = [], [], []
    for n in (31, 63, 127):
        problem = build_problem(case, n)
        error = np.abs(problem.discrete_solution - problem.exact)
        x, y = problem.grid.coordinates()
        far = np.hypot(x, y) > 0.5
        max_errors.append(error.max())
        rms_errors.append(math.sqrt(np.sum(error**2) / problem.operator.inside.sum()))
        far_errors.append(error[far & problem.operator.inside].max())
    rate = [math.log2(a / b) for a, b in itertools.pairwise(max_errors)]
    rms = [math.log2(a / b) for a, b in itertools.pairwise(rms_errors)]
    far_rate = [math.log2(a / b) for a, b in itertools.pairwise(far_errors)]
    assert abs(rate[-1] - 2 / 3) < 0.06, rate
    assert abs(rms[-1] - 4 / 3) < 0.1, rms
    assert abs(far_rate[-1] - 4 / 3) < 0.15, far_rate


@pytest.mark.parametrize("case", ["2d_lshape", "2d_disk"])
def test_every_applicable_solver_agrees_with_direct(case):
    problem = build_problem(load_case(case), 31)
    direct = solve(problem, "direct", StoppingCriterion("discretization")).solution
    np.testing.assert_allclose(direct, problem.discrete_solution, atol=1e-12)
    for method in ("jacobi", "multigrid"):
        result = solve(problem, method, StoppingCriterion("discrete", tol=1e-8))
        assert result.converged
        assert np.linalg.norm(result.solution - direct) <= 1.01e-8 * np.linalg.norm(direct)
        assert np.all(result.solution[~problem.operator.inside] == 0)


BAD = {
    "no interior point": ('inside = "-1 - x**2"\n[problem]\nexact = "x"', "[domain] inside",
                          "no grid point"),
    "k <= 0": ('[problem]\nexact = "x*y"\ncoefficient = "x"', "[problem] coefficient", "expected k > 0"),
    "incompatible Neumann": ("[problem]\nsource = \"1\"\n" + "".join(
        f'[boundary.{s}]\ntype = "neumann"\n' for s in ("left", "right", "bottom", "top")), "[boundary]",
        "incompatible"),
    "Neumann data 1% off": ('[problem]\nsource = "cos(pi*x)*cos(pi*y) + 0.01"\n' + "".join(
        f'[boundary.{s}]\ntype = "neumann"\n' for s in ("left", "right", "bottom", "top")), "[boundary]",
        "left, right, bottom, top) is incompatible"),
    "inside not an expression": ('inside = "x > 0"\n[problem]\nexact = "x"', "[domain] inside",
                                 "comparisons"),
    "Neumann value not the exact derivative": ('[problem]\nexact = "x*y"\n[boundary.top]\ntype = "neumann"\n'
                                               'value = "y"', "[boundary.top] value", "outward normal derivative"),
    "unknown side": ('[problem]\nexact = "x"\n[boundary.front]\ntype = "neumann"', "[boundary.front]",
                     "unknown side"),
    "unknown side type": ('[problem]\nexact = "x"\n[boundary.left]\ntype = "robin"', "[boundary.left] type",
                          "neumann"),
}


@pytest.mark.parametrize("name", BAD)
def test_bad_input_is_one_line_and_exit_2(tmp_path, name):
    body, key, words = BAD[name]
    path = write(tmp_path, body, points=15)
    result = CliRunner().invoke(main, ["solve", str(path), "--method", "direct", "--quiet",
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and key in lines[0] and words in lines[0], result.output


def test_applicable_methods():
    from poissonfp.solvers import SOLVERS, applicable_methods

    assert applicable_methods(build_problem(load_case("2d_square"), 7)) == tuple(SOLVERS)
    assert "dst" not in applicable_methods(build_problem(load_case("2d_lshape"), 7))
    assert len(applicable_methods(build_problem(load_case("2d_lshape"), 7))) == len(SOLVERS) - 1


@pytest.mark.parametrize("method", ["dst"])
def test_box_only_methods_refuse_the_lshape(tmp_path, method):
    result = CliRunner().invoke(main, ["solve", "2d_lshape", "--n", "7", "--method", method, "--quiet",
                                       "--out", str(tmp_path)])
    assert result.exit_code == 2
    line = result.output.strip()
    assert "\n" not in line and "applies only to the constant-coefficient Dirichlet box" in line
    assert "a domain inside the box" in line


@pytest.mark.parametrize("case", ["2d_lshape", "2d_disk"])
@pytest.mark.parametrize("settings", [{}, {"cycle": "two-level"}, {"cycle": "two-level", "coarse": "sine"},
                                      {"cycle": "two-level", "switch": 20}],
                         ids=["default multilevel", "two-level", "two-level sine", "trained 20 steps"])
def test_hybrid_off_the_box(case, settings):
    """Off the box the hybrid runs two-level cycles over the network's (or a classical) space, untrained with
    the auto switch, trained (PINN loss on the sparse operator) with a fixed one; the default multilevel
    cycle runs its Galerkin hierarchy there (no fallback: ``info["cycle"]`` says which cycle ran)."""
    from poissonfp.settings import HybridSettings, NetworkSettings, TrainingSettings

    problem = build_problem(load_case(case), 31)
    hybrid = HybridSettings(**settings)
    result = solve(problem, "hybrid", StoppingCriterion("discrete", tol=1e-8), hybrid=hybrid,
                   network=NetworkSettings(widths=(16, 16)), training=TrainingSettings(loss="pinn"))
    assert result.converged and result.dnn_steps == (0 if hybrid.switch == "auto" else 20)
    assert np.linalg.norm(result.solution - problem.discrete_solution) <= 1.01e-8 * np.linalg.norm(
        problem.discrete_solution)
    assert result.info["cycle"] == hybrid.cycle
    assert result.info.get("hierarchy", "galerkin") == "galerkin"
    assert result.info["galerkin_rank"] > 0


def test_networks_off_the_box_vanish_outside_and_train():
    """The network's boundary factor carries max(EXPR, 0): its grid values are 0 outside the domain; the
    article's scheme (trained network, then Jacobi) reaches the criterion on the L-shape; the Ritz loss is
    refused where Shortley-Weller makes A non-symmetric."""
    from poissonfp.neural.model import build_model
    from poissonfp.settings import NetworkSettings, TrainingSettings

    problem = build_problem(load_case("2d_lshape"), 15)
    model = build_model(problem, NetworkSettings(widths=(8,)), seed=1)
    values, features = model.grid_values(problem.grid), model.grid_features(problem.grid)
    outside = ~problem.operator.inside
    assert np.all(values[outside] == 0) and np.all(features[outside.ravel()] == 0)
    assert np.abs(values[~outside]).max() > 0
    result = solve(problem, "article", StoppingCriterion("discrete", tol=1e-6), switch=30)
    assert result.converged and result.dnn_steps == 30
    with pytest.raises(CaseError, match="ritz needs a symmetric A"):
        solve(build_problem(load_case("2d_disk"), 7), "dnn", StoppingCriterion("discrete", tol=1e-3),
              training=TrainingSettings(loss="ritz", adam_steps=2, lbfgs_steps=0))


def test_box_cases_keep_the_box_operator():
    problem = build_problem(load_case("2d_square"), 15)
    assert problem.on_box and problem.general is None
    with pytest.raises(CaseError):
        from poissonfp.solvers.base import require_box

        require_box(build_problem(load_case("2d_disk"), 7), "dst")
