"""Weighted Jacobi on the general operator (a mask, Neumann sides, a variable coefficient): one compiled
sweep over the rows of a CSR matrix.

The box keeps its stencil kernels (:mod:`poissonfp.solvers.classical.jacobi_kernels`); this iteration has their
interface (:class:`~poissonfp.solvers.classical.jacobi.JacobiIteration`'s ``sweeps``, ``solution``, ``set``,
``sweep``), so :func:`~poissonfp.solvers.classical.jacobi.run_jacobi` drives either. The last sweep of a call
measures the residual of the previous iterate for free (``r_i = d_i (u_new - u_old)_i / ω``); the errors
against a reference are measured after the call, on the iterate of zero mean when every side is Neumann.
"""
from __future__ import annotations

import functools
import math

import numpy as np
from numba import njit

from poissonfp.discrete_operator import DiscreteOperator
from poissonfp.solvers.base import DivergenceError
from poissonfp.solvers.classical.jacobi_schedule import BufferedIterate, working_unit

__all__ = ["CsrJacobiIteration", "csr_sweeps", "warm_up"]


@njit(cache=True)
def _plain_sweep(indptr, indices, data, inv_diag, b, u, v, omega):  # pragma: no cover - compiled
    for i in range(b.shape[0]):
        total = b[i]
        for p in range(indptr[i], indptr[i + 1]):
            total -= data[p] * u[indices[p]]
        v[i] = (1.0 - omega) * u[i] + omega * inv_diag[i] * total


@njit(cache=True)
def csr_sweeps(indptr, indices, data, inv_diag, b, u, v, omega, count, done):  # pragma: no cover - compiled
    """``count`` sweeps of ``u <- (1 - ω) u + ω D^{-1} (b - (A - D) u)`` ping-ponging ``u`` -> ``v``;
    ``(indptr, indices, data)`` is ``A - D`` in CSR. Returns the squared residual norm of the iterate
    the last sweep started from; the result sits in ``u`` when ``count`` is even, in ``v`` when odd.
    Only the last sweep measures (a branch-free loop for the others)."""
    for _ in range(count - 1):
        _plain_sweep(indptr, indices, data, inv_diag, b, u, v, omega)
        u, v = v, u
        done[0] += 1
    squared = 0.0
    for i in range(b.shape[0]):
        total = b[i]
        for p in range(indptr[i], indptr[i + 1]):
            total -= data[p] * u[indices[p]]
        old = u[i]
        new = (1.0 - omega) * old + omega * inv_diag[i] * total
        v[i] = new
        r = (new - old) / (omega * inv_diag[i])
        squared += r * r
    done[0] += 1
    return squared


@functools.cache
def warm_up() -> None:
    """Compile (or load from numba's cache) the kernel once per process."""
    one = np.ones(1)
    csr_sweeps(np.zeros(2, dtype=np.int32), np.zeros(0, dtype=np.int32), np.zeros(0), one, one, np.zeros(1),
               np.zeros(1), 1.0, 1, np.zeros(1, dtype=np.int64))


class CsrJacobiIteration(BufferedIterate):
    """Weighted-Jacobi state on a general operator: two flat buffers and the off-diagonal CSR part.

    Args:
        operator: the discrete operator.
        rhs: the right-hand side, of the grid's shape.
        omega: the weight, 0 < ω <= 1.
        initial_guess: values to start from (default zero).
    """

    def __init__(self, operator: DiscreteOperator, rhs: np.ndarray, omega: float = 1.0,
                 initial_guess: np.ndarray | None = None) -> None:
        import scipy.sparse as sp

        warm_up()
        self.operator = operator
        self.omega = float(omega)
        matrix = operator.matrix.tocsr()
        diagonal = matrix.diagonal()
        off = (matrix - sp.diags(diagonal)).tocsr()
        off.eliminate_zeros()
        self._off = (off.indptr.astype(np.int32), off.indices.astype(np.int32), off.data.astype(np.float64))
        self._inv_diag = 1.0 / diagonal
        self._unit = working_unit(rhs)
        self._rhs = np.ascontiguousarray(rhs / self._unit, dtype=np.float64).ravel()
        self._buffers = [np.zeros(operator.grid.size), np.zeros(operator.grid.size)]
        self._done = np.zeros(1, dtype=np.int64)
        if initial_guess is not None:
            self.set(initial_guess)

    def _view(self, buffer: np.ndarray) -> np.ndarray:
        return buffer.reshape(self.operator.grid.shape)  # flat buffers, no halo: a view

    def sweep(self, count: int, reference: np.ndarray | None = None) -> dict[str, float]:
        """Run ``count`` >= 1 sweeps; the residual norm of the last sweep's start and, with
        ``reference``, the squared-sum and maximum error of the new iterate against it."""
        current = self.sweeps % 2
        u, v = self._buffers[current], self._buffers[1 - current]
        squared = csr_sweeps(*self._off, self._inv_diag, self._rhs, u, v, self.omega, int(count), self._done)
        if not math.isfinite(squared):
            raise DivergenceError("Jacobi iterate is not finite (NaN or inf): the iteration diverged")
        error_sq = error_max = 0.0
        if reference is not None:
            error = (self.operator.project(self.solution) - reference) / self._unit
            error_sq, error_max = float(np.sum(error**2)), float(np.max(np.abs(error)))
        return self._scaled_stats(math.sqrt(squared), error_sq, error_max)
