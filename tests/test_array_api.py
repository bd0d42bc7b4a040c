"""The array entry points: solve(A, b), solve_grid(f, grid=..., ...), StopSolve, result.plot()."""
import numpy as np
import pytest
import scipy.sparse as sp

import poissonfp
from poissonfp import Grid, StoppingCriterion, StopSolve, solve, solve_grid


def _laplacian_1d(n):
    h = 1.0 / (n + 1)
    return sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n)) / h**2, h


@pytest.mark.parametrize("method", ["direct", "multigrid", "jacobi"])
def test_solve_a_sparse_matrix(method):
    A, h = _laplacian_1d(31)
    x = h * np.arange(1, 32)
    b = np.pi**2 * np.sin(np.pi * x)
    result = solve(A, b, method=method, tol=1e-10)
    assert result.converged and result.final["rel_residual"] <= 1e-10
    assert np.max(np.abs(result.solution - np.sin(np.pi * x))) < 2e-3  # second order: h^2 pi^2 / 12


@pytest.mark.parametrize("bad", [(np.ones((2, 3)), np.ones(2)), (np.eye(3), np.ones(4)), (np.eye(2) * np.nan, np.ones(2))])
def test_solve_refuses_bad_arrays(bad):
    with pytest.raises(ValueError):
        solve(*bad)


def test_solve_grid_on_a_disk_with_a_coefficient_is_second_order():
    exact = lambda x, y: np.exp(x) * np.cos(y) + x * y  # noqa: E731
    k = lambda x, y: 1 + x  # noqa: E731
    # -∇·(k∇u) = -(∂k/∂x u_x + k Δu) = -(u_x) - k (0) since Δ(e^x cos y + xy) = 0
    source = lambda x, y: -(np.exp(x) * np.cos(y) + y)  # noqa: E731
    disk = lambda x, y: 0.16 - (x - 0.5)**2 - (y - 0.5)**2  # noqa: E731
    errors = []
    for n in (15, 31, 63):
        result = solve_grid(source, grid=Grid((0.0, 0.0), (1.0, 1.0), (n, n)), boundary=exact, mask=disk,
                            coefficient=k, exact=exact, method="direct")
        errors.append(result.final["error_vs_exact_inf"])
    assert errors[1] / errors[2] > 3.0, errors


def test_solve_grid_takes_arrays_and_matches_callables():
    grid = Grid((0.0, 0.0), (1.0, 1.0), (31, 31))
    x, y = grid.coordinates()
    mask = (x < 0.5) | (y > 0.5)
    from_arrays = solve_grid(np.ones(grid.shape), grid=grid, mask=mask, coefficient=np.full(grid.shape, 2.0))
    assert from_arrays.converged and np.all(from_arrays.solution[~mask] == 0)
    assert from_arrays.solution[mask].min() > 0  # f = 1 > 0, g = 0: positive inside (maximum principle)
    with pytest.raises(ValueError, match="shape"):
        solve_grid(np.ones((3, 3)), grid=grid)
    with pytest.raises(ValueError, match="method"):
        solve_grid(1.0, grid=grid, method="dnn")
    with pytest.raises(ValueError, match="inside"):
        solve_grid(1.0, grid=grid, mask=lambda x, y: -1 + 0 * x)


def test_a_callback_stops_a_solve_and_the_result_plots():
    grid = Grid((0.0, 0.0), (1.0, 1.0), (31, 31))
    seen = []

    def stop_at_third(entry):
        seen.append(entry["iteration"])
        if len(seen) == 3:
            raise StopSolve

    result = solve_grid(1.0, grid=grid, method="jacobi", criterion=StoppingCriterion("residual", tol=1e-12),
                        callback=stop_at_third)
    assert result.stop_reason == "stopped" and not result.interrupted and not result.converged
    assert len(result.history["time_s"]) == 4  # three records and the final one
    figure = result.plot()
    assert figure.axes and "(stopping metric)" in figure.axes[0].get_legend().get_texts()[0].get_text()


def test_the_api_names_are_exported():
    for name in ("Grid", "solve_grid", "solve", "StopSolve", "ResultError", "load_result"):
        assert name in poissonfp.__all__ and getattr(poissonfp, name) is not None
