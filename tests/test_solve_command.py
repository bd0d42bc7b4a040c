"""What a user expects of `poissonfp solve` and `poissonfp cases`: one folder per method, --no-figures, the
time per stage, warnings for flags a method ignores, one case shown whole, switch checked in one place."""
import json

import pytest
from click.testing import CliRunner

from poissonfp.cli import main
from poissonfp.settings import SettingError, check_switch


def _solve(tmp_path, monkeypatch, *args):
    monkeypatch.chdir(tmp_path)
    return CliRunner().invoke(main, ["solve", "2d_square", "--n", "7", *args])


def test_a_second_method_does_not_replace_the_first_set(tmp_path, monkeypatch):
    assert _solve(tmp_path, monkeypatch, "--method", "dst", "--no-figures").exit_code == 0
    assert _solve(tmp_path, monkeypatch, "--method", "direct", "--no-figures").exit_code == 0
    for method in ("dst", "direct"):
        record = json.loads((tmp_path / "results" / "2d_square" / method / "result.json").read_text())
        assert record["method"] == method


def test_no_figures_and_the_time_per_stage(tmp_path, monkeypatch):
    result = _solve(tmp_path, monkeypatch, "--method", "dst", "--no-figures")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "results" / "2d_square" / "dst").iterdir()) == \
        ["result.json", "solution.npz"]
    line = next(line for line in result.output.splitlines() if line.startswith("time"))
    assert all(stage in line for stage in ("load", "build", "solve", "writing", "solver clock"))
    with_figures = _solve(tmp_path, monkeypatch, "--method", "dst")
    assert "figures" in next(line for line in with_figures.output.splitlines() if line.startswith("time"))


def test_a_flag_the_method_ignores_is_named(tmp_path, monkeypatch):
    result = _solve(tmp_path, monkeypatch, "--method", "jacobi", "--switch", "30", "--no-figures")
    assert result.exit_code == 0 and "warning: --switch is ignored by jacobi" in result.output


def test_cases_name_shows_one_case():
    result = CliRunner().invoke(main, ["cases", "2d_lshape"])
    assert result.exit_code == 0 and 'inside = "max(-x, y)"' in result.output
    assert result.output.startswith("# ") and "2d_lshape.toml" in result.output.splitlines()[0]
    bad = CliRunner().invoke(main, ["cases", "2d_lshap"])
    assert bad.exit_code == 2 and "did you mean '2d_lshape'" in bad.output


@pytest.mark.parametrize("value,expected", [("30", 30), (0, 0), ("auto", "auto"), (7, 7)])
def test_check_switch_accepts(value, expected):
    assert check_switch(value) == expected


@pytest.mark.parametrize("value", ["-1", -1, True, "²", "x", 1.5, None, "30 "])
def test_check_switch_refuses_everywhere_alike(value, tmp_path):
    """The one check: the settings table, --switch, and the solvers refuse the same values."""
    with pytest.raises(SettingError):
        check_switch(value)
    import numpy as np

    from poissonfp.grid import Grid
    from poissonfp.problem import Problem
    from poissonfp.solvers import solve

    problem = Problem.from_functions(Grid((0.0,), (1.0,), (7,)), lambda x: np.ones_like(x))
    for method in ("hybrid", "article") if value is not None else ():  # None: the solvers' "the case's"
        with pytest.raises(ValueError):
            solve(problem, method, switch=value)


@pytest.mark.parametrize("kind,accel", [("rs", "none"), ("rs", "cg"), ("sa", "none"), ("sa", "cg")])
def test_multigrid_takes_pyamgs_options(tmp_path, kind, accel):
    from poissonfp.api import solve_case
    from poissonfp.case import case_from_text

    case = case_from_text('[domain]\nlower = [0.0, 0.0]\nupper = [1.0, 1.0]\n[grid]\npoints = 31\n'
                          '[problem]\nexact = "sin(pi*x)*sin(3*pi*y)"\n[solver]\nmethod = "multigrid"\n'
                          'criterion = "residual"\ntol = 1e-10\n'
                          f'[multigrid]\nkind = "{kind}"\naccel = "{accel}"\n')
    _, result = solve_case(case)
    assert result.converged and result.info["kind"] == kind and result.info["accel"] == accel


def test_a_bad_multigrid_option_is_refused():
    from poissonfp.case import CaseError, case_from_text

    with pytest.raises(CaseError, match=r"\[multigrid\] accel"):
        case_from_text('[domain]\nlower = [0.0]\nupper = [1.0]\n[grid]\npoints = 7\n[problem]\nexact = "x"\n'
                       '[multigrid]\naccel = "fast"\n')
