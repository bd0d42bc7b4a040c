"""Silent wrong answers of issue 18: norms at the ends of float64, boundary data that contradicts the
exact solution off the box, tan poles at grid points, --strict for one-step methods, figures of a zero error."""
import numpy as np
import pytest
from click.testing import CliRunner

from poissonfp.case import CaseError, case_from_text
from poissonfp.cli import main
from poissonfp.problem import build_problem
from poissonfp.solvers import StoppingCriterion, solve
from poissonfp.solvers.base import norm2

SQUARE = '[domain]\nlower = [0.0, 0.0]\nupper = [1.0, 1.0]\n{inside}\n[grid]\npoints = {points}\n[problem]\n{problem}\n'


def _case(problem, inside="", points=15, path="case.toml"):
    return case_from_text(SQUARE.format(inside=inside, points=points, problem=problem), path)


@pytest.mark.parametrize("size", [1e-200, 1e299])
@pytest.mark.parametrize("method", ["jacobi", "multigrid", "dst"])
def test_a_solution_of_extreme_size_is_solved_as_a_normal_one(size, method):
    """Issue 18 item 4: 1e-200 reported converged after 1 sweep with 100 % error; 1e300 diverged."""
    problem = build_problem(_case(f'exact = "{size:g}*sin(pi*x)*sin(pi*y)"'))
    reference = build_problem(_case('exact = "sin(pi*x)*sin(pi*y)"'))
    result = solve(problem, method, StoppingCriterion("residual", tol=1e-8))
    expected = solve(reference, method, StoppingCriterion("residual", tol=1e-8))
    assert result.converged and result.iterations == expected.iterations
    assert result.final["rel_residual"] == pytest.approx(expected.final["rel_residual"], rel=1e-6)
    assert result.final["error_vs_exact_rel_l2"] == pytest.approx(expected.final["error_vs_exact_rel_l2"], rel=1e-6)


def test_norm2_neither_underflows_nor_overflows():
    assert norm2(np.array([3e-200, 4e-200])) == pytest.approx(5e-200)
    assert norm2(np.array([3e300, 4e300])) == pytest.approx(5e300)
    assert norm2(np.zeros(3)) == 0.0 and np.isnan(norm2(np.array([1.0, np.nan])))


def test_a_boundary_contradicting_exact_off_the_box_is_refused():
    """Issue 18 item 4: with `inside`, boundary = exact + 5 was accepted and reported converged."""
    case = _case('exact = "x*x - y*y"\nboundary = "x*x - y*y + 5"', inside='inside = "0.8 - (x-0.5)**2 - y*y"')
    with pytest.raises(CaseError, match=r"\[problem\] boundary: does not equal the exact solution"):
        build_problem(case)
    build_problem(_case('exact = "x*x - y*y"\nboundary = "y*y*0 + x*x - y*y"', inside='inside = "0.8 - x*x - y*y"'))


@pytest.mark.parametrize("formula", ["tan(pi*x)", "1/tan(pi*x - pi/2)", "tan(3*pi*y)"])
def test_a_tan_pole_at_a_grid_point_is_not_finite(formula):
    """tan(pi/2) is 1.6e16 in float64; the grid point x = 0.5 (points = 15) must be refused."""
    with pytest.raises(CaseError, match=r"not finite|non-finite"):
        build_problem(_case(f'source = "{formula}"\nboundary = "0"', points=15))


@pytest.mark.parametrize("exact", ["abs(x - 0.5)*y", "max(x, y)*x", "min(x, 0.3)"])
def test_an_exact_solution_with_kinks_and_an_explicit_source_builds(exact):
    problem = build_problem(_case(f'exact = "{exact}"\nsource = "0"'))
    assert problem.exact is not None


@pytest.mark.parametrize("method", ["dst", "direct"])
def test_strict_fails_a_one_step_method_that_misses_the_criterion(tmp_path, method):
    """Issue 18 item 5: --strict exited 0 for dst and direct when the criterion was not met."""
    path = tmp_path / "c.toml"
    path.write_text(SQUARE.format(inside="", points=15, problem='exact = "sin(pi*x)*sin(pi*y)"'))
    args = ["solve", str(path), "--method", method, "--criterion", "residual", "--tol", "1e-30", "--strict",
            "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 3 and "not reached" in result.output, result.output


@pytest.mark.parametrize("body,points", [('exact = "0"', 7), ('exact = "x*y"', 1)])
def test_an_identically_zero_error_still_gets_its_figures(tmp_path, body, points):
    """Issue 18: exact = "0" and a one-point domain crashed the figures and nothing was written."""
    path = tmp_path / "c.toml"
    path.write_text(SQUARE.format(inside="", points=points, problem=body))
    result = CliRunner().invoke(main, ["solve", str(path), "--method", "jacobi", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert {"solution.png", "error.png", "convergence.png", "result.json"} <= {p.name for p in (tmp_path / "out").iterdir()}


def test_convergence_figure_of_a_hybrid_without_network_records():
    """`solve 2d_square --switch 30` crashed in the figure: records with network steps, none at iteration 0."""
    from poissonfp.plotting.solution import plot_convergence

    history = {"time_s": [2.0, 2.1], "iteration": [5, 9], "dnn_steps": [30, 30], "rel_residual": [1e-2, 1e-3],
               "error_vs_exact_inf": [1e-2, 1e-3], "error_vs_exact_rel_l2": [None, None],
               "error_vs_discrete_rel_l2": [None, None]}
    figure = plot_convergence(history, "error_vs_exact_inf", 1e-3, "t")
    axis = figure.axes[0]
    assert axis.get_xscale() == "log"  # two records at 2 s: not squeezed into the last 5 % of [0, 2.1]
    assert any("(stopping metric)" in text.get_text() for text in axis.get_legend().get_texts())


def test_the_cut_out_of_a_domain_is_left_blank():
    from poissonfp.grid import Grid
    from poissonfp.plotting.solution import plot_field

    grid = Grid((0.0, 0.0), (1.0, 1.0), (4, 4))
    mask = np.ones(grid.shape, bool)
    mask[2:, :2] = False
    figure = plot_field(grid, np.ones(grid.shape), "t", log=True, mask=mask)
    image = figure.axes[0].collections[0].get_array()
    assert np.ma.count_masked(image) == 4
