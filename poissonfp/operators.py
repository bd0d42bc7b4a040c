"""The finite-difference Laplacian ``A = -Δ_h`` on interior points, and its exact inverse.

``A`` is the standard second-order (2d+1)-point operator with zero boundary values; non-zero
Dirichlet data enter through the right-hand side (:func:`fold_boundary`). ``A`` is available
matrix-free (:func:`apply_laplacian`), as a scipy sparse matrix (:func:`laplacian_matrix`) and
inverted exactly by the discrete sine transform (:func:`solve_dst`), which diagonalises it on boxes.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from poissonfp.grid import Grid

if TYPE_CHECKING:  # scipy is imported where it is used: importing this module stays light
    import scipy.sparse as sp

__all__ = [
    "apply_laplacian",
    "diagonal",
    "fold_boundary",
    "laplacian_eigenvalues",
    "laplacian_matrix",
    "residual",
    "solve_dst",
]


def diagonal(grid: Grid) -> float:
    """The (constant) diagonal entry of ``A``: ``sum_d 2 / h_d^2``."""
    return float(sum(2.0 / h**2 for h in grid.spacing))


def apply_laplacian(grid: Grid, u: np.ndarray) -> np.ndarray:
    """Return ``A u = -Δ_h u`` for interior values ``u`` (zero boundary), vectorised.

    >>> g = Grid((0.0,), (1.0,), (3,))
    >>> apply_laplacian(g, np.array([1.0, 1.0, 1.0])).tolist()
    [16.0, 0.0, 16.0]
    """
    u = np.asarray(u)
    padded = np.pad(u, 1)
    out = diagonal(grid) * u
    for d, h in enumerate(grid.spacing):
        lo = [slice(1, -1)] * grid.ndim
        hi = [slice(1, -1)] * grid.ndim
        lo[d], hi[d] = slice(0, -2), slice(2, None)
        out -= (padded[tuple(lo)] + padded[tuple(hi)]) / h**2
    return out


def laplacian_matrix(grid: Grid, format: str = "csr") -> sp.spmatrix:
    """``A`` as a sparse matrix acting on C-ordered interior vectors (a Kronecker sum)."""
    import scipy.sparse as sp

    ones = [sp.identity(n, format="csr") for n in grid.shape]
    total = None
    for d, (n, h) in enumerate(zip(grid.shape, grid.spacing)):
        one_d = sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1]) / h**2
        factors = ones.copy()
        factors[d] = one_d
        term = factors[0]
        for f in factors[1:]:
            term = sp.kron(term, f, format="csr")
        total = term if total is None else total + term
    assert total is not None  # a grid has at least one dimension
    return total.asformat(format)


def laplacian_eigenvalues(grid: Grid) -> np.ndarray:
    """Eigenvalues of ``A`` for the sine modes ``k = (k_1, ..)``, as an array of ``grid.shape``.

    Mode ``k_d`` (1-based) along dimension ``d`` has eigenvalue ``(4 / h_d^2) sin^2(k_d π / (2 (n_d + 1)))``.
    """
    total = np.zeros(grid.shape)
    for d, (n, h) in enumerate(zip(grid.shape, grid.spacing)):
        lam = 4.0 / h**2 * np.sin(np.arange(1, n + 1) * np.pi / (2 * (n + 1))) ** 2
        shape = [1] * grid.ndim
        shape[d] = n
        total = total + lam.reshape(shape)
    return total


def solve_dst(grid: Grid, rhs: np.ndarray) -> np.ndarray:
    """Solve ``A u = rhs`` exactly (to round-off) with the orthonormal DST-I, in O(N log N)."""
    import scipy.fft

    coefficients = scipy.fft.dstn(rhs, type=1, norm="ortho", workers=-1)
    coefficients /= laplacian_eigenvalues(grid)
    return scipy.fft.idstn(coefficients, type=1, norm="ortho", workers=-1)


def fold_boundary(grid: Grid, source: np.ndarray, boundary: Callable[..., np.ndarray]) -> np.ndarray:
    """Right-hand side ``b = f + (boundary neighbours' g) / h^2`` of the system ``A u = b``.

    ``boundary(*coords)`` evaluates the Dirichlet data g at broadcastable coordinate arrays.
    """
    rhs = np.array(source, dtype=float, copy=True)
    axes = grid.axes
    for d, h in enumerate(grid.spacing):
        for face, index in ((grid.lower[d], 0), (grid.upper[d], -1)):
            coords = [a for a in axes]
            coords[d] = np.array([face])
            values = np.broadcast_to(boundary(*np.meshgrid(*coords, indexing="ij", sparse=True)),
                                     tuple(len(c) for c in coords))
            sl = [slice(None)] * grid.ndim
            sl[d] = slice(index, index + 1) if index == 0 else slice(-1, None)
            rhs[tuple(sl)] += values / h**2
    return rhs


def residual(grid: Grid, rhs: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The residual ``b - A u``."""
    return rhs - apply_laplacian(grid, u)
