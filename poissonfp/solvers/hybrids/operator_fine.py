"""The fine grid of the operator iteration for K right-hand sides at once: iterates, right-hand sides and
residuals, blocks of ω-Jacobi sweeps that record every sweep's residual norm, ``A d`` and the update ``u += d``.
On the Dirichlet box by compiled batched kernels (:mod:`poissonfp.solvers.hybrids.operator_kernels`), elsewhere by
the sparse matrix (:class:`GeneralFine`); both have the same interface, which
:class:`~poissonfp.solvers.hybrids.operator_iteration.OperatorIteration` drives."""
from __future__ import annotations

from typing import Any

import numpy as np

from poissonfp.problem import Problem
from poissonfp.solvers.hybrids import operator_kernels as kernels

__all__ = ["BoxFine", "GeneralFine", "SparseSystem", "column", "dot"]


def dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise inner products of two batches ``(K, ...)``."""
    return np.einsum("ij,ij->i", a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1))


def column(values: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Per-row ``values`` shaped to broadcast over a batch like ``like``."""
    return np.asarray(values).reshape((-1,) + (1,) * (like.ndim - 1))


class SparseSystem:
    """``A`` on batches ``(K, *shape)`` by the sparse matrix (off the box) and its diagonal."""

    def __init__(self, problem: Problem) -> None:
        self.matrix = problem.operator.matrix.tocsr()
        self.inverse_diagonal = 1.0 / problem.operator.diagonal

    def apply(self, u: np.ndarray) -> np.ndarray:
        k = u.shape[0]
        return np.asarray(self.matrix @ u.reshape(k, -1).T).T.reshape(u.shape)


class BoxFine:
    """The fine level on the Dirichlet box, compiled (:mod:`poissonfp.solvers.hybrids.operator_kernels`): zero-padded
    iterates, right-hand sides and residuals of K rows, allocated once."""

    def __init__(self, problem: Problem, b: np.ndarray) -> None:
        from poissonfp.operators import diagonal

        grid = problem.grid
        self.ndim = grid.ndim
        self.coefficients = np.array([1.0 / h**2 for h in grid.spacing])
        self.diagonal = diagonal(grid)
        padded = (b.shape[0], *tuple(n + 2 for n in grid.shape))
        self.iterates = [np.zeros(padded), np.zeros(padded)]
        self.b = np.ascontiguousarray(b, dtype=float)
        self.r = self.b.copy()
        self.scratch = np.zeros(padded)
        self.zero = np.zeros_like(self.b)
        self.product = np.zeros_like(self.b)
        self.interior: tuple[Any, ...] = (slice(1, -1),) * self.ndim
        self.everything = np.arange(b.shape[0], dtype=np.int64)

    def solution(self, k: int) -> np.ndarray:
        return self.iterates[0][(k, *self.interior)]

    def solutions(self) -> np.ndarray:
        return self.iterates[0][(slice(None), *self.interior)]

    def block(self, rows: np.ndarray, count: int, omega: float, target: np.ndarray, norms: np.ndarray,
              done: np.ndarray) -> None:
        kernels.BLOCK[self.ndim](self.iterates[0], self.iterates[1], self.b, rows, self.coefficients,
                                 1.0 / self.diagonal, omega, count, target, norms, done)

    def residual(self, rows: np.ndarray) -> None:
        kernels.RESIDUAL[self.ndim](self.iterates[0], self.b, rows, self.coefficients, self.diagonal, self.r)

    def apply(self, d: np.ndarray) -> np.ndarray:
        m = d.shape[0]
        self.scratch[(slice(None, m), *self.interior)] = d
        kernels.RESIDUAL[self.ndim](self.scratch, self.zero, self.everything[:m], self.coefficients, self.diagonal,
                                    self.product)
        return -self.product[:m]

    def add(self, rows: np.ndarray, d: np.ndarray) -> None:
        self.iterates[0][(rows, *self.interior)] += d


class GeneralFine:
    """The fine level off the box (sparse matrix, numpy): the same interface as :class:`BoxFine`."""

    def __init__(self, problem: Problem, b: np.ndarray) -> None:
        self.system = SparseSystem(problem)
        self.b = np.array(b, dtype=float)
        self.u = np.zeros_like(self.b)
        self.r = self.b.copy()

    def solution(self, k: int) -> np.ndarray:
        return self.u[k]

    def solutions(self) -> np.ndarray:
        return self.u

    def block(self, rows: np.ndarray, count: int, omega: float, target: np.ndarray, norms: np.ndarray,
              done: np.ndarray) -> None:
        u, b = self.u[rows], self.b[rows]
        going = np.ones(len(rows), dtype=bool)
        done[rows] = 0
        for s in range(count):
            r = b - self.system.apply(u)
            norms[rows, s] = np.where(going, dot(r, r), norms[rows, s])
            u = u + column(going * omega, r) * self.system.inverse_diagonal * r
            done[rows] += going
            going &= norms[rows, s] > target[rows]
            if not going.any():
                break
        self.u[rows] = u

    def residual(self, rows: np.ndarray) -> None:
        self.r[rows] = self.b[rows] - self.system.apply(self.u[rows])

    def apply(self, d: np.ndarray) -> np.ndarray:
        return self.system.apply(d)

    def add(self, rows: np.ndarray, d: np.ndarray) -> None:
        self.u[rows] += d
