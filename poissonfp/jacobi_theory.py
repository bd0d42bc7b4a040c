"""The exact sweep count of weighted Jacobi, computed mode by mode with the DST-I.

On a box with the (2d+1)-point Laplacian, the orthonormal DST-I diagonalises both ``A`` and the
Jacobi iteration matrix ``R = I - ω D^{-1} A``: sine mode ``k`` of the error ``e = u - u_h`` is
multiplied by ``μ_k = 1 - ω λ_k / D`` per sweep. So after ``s`` sweeps from ``u_0``

    ê_s = μ^s ⊙ DST(u_0 - u_h),

exactly (up to round-off). The ``discrete`` and ``residual`` metrics are l2 norms, evaluated in
spectral space (Parseval); the ``discretization`` metric ``||u_s - u_exact||_inf`` needs the grid
error, so it costs one inverse DST per evaluated ``s``. The smallest ``s`` is found by doubling then
bisection, which assumes the metric, once below its threshold, stays there: true for the l2 metrics
(every ``|μ_k| < 1``); for the inf-norm it holds once one mode dominates the error (its sublevel set
in the mode's amplitude is an interval around zero), which the tests check against real runs.

>>> import numpy as np
>>> from poissonfp.grid import Grid
>>> from poissonfp.problem import Problem
>>> from poissonfp.solvers import StoppingCriterion
>>> p = Problem.from_functions(Grid((0.0,), (1.0,), (15,)), lambda x: np.pi**2 * np.sin(np.pi * x))
>>> s = predicted_sweeps(p, StoppingCriterion("discrete", tol=1e-6))
>>> s == int(np.ceil(np.log(1e-6) / np.log(np.cos(np.pi / 16))))
True
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import scipy.fft

from poissonfp.operators import diagonal, laplacian_eigenvalues
from poissonfp.problem import Problem
from poissonfp.solvers.base import StoppingCriterion

__all__ = ["jacobi_multipliers", "predicted_sweeps", "error_after"]

#: Sweep counts beyond this are treated as "never" (the criterion cannot be met).
MAX_SWEEPS = 2**44


def jacobi_multipliers(problem: Problem, omega: float = 1.0) -> np.ndarray:
    """Per-sweep factor ``μ_k = 1 - ω λ_k / D`` of every sine mode, an array of ``grid.shape``."""
    return 1.0 - omega * laplacian_eigenvalues(problem.grid) / diagonal(problem.grid)


def _initial_error_coefficients(problem: Problem, initial_guess: np.ndarray | None) -> np.ndarray:
    start = np.zeros(problem.grid.shape) if initial_guess is None else np.asarray(initial_guess, dtype=float)
    return scipy.fft.dstn(start - problem.discrete_solution, type=1, norm="ortho")


def error_after(problem: Problem, sweeps: int, omega: float = 1.0,
                initial_guess: np.ndarray | None = None) -> np.ndarray:
    """The grid error ``u_s - u_h`` after ``sweeps`` Jacobi sweeps from ``initial_guess`` (default 0)."""
    coefficients = _initial_error_coefficients(problem, initial_guess)
    return scipy.fft.idstn(np.power(jacobi_multipliers(problem, omega), sweeps) * coefficients,
                           type=1, norm="ortho")


def _first_true(holds: Callable[[int], bool]) -> int:
    """Smallest ``s >= 0`` with ``holds(s)``, for a predicate false then true (doubling + bisection)."""
    if holds(0):
        return 0
    low, high = 0, 1
    while not holds(high):
        low, high = high, 2 * high
        if high > MAX_SWEEPS:
            raise ValueError("the criterion is never met by Jacobi from this initial guess")
    while high - low > 1:
        middle = (low + high) // 2
        if holds(middle):
            high = middle
        else:
            low = middle
    return high


def _l2_after(weights_sq: np.ndarray, log_mu_sq: np.ndarray) -> Callable[[int], float]:
    """``s -> sqrt(sum_k w_k^2 μ_k^(2s))`` over the modes with non-zero weight (no overflow)."""
    keep = weights_sq > 0
    w, lm = weights_sq[keep], log_mu_sq[keep]

    def norm(s: int) -> float:
        with np.errstate(over="ignore"):
            return math.sqrt(float(np.sum(w * np.exp(s * lm))))

    return norm


def predicted_sweeps(problem: Problem, criterion: StoppingCriterion, omega: float = 1.0,
                     initial_guess: np.ndarray | None = None) -> int:
    """Sweeps at which a Jacobi run checking ``criterion`` after every sweep stops.

    For ``discretization`` and ``discrete`` this is the smallest ``s`` whose iterate meets the
    criterion. For ``residual`` it is one more: the compiled kernel measures the residual of the
    iterate *before* its last sweep (from the update), so a real run sees ``r_s`` after sweep ``s + 1``.
    ``criterion.max_iterations`` is ignored (the point is to predict runs too long to make).

    Args:
        problem: the discrete problem (a box; any spacings).
        criterion: the stopping criterion.
        omega: the Jacobi weight, ``0 < ω <= 1``.
        initial_guess: interior values to start from (default zero).

    Raises:
        ValueError: if the criterion is never met.
    """
    coefficients = _initial_error_coefficients(problem, initial_guess)
    mu = jacobi_multipliers(problem, omega)
    with np.errstate(divide="ignore"):
        log_mu_sq = np.maximum(np.log(mu * mu), -1e300)  # μ = 0 (ω = 1, middle modes): gone after 1 sweep
    threshold = criterion.threshold(problem)
    if criterion.kind == "discrete":
        norm = float(np.linalg.norm(problem.discrete_solution)) or 1.0
        l2 = _l2_after(coefficients**2, log_mu_sq)
        return _first_true(lambda s: l2(s) / norm <= threshold)
    if criterion.kind == "residual":
        norm = float(np.linalg.norm(problem.rhs)) or 1.0
        l2 = _l2_after((laplacian_eigenvalues(problem.grid) * coefficients) ** 2, log_mu_sq)
        return _first_true(lambda s: l2(s) / norm <= threshold) + 1
    if criterion.kind == "discretization":
        return _discretization_sweeps(problem, coefficients, mu, log_mu_sq, threshold)
    raise ValueError(f"unknown criterion {criterion.kind!r}")


def _discretization_sweeps(problem: Problem, coefficients: np.ndarray, mu: np.ndarray,
                           log_mu_sq: np.ndarray, threshold: float) -> int:
    """Smallest ``s`` with ``||e_s + (u_h - u_exact)||_inf <= threshold`` (one inverse DST per trial).

    The l2 norm bounds the inf norm, so the cheap spectral bound brackets the search first.
    """
    offset = problem.discrete_solution - problem.exact
    slack = threshold - float(np.max(np.abs(offset)))
    l2 = _l2_after(coefficients**2, log_mu_sq)
    upper = _first_true(lambda s: l2(s) <= slack) if slack > 0 else None

    def holds(s: int) -> bool:
        if upper is not None and s >= upper:
            return True
        error = scipy.fft.idstn(np.power(mu, s) * coefficients, type=1, norm="ortho")
        return float(np.max(np.abs(error + offset))) <= threshold

    return _first_true(holds)
