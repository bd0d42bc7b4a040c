"""Weighted Jacobi iteration, the baseline every other method is compared against.

The error propagates as ``e <- R e`` with ``R = I - ω D^{-1} A``; for ω = 1 its eigenvalues are
``(1/d) Σ_d cos(k_d π h_d)`` (equal spacings), so high frequencies die fast and the lowest mode
decays by ``cos(π h)`` per sweep: O(n^2) sweeps. Sweeps run in compiled batches; the stopping
criterion is evaluated at the end of each batch from statistics the last sweep gathers for free.
"""
from __future__ import annotations

import functools
import math
import time

from typing import TYPE_CHECKING, Union

import numpy as np

from poissonfp.operators import diagonal
from poissonfp.problem import Problem
from poissonfp.solvers.base import DivergenceError, Monitor, SolveResult, require_box
from poissonfp.solvers.jacobi_kernels import sweeps_1d, sweeps_2d, sweeps_3d

__all__ = ["JacobiIteration", "working_unit", "jacobi_iteration", "solve_jacobi", "run_jacobi", "jacobi_factor", "warm_up", "check_batch", "next_batch"]

if TYPE_CHECKING:
    from poissonfp.solvers.csr_jacobi import CsrJacobiIteration

_KERNELS = {1: sweeps_1d, 2: sweeps_2d, 3: sweeps_3d}


@functools.cache
def warm_up(ndim: int) -> None:
    """Compile (or load from numba's cache) the kernel for ``ndim`` once per process, so that no
    solve's wall time includes compilation."""
    shape = (1,) * ndim
    _KERNELS[ndim](np.zeros(tuple(3 for _ in shape)), np.zeros(tuple(3 for _ in shape)), np.zeros(shape),
                   np.ones(ndim), 0.5, 1.0, 1, np.zeros((0,) * ndim), np.zeros(1, dtype=np.int64))


def jacobi_factor(problem: Problem, omega: float = 1.0, mode: tuple[int, ...] | None = None) -> float | None:
    """Per-sweep amplification of sine mode ``mode`` (default: the lowest) by weighted Jacobi; None off
    the constant-coefficient Dirichlet box, where the sine modes are not eigenvectors."""
    if not problem.on_box:
        return None
    grid = problem.grid
    mode = mode or (1,) * grid.ndim
    weights = [2.0 / h**2 for h in grid.spacing]
    mean_cos = sum(w * math.cos(k * math.pi / (n + 1)) for w, k, n in zip(weights, mode, grid.shape)) / sum(weights)
    return 1.0 - omega + omega * mean_cos


def working_unit(rhs: np.ndarray) -> float:
    """The power of two a Jacobi iteration divides its data by: 1 for a right-hand side whose largest
    entry lies within 2^±400, else that entry rounded to a power of two. The compiled sweeps sum squared
    residuals; on data of size 1e-200 they would underflow to 0 (a "converged" first sweep) and on 1e300
    overflow. Dividing by a power of two is exact, so results are the same bits either way."""
    largest = float(np.max(np.abs(rhs))) if rhs.size else 0.0
    if largest == 0.0 or not math.isfinite(largest) or 2.0**-400 <= largest <= 2.0**400:
        return 1.0
    return math.ldexp(1.0, math.frexp(largest)[1])


class BufferedIterate:
    """Two buffers and a sweep counter (incremented by the compiled kernel after each sweep) whose parity
    names the buffer holding the current iterate; subclasses say which part of a buffer is the grid
    (:meth:`_view`). The buffers hold the iterate divided by :attr:`_unit` (see :func:`working_unit`)."""

    _buffers: list[np.ndarray]
    _done: np.ndarray
    _unit: float = 1.0

    def _view(self, buffer: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    @property
    def sweeps(self) -> int:
        """Sweeps run so far."""
        return int(self._done[0])

    @property
    def solution(self) -> np.ndarray:
        """The current iterate (a view of the grid's shape; a copy when the data is rescaled)."""
        view = self._view(self._buffers[self.sweeps % 2])
        return view if self._unit == 1.0 else view * self._unit

    def set(self, u: np.ndarray) -> None:
        """Overwrite the current iterate."""
        self._view(self._buffers[self.sweeps % 2])[...] = u if self._unit == 1.0 else np.asarray(u) / self._unit

    def _scaled_stats(self, residual_norm: float, error_sq: float, error_max: float) -> dict[str, float]:
        """A sweep's statistics in the problem's units (``error_sq`` stays of the rescaled iterate)."""
        return {"residual_norm": residual_norm * self._unit, "error_sq": error_sq,
                "error_max": error_max * self._unit, "unit": self._unit}

    def _scaled_reference(self, reference: np.ndarray | None) -> np.ndarray | None:
        if reference is None or self._unit == 1.0:
            return reference
        return np.ascontiguousarray(reference / self._unit)


class JacobiIteration(BufferedIterate):
    """State of a weighted-Jacobi iteration on ``problem``: two padded buffers and the kernel.

    The kernel counts its sweeps in an array it increments after each one, and the current iterate is
    the buffer the count's parity names; so :attr:`sweeps` and :attr:`solution` stay right even when a
    Ctrl-C lands as a kernel call returns.

    Args:
        problem: the discrete problem.
        omega: the weight, 0 < ω <= 1.
        initial_guess: interior values to start from (default zero).
    """

    def __init__(self, problem: Problem, omega: float = 1.0, initial_guess: np.ndarray | None = None) -> None:
        grid = problem.grid
        self.problem = problem
        self.omega = float(omega)
        self._kernel = _KERNELS[grid.ndim]
        warm_up(grid.ndim)
        self._unit = working_unit(problem.rhs)
        self._rhs = np.ascontiguousarray(problem.rhs / self._unit, dtype=np.float64)
        self._coefficients = np.array([1.0 / h**2 for h in grid.spacing])
        self._diagonal = diagonal(grid)
        self._buffers = [np.zeros(tuple(n + 2 for n in grid.shape)), np.zeros(tuple(n + 2 for n in grid.shape))]
        self._interior = tuple([slice(1, -1)] * grid.ndim)
        self._done = np.zeros(1, dtype=np.int64)
        if initial_guess is not None:
            self.set(initial_guess)

    def _view(self, buffer: np.ndarray) -> np.ndarray:
        return buffer[self._interior]  # the buffers carry a zero halo

    def sweep(self, count: int, reference: np.ndarray | None = None) -> dict[str, float]:
        """Run ``count`` >= 1 sweeps; return the last sweep's residual norm (of the previous iterate)
        and, with ``reference``, the squared-sum and maximum error of the new iterate against it."""
        empty = np.zeros((0,) * self.problem.grid.ndim)
        reference = self._scaled_reference(reference)
        current = self.sweeps % 2
        u, v = self._buffers[current], self._buffers[1 - current]
        stats = self._kernel(u, v, self._rhs, self._coefficients, 1.0 / self._diagonal, self.omega, int(count),
                             empty if reference is None else reference, self._done)
        totals = stats.sum(axis=0)
        update_norm = math.sqrt(totals[0])
        if not math.isfinite(update_norm):
            raise DivergenceError("Jacobi iterate is not finite (NaN or inf): the iteration diverged")
        return self._scaled_stats(update_norm * self._diagonal / self.omega, float(totals[1]),
                                  float(stats[:, 2].max()))


def jacobi_iteration(problem: Problem, omega: float = 1.0,
                     initial_guess: np.ndarray | None = None) -> Union[JacobiIteration, "CsrJacobiIteration"]:
    """The Jacobi iteration for ``problem``: the stencil kernels on the box, the CSR kernel elsewhere."""
    if problem.on_box:
        return JacobiIteration(problem, omega, initial_guess)
    from poissonfp.solvers.csr_jacobi import CsrJacobiIteration

    return CsrJacobiIteration(problem.operator, problem.rhs, omega, initial_guess)


def check_batch(grid_size: int, sweeps_done: int, batch: int = 0) -> int:
    """Sweeps between two checks of the stopping criterion after ``sweeps_done`` sweeps.

    At least ``batch`` (or, when 0, enough sweeps to amortise a kernel call: 64, more on tiny grids),
    and ``sweeps_done // 512`` later on, so a run overshoots its criterion by at most 0.2%.
    """
    base = batch or max(64, math.ceil(2**18 / grid_size))
    return max(base, sweeps_done // 512)


def next_batch(grid_size: int, sweeps_done: int, batch: int = 0) -> int:
    """The batch :func:`run_jacobi` runs next: :func:`check_batch`, and while ``batch`` is automatic
    (0) also at most ``max(1, sweeps_done // 8)``, so a solve that needs few sweeps reports close to
    the sweeps it needed (at most 12.5% more), not a whole first batch (2**18 sweeps on one unknown)."""
    count = check_batch(grid_size, sweeps_done, batch)
    return count if batch else min(count, max(1, sweeps_done // 8))


#: Longest kernel call in seconds: bounds how late a Ctrl-C is seen whatever ``check_every`` is.
KERNEL_CALL_S = 0.05


def _sweep_bounded(iteration: Union[JacobiIteration, "CsrJacobiIteration"], count: int, reference: np.ndarray | None,
                   pace: list[float]) -> dict[str, float]:
    """Run ``count`` sweeps in kernel calls of about :data:`KERNEL_CALL_S` seconds at most (``pace``
    holds the last measured seconds per sweep); return the statistics of the last sweep."""
    left = count
    while True:
        chunk = min(left, 1 if pace[0] <= 0 else max(1, int(KERNEL_CALL_S / pace[0])))
        start = time.perf_counter()
        stats = iteration.sweep(chunk, reference if chunk == left else None)
        pace[0] = (time.perf_counter() - start) / chunk
        left -= chunk
        if left == 0:
            return stats


def run_jacobi(
    iteration: Union[JacobiIteration, "CsrJacobiIteration"],
    monitor: Monitor,
    max_sweeps: int,
    *,
    sweeps_done: int = 0,
    dnn_steps: int = 0,
    batch: int = 0,
) -> tuple[int, str]:
    """Sweep until the monitor's criterion holds or ``max_sweeps`` more sweeps are spent.

    The criterion is checked after each batch (:func:`next_batch`); a batch runs in kernel calls of
    at most ~:data:`KERNEL_CALL_S` s, so a Ctrl-C stops the run within about that time, and the
    sweeps it reports are the sweeps that ran (the kernel counts them). History is recorded at
    geometrically spaced sweep counts.

    Returns:
        (sweeps run, stop reason: ``"converged"``, ``"max_iterations"`` or ``"interrupted"``).
    """
    problem = monitor.problem
    criterion = monitor.criterion
    reference, scale = criterion.reference(problem), criterion.scale(problem)
    first, next_record, pace = iteration.sweeps, 1, [0.0]
    try:
        while iteration.sweeps - first < max_sweeps:
            done = iteration.sweeps - first
            count = min(next_batch(problem.grid.size, sweeps_done + done, batch), max_sweeps - done)
            stats = _sweep_bounded(iteration, count, reference, pace)
            done = iteration.sweeps - first
            if monitor.satisfied(criterion.from_sweep(stats, scale)):
                return done, "converged"
            if done >= next_record:
                monitor.record(iteration.solution, sweeps_done + done, dnn_steps, phase="jacobi")
                next_record = max(done + 1, int(done * 1.08))
    except KeyboardInterrupt:
        return iteration.sweeps - first, "interrupted"
    return iteration.sweeps - first, "max_iterations"


def solve_jacobi(problem: Problem, monitor: Monitor, *, omega: float = 1.0,
                 initial_guess: np.ndarray | None = None, check_every: int = 0, device: str | None = None,
                 **_: object) -> SolveResult:
    """Solve ``A u = b`` by weighted Jacobi from ``initial_guess`` (default zero); ``device="cuda"``
    sweeps on the GPU through torch (:mod:`poissonfp.solvers.torch_solvers`, from zero)."""
    if device == "cuda":
        require_box(problem, "jacobi on cuda (the torch stencil)")
        from poissonfp.solvers.torch_solvers import solve_jacobi_torch

        return solve_jacobi_torch(problem, monitor, device=device, omega=omega, check_every=check_every)
    iteration, reason = None, "interrupted"
    try:
        iteration = jacobi_iteration(problem, omega, initial_guess)
        monitor.restart()
        monitor.record(iteration.solution, 0, phase="jacobi")
        reason = run_jacobi(iteration, monitor, monitor.criterion.max_iterations, batch=check_every)[1]
    except KeyboardInterrupt:
        pass  # interrupted before the sweeps: the state reached is the initial guess
    if iteration is not None:
        u, sweeps = iteration.solution.copy(), iteration.sweeps
    else:
        u = np.zeros(problem.grid.shape) if initial_guess is None else np.array(initial_guess, dtype=float)
        sweeps = 0
    return monitor.result("jacobi", u, reason, sweeps,
                          info={"omega": omega, "factor_lowest_mode": jacobi_factor(problem, omega)})
