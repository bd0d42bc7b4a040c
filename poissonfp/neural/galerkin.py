"""Exact Galerkin solve over the network's feature space (hidden layers fixed).

With features ``φ_j = B h_j`` (and ``B`` itself for the output bias) evaluated on the grid, the columns of
``Φ`` span a space of grid functions that vanish on the boundary. The Ritz energy is quadratic in the
output layer, so its minimiser over that space solves exactly

    (Φᵀ A Φ) c = Φᵀ (b - A G)

with ``A`` the discrete operator (:func:`poissonfp.operators.apply_laplacian`). Near-dependent features
make ``ΦᵀAΦ`` singular to working precision, so it is inverted through its eigen-decomposition with
eigenvalues below ``rcond * λ_max`` dropped (a truncated pseudo-inverse).

:class:`GalerkinSpace` caches ``Φ`` and the factorisation once; its :meth:`~GalerkinSpace.correction`
then maps any residual ``r`` to the A-orthogonal projection of the error onto the space, ``Φ (ΦᵀAΦ)⁺ Φᵀ r``
(two skinny matrix-vector products): the coarse-space step of the hybrid's two-level cycle.
"""
from __future__ import annotations

import functools

import numpy as np
from numba import njit

from poissonfp.grid import Grid

__all__ = ["GalerkinSpace", "OperatorGalerkinSpace", "apply_laplacian_columns", "galerkin_output_layer", "galerkin_space", "truncated_inverse", "warm_up"]


@functools.cache
def warm_up(ndim: int, network: bool = True) -> None:
    """Compile (or load from numba's cache) the compiled kernels of the feature pipeline for ``ndim``
    once per process, so that no solve's wall time includes compilation (as for Jacobi's kernels);
    ``network=False``: not the network features' kernels (they live beside torch, which that spares)."""
    from poissonfp.solvers.classical.jacobi_kernels import warm_up as warm_up_jacobi

    warm_up_jacobi(ndim)
    grid = Grid((0.0,) * ndim, (1.0,) * ndim, (2,) * ndim)
    apply_laplacian_columns(grid, np.zeros((grid.size, 1)))
    if not network:
        return
    from poissonfp.neural.model import _ridge_2d, _ridge_3d

    tiny = np.zeros((2, 1))
    if ndim == 2:
        _ridge_2d(tiny, tiny, np.zeros((2, 2, 1)))
    elif ndim == 3:
        _ridge_3d(tiny, tiny, tiny, np.zeros((2, 2, 2, 1)))


def apply_laplacian_columns(grid: Grid, columns: np.ndarray) -> np.ndarray:
    """``A`` applied to every column of ``columns`` (shape ``(size, m)``, C-ordered rows); one compiled pass."""
    columns = np.ascontiguousarray(columns, dtype=np.float64)
    m = columns.shape[1]
    shape = (*tuple(grid.shape), m)
    out = np.empty(shape)
    coefficients = np.array([1.0 / h**2 for h in grid.spacing])
    _COLUMN_KERNELS[grid.ndim](columns.reshape(shape), out, coefficients)
    return out.reshape(-1, m)


@njit(cache=True)
def _columns_1d(u, out, c):  # pragma: no cover - compiled
    n, m = u.shape
    diag = 2.0 * c[0]
    for i in range(n):
        for j in range(m):
            s = diag * u[i, j]
            if i > 0:
                s -= c[0] * u[i - 1, j]
            if i < n - 1:
                s -= c[0] * u[i + 1, j]
            out[i, j] = s


@njit(cache=True)
def _columns_2d(u, out, c):  # pragma: no cover - compiled
    n0, n1, m = u.shape
    diag = 2.0 * (c[0] + c[1])
    for i in range(n0):
        for k in range(n1):
            for j in range(m):
                s = diag * u[i, k, j]
                if i > 0:
                    s -= c[0] * u[i - 1, k, j]
                if i < n0 - 1:
                    s -= c[0] * u[i + 1, k, j]
                if k > 0:
                    s -= c[1] * u[i, k - 1, j]
                if k < n1 - 1:
                    s -= c[1] * u[i, k + 1, j]
                out[i, k, j] = s


@njit(cache=True)
def _columns_3d(u, out, c):  # pragma: no cover - compiled
    n0, n1, n2, m = u.shape
    diag = 2.0 * (c[0] + c[1] + c[2])
    for i in range(n0):
        for k in range(n1):
            for l in range(n2):
                for j in range(m):
                    s = diag * u[i, k, l, j]
                    if i > 0:
                        s -= c[0] * u[i - 1, k, l, j]
                    if i < n0 - 1:
                        s -= c[0] * u[i + 1, k, l, j]
                    if k > 0:
                        s -= c[1] * u[i, k - 1, l, j]
                    if k < n1 - 1:
                        s -= c[1] * u[i, k + 1, l, j]
                    if l > 0:
                        s -= c[2] * u[i, k, l - 1, j]
                    if l < n2 - 1:
                        s -= c[2] * u[i, k, l + 1, j]
                    out[i, k, l, j] = s


_COLUMN_KERNELS = {1: _columns_1d, 2: _columns_2d, 3: _columns_3d}


def _stiffness(grid: Grid, phi: np.ndarray, rows: int = 0) -> np.ndarray:
    """``ΦᵀAΦ`` (symmetrised), assembled in slabs of the first grid axis.

    Each slab applies ``A`` to its rows plus one halo row on either side, so ``AΦ`` is never held whole:
    the largest temporary is one slab, which on a first solve at a new size saves the page faults of a
    second array as large as ``Φ``.
    """
    m = phi.shape[1]
    n0, rest = grid.shape[0], int(np.prod(grid.shape[1:], dtype=np.int64))
    rows = rows or max(1, (32 << 20) // max(1, 8 * m * rest))  # about 32 MB a slab
    cube = phi.reshape(n0, rest, m)
    stiffness = np.zeros((m, m))
    for start in range(0, n0, rows):
        stop = min(n0, start + rows)
        lo, hi = max(0, start - 1), min(n0, stop + 1)
        upper = (grid.lower[0] + grid.spacing[0] * (hi - lo + 1), *grid.upper[1:])  # same spacing
        slab = Grid(grid.lower, upper, (hi - lo, *tuple(grid.shape[1:])))
        applied = apply_laplacian_columns(slab, cube[lo:hi].reshape(-1, m)).reshape(hi - lo, rest, m)
        own = applied[start - lo:stop - lo].reshape(-1, m)
        stiffness += cube[start:stop].reshape(-1, m).T @ own
    return 0.5 * (stiffness + stiffness.T)


def truncated_inverse(eigenvalues, vectors, rcond: float):
    """``(V_k / λ_k) V_kᵀ`` over the eigenpairs with ``λ > rcond λ_max`` (numpy arrays or torch tensors);
    returns ``(inverse, rank, condition)``."""
    top = float(eigenvalues[-1]) if eigenvalues.shape[0] else 0.0
    keep = eigenvalues > rcond * top if top > 0 else eigenvalues < -float("inf")
    rank = int(keep.sum())
    condition = float(top / eigenvalues[keep][0]) if rank else float("inf")
    kept = vectors[:, keep]
    return (kept / eigenvalues[keep]) @ kept.T, rank, condition


class GalerkinSpace:
    """The span of the feature columns ``Φ`` with a cached pseudo-inverse of ``ΦᵀAΦ``.

    Args:
        grid: the grid the features are evaluated on.
        features: ``Φ``, shape ``(grid.size, m)``.
        rcond: eigenvalues of ``ΦᵀAΦ`` below ``rcond * max`` are dropped.

    Attributes:
        rank: the number of kept eigen-directions.
        condition: ratio of the largest to the smallest kept eigenvalue.
    """

    def __init__(self, grid: Grid, features: np.ndarray, rcond: float = 1e-12) -> None:
        self.grid = grid
        self.phi = np.ascontiguousarray(features, dtype=np.float64)
        self.inverse, self.rank, self.condition = truncated_inverse(*np.linalg.eigh(_stiffness(grid, self.phi)), rcond)

    @property
    def size(self) -> int:
        return self.phi.shape[1]

    def coefficients(self, residual: np.ndarray) -> np.ndarray:
        """``c = (ΦᵀAΦ)⁺ Φᵀ r``: the Galerkin coefficients of the error whose residual is ``r``."""
        return self.inverse @ (self.phi.T @ np.ravel(residual))

    def combine(self, coefficients: np.ndarray) -> np.ndarray:
        """``Φ c`` as a grid array."""
        return (self.phi @ coefficients).reshape(self.grid.shape)

    def correction(self, residual: np.ndarray) -> np.ndarray:
        """The A-orthogonal projection onto the space of the error whose residual is ``residual``."""
        return self.combine(self.coefficients(residual))


def galerkin_output_layer(model, problem, rcond: float = 1e-12, points=None) -> tuple[GalerkinSpace, np.ndarray]:
    """Solve the network's output layer exactly: minimise the discrete Ritz energy over it.

    Sets ``model``'s output weights and bias to ``c = (ΦᵀAΦ)⁺ Φᵀ (b - A G)`` and returns the space and
    the network's new grid values ``G + Φ c``.
    """
    grid = problem.grid
    points = model.grid_points(grid) if points is None else points
    space = galerkin_space(problem, model.grid_features(grid, points), rcond)
    lift = _grid_lift(model, grid, points)
    c = space.coefficients(problem.rhs - problem.operator.apply(lift))
    model.set_output(c)
    return space, lift + space.combine(c)


def _grid_lift(model, grid: Grid, points) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model.lift(points).reshape(grid.shape).to("cpu", torch.float64).numpy()


class OperatorGalerkinSpace(GalerkinSpace):
    """:class:`GalerkinSpace` for a general operator (a domain inside the box, Neumann sides, a
    variable coefficient): ``AΦ`` is one sparse product, and the small matrix ``ΦᵀAΦ``, not symmetric
    where the Shortley-Weller stencil applies, is inverted by a truncated SVD (a Petrov-Galerkin
    correction with the features as test functions). Feature rows outside the domain are zeroed.

    Args:
        operator: the :class:`~poissonfp.discrete_operator.DiscreteOperator`.
        features: ``Φ``, shape ``(grid.size, m)``.
        rcond: singular values below ``rcond * max`` are dropped.
    """

    def __init__(self, operator, features: np.ndarray, rcond: float = 1e-12) -> None:
        # no super().__init__: the box's stiffness pass (the stencil) does not apply
        self.grid = operator.grid
        mask = operator.inside.reshape(-1, 1)
        self.phi = np.ascontiguousarray(np.where(mask, features, 0.0), dtype=np.float64)
        stiffness = self.phi.T @ (operator.matrix @ self.phi)
        left, singular, right = np.linalg.svd(stiffness)
        top = float(singular[0]) if singular.size else 0.0
        keep = singular > rcond * top if top > 0 else np.zeros(singular.shape, dtype=bool)
        self.rank = int(keep.sum())
        self.condition = float(top / singular[keep][-1]) if self.rank else float("inf")
        self.inverse = (right[keep].T / singular[keep]) @ left[:, keep].T


def galerkin_space(problem, features: np.ndarray, rcond: float = 1e-12) -> GalerkinSpace:
    """The Galerkin space of ``features`` for ``problem``: over the box's stencil, or over its general operator."""
    if problem.on_box:
        return GalerkinSpace(problem.grid, features, rcond)
    return OperatorGalerkinSpace(problem.operator, features, rcond)
