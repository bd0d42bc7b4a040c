"""The vectorised assembly of the general operator gives what the per-entry (COO) one gave: the same CSR
structure, the same values and right-hand side (bitwise here), the same mask, on masks, Neumann and mixed sides,
variable coefficients and all-Neumann problems, in 1D-3D."""
from __future__ import annotations

import numpy as np
import pytest
from old_assembly import old_assemble

from poissonfp.discrete_operator import assemble, computational_grid

DISK = lambda *c: 0.81 - sum(x * x for x in c)  # noqa: E731
WAVY = lambda *c: 1.0 + 0.9 * np.sin(6 * c[0]) * np.cos(5 * c[-1])  # noqa: E731
G = lambda *c: np.cos(c[0]) + c[-1] ** 2  # noqa: E731
N, D = "neumann", "dirichlet"

CONFIGS = {
    "1D coefficient": ((7,), ((D, D),), None, WAVY),
    "1D Neumann right": ((9,), ((D, N),), None, WAVY),
    "2D disk": ((11, 9), ((D, D), (D, D)), DISK, None),
    "2D disk, coefficient, Neumann left": ((12, 10), ((N, D), (D, D)), DISK, WAVY),
    "2D Neumann bottom and top": ((8, 6), ((D, D), (N, N)), None, None),
    "2D all Neumann, coefficient": ((7, 9), ((N, N), (N, N)), None, WAVY),
    "3D ball, Neumann back": ((6, 5, 7), ((D, D), (D, D), (D, N)), DISK, WAVY),
    "3D all Neumann": ((4, 5, 3), ((N, N), (N, N), (N, N)), None, None),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_the_vectorised_assembly_equals_the_per_entry_one(name):
    interior, sides, inside, coefficient = CONFIGS[name]
    ndim = len(interior)
    grid = computational_grid((-1.0,) * ndim, (1.0,) * ndim, interior, sides)
    source = np.sin(np.arange(grid.size, dtype=float)).reshape(grid.shape) + 0.3
    neumann = {(d, s): (lambda *c, d=d, s=s: 0.5 * c[d] + s) for d in range(ndim) for s in (0, 1) if sides[d][s] == N}
    kwargs = dict(inside=inside, coefficient=coefficient, sides=sides, neumann=neumann, check_compatibility=False)
    new, b_new = assemble(grid, source, G, **kwargs)
    old, b_old = old_assemble(grid, source, G, **kwargs)
    expected = old.matrix.copy()
    expected.sort_indices()
    assert new.matrix.has_sorted_indices and new.matrix.indices.dtype == expected.indices.dtype
    np.testing.assert_array_equal(new.matrix.indptr, expected.indptr)
    np.testing.assert_array_equal(new.matrix.indices, expected.indices)
    np.testing.assert_allclose(new.matrix.data, expected.data, rtol=4e-16, atol=0)  # the diagonal's sum order
    np.testing.assert_array_equal(b_new, b_old)
    np.testing.assert_array_equal(new.inside, old.inside)
    assert (new.singular, new.box, new.why_not_box) == (old.singular, old.box, old.why_not_box)
    assert (new.matrix != old.matrix).nnz == 0 or np.max(abs(new.matrix - old.matrix)) <= 4e-16 * abs(old.matrix).max()


def test_the_assembly_refuses_what_it_refused():
    from poissonfp.discrete_operator import DomainError
    from poissonfp.grid import Grid

    grid = Grid((0.0, 0.0), (1.0, 1.0), (5, 5))
    with pytest.raises(DomainError, match="no grid point"):
        assemble(grid, np.zeros(grid.shape), G, inside=lambda x, y: -1.0 + 0 * x)
    with pytest.raises(DomainError, match=r"k = -1 at x=0\.166667, y=0\.166667"):
        assemble(grid, np.zeros(grid.shape), G, coefficient=lambda x, y: -1.0 + 0 * x)


@pytest.mark.parametrize("coefficient", [lambda x, y: x + 0.5, lambda x, y: 1.0 + 0 * x - (np.abs(x + 0.1) < 0.05)])
def test_a_bad_coefficient_is_refused_with_the_same_message(coefficient):
    """k <= 0 at grid points (the first case) or only at face midpoints between them (the second: x = -0.1 lies
    midway between the grid's x = -0.2 and 0): the same one-line refusal as the per-entry assembly's."""
    from poissonfp.discrete_operator import DomainError
    from poissonfp.grid import Grid

    grid = Grid((-1.0, -1.0), (1.0, 1.0), (9, 9))
    messages = []
    for build in (assemble, old_assemble):
        with pytest.raises(DomainError) as caught:
            build(grid, np.zeros(grid.shape), G, coefficient=coefficient)
        messages.append(str(caught.value))
    assert messages[0] == messages[1], messages
    assert "face midpoint" in messages[0] or "grid point" in messages[0]


def test_a_coefficient_bad_only_outside_the_domain_is_accepted():
    """The midpoints are evaluated on shifted grids (outside the domain too); only the unknowns' faces count."""
    grid = computational_grid((-1.0, -1.0), (1.0, 1.0), (15, 15), ((D, D), (D, D)))
    k = lambda x, y: np.where(x * x + y * y < 0.95, 1.0 + x * y, np.nan)  # noqa: E731
    new, b_new = assemble(grid, np.ones(grid.shape), G, inside=DISK, coefficient=k)
    old, b_old = old_assemble(grid, np.ones(grid.shape), G, inside=DISK, coefficient=k)
    assert (new.matrix != old.matrix).nnz == 0 and np.array_equal(b_new, b_old)
