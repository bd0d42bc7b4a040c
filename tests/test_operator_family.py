"""Every implementation of the box Laplacian in the package agrees with one sparse matrix on random data.

The reference is the general assembler (:func:`poissonfp.discrete_operator.assemble`) on the Dirichlet box:
the stencil kernels, the sine transform, the Galerkin column pass, the torch versions and the CSR Jacobi
kernel may not drift from it (nor from each other) in 1, 2 or 3 dimensions, on unequal spacings.
"""
import numpy as np
import pytest
import torch

from poissonfp.discrete_operator import assemble
from poissonfp.grid import Grid
from poissonfp.problem import Problem

GRIDS = [Grid((0.0,), (1.3,), (9,)), Grid((0.0, -1.0), (1.0, 0.5), (7, 5)),
         Grid((0.0, 0.0, 0.0), (1.0, 2.0, 0.7), (4, 5, 3))]


def _zero(*coords):
    return np.zeros(np.broadcast_shapes(*(c.shape for c in coords)))


@pytest.mark.parametrize("grid", GRIDS, ids=lambda g: f"{g.ndim}d")
def test_every_laplacian_matches_the_assembled_matrix(grid):
    from poissonfp.neural.galerkin import apply_laplacian_columns
    from poissonfp.neural.losses import laplacian_torch
    from poissonfp.operators import apply_laplacian, laplacian_eigenvalues, laplacian_matrix, solve_dst
    from poissonfp.solvers.classical.csr_jacobi import CsrJacobiIteration
    from poissonfp.solvers.classical.jacobi import _KERNELS
    from poissonfp.solvers.hierarchy import multilevel_kernels as mk
    from poissonfp.solvers.hybrids.torch_backend import TorchGalerkinSpace, TorchLevel, jacobi_sweeps

    rng = np.random.default_rng(grid.ndim)
    operator, _rhs = assemble(grid, np.zeros(grid.shape), _zero)
    general, _ = assemble(grid, np.zeros(grid.shape), _zero, coefficient=lambda *c: 1.0 + 0 * c[0])
    matrix = operator.matrix
    assert operator.box and not general.box
    u = rng.standard_normal(grid.shape)
    expected = (matrix @ u.ravel()).reshape(grid.shape)
    diag = float(matrix.diagonal()[0])
    padded = np.pad(u, 1)

    def check(got, what):
        np.testing.assert_allclose(np.asarray(got).reshape(grid.shape), expected, rtol=1e-12,
                                   atol=1e-12 * np.abs(expected).max(), err_msg=what)

    assert abs(matrix - laplacian_matrix(grid)).max() < 1e-9 * diag
    assert abs(matrix - general.matrix).max() < 1e-9 * diag
    check(apply_laplacian(grid, u), "operators.apply_laplacian")
    check(operator.apply(u), "DiscreteOperator.apply (box)")
    check(general.apply(u), "DiscreteOperator.apply (general)")
    check(apply_laplacian_columns(grid, np.stack([u.ravel(), u.ravel()], 1))[:, 1], "galerkin columns")
    check(laplacian_torch(torch.as_tensor(u), grid.spacing).numpy(), "losses.laplacian_torch")
    np.testing.assert_allclose((matrix @ solve_dst(grid, expected).ravel()).reshape(grid.shape), expected,
                               rtol=1e-9, atol=1e-9 * np.abs(expected).max(), err_msg="solve_dst")
    np.testing.assert_allclose(np.sort(laplacian_eigenvalues(grid).ravel()),
                               np.linalg.eigvalsh(matrix.toarray()), rtol=1e-9, err_msg="eigenvalues")
    # one unweighted Jacobi sweep from u with b = 0 gives v = D^{-1} (D - A) u, so A u = D (u - v)
    coefficients = np.array([1.0 / h**2 for h in grid.spacing])
    empty = np.zeros((0,) * grid.ndim)
    v = np.zeros_like(padded)
    _KERNELS[grid.ndim](padded.copy(), v, np.zeros(grid.shape), coefficients, 1.0 / diag, 1.0, 1, empty,
                        np.zeros(1, dtype=np.int64))
    check(diag * (u - v[(slice(1, -1),) * grid.ndim]), "jacobi_kernels")
    v = np.zeros_like(padded)
    getattr(mk, f"smooth_{grid.ndim}d")(padded.copy(), v, np.zeros(grid.shape), coefficients, 1.0 / diag, 1.0, 1)
    check(diag * (u - v[(slice(1, -1),) * grid.ndim]), "multilevel_kernels.smooth")
    out = np.zeros(grid.shape)
    getattr(mk, f"residual_{grid.ndim}d")(padded, np.zeros(grid.shape), coefficients, diag, out)
    check(-out, "multilevel_kernels.residual")
    csr = CsrJacobiIteration(general, np.zeros(grid.shape), 1.0, u)
    csr.sweep(1)
    check(diag * (u - csr.solution), "csr_jacobi")
    level = TorchLevel(grid, torch.device("cpu"))
    level.solution.copy_(torch.as_tensor(u))
    check(-level.compute_residual().numpy(), "torch_backend.TorchLevel")
    jacobi_sweeps(level.padded, level.rhs, level.coefficients, level.diagonal, 1.0, 1)
    check(diag * (u - level.solution.numpy()), "torch_backend.jacobi_sweeps")
    phi = rng.standard_normal((grid.size, 3))
    space = TorchGalerkinSpace(grid, torch.as_tensor(phi))
    stiffness = phi.T @ (matrix @ phi)
    np.testing.assert_allclose(space.inverse.numpy() @ stiffness, np.eye(3), atol=1e-8, err_msg="torch Galerkin")
    problem = Problem(grid, np.zeros(grid.shape), expected)
    assert problem.on_box
    np.testing.assert_allclose(problem.discrete_solution, solve_dst(grid, expected), rtol=1e-12, atol=1e-14)
