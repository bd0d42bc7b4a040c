"""Many right-hand sides, one set-up: sources -> problems, each method's reuse, break-even, and the CLI."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from poissonfp.api import criterion_of, solver_options
from poissonfp.case import load_case
from poissonfp.cli import main
from poissonfp.discrete_operator import assemble, computational_grid
from poissonfp.operators import fold_boundary
from poissonfp.problem import Problem, build_problem
from poissonfp.solvers import SOLVERS, method_options
from poissonfp.studies.batch import MethodBatch, batch_criterion, break_even, run_method
from poissonfp.studies.batch_sources import SourcesError, family_sources, load_sources, problems_for


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def square():
    case = load_case("2d_square").with_overrides(size=15)
    return case, build_problem(case)


def test_sources_on_the_box_keep_the_case_boundary_data(square, rng):
    case, problem = square
    sources = rng.standard_normal((3, *problem.grid.shape))
    for f, p in zip(sources, problems_for(problem, sources)):
        np.testing.assert_allclose(p.rhs, fold_boundary(problem.grid, f, case.boundary.numpy), rtol=1e-13, atol=1e-12)
        assert p.exact is None and p.general is problem.general


def test_sources_with_a_neumann_side_match_the_assembly(rng):
    sides = (("neumann", "dirichlet"), ("dirichlet", "dirichlet"))
    grid = computational_grid((0.0, 0.0), (1.0, 1.0), (7, 7), sides)
    x, y = grid.coordinates()

    def dirichlet(*c):
        return 1.0 + c[0] * c[1]

    def flux(*c):
        return 2.0 + 0 * c[1]

    f0 = np.sin(x) * y
    operator, b0 = assemble(grid, f0, dirichlet, sides=sides, neumann={(0, 0): flux})
    base = Problem(grid, f0, b0, general=operator)
    f = rng.standard_normal((2, *grid.shape))
    for fk, p in zip(f, problems_for(base, f)):
        _, expected = assemble(grid, fk, dirichlet, sides=sides, neumann={(0, 0): flux})
        np.testing.assert_allclose(p.rhs, expected, rtol=1e-12, atol=1e-12)


def _solve_all(case, problem, problems, method):
    criterion = batch_criterion(criterion_of(case))
    options = {k: v for k, v in solver_options(case).items() if k in method_options(method)}
    return run_method(method, problem, problems, criterion, options)


@pytest.mark.parametrize("method", ["jacobi", "hybrid", "multigrid", "dst", "direct"])
def test_every_method_solves_every_source_with_one_setup(square, method):
    case, problem = square
    problems = problems_for(problem, family_sources("grf", problem, 3, seed=1))
    batch = _solve_all(case, problem, problems, method)
    assert len(batch.results) == 3 and not batch.interrupted
    for p, result in zip(problems, batch.results):
        assert result.converged
        exact = p.discrete_solution
        assert np.linalg.norm(result.solution - exact) <= 1e-6 * np.linalg.norm(exact)
    assert batch.setup_s >= 0.0 and all(t > 0 for t in batch.solve_times())


def test_reused_hybrid_matches_the_hybrid_solver(square):
    case, problem = square
    problems = problems_for(problem, family_sources("grf", problem, 2, seed=2))
    batch = _solve_all(case, problem, problems, "hybrid")
    options = {k: v for k, v in solver_options(case).items() if k in method_options("hybrid")}
    criterion = batch_criterion(criterion_of(case))
    from poissonfp.solvers.base import Monitor

    options["switch"] = 0  # no decision: the cycles, as the batch runs them
    alone = SOLVERS["hybrid"](problems[1], Monitor(problems[1], criterion), **options)
    assert batch.results[1].iterations == alone.iterations
    np.testing.assert_allclose(batch.results[1].solution, alone.solution, rtol=1e-10, atol=1e-12)


def test_break_even_is_training_over_the_saving():
    operator, other = MethodBatch("operator", setup_s=1.0), MethodBatch("multigrid", setup_s=0.5)
    operator.batched_s, operator.results = 0.4, [object()] * 4  # 0.1 s per solve
    other.results = [type("R", (), {"wall_time_s": 0.3})()] * 2
    assert break_even(operator, other, training_s=10.0)["count"] == 53  # 10.5 / 0.2 = 52.5
    other.results = [type("R", (), {"wall_time_s": 0.05})()]
    assert break_even(operator, other, training_s=10.0)["count"] is None


def test_batch_cli_writes_batch_json_and_figure(tmp_path):
    out = tmp_path / "batch"
    result = run("solve", "2d_square", "--n", "15", "--family", "grf", "--count", "3",
                 "--methods", "jacobi,direct", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    record = json.loads((out / "batch.json").read_text())
    assert record["count"] == 3 and set(record["methods"]) == {"jacobi", "direct"}
    for data in record["methods"].values():
        assert data["solves_done"] == 3 and data["all_converged"]
        assert all(s["criterion_value"] <= 1e-8 for s in data["solves"])
        assert all(s["fallback"] is None for s in data["solves"])  # recorded per solve (the operator's rows may fall back)
    assert (out / "batch.png").stat().st_size > 0


def test_batch_hybrid_takes_a_numeric_switch(tmp_path):
    # --switch's callback gives an int; the batch path once called str methods on it (AttributeError)
    out = tmp_path / "batch"
    result = run("solve", "2d_square", "--n", "15", "--family", "grf", "--count", "2", "--methods", "hybrid",
                 "--switch", "5", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    data = json.loads((out / "batch.json").read_text())["methods"]["hybrid"]
    assert data["solves_done"] == 2 and data["all_converged"]


def test_sources_file_is_solved(tmp_path, square):
    _, problem = square
    f = family_sources("grf", problem, 2, seed=5)
    np.savez(tmp_path / "f.npz", f=f)
    result = run("solve", "2d_square", "--n", "15", "--sources", tmp_path / "f.npz", "--methods", "dst",
                 "--out", tmp_path / "out", "--quiet")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "out" / "batch.json").read_text())["sources"] == {"file": str(tmp_path / "f.npz")}


def _bad_files(tmp_path, shape):
    good = np.ones((2, *shape))
    bad_values = good.copy()
    bad_values[1, 3, 4] = np.nan
    files = {"shape": {"f": np.ones((2, shape[0], shape[1] + 1))}, "nonfinite": {"f": bad_values},
             "integers": {"f": np.ones((2, *shape), dtype=np.int64)}, "float32": {"f": good.astype(np.float32)},
             "missing": {"g": good}, "empty": {"f": np.ones((0, *shape))}}
    paths = {}
    for name, arrays in files.items():
        paths[name] = tmp_path / f"{name}.npz"
        np.savez(paths[name], **arrays)
    paths["text"] = tmp_path / "text.npz"
    paths["text"].write_text("not an archive")
    paths["npy"] = tmp_path / "plain.npy"
    np.save(paths["npy"], good)
    paths["absent"] = tmp_path / "absent.npz"
    return paths


@pytest.mark.parametrize("name", ["shape", "nonfinite", "integers", "float32", "missing", "empty", "text", "npy",
                                  "absent"])
def test_bad_sources_file_is_one_line_and_exit_2(tmp_path, name):
    path = _bad_files(tmp_path, (15, 15))[name]
    out = tmp_path / "out"
    result = run("solve", "2d_square", "--n", "15", "--sources", path, "--methods", "dst", "--out", out, "--quiet")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "expected" in lines[0], result.output
    assert not out.exists()


def test_load_sources_accepts_float64_of_the_grid(tmp_path):
    np.savez(tmp_path / "ok.npz", f=np.zeros((2, 3)))
    assert load_sources(tmp_path / "ok.npz", (3,)).shape == (2, 3)
    with pytest.raises(SourcesError, match="shape"):
        load_sources(tmp_path / "ok.npz", (4,))


@pytest.mark.parametrize("flags", [["--family", "grf", "--count", "0"], ["--family", "grf", "--count", "-3"],
                                   ["--family", "grf"], ["--count", "3"], ["--methods", "dnn", "--count", "2"],
                                   ["--methods", "operator", "--family", "grf", "--count", "2"],
                                   ["--methods", "dst", "--family", "grf", "--count", "2", "--case", "2d_lshape"]])
def test_bad_batch_flags_are_one_line_and_exit_2(tmp_path, flags):
    out = tmp_path / "out"
    case = flags.pop(flags.index("--case") + 1) if "--case" in flags else "2d_square"
    flags = [f for f in flags if f != "--case"]
    result = run("solve", case, "--n", "15", *flags, "--out", out, "--quiet")
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert not out.exists()


def test_interrupted_batch_saves_the_solves_done(tmp_path, monkeypatch):
    real = SOLVERS["jacobi"]
    calls = []

    def interrupted_on_the_third(problem, monitor, **options):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(problem, monitor, **options)

    monkeypatch.setitem(SOLVERS, "jacobi", interrupted_on_the_third)
    out = tmp_path / "out"
    result = run("solve", "2d_square", "--n", "15", "--family", "grf", "--count", "5", "--methods",
                 "jacobi,direct", "--out", out, "--quiet")
    assert result.exit_code == 130, result.output
    record = json.loads((out / "batch.json").read_text())
    assert record["interrupted"] and record["methods"]["jacobi"]["interrupted"]
    assert record["methods"]["jacobi"]["solves_done"] == 2 and "direct" not in record["methods"]


def test_operator_batch_records_break_even_against_every_other_method(tmp_path, tiny_operator_model):
    out = tmp_path / "out"
    result = run("solve", "2d_square", "--n", "15", "--family", "grf", "--count", "4", "--methods",
                 "operator,jacobi,direct", "--model", tiny_operator_model, "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    record = json.loads((out / "batch.json").read_text())
    operator = record["methods"]["operator"]
    assert operator["all_converged"] and operator["batched_call_s"] > 0 and operator["solves_done"] == 4
    assert record["operator_training_s"] > 0 and set(record["break_even"]) == {"jacobi", "direct"}
    for even in record["break_even"].values():
        assert even["count"] is None or even["count"] >= 1


def test_unusable_model_is_one_line_and_exit_2(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "out"
    result = run("solve", "2d_square", "--n", "15", "--family", "grf", "--count", "2", "--methods", "operator",
                 "--model", empty, "--out", out, "--quiet")
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
    assert str(empty) in result.output and not out.exists()


def test_batch_off_the_box_reuses_the_cached_factor(tmp_path):
    out = tmp_path / "out"
    result = run("solve", "2d_lshape", "--n", "15", "--family", "grf", "--count", "2", "--methods", "all",
                 "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    record = json.loads((out / "batch.json").read_text())
    assert set(record["methods"]) == {"jacobi", "hybrid", "multigrid", "direct"}
    assert all(data["all_converged"] for data in record["methods"].values())
    assert record["methods"]["hybrid"]["reuse"].startswith("nothing")


@pytest.mark.parametrize("signals", [("SIGINT",), ("SIGTERM", "SIGTERM")])
def test_a_real_signal_stops_the_batch_and_saves_the_solves_done(tmp_path, signals):
    """Each solve is its own interruptible block: a signal after the first solve still stops the batch."""
    from tests.signals import expected_exit, signal_command

    out = tmp_path / "out"
    code, stderr = signal_command(["solve", "2d_square", "--n", "63", "--family", "grf", "--count", "60", "--methods",
                                   "jacobi,direct", "--out", str(out)], "jacobi: solve started", signals, 0.6)
    assert code == expected_exit(signals) and "Traceback" not in stderr, stderr
    record = json.loads((out / "batch.json").read_text())
    assert record["interrupted"] and record["methods"]["jacobi"]["interrupted"]
    assert 1 <= record["methods"]["jacobi"]["solves_done"] < 60 and "direct" not in record["methods"]


def test_case_family_draws_the_case_source_with_random_parameters_seeded():
    from poissonfp.learned.family import case_sources, source_parameters

    case = load_case("1d_article").with_overrides(size=64)
    problem = build_problem(case)
    f = family_sources("case", problem, 4, seed=3, source=case.source)
    assert f.shape == (4, *problem.grid.shape) and f.dtype == np.float64 and np.isfinite(f).all()
    assert np.array_equal(f, family_sources("case", problem, 4, seed=3, source=case.source))
    assert not np.allclose(f, family_sources("case", problem, 4, seed=4, source=case.source))
    assert all(not np.allclose(f[i], f[j]) for i in range(4) for j in range(i))
    # The formula varied is the case's source (at its nominal numbers it is problem.source); no draw is that.
    parameters = source_parameters(case.source)
    nominal = parameters.evaluate(problem.grid.coordinates(), np.array([parameters.nominal]))[0]
    assert np.allclose(nominal, problem.source) and all(not np.allclose(row, problem.source) for row in f)
    # The same draws as train --family case with that seed, up to its unit-RMS scaling.
    trained, _ = case_sources(parameters, problem.grid, 4, 3)
    for row, scaled in zip(f, trained):
        assert np.allclose(row / np.sqrt(np.mean(row**2)), scaled)


def test_batch_cli_solves_the_case_family(tmp_path):
    out = tmp_path / "batch"
    result = run("solve", "1d_article", "--n", "64", "--family", "case", "--count", "3",
                 "--methods", "direct,jacobi", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    record = json.loads((out / "batch.json").read_text())
    sources = record["sources"]
    assert sources["family"] == "case" and sources["seed"] == 0 and sources["spread"] == 0.25
    assert sources["template"].count("p") >= 6
    for data in record["methods"].values():
        assert data["solves_done"] == 3 and data["all_converged"]


def test_case_family_without_numbers_to_vary_is_one_line_exit_2(tmp_path):
    path = tmp_path / "plain.toml"
    path.write_text('[domain]\nlower = [0.0]\nupper = [1.0]\n[grid]\npoints = 15\n[problem]\nexact = "sin(pi*x)"\n')
    out = tmp_path / "out"
    result = run("solve", path, "--family", "case", "--count", "2", "--methods", "direct", "--out", out, "--quiet")
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1 and "--family case" in result.output, result.output
    assert not out.exists()
