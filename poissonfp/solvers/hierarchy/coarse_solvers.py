"""Solvers of a hierarchy's coarsest level: :class:`CoarseIteration` (a Galerkin correction and sweeps) and
:class:`ExactCoarse` (sparse LU).

Both take any level with ``zero``, ``add``, ``smooth``, ``compute_residual``, ``rhs``, ``solution``, ``grid``
and ``size`` (the box's :class:`~poissonfp.solvers.hierarchy.multilevel.Level`, the Galerkin
:class:`~poissonfp.solvers.hierarchy.matrix_level.MatrixLevel`, the torch levels) and return their work in
sweeps of that level (the hierarchy scales it). A :class:`~poissonfp.neural.galerkin.GalerkinSpace` (any: the
network's, a classical basis) plugs into :class:`CoarseIteration` as its correction, and ``space=None``
leaves plain sweeps (the same method without the space: the control that shows the space's share). A
Galerkin correction counts ``2 m N_c / (2d+1)`` sweeps of the level, a triangular solve ``nnz(L + U) / (2d+1)``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = ["CoarseIteration", "ExactCoarse"]


class CoarseIteration:
    """Solve the coarsest level by ``{Galerkin correction, sweeps}`` until the residual drops by ``reduction``.

    Works on any level with ``zero``, ``add``, ``smooth``, ``compute_residual`` and ``rhs`` (numpy
    :class:`~poissonfp.solvers.hierarchy.multilevel.Level` or :class:`~poissonfp.solvers.hybrids.torch_backend.TorchLevel`).

    Args:
        space: a :class:`~poissonfp.neural.galerkin.GalerkinSpace` on the coarsest grid (or anything with
            ``.correction(r)`` and ``.size``), or None for sweeps alone.
        sweeps: sweeps after each correction.
        reduction: target factor of the coarsest residual.
        max_iterations: cap on the passes (each ``sweeps`` sweeps).
    """

    def __init__(self, space=None, sweeps: int = 4, reduction: float = 0.05, max_iterations: int = 10_000) -> None:
        self.space, self.sweeps, self.reduction, self.max_iterations = space, sweeps, reduction, max_iterations
        self.passes = 0

    def solve(self, level: Any, omega: float, from_zero: bool = True) -> float:
        """Overwrite ``level``'s iterate with an approximate solution from zero (or improve the current
        iterate, ``from_zero=False``: a hierarchy of one level); return the work done in units of sweeps
        of ``level`` (the caller scales it)."""
        if from_zero:
            level.zero()
            r = level.rhs
        else:
            r = level.compute_residual()
        goal = self.reduction * _norm(r)
        work = 0.0
        factor = 2 * (self.space.size if self.space is not None else 0) / (2 * level.grid.ndim + 1)
        for _ in range(self.max_iterations):
            if self.space is not None:
                level.add(self.space.correction(r))
            level.smooth(self.sweeps, omega)
            r = level.compute_residual()
            work += factor + self.sweeps + 1
            self.passes += 1
            if _norm(r) <= goal:
                break
        return work


def _norm(array) -> float:
    """The l2 norm of a numpy array or a torch tensor."""
    return float((array * array).sum()) ** 0.5


class ExactCoarse:
    """Sparse LU (SuperLU) of the coarsest level's matrix, factorised on first use."""

    def __init__(self) -> None:
        self._lu: Any = None
        self.passes = 0

    def solve(self, level: Any, omega: float, from_zero: bool = True) -> float:  # exact: any start
        from scipy.sparse.linalg import splu

        if self._lu is None:
            if hasattr(level, "system_matrix"):  # a Galerkin level (bordered when singular)
                matrix = sp.csc_matrix(level.system_matrix())
            else:
                from poissonfp.operators import laplacian_matrix

                matrix = laplacian_matrix(level.grid, format="csc")
            self._lu = splu(matrix)
            self._work = (self._lu.L.nnz + self._lu.U.nnz) / (2 * level.grid.ndim + 1)
        rhs = level.rhs.ravel()
        if self._lu.shape[0] > level.size:  # the zero-mean constraint's row
            rhs = np.append(rhs, 0.0)
        solution = self._lu.solve(rhs)[: level.size]
        level.zero()
        level.solution[...] = solution.reshape(level.grid.shape)
        self.passes += 1
        return self._work / level.size
