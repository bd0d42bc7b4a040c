"""The multilevel cycle and the hybrid built on it: transfers, grid-independent factors, exactness,
the coarsest-level variants and the pure-Jacobi fallback."""
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from poissonfp.case import load_case
from poissonfp.grid import Grid
from poissonfp.jacobi_theory import estimated_sweeps, predicted_sweeps
from poissonfp.operators import apply_laplacian
from poissonfp.problem import Problem, build_problem
from poissonfp.solvers import StoppingCriterion, solve
from poissonfp.solvers.hierarchy.coarse_solvers import CoarseIteration, ExactCoarse
from poissonfp.solvers.hierarchy.multilevel import Multilevel
from poissonfp.solvers.hierarchy.multilevel_transfers import coarse_grids, interpolation_1d

CASES = Path(__file__).resolve().parents[1] / "cases"


def smooth_problem(shape, upper=None):
    grid = Grid((0.0,) * len(shape), upper or (1.0,) * len(shape), shape)
    return Problem.from_functions(grid, lambda *x: np.exp(sum(x)) * (1 + sum(c * c for c in x)),
                                  boundary=lambda *x: np.sin(sum(x)))


def test_hierarchy_halves_odd_and_even_sizes_and_keeps_stretched_axes():
    sizes = [g.shape for g in coarse_grids(Grid((0.0, 0.0), (1.0, 1.0), (255, 255)), 15)]
    assert sizes == [(255, 255), (127, 127), (63, 63), (31, 31), (15, 15)]
    assert [g.shape for g in coarse_grids(Grid((0.0,), (1.0,), (256,)), 31)] == [(256,), (128,), (64,), (32,), (16,)]
    # [0,2]x[0,1] with equal spacings coarsens both axes; 4x stretched spacing coarsens the fine axis first
    assert coarse_grids(Grid((0.0, 0.0), (2.0, 1.0), (63, 31)), 15)[-1].shape == (15, 7)
    stretched = coarse_grids(Grid((0.0, 0.0), (1.0, 1.0), (63, 15)), 7)
    assert stretched[1].shape == (31, 15) and stretched[2].shape == (15, 15)


def test_nested_transfers_are_linear_interpolation_and_full_weighting():
    p = interpolation_1d(7, 3).toarray()
    x_coarse, x_fine = np.arange(1, 4) / 4, np.arange(1, 8) / 8
    np.testing.assert_allclose(p @ x_coarse, np.where(x_fine < 0.875, x_fine, 0.75 * 0.5))
    np.testing.assert_allclose(0.5 * p.T[1], [0, 0, 0.25, 0.5, 0.25, 0, 0])
    # non-nested (even) sizes interpolate linear functions exactly away from the ends too
    q = interpolation_1d(8, 4).toarray()
    xc, xf = np.arange(1, 5) / 5, np.arange(1, 9) / 9
    inner = (xf > xc[0]) & (xf < xc[-1])
    np.testing.assert_allclose((q @ xc)[inner], xf[inner])


@pytest.mark.parametrize("shape", [(255,), (31, 31), (63, 63), (127, 127), (32, 32), (15, 15, 15)])
def test_cycle_factor_is_small_and_independent_of_the_grid(shape):
    problem = smooth_problem(shape)
    multilevel = Multilevel(problem.grid, ExactCoarse(), coarsest_points=7)
    multilevel.set_rhs(problem.rhs)
    residuals = []
    for _ in range(6):
        multilevel.cycle(0)
        residuals.append(np.linalg.norm(problem.rhs - apply_laplacian(problem.grid, multilevel.fine.solution)))
    factor = (residuals[-1] / residuals[1]) ** (1 / 4)
    assert factor < 0.25, factor


@pytest.mark.parametrize("coarsest", ["space", "smoothing", "exact"])
def test_multilevel_hybrid_matches_the_direct_solution(coarsest):
    case = load_case(CASES / "2d_square.toml")
    problem = build_problem(case, 63)
    hybrid = dataclasses.replace(case.hybrid, coarsest=coarsest)
    result = solve(problem, "hybrid", StoppingCriterion("discrete", tol=1e-10), network=case.network,
                   training=case.training, hybrid=hybrid, seed=0)
    assert result.converged and result.info["cycle"] == "multilevel"
    assert np.linalg.norm(result.solution - problem.discrete_solution) <= 1e-10 * np.linalg.norm(problem.discrete_solution)
    assert result.info["cycle_factor"] < 0.25 and result.info["work_sweep_equivalents"] > 0
    assert (result.info.get("galerkin_rank", 0) > 0) == (coarsest == "space")


def test_coarse_iteration_with_a_space_needs_fewer_passes_than_sweeps_alone():
    case = load_case(CASES / "2d_square.toml")
    problem = build_problem(case, 63)
    counts = {}
    for coarsest in ("space", "smoothing"):
        result = solve(problem, "hybrid", StoppingCriterion("discretization"), network=case.network,
                       training=case.training, hybrid=dataclasses.replace(case.hybrid, coarsest=coarsest,
                                                                          coarsest_points=31, fallback=False))
        counts[coarsest] = result.info["coarse_passes"]
    assert counts["space"] * 5 < counts["smoothing"]


def high_frequency_problem(n):
    grid = Grid((0.0, 0.0), (1.0, 1.0), (n, n))
    k = 16 * np.pi
    return Problem.from_functions(grid, lambda x, y: 2 * k * k * np.sin(k * x) * np.sin(k * y),
                                  exact=lambda x, y: np.sin(k * x) * np.sin(k * y))


def test_a_high_frequency_only_case_takes_the_pure_jacobi_fallback():
    problem = high_frequency_problem(31)  # mode (16, 16) of 32: one Jacobi sweep removes it
    case = load_case(CASES / "2d_square.toml")
    result = solve(problem, "hybrid", StoppingCriterion("discretization"), network=case.network,
                   training=case.training, hybrid=case.hybrid)
    decision = result.info["decision"]
    assert result.converged and decision["method"] == "jacobi" and result.info["cycles"] == 0
    assert decision["jacobi_sweeps_estimated"] < decision["hybrid_sweep_equivalents_estimated"]
    smooth = solve(build_problem(case, 127), "hybrid", StoppingCriterion("discretization"), network=case.network,
                   training=case.training, hybrid=case.hybrid)
    assert smooth.info["decision"]["method"] == "multilevel"


def test_estimated_sweeps_bound_the_exact_count_and_survive_zero_low_modes():
    for n in (31, 63, 127):
        problem = high_frequency_problem(n)  # its lowest modes hold ~0: nothing may divide by them
        criterion = StoppingCriterion("discretization")
        exact = predicted_sweeps(problem, criterion)
        estimate = estimated_sweeps(problem, "discretization", criterion.threshold(problem) / 3)
        assert exact <= estimate["sweeps"] <= 5 * exact + 5


def test_interrupt_keeps_the_multilevel_state():
    case = load_case(CASES / "2d_square.toml")
    problem = build_problem(case, 63)

    def stop(entry):
        if entry["phase"] == "cycles":
            raise KeyboardInterrupt

    result = solve(problem, "hybrid", StoppingCriterion("discrete", tol=1e-12), callback=stop,
                   network=case.network, training=case.training, hybrid=case.hybrid)
    assert result.stop_reason == "interrupted" and np.all(np.isfinite(result.solution))


def test_coarse_iteration_without_a_space_reaches_its_reduction():
    problem = smooth_problem((15, 15))
    multilevel = Multilevel(problem.grid, CoarseIteration(None, reduction=1e-3), coarsest_points=15)
    multilevel.full_cycle(problem.rhs)
    residual = np.linalg.norm(problem.rhs - apply_laplacian(problem.grid, multilevel.fine.solution))
    assert residual < 1e-2 * np.linalg.norm(problem.rhs)


def test_the_network_lift_uses_the_boundary_values_only():
    import torch

    from poissonfp.neural.model import transfinite_lift

    def g(x, y):
        return torch.exp(x) * torch.sin(2 * y) + x * y**2

    lift = transfinite_lift(g, (0.0, 0.0), (1.0, 1.0))
    t = torch.linspace(0, 1, 9, dtype=torch.float64)
    for x, y in ((t, 0 * t), (t, 0 * t + 1), (0 * t, t), (0 * t + 1, t)):
        torch.testing.assert_close(lift(x, y), g(x, y))
    # a solution vanishing on the boundary gets a zero lift, not itself (the old lift was the answer)
    bubble = lambda x, y: torch.sin(16 * torch.pi * x) * torch.sin(16 * torch.pi * y)  # noqa: E731
    inner = torch.rand(50, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert float(transfinite_lift(bubble, (0.0, 0.0), (1.0, 1.0))(*inner.T).abs().max()) < 1e-12
    # a function linear along each axis between the faces is reproduced inside (bilinear + its corners)
    bilinear = lambda x, y: 1 + 2 * x - y + 3 * x * y  # noqa: E731
    torch.testing.assert_close(transfinite_lift(bilinear, (0.0, 0.0), (1.0, 1.0))(*inner.T), bilinear(*inner.T))


@pytest.mark.parametrize("coarsest", ["space", "smoothing", "exact"])
def test_the_torch_path_matches_the_numpy_path_on_the_cpu(coarsest):
    from poissonfp.solvers.base import Monitor
    from poissonfp.solvers.hybrids.torch_solvers import solve_hybrid_torch

    case = load_case(Path(__file__).resolve().parents[1] / "poissonfp" / "studies" / "bench_cases" / "2d_boundary.toml")
    problem = build_problem(case, 63)
    criterion = StoppingCriterion("discrete", tol=1e-9)
    hybrid = dataclasses.replace(case.hybrid, coarsest=coarsest, fallback=False)
    options = dict(network=case.network, training=case.training, hybrid=hybrid, seed=0, omega=1.0, check_every=0,
                   switch="auto")
    numpy_result = solve(problem, "hybrid", criterion, **options)
    torch_result = solve_hybrid_torch(problem, Monitor(problem, criterion), device="cpu", **options)
    assert numpy_result.converged and torch_result.converged
    assert torch_result.iterations == numpy_result.iterations
    if coarsest != "exact":  # the dense Cholesky of the torch path touches more entries than sparse LU
        assert torch_result.info["work_sweep_equivalents"] == pytest.approx(numpy_result.info["work_sweep_equivalents"])
    np.testing.assert_allclose(torch_result.solution, numpy_result.solution, rtol=0, atol=1e-9 * np.abs(
        problem.discrete_solution).max())


@pytest.mark.parametrize("coarse", ["network", "sine"])
def test_a_fixed_switch_trains_on_the_torch_path_as_on_the_numpy_path(coarse):
    """The torch path used to build its coarsest space from the untrained network whatever the switch."""
    from poissonfp.solvers.base import Monitor
    from poissonfp.solvers.hybrids.torch_solvers import solve_hybrid_torch

    case = load_case("2d_square").with_overrides(size=31, switch=3, coarse=coarse)
    problem = build_problem(case)
    criterion = StoppingCriterion("discrete", tol=1e-9)
    options = dict(network=case.network, training=case.training, hybrid=case.hybrid, seed=0, omega=1.0,
                   check_every=0, switch=3)
    numpy_result = solve(problem, "hybrid", criterion, **options)
    torch_result = solve_hybrid_torch(problem, Monitor(problem, criterion), device="cpu", **options)
    steps = 3 if coarse == "network" else 0  # a classical basis trains nothing
    assert numpy_result.dnn_steps == torch_result.dnn_steps == steps
    assert torch_result.converged and torch_result.iterations == numpy_result.iterations
    np.testing.assert_allclose(torch_result.solution, numpy_result.solution, rtol=0,
                               atol=1e-8 * np.abs(problem.discrete_solution).max())

def test_torch_jacobi_matches_the_compiled_kernel_on_the_cpu():
    from poissonfp.solvers.base import Monitor
    from poissonfp.solvers.hybrids.torch_solvers import solve_jacobi_torch

    problem = smooth_problem((20, 20))
    criterion = StoppingCriterion("residual", tol=1e-6)
    numpy_result = solve(problem, "jacobi", criterion, omega=0.9, check_every=7)
    torch_result = solve_jacobi_torch(problem, Monitor(problem, criterion), device="cpu", omega=0.9, check_every=7)
    assert torch_result.iterations == numpy_result.iterations and torch_result.converged
    np.testing.assert_allclose(torch_result.solution, numpy_result.solution, rtol=1e-10, atol=1e-12)


def test_the_torch_galerkin_space_equals_the_numpy_one():
    import torch

    from poissonfp.neural.galerkin import GalerkinSpace
    from poissonfp.solvers.hybrids.torch_backend import TorchGalerkinSpace

    grid = Grid((0.0, 0.0), (1.0, 2.0), (9, 7))
    features = np.random.default_rng(0).random((grid.size, 12))
    residual = np.random.default_rng(1).random(grid.shape)
    space, torch_space = GalerkinSpace(grid, features), TorchGalerkinSpace(grid, torch.as_tensor(features))
    assert space.rank == torch_space.rank == 12
    np.testing.assert_allclose(torch_space.correction(torch.as_tensor(residual)).numpy(), space.correction(residual),
                               rtol=1e-8)


def test_a_fixed_switch_trains_the_network_before_its_coarsest_space_is_built():
    case = load_case(CASES / "2d_square.toml")
    problem = build_problem(case, 31)
    result = solve(problem, "hybrid", StoppingCriterion("discretization"), network=case.network,
                   training=case.training, hybrid=case.hybrid, switch=3)
    assert result.converged and result.dnn_steps == 3 and result.info["decision"]["method"] == "multilevel"
    assert result.info["times_s"]["train_s"] > 0 and result.info["galerkin_rank"] > 0


@pytest.mark.parametrize("coarsest", ["space", "smoothing", "exact"])
def test_a_grid_no_larger_than_the_coarsest_level_still_converges(coarsest):
    """One level only: each cycle must improve the iterate, not restart the coarsest solve from zero."""
    from poissonfp import build_problem, load_case, solve

    case = load_case("2d_bump").with_overrides(size=15, switch=0, coarsest=coarsest)
    problem = build_problem(case)
    result = solve(problem, "hybrid", StoppingCriterion("discrete", tol=1e-10, max_iterations=100),
                   network=case.network, training=case.training, hybrid=case.hybrid, seed=case.seed)
    assert result.info["levels"] == 1
    assert result.converged and result.iterations <= 20


def test_a_tolerance_below_round_off_stops_as_stalled_not_after_max_iterations():
    """tol 1e-15 on the residual cannot be reached in double precision; the cycles used to run on to
    max_iterations (5 million by default)."""
    case = load_case("2d_square").with_overrides(size=63, switch=0)
    problem = build_problem(case)
    result = solve(problem, "hybrid", StoppingCriterion("residual", tol=1e-15), network=case.network,
                   training=case.training, hybrid=case.hybrid, seed=0)
    assert result.stop_reason == "stalled" and not result.converged and result.iterations < 100
