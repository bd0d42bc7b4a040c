"""The discrete operator and the reference solvers: exactness and second-order accuracy."""
import numpy as np
import pytest

from poissonfp.grid import Grid
from poissonfp.operators import apply_laplacian, fold_boundary, laplacian_eigenvalues, laplacian_matrix, solve_dst
from poissonfp.problem import Problem

# Manufactured solutions with non-zero boundary values: (exact u, f = -Δu) as numpy callables.
MANUFACTURED = {
    1: (lambda x: np.exp(x) * np.sin(3 * x) + x,
        lambda x: -np.exp(x) * (np.sin(3 * x) + 6 * np.cos(3 * x) - 9 * np.sin(3 * x))),
    2: (lambda x, y: np.exp(x) * np.cos(y) + np.sin(np.pi * x) * np.sin(2 * np.pi * y),
        lambda x, y: 5 * np.pi**2 * np.sin(np.pi * x) * np.sin(2 * np.pi * y)),
    3: (lambda x, y, z: np.cos(x + 2 * y) * np.exp(z) + x * y * z,
        lambda x, y, z: 4 * np.cos(x + 2 * y) * np.exp(z)),
}
BOXES = {1: ((-1.0,), (2.0,)), 2: ((0.0, 0.0), (1.0, 2.0)), 3: ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))}
SIZES = {1: (31, 63, 127), 2: (15, 31, 63), 3: (7, 15, 31)}


def manufactured_problem(dim: int, n: int) -> Problem:
    lower, upper = BOXES[dim]
    u, f = MANUFACTURED[dim]
    return Problem.from_functions(Grid(lower, upper, (n,) * dim), f, boundary=u, exact=u)


def test_apply_laplacian_matches_hand_computed_1d():
    grid = Grid((0.0,), (1.0,), (3,))  # h = 1/4
    u = np.array([1.0, 2.0, 4.0])
    expected = 16 * np.array([2 * 1 - 2, 2 * 2 - 1 - 4, 2 * 4 - 2])
    np.testing.assert_allclose(apply_laplacian(grid, u), expected)


@pytest.mark.parametrize("shape", [(9,), (5, 7), (3, 4, 5)])
def test_matrix_free_equals_sparse_and_dst_inverts(rng, shape):
    grid = Grid((0.0,) * len(shape), tuple(1.0 + d for d in range(len(shape))), shape)
    u = rng.standard_normal(shape)
    np.testing.assert_allclose(apply_laplacian(grid, u).ravel(), laplacian_matrix(grid) @ u.ravel(), rtol=1e-12)
    np.testing.assert_allclose(apply_laplacian(grid, solve_dst(grid, u)), u, rtol=1e-10, atol=1e-10)


def test_eigenvalues_are_those_of_the_sparse_matrix():
    grid = Grid((0.0, 0.0), (1.0, 3.0), (4, 5))
    dense = laplacian_matrix(grid).toarray()
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(dense)), np.sort(laplacian_eigenvalues(grid).ravel()),
                               rtol=1e-12)


def test_linear_function_is_reproduced_exactly():
    """Boundary folding: a harmonic linear function is exact on any grid."""
    p = Problem.from_functions(Grid((0.0, 0.0), (2.0, 1.0), (6, 4)), lambda x, y: 0 * x + 0 * y,
                               boundary=lambda x, y: 3 * x - 2 * y + 1, exact=lambda x, y: 3 * x - 2 * y + 1)
    np.testing.assert_allclose(p.discrete_solution, p.exact, atol=1e-12)


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_second_order_accuracy(dim):
    """Halving h divides the error of the discrete solution by 4 (+-10%)."""
    errors = [manufactured_problem(dim, n).discretization_error_inf for n in SIZES[dim]]
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert np.all(np.abs(ratios - 4) < 0.4), ratios


def test_fold_boundary_adds_each_face_once():
    grid = Grid((0.0, 0.0), (1.0, 1.0), (2, 2))  # h = 1/3
    rhs = fold_boundary(grid, np.zeros((2, 2)), lambda x, y: np.ones(np.broadcast_shapes(x.shape, y.shape)))
    # corner points of the interior touch two boundary faces, each contributing 1/h^2 = 9
    np.testing.assert_allclose(rhs, 18.0)
