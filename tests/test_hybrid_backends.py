"""One orchestration of the multilevel hybrid over two array backends (numpy and torch): the same ``info``
keys and the same numbers."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from poissonfp.case import load_case
from poissonfp.problem import build_problem
from poissonfp.solvers import StoppingCriterion, solve
from poissonfp.solvers.base import Monitor


def _both(coarsest: str, fallback: bool = False, switch="auto"):
    from poissonfp.solvers.hybrids.torch_solvers import solve_hybrid_torch

    case = load_case("2d_square").with_overrides(size=31)
    problem = build_problem(case)
    criterion = StoppingCriterion("discrete", tol=1e-9)
    options = dict(network=case.network, training=case.training, seed=0, omega=1.0, check_every=0, switch=switch,
                   hybrid=dataclasses.replace(case.hybrid, coarsest=coarsest, fallback=fallback))
    numpy_result = solve(problem, "hybrid", criterion, **options)
    torch_result = solve_hybrid_torch(problem, Monitor(problem, criterion), device="cpu", **options)
    return problem, numpy_result, torch_result


@pytest.mark.parametrize("coarsest", ["space", "exact"])
def test_both_backends_return_the_same_info_keys_and_agree(coarsest):
    problem, numpy_result, torch_result = _both(coarsest)
    assert set(torch_result.info) == set(numpy_result.info)  # the torch info lacked times_s and coarse
    assert set(torch_result.info["times_s"]) == set(numpy_result.info["times_s"])
    assert torch_result.info["coarse"] == numpy_result.info["coarse"]
    assert (numpy_result.info["device"], torch_result.info["device"]) == ("cpu", "cpu")
    assert torch_result.info["hierarchy"] == numpy_result.info["hierarchy"] == "rediscretised"
    assert torch_result.converged and numpy_result.converged
    assert torch_result.iterations == numpy_result.iterations
    # (the residuals are not compared: the numpy path reads the iterate before its last sweep, for free)
    np.testing.assert_allclose(torch_result.solution, numpy_result.solution, rtol=0,
                               atol=1e-9 * np.abs(problem.discrete_solution).max())


def test_the_fallback_decision_runs_on_both_backends_with_the_same_keys(monkeypatch):
    """Pure Jacobi chosen by the decision (forced here): the same record on both backends."""
    import poissonfp.solvers.hybrids.hybrid_multilevel as hybrid_multilevel

    decide = hybrid_multilevel.decide

    def jacobi_always(*args, **kwargs):
        return {**decide(*args, **kwargs), "method": "jacobi"}

    monkeypatch.setattr(hybrid_multilevel, "decide", jacobi_always)
    problem, numpy_result, torch_result = _both("space", fallback=True)
    for result in (numpy_result, torch_result):
        assert result.info["cycle"] == "jacobi (decision)" and result.converged
    assert set(torch_result.info) == set(numpy_result.info)
    assert set(torch_result.info["decision"]) == set(numpy_result.info["decision"]) - {"iteration"}
    np.testing.assert_allclose(torch_result.solution, numpy_result.solution, rtol=0,
                               atol=1e-8 * np.abs(problem.discrete_solution).max())
