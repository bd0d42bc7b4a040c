"""Method ``article``: the article's scheme literally — M Adam steps, no solve, then plain Jacobi from the
network's grid values."""
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from poissonfp.case import load_case
from poissonfp.cli import main
from poissonfp.neural import Trainer, build_model, galerkin_output_layer, make_loss
from poissonfp.neural.model import single_threaded
from poissonfp.problem import build_problem
from poissonfp.solvers import StoppingCriterion, solve
from poissonfp.solvers.classical.jacobi import JacobiIteration
from poissonfp.solvers.hybrids.article import ARTICLE_NETWORK, article_network

CASES = Path(__file__).resolve().parents[1] / "cases"
STEPS = 5


@pytest.fixture(scope="module")
def article_case():
    case = load_case(CASES / "1d_article.toml").with_overrides(size=64)
    return case, build_problem(case)


def _solve(case, problem, switch, criterion=None, **extra):
    criterion = criterion or StoppingCriterion("discretization")
    return solve(problem, "article", criterion, network=case.network, training=case.training, hybrid=case.hybrid,
                 seed=case.seed, switch=switch, **extra)


def _adam_only(case, problem, steps):
    """The network the article trains, trained here by hand: Adam only, nothing solved."""
    with single_threaded():
        model = build_model(problem, article_network(case.network), case.seed)
        Trainer(model, make_loss(problem, model, "ritz", "grid"), case.training.learning_rate).adam(steps)
    return model


def test_jacobi_starts_from_exactly_the_adam_trained_network(article_case):
    case, problem = article_case
    result = _solve(case, problem, STEPS)
    assert result.converged and result.dnn_steps == STEPS and result.iterations > 0
    assert 0 < result.info["lowest_mode_sweeps_bound"] <= result.iterations  # a lower bound on the Jacobi phase
    model = _adam_only(case, problem, STEPS)
    start = model.grid_values(problem.grid)
    iteration = JacobiIteration(problem, 1.0, start)
    iteration.sweep(result.iterations)
    np.testing.assert_allclose(result.solution, iteration.solution, rtol=0, atol=1e-13)
    handover = max(i for i, sweeps in enumerate(result.history["iteration"]) if sweeps == 0)
    assert result.history["dnn_steps"][handover] == STEPS
    assert result.history["error_vs_exact_inf"][handover] == pytest.approx(np.max(np.abs(start - problem.exact)),
                                                                            rel=1e-12)
    # the control: a Galerkin output layer would have handed over something else entirely
    _, solved = galerkin_output_layer(model, problem)
    assert np.max(np.abs(solved - start)) > 5 * np.max(np.abs(solved - problem.discrete_solution))


def test_output_layer_is_adams_not_a_galerkin_solution(article_case):
    case, problem = article_case
    model = _adam_only(case, problem, STEPS)
    trained = model.output_layer.weight.detach().clone()
    galerkin_output_layer(model, problem)
    assert not np.allclose(trained.numpy(), model.output_layer.weight.detach().numpy(), rtol=1e-3)


def test_info_records_no_galerkin_solve_and_both_phases(article_case):
    case, problem = article_case
    result = _solve(case, problem, STEPS, StoppingCriterion("discrete", tol=1e-11))
    info = result.info
    assert not [key for key in info if "galerkin" in key]
    assert info["network"] == {"widths": list(ARTICLE_NETWORK.widths), "activation": "tanh", "scale": 1.0}
    assert info["switch_step"] == STEPS and info["jacobi_sweeps"] == result.iterations
    assert info["times_s"]["train_s"] > 0 and info["times_s"]["jacobi_s"] > 0
    assert info["time_per_step_s"] > 0 and info["time_per_sweep_s"] > 0
    sweeps = np.asarray(result.history["iteration"])
    assert (sweeps == 0).sum() >= 2 and (sweeps > 0).sum() >= 2  # training records and Jacobi records


def test_zero_steps_start_jacobi_from_the_untrained_network(article_case):
    case, problem = article_case
    result = _solve(case, problem, 0)
    untrained = build_model(problem, article_network(case.network), case.seed).grid_values(problem.grid)
    assert result.dnn_steps == 0 and result.info["training_time_s"] == 0.0
    assert result.history["error_vs_exact_inf"][0] == pytest.approx(np.max(np.abs(untrained - problem.exact)),
                                                                     rel=1e-12)


def test_auto_means_the_cases_adam_steps(article_case):
    case, problem = article_case
    short = case.with_overrides(adam_steps=3)
    result = _solve(short, problem, "auto")
    assert result.dnn_steps == 3 and result.info["switch_setting"] == "auto"


def test_ctrl_c_in_the_jacobi_phase_keeps_the_state(article_case):
    case, problem = article_case

    raised = []

    def interrupt(record):
        if record["iteration"] > 0 and not raised:
            raised.append(record["iteration"])
            raise KeyboardInterrupt

    result = _solve(case, problem, STEPS, StoppingCriterion("discrete", tol=1e-11), callback=interrupt)
    assert result.stop_reason == "interrupted" and result.dnn_steps == STEPS and not result.converged


def test_cli_runs_the_literal_scheme(tmp_path):
    result = CliRunner().invoke(main, ["solve", str(CASES / "1d_article.toml"), "--method", "article", "--switch",
                                       "4", "--n", "64", "--out", str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "result.json").read_text())
    assert record["method"] == "article" and record["dnn_steps"] == 4 and record["iterations"] > 0
    assert record["converged"] and not [key for key in record["info"] if "galerkin" in key]
    assert (tmp_path / "convergence.png").stat().st_size > 0
