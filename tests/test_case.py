"""Case files: the shipped cases load, grid units, overrides, and every bad input names file and key."""
import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
import sympy

from poissonfp import case as case_module
from poissonfp import feasibility
from poissonfp.case import CaseError, load_case
from poissonfp.settings import (
    HybridSettings,
    NetworkSettings,
    SettingError,
    SolverSettings,
    TrainingSettings,
    describe_setting,
    setting,
)

CASES = sorted((Path(__file__).parents[1] / "cases").glob("*.toml"))

GOOD = """
[domain]
lower = [0.0, 0.0]
upper = [1.0, 2.0]
[grid]
points = [7, 9]
[problem]
exact = "exp(x)*cos(y) + x*y"
"""


def write(tmp_path, text, name="case.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_shipped_cases_exist_and_load():
    assert {p.stem for p in CASES} >= {"2d_square", "1d_article", "3d_cube", "2d_bump"}
    for path in CASES:
        case = load_case(path)
        assert case.name == path.stem and case.description
        assert case.solver.criterion in ("residual", "discretization", "discrete")
        assert case.solver.method in ("hybrid", "article")


def test_2d_square_source_is_derived():
    case = load_case(CASES[[p.stem for p in CASES].index("2d_square")])
    assert case.interior_shape() == (256, 256) and case.exact is not None
    x, y = 0.13, 0.71
    s = lambda a, b: np.sin(a * np.pi * x) * np.sin(b * np.pi * y)  # noqa: E731
    expected = np.pi**2 * (2 * s(1, 1) + 0.25 * 25 * s(4, 3) + 0.02 * 1152 * s(24, 24))
    assert case.source.numpy(x, y) == pytest.approx(expected, rel=1e-13)
    assert case.boundary.is_constant and case.solver.criterion == "discretization"


def test_1d_article_exact_solution_matches_source():
    case = load_case(CASES[[p.stem for p in CASES].index("1d_article")])
    (x,) = case.exact.symbols
    assert sympy.simplify(-sympy.diff(case.exact.expr, x, 2) - case.source.expr) == 0
    np.testing.assert_allclose(case.exact.numpy(np.array([-1.0, 1.0])), 0.0, atol=1e-14)
    assert case.grid_unit == "intervals" and case.interior_shape() == (999,)


def test_2d_bump_has_no_exact_solution_and_unit_mass():
    case = load_case(CASES[[p.stem for p in CASES].index("2d_bump")])
    assert case.exact is None and case.solver.criterion == "residual"
    x = np.linspace(0, 1, 1001)
    values = case.source.numpy(x, x[:, None])
    assert values.sum() * 1e-6 == pytest.approx(1.0, rel=1e-6)


def test_non_homogeneous_boundary_defaults_to_exact(tmp_path):
    case = load_case(write(tmp_path, GOOD))
    assert case.name == "case" and case.dim == 2 and case.variables == ("x", "y") and case.seed == 0
    assert case.source.expr == 0  # exp(x) cos(y) + x y is harmonic
    assert case.boundary.numpy(0.0, 2.0) == pytest.approx(np.cos(2.0))
    assert case.solver == SolverSettings(criterion="discretization")
    assert case.network == NetworkSettings() and case.hybrid == HybridSettings()


def test_grid_units_and_size_override(tmp_path):
    points = load_case(write(tmp_path, GOOD))
    assert points.grid_size == (7, 9) and points.interior_shape() == (7, 9) and points.interior_shape(5) == (5, 5)
    intervals = load_case(write(tmp_path, GOOD.replace("points = [7, 9]", "intervals = 10")))
    assert intervals.grid_size == (10, 10) and intervals.interior_shape() == (9, 9)
    assert intervals.interior_shape(4000) == (3999, 3999)
    assert intervals.with_overrides(size=20).interior_shape() == (19, 19)
    with pytest.raises(CaseError, match=r"size: expected an integer >= 2 \(intervals\), got 1"):
        intervals.interior_shape(1)


def test_with_overrides(tmp_path):
    case = load_case(write(tmp_path, GOOD))
    changed = case.with_overrides(method="jacobi", tol=1e-6, criterion="residual", seed=3, switch=10,
                                  widths=[8, 8], adam_steps=5, size=None)
    assert (changed.solver.method, changed.solver.tol, changed.solver.criterion) == ("jacobi", 1e-6, "residual")
    assert changed.seed == 3 and changed.hybrid.switch == 10 and changed.network.widths == (8, 8)
    assert changed.training.adam_steps == 5 and changed.grid_size == case.grid_size
    assert case.solver.method == "jacobi" and case.seed == 0  # the original is unchanged
    assert case.with_overrides(**{"training.points": "quadrature"}).training.points == "quadrature"


@pytest.mark.parametrize(("overrides", "message"), [
    ({"method": "gauss"}, ": method: expected one of 'jacobi', 'dnn', 'hybrid', 'article', 'operator', 'multigrid', 'dst', 'direct', got \"gauss\""),
    ({"tol": -1.0}, ": tol: expected a positive number, got -1.0"),
    ({"seed": -2}, ": seed: expected an integer in [0, 2**63 - 1], got -2"),
    ({"seed": 2**70}, ": seed: expected an integer in [0, 2**63 - 1], got 1180591620717411303424"),
    ({"switch": "soon"}, ": switch: expected a non-negative integer or 'auto', got \"soon\""),
    ({"size": 0}, ": size: expected a positive integer (points), got 0"),
    ({"size": 10**7}, ": size: a jacobi solve on 10000000x10000000 interior points needs about"),
    ({"methd": "dst"}, ": methd: unknown setting (did you mean 'method'?)"),
])
def test_bad_overrides(tmp_path, overrides, message):
    case = load_case(write(tmp_path, GOOD))
    with pytest.raises(CaseError) as info:
        case.with_overrides(**overrides)
    assert message in str(info.value) and str(info.value).startswith(str(case.path))


def test_discretization_criterion_needs_exact(tmp_path):
    case = load_case(write(tmp_path, GOOD.replace('exact = "exp(x)*cos(y) + x*y"', 'source = "1"')))
    assert case.solver.criterion == "residual" and case.boundary.expr == 0
    with pytest.raises(CaseError, match=": criterion: expected 'residual' or 'discrete'"):
        case.with_overrides(criterion="discretization")


BAD = [
    # (replace this, by this) in GOOD, or a full text; then the expected key and message fragment
    ("[domain]", "[domian]", "[domian]", "unknown table (did you mean 'domain'?)"),
    ("[grid]", "nmae = 'x'\n[grid]", "[domain] nmae", "unknown key"),
    ("points = [7, 9]", "points = [7, 9]\npoint = 3", "[grid] point", "(did you mean 'points'?)"),
    ("lower = [0.0, 0.0]\n", "", "[domain] lower", "missing"),
    ("[grid]\npoints = [7, 9]", "", "[grid]", "missing table"),
    ("points = [7, 9]", "", "[grid] points", "missing; expected points = N"),
    ("points = [7, 9]", "points = 7\nintervals = 8", "[grid] points", "either points or intervals, not both"),
    ("exact = \"exp(x)*cos(y) + x*y\"", "boundary = \"0\"", "[problem] source", "missing"),
    ("points = [7, 9]", "points = -3", "[grid] points",
     "expected a positive integer or a list of 2 positive integers, got -3"),
    ("points = [7, 9]", "points = [7, 0]", "[grid] points", "got [7, 0]"),
    ("points = [7, 9]", "points = [7, 9, 4]", "[grid] points", "a list of 2 positive integers"),
    ("points = [7, 9]", "points = true", "[grid] points", "got true"),
    ("points = [7, 9]", "points = 7.5", "[grid] points", "got 7.5"),
    ("points = [7, 9]", "intervals = 1", "[grid] intervals", "expected an integer >= 2 or a list of 2 integers >= 2"),
    ("points = [7, 9]", "points = 10000000", "[grid] points", "GiB"),
    ("upper = [1.0, 2.0]", "upper = [1.0, 0.0]", "[domain] upper", "values greater than lower"),
    ("upper = [1.0, 2.0]", "upper = [1.0]", "[domain] upper", "a list of 2 numbers like lower"),
    ("lower = [0.0, 0.0]", "lower = [0, 0, 0, 0]", "[domain] lower", "a list of 1 to 3 numbers in"),
    ("lower = [0.0, 0.0]", "lower = [0.0, nan]", "[domain] lower", "numbers in [-1e+06, 1e+06]"),
    ("lower = [0.0, 0.0]", "lower = ['a', 0.0]", "[domain] lower", "got [\"a\", 0.0]"),
    ("[domain]", "seed = -1\n[domain]", "seed", "expected an integer in [0, 2**63 - 1], got -1"),
    ("[domain]", "seed = true\n[domain]", "seed", "got true"),
    ("[domain]", "name = 3\n[domain]", "name", "a plain file-name stem"),
    ("[domain]", "description = [1]\n[domain]", "description", "a string"),
    ("[domain]", "solver = 3\n[domain]", "solver", "a table [solver]"),
    ("exact = \"exp(x)*cos(y) + x*y\"", "exact = \"__import__('os').system('echo hacked')\"", "[problem] exact",
     "unknown name '__import__'"),
    ("exact = \"exp(x)*cos(y) + x*y\"", "exact = \"x*z\"", "[problem] exact", "unknown name 'z'"),
    ("exact = \"exp(x)*cos(y) + x*y\"", "exact = \"x^2\"", "[problem] exact", "use '**'"),
    ("exact = \"exp(x)*cos(y) + x*y\"", "exact = 3", "[problem] exact", "expected a formula as a string"),
    ("exact = \"exp(x)*cos(y) + x*y\"", "source = \"log(x)\"", "[problem] source",
     "evaluates to a non-finite value at x=0, y=0"),
    ("exact = \"exp(x)*cos(y) + x*y\"", "exact = \"sqrt(x - 0.5)\"", "[problem] exact",
     "non-finite value at x=0, y=0"),
    ("exact = \"exp(x)*cos(y) + x*y\"", "exact = \"x**1.5\"", "[problem] exact", "-Δu evaluates to a non-finite"),
    ("exact = \"exp(x)*cos(y) + x*y\"", "exact = \"abs(x - 0.5)\"", "[problem] exact", "DiracDelta"),
    ("exact = \"exp(x)*cos(y) + x*y\"", "source = \"1\"\nboundary = \"1/(x - 0.5)\"", "[problem] boundary",
     "non-finite value at x=0.5"),
    ("exact = \"exp(x)*cos(y) + x*y\"", "exact = \"x**2\"\nsource = \"2.5\"", "[problem] source",
     "does not equal -Δ of [problem] exact"),
    ("exact = \"exp(x)*cos(y) + x*y\"", "exact = \"x**2\"\nboundary = \"0\"", "[problem] boundary",
     "does not equal the exact solution on the boundary"),
    ("[domain]", "[solver]\nmethod = 'gauss'\n[domain]", "[solver] method",
     "expected one of 'jacobi', 'dnn', 'hybrid', 'article', 'operator', 'multigrid', 'dst', 'direct', got \"gauss\""),
    ("[domain]", "[solver]\ntol = -1e-3\n[domain]", "[solver] tol", "expected a positive number"),
    ("[domain]", "[solver]\nomega = 1.5\n[domain]", "[solver] omega", "expected a number in (0, 1]"),
    ("[domain]", "[solver]\nmax_iterations = 1.5\n[domain]", "[solver] max_iterations", "a positive integer"),
    ("[domain]", "[solver]\nmethods = 'dst'\n[domain]", "[solver] methods", "(did you mean 'method'?)"),
    ("[domain]", "[network]\nwidths = [8, 0]\n[domain]", "[network] widths", "a non-empty list of positive integers"),
    ("[domain]", "[training]\ngalerkin = 1\n[domain]", "[training] galerkin", "expected true or false, got 1"),
    ("[domain]", "[training]\nadam_steps = true\n[domain]", "[training] adam_steps", "got true"),
    ("[domain]", "[hybrid]\nswitch = 'later'\n[domain]", "[hybrid] switch", "a non-negative integer or 'auto'"),
]


@pytest.mark.parametrize(("old", "new", "key", "message"), BAD)
def test_bad_case_files(tmp_path, old, new, key, message):
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1), name="bad.toml")
    with pytest.raises(CaseError) as info:
        load_case(path)
    text = str(info.value)
    assert "\n" not in text and text.startswith(f"{path}: {key}: ")
    assert message in text
    assert info.value.path == path and info.value.key == key


def test_discretization_without_exact_in_file(tmp_path):
    text = GOOD.replace('exact = "exp(x)*cos(y) + x*y"', 'source = "1"') + "[solver]\ncriterion = 'discretization'\n"
    with pytest.raises(CaseError, match=r"bad.toml: \[solver\] criterion: expected 'residual' or 'discrete'"):
        load_case(write(tmp_path, text, "bad.toml"))


def test_toml_syntax_error_names_line(tmp_path):
    path = write(tmp_path, "[domain]\nlower = [0.0,\nupper = = 1\n", "bad.toml")
    with pytest.raises(CaseError) as info:
        load_case(path)
    assert str(info.value).startswith(f"{path}: TOML syntax error") and "line 3" in str(info.value)
    assert info.value.key is None


def test_missing_directory_and_binary_files(tmp_path):
    for path, message in [(tmp_path / "nope.toml", "no such case file"), (tmp_path, "is a directory"),
                          (tmp_path / "bin.toml", "not UTF-8")]:
        if path.name == "bin.toml":
            path.write_bytes(b"\xff\xfe\x00")
        with pytest.raises(CaseError, match=message):
            load_case(path)


def test_memory_limit_names_the_machine_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(feasibility, "physical_memory_bytes", lambda: 2**30)
    with pytest.raises(CaseError, match=r"\[grid\] points: a jacobi solve on 4096x4096 interior points needs about "
                       r"2.0 GiB .* 1.0 GiB"):
        load_case(write(tmp_path, GOOD.replace("points = [7, 9]", "points = 4096")))


def test_one_dimensional_and_three_dimensional_cases(tmp_path):
    one = load_case(write(tmp_path, "[domain]\nlower = -1\nupper = 1\n[grid]\nintervals = 4\n"
                          "[problem]\nsource = \"1\"\n", "one.toml"))
    assert one.dim == 1 and one.variables == ("x",) and one.interior_shape() == (3,)
    three = load_case(write(tmp_path, "[domain]\nlower = [0, 0, 0]\nupper = [1, 1, 1]\n[grid]\npoints = [2, 3, 4]\n"
                            "[problem]\nexact = \"x*y*z\"\n", "three.toml"))
    assert three.lower == (0.0, 0.0, 0.0) and three.interior_shape() == (2, 3, 4)


def test_settings_validate_in_python_too():
    with pytest.raises(SettingError, match="omega: expected a number in"):
        SolverSettings(omega=0.0)
    assert TrainingSettings(learning_rate=1).learning_rate == 1.0
    assert isinstance(TrainingSettings(learning_rate=1).learning_rate, float)
    assert describe_setting(HybridSettings, "switch") == "a non-negative integer or 'auto'"


def test_a_new_settings_field_is_validated_without_loader_changes(tmp_path, monkeypatch):
    @dataclasses.dataclass(frozen=True)
    class Extended(HybridSettings):
        damping: float = setting(0.0, minimum=0)

    monkeypatch.setitem(case_module.SETTINGS_TABLES, "hybrid", Extended)
    case = load_case(write(tmp_path, GOOD + "[hybrid]\ndamping = 1\n"))
    assert case.hybrid.damping == 1.0
    with pytest.raises(CaseError, match=r"\[hybrid\] damping: expected a non-negative number, got \"x\""):
        load_case(write(tmp_path, GOOD + "[hybrid]\ndamping = 'x'\n"))


# --- issue #10: names, bounds, memory of every large allocation, shipped cases by name -------------

@pytest.mark.parametrize("name", ["/abs/dir", "../../dir", "a/b", ".hidden", "", "x" * 101, "tab\there"])
def test_case_name_must_be_a_plain_file_name_stem(tmp_path, name):
    with pytest.raises(CaseError, match=r": name: expected a plain file-name stem"):
        load_case(write(tmp_path, f"name = {name!r}\n".replace("'", '"') + GOOD))


def test_overrides_name_the_keyword_not_a_command_line_flag(tmp_path):
    case = load_case(write(tmp_path, GOOD))
    with pytest.raises(CaseError) as caught:
        case.with_overrides(method="gauss")
    assert caught.value.key == "method" and "--" not in str(caught.value)


def test_memory_guard_counts_the_hybrid_feature_matrix(tmp_path, monkeypatch):
    monkeypatch.setattr(feasibility, "physical_memory_bytes", lambda: 3 * 2**29)
    hybrid = GOOD + "[solver]\nmethod = 'hybrid'\n[network]\nwidths = [128]\n[hybrid]\nswitch = 0\n"
    # 1024^2 points: 16 grid arrays are 0.125 GiB, the feature matrix 1024^2 x 129 x 8 x 2 = 2 GiB
    with pytest.raises(CaseError, match=r"\[grid\] points: a hybrid solve on 1024x1024 .* Galerkin features"):
        load_case(write(tmp_path, hybrid.replace("points = [7, 9]", "points = 1024")))
    assert load_case(write(tmp_path, GOOD.replace("points = [7, 9]", "points = 1024"))).solver.method == "jacobi"
    case = load_case(write(tmp_path, GOOD.replace("points = [7, 9]", "points = 1024")))
    with pytest.raises(CaseError, match=r": method: a hybrid solve"):
        from poissonfp.api import solve_case
        solve_case(case, "hybrid")


@pytest.mark.parametrize("table,key", [("[network]\nwidths = [100000, 100000]", "[network] widths"),
                                       ("[training]\npoints = 'quadrature'\nquadrature_order = 1000",
                                        "[training] quadrature_order")])
def test_memory_guard_names_widths_and_quadrature_order(tmp_path, monkeypatch, table, key):
    monkeypatch.setattr(feasibility, "physical_memory_bytes", lambda: 16 * 2**30)
    text = GOOD.replace("points = [7, 9]", "points = [64, 64]") + f"[solver]\nmethod = 'dnn'\n{table}\n"
    with pytest.raises(CaseError, match=re.escape(key) + ": a dnn solve"):
        load_case(write(tmp_path, text))
    with pytest.raises(CaseError, match=r": widths: a dnn solve"):
        load_case(write(tmp_path, GOOD + "[solver]\nmethod = 'dnn'\n")).with_overrides(widths=[10**5, 10**5])


def test_shipped_cases_are_found_by_name_from_any_folder(tmp_path, monkeypatch):
    from poissonfp.catalog import find_case, shipped_cases

    monkeypatch.chdir(tmp_path)
    assert set(shipped_cases()) == {p.stem for p in CASES}
    assert load_case("2d_square").name == "2d_square" and load_case("1d_article.toml").dim == 1
    assert find_case("2d_square").read_bytes() == CASES[[p.stem for p in CASES].index("2d_square")].read_bytes()
    (tmp_path / "2d_square").write_text("a local file wins")
    assert find_case("2d_square") == Path("2d_square")
    with pytest.raises(CaseError, match=r"no shipped case of that name .did you mean '3d_cube'.*shipped cases: "):
        find_case("3d_cub")
