"""Issue #10, defects 12 and 17: the Python API refuses misspelt options and invalid criteria in words,
and mode errors of modes the target lacks raise no numpy warning."""
import warnings

import numpy as np
import pytest

from poissonfp.grid import Grid
from poissonfp.problem import Problem
from poissonfp.solvers import StoppingCriterion, method_options, solve
from poissonfp.spectral import relative_mode_errors


@pytest.fixture
def problem():
    grid = Grid((0.0,), (1.0,), (15,))
    return Problem.from_functions(grid, lambda x: np.pi**2 * np.sin(np.pi * x), exact=lambda x: np.sin(np.pi * x))


def test_a_misspelt_option_is_refused_naming_it(problem):
    with pytest.raises(TypeError, match=r"unknown option 'omgea' for method 'jacobi' \(did you mean 'omega'\?\)"):
        solve(problem, "jacobi", omgea=0.5)
    with pytest.raises(TypeError, match="'network' for method 'dst'"):
        solve(problem, "dst", network=None)
    assert "omega" in method_options("jacobi") and "network" in method_options("hybrid")
    assert solve(problem, "jacobi", StoppingCriterion("residual", tol=1e-6), omega=0.9).converged


@pytest.mark.parametrize(("arguments", "message"), [
    ({"kind": "residul"}, "unknown stopping criterion 'residul'; expected one of residual, discretization"),
    ({"tol": -1}, "tol must be a finite number > 0 for the residual criterion, got -1"),
    ({"tol": float("nan")}, "tol must be a finite number"),
    ({"kind": "discrete", "tol": 0.0}, "tol must be a finite number > 0"),
    ({"factor": 0.5, "kind": "discretization"}, "factor must be a finite number >= 1"),
    ({"max_iterations": 0}, "max_iterations must be a positive integer"),
])
def test_invalid_stopping_criteria_are_value_errors(arguments, message):
    with pytest.raises(ValueError, match=message):
        StoppingCriterion(**arguments)


def test_mode_error_of_a_mode_the_target_lacks_is_defined_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        errors = relative_mode_errors(np.array([0.0, 1.0, 0.5]), np.array([0.0, 0.0, 1.0]), [0, 1, 2])
    np.testing.assert_array_equal(errors, [0.0, np.inf, 0.5])
