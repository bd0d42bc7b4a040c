"""One level of the Galerkin hierarchy (:mod:`poissonfp.solvers.hierarchy.multilevel_galerkin`): its CSR
matrix and the smoothing on it.

**Smoother.** ω-Jacobi with the local diagonal (compiled CSR kernel of
:mod:`poissonfp.solvers.classical.csr_jacobi`), ``ω_l = ω · 2 / ρ(D_l⁻¹ A_l)`` with ``ρ`` bounded by Gershgorin on the
fine level (2, tight for its stencils) and estimated by power iteration on the coarse ones, so the box's weight ``ω`` (tuned for ``ρ = 2``, the (2d+1)-point Laplacian) carries over
to the 9- and 27-point Galerkin stencils and to variable coefficients; or Chebyshev steps
(:meth:`MatrixLevel.use_chebyshev`).
"""
from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from poissonfp.grid import Grid
from poissonfp.solvers.classical.csr_jacobi import csr_sweeps
from poissonfp.solvers.hierarchy import galerkin_kernels as kernels

__all__ = ["MatrixLevel"]


def _spectral_radius(arrays: tuple[np.ndarray, np.ndarray, np.ndarray], inv_diag: np.ndarray,
                     iterations: int = 12) -> float:
    """An upper estimate of ρ(D⁻¹A): power iteration from a seeded vector, plus 5 % (one compiled call;
    12 scipy products and numpy norms per level cost 0.4 ms of overhead at 127²)."""
    vector = np.random.default_rng(0).random(inv_diag.size)
    return 1.05 * kernels.power_estimate(*arrays, inv_diag, vector, iterations)


class MatrixLevel:
    """One level: its CSR matrix, flat iterate buffers, right-hand side and residual.

    Has the interface the coarse solvers use (``zero``, ``add``, ``smooth``, ``compute_residual``,
    ``rhs``, ``solution``, ``grid``, ``size``); ``smooth``'s ``omega`` is relative to ``ρ(D⁻¹A) = 2``.
    """

    def __init__(self, grid: Grid, matrix: sp.csr_matrix | tuple[np.ndarray, np.ndarray, np.ndarray],
                 inside: np.ndarray, singular: bool = False, fine: bool = False) -> None:
        self.grid, self.size, self.inside, self.singular = grid, grid.size, inside, singular
        if isinstance(matrix, tuple):  # diagonal-first CSR arrays (galerkin_product's layout), not copied
            indptr, indices, data = matrix
        else:
            csr = matrix.tocsr()
            indptr, indices, data = kernels.diagonal_first(*kernels.unsigned(csr.indptr, csr.indices, csr.data))
        self.arrays = (indptr, indices, data)
        self.matrix = sp.csr_matrix((data, indices, indptr), shape=(grid.size, grid.size), copy=False)
        off_ptr, off_indices, off_data, diagonal, bound = kernels.split_diagonal(indptr, indices, data)
        self._off = kernels.unsigned(off_ptr, off_indices, off_data)  # A - D: every row holds its diagonal
        self._kernel_arrays = kernels.unsigned(indptr, indices, data)  # the compiled kernels' view of A
        self.inv_diag = 1.0 / diagonal
        self.diagonal = diagonal.reshape(grid.shape)
        self.omega_scale = 2.0 / (bound if fine else _spectral_radius(self._kernel_arrays, self.inv_diag))
        self.rhs = np.zeros(grid.shape)
        self.residual = np.zeros(grid.shape)
        self._flat_rhs = self.rhs.reshape(-1)
        self._flat_residual = self.residual.reshape(-1)
        self.buffers = [np.zeros(grid.size), np.zeros(grid.size)]
        self._done = np.zeros(1, dtype=np.int64)
        self.last_residual_sq = math.inf
        self.smoother, self.chebyshev_ratio = "jacobi", 4.0
        self._work = np.zeros(0)

    def use_chebyshev(self, ratio: float) -> None:
        """Smooth by Chebyshev steps on ``[ρ / ratio, ρ]`` instead of ω-Jacobi (``omega`` is then unused)."""
        self.smoother, self.chebyshev_ratio = "chebyshev", float(ratio)
        self._work = np.zeros(self.size)

    @property
    def solution(self) -> np.ndarray:
        """The current iterate (a view of grid shape)."""
        return self.buffers[0].reshape(self.grid.shape)

    def zero(self) -> None:
        self.buffers[0].fill(0.0)

    def add(self, correction: np.ndarray) -> None:
        self.buffers[0] += np.ravel(correction)

    def smooth(self, count: int, omega: float, reference: np.ndarray | None = None, measure: bool = False) -> None:
        """``count`` ω-Jacobi sweeps; :attr:`last_residual_sq` holds the squared residual norm of the
        iterate the last sweep started from."""
        if count <= 0:
            return
        u, v = self.buffers
        if self.smoother == "chebyshev":  # the interval [ρ / ratio, ρ] of D⁻¹A, ρ as ω-Jacobi's weight has it
            upper = 2.0 / self.omega_scale
            self.last_residual_sq = kernels.chebyshev_smooth(*self._off, self.inv_diag, self._flat_rhs, u, v,
                                                             self._work, upper / self.chebyshev_ratio, upper,
                                                             int(count))
            return
        self.last_residual_sq = csr_sweeps(*self._off, self.inv_diag, self._flat_rhs, u, v,
                                           omega * self.omega_scale, int(count), self._done)
        if count % 2:
            self.buffers.reverse()

    def compute_residual(self) -> np.ndarray:
        kernels.residual(*self._kernel_arrays, self._flat_rhs, self.buffers[0], self._flat_residual)
        return self.residual

    def project(self) -> None:
        """Remove the iterate's mean over the unknowns (singular levels only)."""
        if self.singular:
            u = self.buffers[0]
            u[self.inside.ravel()] -= float(np.mean(u[self.inside.ravel()]))

    def system_matrix(self) -> sp.spmatrix:
        """The matrix, bordered by the zero-mean constraint when it is singular (for a direct solve)."""
        if not self.singular:
            return self.matrix
        ones = sp.csr_matrix(self.inside.ravel().astype(float)[None, :])
        return sp.bmat([[self.matrix, ones.T], [ones, None]], format="csc")

