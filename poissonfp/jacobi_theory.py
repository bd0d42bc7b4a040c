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

import itertools
import math
from collections.abc import Callable

import numpy as np
import scipy.fft

from poissonfp.operators import diagonal, laplacian_eigenvalues
from poissonfp.problem import Problem
from poissonfp.solvers.base import StoppingCriterion

__all__ = ["NotOnBox", "error_after", "estimated_sweeps", "jacobi_multipliers", "predicted_sweeps"]

#: Sweep counts beyond this are treated as "never" (the criterion cannot be met).
MAX_SWEEPS = 2**44


class NotOnBox(ValueError):
    """The sine modes are not the operator's eigenvectors: the prediction is not available."""


def _require_box(problem: Problem) -> None:
    if not problem.on_box:
        assert problem.general is not None
        raise NotOnBox(f"Jacobi's exact sweep count is not available for {problem.name}: it needs the sine modes "
                       f"to be A's eigenvectors (the constant-coefficient Dirichlet box); this problem has "
                       f"{problem.general.why_not_box}")


def jacobi_multipliers(problem: Problem, omega: float = 1.0) -> np.ndarray:
    """Per-sweep factor ``μ_k = 1 - ω λ_k / D`` of every sine mode, an array of ``grid.shape``.

    Raises:
        NotOnBox: Off the constant-coefficient Dirichlet box (so do the functions below that use it).
    """
    _require_box(problem)
    return 1.0 - omega * laplacian_eigenvalues(problem.grid) / diagonal(problem.grid)


def _initial_error_coefficients(problem: Problem, initial_guess: np.ndarray | None) -> np.ndarray:
    _require_box(problem)
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


def _attenuation(grids, d: int, k: np.ndarray) -> np.ndarray:
    """Factor by which full weighting down ``grids`` multiplies fine sine mode ``k`` along axis ``d``."""
    factor = np.ones(k.shape)
    for fine, coarse in itertools.pairwise(grids):
        if fine.shape[d] != coarse.shape[d]:
            factor *= np.cos(k * np.pi * fine.spacing[d] / (2.0 * (fine.upper[d] - fine.lower[d]))) ** 2
    return factor


def estimated_sweeps(problem: Problem, kind: str, target: float, omega: float = 1.0,
                     probe_points: int = 31, restricted: tuple | None = None) -> dict:
    """Pure Jacobi's sweeps from zero, estimated from the right-hand side alone (no solve).

    The right-hand side is restricted (full weighting) to a probe grid of at most ``probe_points`` per axis
    (the multilevel hierarchy's), whose DST-I gives the fine sine coefficients of the modes it resolves
    (divided by the known attenuation of full weighting); each mode's solution amplitude ``b̂_k / λ_k``
    decays by ``|μ_k|`` per sweep. The energy the probe does not see (``||b||² - Σ b̂_k²``) is put, as a
    bound, on the slowest mode it cannot resolve. Sweeps are the most any one mode needs to fall below
    ``target / sqrt(M)`` (``M`` modes with content), in the metric of ``kind``: ``"discretization"``
    (max-norm of the error; ``target`` absolute), ``"discrete"`` (l2 error relative to ``||u_h||``, which
    is estimated from the probe), ``"residual"`` (l2 residual, absolute). Costs one pass over the fine grid and a transform of the probe grid.

    Returns:
        ``{"sweeps", "probe_shape", "modes", "tail_fraction", "slowest_mode"}``.
    """
    from poissonfp.solvers.hierarchy.multilevel import restriction_chain

    _require_box(problem)
    grid = problem.grid
    if restricted is None:
        grids, chain = restriction_chain(grid, probe_points)
        coarse = np.ascontiguousarray(problem.rhs, dtype=float)
        for restrict in chain:
            coarse = restrict(coarse).copy()
    else:
        grids, coarse = restricted
    probe = grids[-1]
    beta = scipy.fft.dstn(coarse, type=1, norm="ortho")
    diag = diagonal(grid)

    def eigenvalue(mode) -> float:
        """Fine-grid eigenvalue of the 0-based sine mode ``mode``."""
        return sum(4.0 / h**2 * math.sin((k + 1) * math.pi / (2 * (n + 1))) ** 2
                   for k, n, h in zip(mode, grid.shape, grid.spacing))
    scale = np.ones(probe.shape)
    for d, (nf, nc) in enumerate(zip(grid.shape, probe.shape)):
        k = np.arange(1, nc + 1, dtype=float)
        shape = [1] * grid.ndim
        shape[d] = nc
        scale = scale * (np.maximum(_attenuation(grids, d, k), 1e-3) * math.sqrt((nc + 1) / (nf + 1))).reshape(shape)
    rhs_hat = beta / scale
    lam = np.zeros(probe.shape)
    for d, (nc, nf, h) in enumerate(zip(probe.shape, grid.shape, grid.spacing)):
        shape = [1] * grid.ndim
        shape[d] = nc
        lam = lam + (4.0 / h**2 * np.sin(np.arange(1, nc + 1) * np.pi / (2 * (nf + 1))) ** 2).reshape(shape)
    amplitude = np.abs(rhs_hat) / lam
    mu = np.abs(1.0 - omega * lam / diag)
    flat = problem.rhs.ravel()
    total_sq = float(np.dot(flat, flat))
    tail_sq = max(0.0, total_sq - float(np.sum(rhs_hat**2))) if probe.shape != grid.shape else 0.0
    weights = {"discretization": math.prod(math.sqrt(2.0 / (n + 1)) for n in grid.shape),
               "discrete": 1.0, "residual": None}[kind]
    content = amplitude * (lam if weights is None else weights)
    if kind == "discrete":
        target = target * math.sqrt(float(np.sum(amplitude**2)))
    modes = int(np.count_nonzero(content > 1e-3 * target))
    tail = 0.0
    if tail_sq > 1e-20 * total_sq and probe.shape != grid.shape:
        unresolved = [tuple(probe.shape[e] if e == d else 0 for e in range(grid.ndim)) for d in range(grid.ndim)
                      if probe.shape[d] < grid.shape[d]]
        lam_tail = min(eigenvalue(m) for m in unresolved)
        tail = math.sqrt(tail_sq) / lam_tail * (lam_tail if weights is None else weights)
        modes += 1
    goal = target / math.sqrt(max(modes, 1))
    sweeps = 0
    slowest: list[int] | str | None = None  # the mode (1-based indices), or why none
    with np.errstate(divide="ignore"):
        rates = -np.log(np.maximum(mu, 1e-300))
        needed = np.where(content > goal, np.log(np.maximum(content, 1e-300) / goal) / rates, 0.0)
    if needed.size and needed.max() > 0:
        sweeps = math.ceil(needed.max())
        slowest = [int(i) + 1 for i in np.unravel_index(int(np.argmax(needed)), needed.shape)]
    if tail > goal:
        mu_tail = max(abs(1.0 - omega * eigenvalue(m) / diag) for m in unresolved)
        tail_sweeps = math.ceil(math.log(tail / goal) / -math.log(max(mu_tail, 1e-300)))
        if tail_sweeps > sweeps:
            sweeps, slowest = tail_sweeps, "unresolved by the probe"
    return {"sweeps": sweeps, "probe_shape": list(probe.shape), "modes": modes,
            "tail_fraction": math.sqrt(tail_sq / total_sq) if total_sq else 0.0, "slowest_mode": slowest}
