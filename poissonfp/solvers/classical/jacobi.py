"""Weighted Jacobi iteration, the baseline every other method is compared against.

The error propagates as ``e <- R e`` with ``R = I - ω D^{-1} A``; for ω = 1 its eigenvalues are
``(1/d) Σ_d cos(k_d π h_d)`` (equal spacings), so high frequencies die fast and the lowest mode
decays by ``cos(π h)`` per sweep: O(n^2) sweeps. Sweeps run in compiled batches; the stopping
criterion is evaluated at the end of each batch from statistics the last sweep gathers for free.
"""
from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import numpy as np

from poissonfp.operators import diagonal
from poissonfp.problem import Problem
from poissonfp.solvers.base import DivergenceError, Monitor, SolveResult, require_box
from poissonfp.solvers.classical.jacobi_kernels import KERNELS, warm_up
from poissonfp.solvers.classical.jacobi_schedule import (
    KERNEL_CALL_S,
    BufferedIterate,
    check_batch,
    next_batch,
    working_unit,
)

_KERNELS = KERNELS  # the name tests and older callers use

__all__ = [
    # defined in jacobi_kernels and jacobi_schedule (shared with the CSR and torch iterations), kept here
    "KERNEL_CALL_S",
    "BufferedIterate",
    "JacobiIteration",
    "check_batch",
    "jacobi_factor",
    "jacobi_iteration",
    "next_batch",
    "run_jacobi",
    "solve_jacobi",
    "warm_up",
    "working_unit",
]

if TYPE_CHECKING:
    from poissonfp.solvers.classical.csr_jacobi import CsrJacobiIteration

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
        self._kernel = KERNELS[grid.ndim]
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
                     initial_guess: np.ndarray | None = None) -> JacobiIteration | CsrJacobiIteration:
    """The Jacobi iteration for ``problem``: the stencil kernels on the box, the CSR kernel elsewhere."""
    if problem.on_box:
        return JacobiIteration(problem, omega, initial_guess)
    from poissonfp.solvers.classical.csr_jacobi import CsrJacobiIteration

    return CsrJacobiIteration(problem.operator, problem.rhs, omega, initial_guess)


def _sweep_bounded(iteration: JacobiIteration | CsrJacobiIteration, count: int, reference: np.ndarray | None,
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
    iteration: JacobiIteration | CsrJacobiIteration,
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
    sweeps on the GPU through torch (:mod:`poissonfp.solvers.classical.torch_jacobi`, from zero)."""
    if device == "cuda":
        require_box(problem, "jacobi on cuda (the torch stencil)")
        from poissonfp.solvers.classical.torch_jacobi import solve_jacobi_torch

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
