"""Operator networks: training, model folders, the operator iteration and its safeguard (tiny nets and grids)."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from poissonfp.cli import main
from poissonfp.discrete_operator import box_operator
from poissonfp.grid import Grid
from poissonfp.learned.store import ModelError, load_checkpoint, load_model, save_model
from poissonfp.learned.training import energy_errors, train_operator
from poissonfp.problem import Problem
from poissonfp.solvers import StoppingCriterion, solve
from poissonfp.solvers.hybrids.operator import OperatorSolveError, solve_operator_batch

TINY = {"width": 4, "depth": 3}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
SMALL = {"width": 8, "depth": 4}
GRID_1D = Grid((0.0,), (1.0,), (31,))


@pytest.fixture(scope="module")
def trained_1d():
    return train_operator(box_operator(GRID_1D), case="tiny", settings=SMALL, samples=128, held_out=32, steps=300,
                          batch=16, learning_rate=5e-3, seed=1)


@pytest.fixture(scope="module")
def untrained_1d():
    return train_operator(box_operator(GRID_1D), case="tiny", settings=SMALL, samples=16, held_out=32, steps=0,
                          seed=1)


def _problem(n, source=lambda x: np.exp(-3 * x) * np.sin(2 * np.pi * x) + x, name="tiny"):
    return Problem.from_functions(Grid((0.0,), (1.0,), (n,)), source, name=name)


def test_training_reduces_the_held_out_energy_error_and_band_errors_rise_with_frequency(trained_1d, untrained_1d):
    _, trained = trained_1d
    _, untrained = untrained_1d
    assert trained["held_out"]["energy"] < 0.5 * untrained["held_out"]["energy"]
    errors = [band["error"] for band in trained["held_out"]["bands"]]
    assert errors[0] < 0.05 and errors[-1] > 0.5  # F-Principle: the low band learned, the high band not


def test_save_load_round_trip_and_batched_call_equals_single_calls(trained_1d, tmp_path, rng):
    model, _ = trained_1d
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    r = rng.standard_normal((3, 31))
    np.testing.assert_allclose(loaded.apply(r), model.apply(r), rtol=1e-6, atol=1e-12)
    single = np.stack([loaded.apply(row) for row in r])
    np.testing.assert_allclose(loaded.apply(r), single, rtol=1e-5, atol=1e-7 * np.abs(single).max())
    assert loaded.meta["fingerprint"] == model.meta["fingerprint"] and len(loaded.meta["held_out"]["bands"]) == 4


@pytest.mark.parametrize("damage", ["missing", "no_json", "bad_json", "no_weights", "bad_weights", "wrong_arch"])
def test_bad_model_folders_raise_one_line_model_errors(trained_1d, tmp_path, damage):
    model, _ = trained_1d
    folder = tmp_path / "m"
    if damage != "missing":
        save_model(model, folder)
    if damage == "no_json":
        (folder / "model.json").unlink()
    elif damage == "bad_json":
        (folder / "model.json").write_text("{not json")
    elif damage == "no_weights":
        (folder / "weights.pt").unlink()
    elif damage == "bad_weights":
        (folder / "weights.pt").write_bytes(b"garbage")
    elif damage == "wrong_arch":
        meta = json.loads((folder / "model.json").read_text())
        meta["settings"] = {"width": 4, "depth": 3}
        (folder / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError) as info:
        load_model(folder)
    assert str(folder) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(("n", "accel"), [(31, "none"), (63, "none"), (63, "fcg")])  # own grid, coarse level
def test_operator_solve_reaches_the_direct_solution(trained_1d, n, accel):
    model, _ = trained_1d
    problem = _problem(n)
    criterion = StoppingCriterion("residual", 1e-10, max_iterations=5000)
    result = solve(problem, "operator", criterion, model=model, sweeps=4, fallback=False, accel=accel, trigger="always")
    assert result.converged and result.info["fallback"] is None
    np.testing.assert_allclose(result.solution, problem.discrete_solution, atol=1e-8 * np.abs(result.solution).max())
    assert result.info["model_use"] == ("same grid" if n == 31 else "coarse level")
    assert result.info["network_calls"] >= 1 and result.info["work_sweep_equivalents"] > result.info["sweeps"]


def test_energy_error_never_increases_with_a_useless_model(untrained_1d):
    from poissonfp.solvers.hybrids.operator_iteration import OperatorIteration

    model, _ = untrained_1d
    problem = _problem(31)
    iteration = OperatorIteration(problem, model, "same grid", problem.rhs[None].copy(), 2, 2 / 3, "none", patience=2,
                           trigger="always")
    exact = problem.discrete_solution[None]
    previous = energy_errors(problem.operator, iteration.fine.solutions(), exact)[0]
    for _ in range(30):
        iteration.pass_(np.array([0]), np.zeros(1))
        error = energy_errors(problem.operator, iteration.fine.solutions(), exact)[0]
        assert error <= previous * (1 + 1e-12)
        previous = error
    assert np.all(np.asarray(iteration.counters.energy_gain) >= 0.0)


class _HighModeModel:
    """A useless 'network': whatever the residual, the highest sine mode (the interface of OperatorModel)."""

    def __init__(self, model):
        self.meta, self.grid, self.inside, self.across_sizes = model.meta, model.grid, model.inside, False
        self.call_seconds = []
        self.mode = np.sin(31 * np.pi * model.grid.axes[0])

    seconds_per_call = 1e-5

    def apply(self, residuals):
        r = np.asarray(residuals)
        return np.broadcast_to(self.mode, r.shape) * np.sqrt(np.mean(r**2))

    def warm_up(self, *args, **kwargs):
        pass


def test_safeguard_falls_back_on_a_useless_model(trained_1d):
    model, _ = trained_1d
    criterion = StoppingCriterion("residual", 1e-9)
    result = solve(_problem(31), "operator", criterion, model=_HighModeModel(model))
    assert result.converged and result.method == "operator"
    assert "network calls in a row" in result.info["fallback"] and result.info["network_calls"] == 2
    kept = solve(_problem(31), "operator", criterion, model=model)  # the trained model: no fallback
    assert kept.converged and kept.info["fallback"] is None


class _SourModel(_HighModeModel):
    """Good, then useless: its first ``good`` calls (the set-up's: two warm-up calls and CALIBRATION_CALLS timed
    ones, then the solve's) are the exact inverse rounded to float32 (a residual reduction of ~1e-7), every later
    one the highest sine mode."""

    def __init__(self, model, good):
        super().__init__(model)
        self.good, self.calls = good, 0

    def apply(self, residuals):
        from poissonfp.operators import solve_dst

        self.calls += 1
        r = np.asarray(residuals)
        if self.calls > self.good:
            return super().apply(r)
        return np.stack([solve_dst(self.grid, row) for row in r]).astype(np.float32).astype(float)


def test_the_fallback_continues_from_the_iterate_and_adds_less_work_than_a_restart(trained_1d):
    """After a good call the iterate is near the solution; the hybrid then solves only for the correction of its
    residual: its added work is below the hybrid's own from zero (the old fallback's), the answer the same."""
    model, _ = trained_1d
    problem, criterion = _problem(31), StoppingCriterion("residual", 1e-11)
    from poissonfp.solvers.hybrids.operator_iteration import CALIBRATION_CALLS

    result = solve(problem, "operator", criterion, model=_SourModel(model, 2 + CALIBRATION_CALLS + 1), patience=1)
    restart = solve(problem, "hybrid", criterion)
    info = result.info
    assert result.converged and restart.converged and info["fallback_start"] == "iterate"
    assert info["network_calls"] >= 2 and info["residual_factor_per_call"][0] < 1e-3  # one good call, then useless
    added = info["work_sweep_equivalents"] - info["work_before_fallback"]
    assert 0 < added < 0.8 * restart.info["work_sweep_equivalents"]
    assert result.iterations == round(info["work_sweep_equivalents"])
    exact = problem.discrete_solution
    assert np.linalg.norm(result.solution - exact) <= 1e-8 * np.linalg.norm(exact)
    assert np.linalg.norm(result.solution - restart.solution) <= 1e-8 * np.linalg.norm(exact)


def test_batch_rows_whose_calls_turn_useless_fall_back_from_their_iterates(trained_1d):
    """A batched call that stops helping: each row leaves the batch after ``patience`` useless calls and the
    multilevel hybrid finishes it from its iterate (before, such rows swept alone: 29 of 64 rows at 255² ran up to
    ~120,000 sweeps); ``fallback=False`` keeps the old behaviour."""
    model, _ = trained_1d
    problem, criterion = _problem(31), StoppingCriterion("residual", 1e-11)
    rhs = np.stack([problem.rhs, 2 * problem.rhs + 1])
    results = solve_operator_batch(problem, rhs, _SourModel(model, 4), criterion, patience=1)
    swept = solve_operator_batch(problem, rhs, _SourModel(model, 4), criterion, patience=1, fallback=False)
    for row, result, kept in zip(rhs, results, swept):
        exact = problem.operator.solve(row)
        assert result.converged and result.info["fallback_start"] == "iterate" and result.info["batch_fallbacks"] == 2
        assert np.linalg.norm(result.solution - exact) <= 1e-9 * np.linalg.norm(exact)
        assert kept.info["fallback"] is None and kept.info["batch_fallbacks"] == 0
        assert result.info["work_sweep_equivalents"] < 0.5 * kept.info["work_sweep_equivalents"]


def test_batch_solves_all_rows_with_one_network_call_per_pass(trained_1d, rng):
    model, _ = trained_1d
    problem = _problem(63)
    rhs = np.stack([problem.rhs, 2 * problem.rhs + 1, np.sin(np.pi * problem.grid.axes[0])])
    criterion = StoppingCriterion("residual", 1e-9)
    before = len(model.call_seconds)
    results = solve_operator_batch(problem, rhs, model, criterion, sweeps=4, trigger="always")
    calls = len(model.call_seconds) - before  # the warm-up call is not recorded
    assert calls == max(r.info["network_calls"] for r in results) == results[0].info["batch_network_calls"]
    for row, result in zip(rhs, results):
        assert result.converged
        exact = problem.operator.solve(row)
        np.testing.assert_allclose(result.solution, exact, atol=1e-7 * np.abs(exact).max())
        single = solve(Problem(problem.grid, row, row), "operator", criterion, model=model, sweeps=4, fallback=False,
                       trigger="always")
        # float32 convolutions of a batch and of one row differ in the last bits: the counts may differ slightly
        assert abs(single.info["network_calls"] - result.info["network_calls"]) <= max(1, 0.1 * single.info["network_calls"])
    with pytest.raises(ValueError, match="shape"):
        solve_operator_batch(problem, rhs[:, :10], model, criterion)


def test_a_model_for_another_operator_is_refused(trained_1d):
    model, _ = trained_1d
    from poissonfp.discrete_operator import assemble

    other_box = Problem.from_functions(Grid((0.0,), (2.0,), (31,)), lambda x: x)
    with pytest.raises(OperatorSolveError, match="neither its grid"):
        solve(other_box, "operator", model=model)
    zero = np.zeros(GRID_1D.shape)
    operator, rhs = assemble(GRID_1D, zero + 1.0, lambda x: 0 * x, coefficient=lambda x: 1.0 + x)
    variable = Problem(GRID_1D, zero + 1.0, rhs, name="tiny", general=operator)  # same grid, another operator
    with pytest.raises(OperatorSolveError, match="fingerprint"):
        solve(variable, "operator", model=model)
    coarser = _problem(15)
    with pytest.raises(OperatorSolveError, match="neither its grid nor finer"):
        solve(coarser, "operator", model=model)
    with pytest.raises(ModelError, match="trained for operator"):
        model.check_operator("0" * 16)


def test_interrupted_training_saves_a_checkpoint_that_resume_continues(tmp_path):
    operator = box_operator(GRID_1D)

    def stop(record):
        if record["step"] >= 20:
            raise KeyboardInterrupt

    model, report = train_operator(operator, settings=TINY, samples=32, held_out=8, steps=60, seed=2, callback=stop)
    assert report["interrupted"] and report["steps_done"] == 20 and model.meta["interrupted"]
    save_model(model, tmp_path / "m")
    checkpoint = load_checkpoint(tmp_path / "m")
    assert checkpoint is not None and checkpoint["step"] == 20
    _resumed, report = train_operator(operator, settings=TINY, samples=32, held_out=8, steps=60, seed=2,
                                     resume=checkpoint, out=str(tmp_path / "m"))
    assert report["steps_done"] == 60 and not report["interrupted"] and len(report["loss"]) == 60
    assert load_checkpoint(tmp_path / "m") is None and not load_model(tmp_path / "m").meta["interrupted"]


def test_fno_applies_across_sizes_and_says_so():
    model, _ = train_operator(box_operator(GRID_1D), arch="fno", settings={"width": 4, "modes": 4, "layers": 1},
                              samples=16, held_out=8, steps=0)
    other = Problem.from_functions(Grid((0.0,), (2.0,), (40,)), lambda x: np.sin(x))
    result = solve(other, "operator", StoppingCriterion("residual", 1e-8), model=model, fallback=False,
                   sweeps=20)
    assert result.info["model_use"] == "across sizes" and "applied at 40" in result.info["model_note"]
    assert result.converged


def _cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_train_command_writes_a_model_and_solve_uses_it(tmp_path):
    out = tmp_path / "model"
    result = _cli("train", "1d_article", "--out", out, "--n", 32, "--steps", 3, "--samples", 8, "--quiet",
                  "--device", "cpu")
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "model.json").read_text())
    assert meta["steps_done"] == 3 and meta["case"] and len(meta["held_out"]["bands"]) >= 3
    solved = _cli("solve", "1d_article", "--method", "operator", "--model", out, "--n", 32, "--out",
                  tmp_path / "solve", "--quiet", "--criterion", "residual", "--tol", 1e-8)
    assert solved.exit_code == 0, solved.output
    assert json.loads((tmp_path / "solve" / "result.json").read_text())["info"]["model_fingerprint"] == meta["fingerprint"]


@pytest.mark.parametrize("args", [
    ["train", "1d_article", "--steps", -1],
    ["train", "1d_article", "--samples", 0],
    ["train", "1d_article", "--resume"],
    ["train", "1d_article", "--arch", "resnet"],
    ["solve", "1d_article", "--method", "operator"],
    ["solve", "1d_article", "--method", "operator", "--model", "MISSING"],
    ["solve", "1d_article", "--method", "operator", "--model", "CORRUPT"],
    ["solve", "2d_square", "--method", "operator", "--model", "OTHER"],
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, args):
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "model.json").write_text("{")
    other = tmp_path / "other"
    _cli("train", "1d_article", "--out", other, "--n", 32, "--steps", 0, "--samples", 4, "--quiet")
    names = {"MISSING": tmp_path / "missing", "CORRUPT": corrupt, "OTHER": other}
    out = tmp_path / "out"
    result = _cli(*[names.get(str(a), a) for a in args], "--out", out)
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not out.exists()


def test_unusable_out_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = _cli("train", "1d_article", "--out", blocker / "model", "--steps", 0)
    assert result.exit_code == 2 and "is a file" in result.output


def test_train_resume_continues_an_interrupted_model_folder(tmp_path):
    from poissonfp.case import load_case
    from poissonfp.problem import build_problem

    operator = build_problem(load_case("1d_article"), size=32).operator

    def stop(record):
        if record["step"] >= 10:
            raise KeyboardInterrupt

    _model, _ = train_operator(operator, case="1d_article", samples=8, held_out=4, steps=30, batch=4, seed=3,
                              callback=stop, out=str(tmp_path / "m"))
    assert json.loads((tmp_path / "m" / "model.json").read_text())["interrupted"]
    result = _cli("train", "1d_article", "--out", tmp_path / "m", "--resume", "--quiet")
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["steps_done"] == 30 and not meta["interrupted"] and meta["samples"] == 8
    assert not (tmp_path / "m" / "checkpoint.pt").exists()
