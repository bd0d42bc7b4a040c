"""The Galerkin hierarchy of the general operator (masks, Neumann and mixed sides, all-Neumann, variable
and high-contrast coefficients, 1D-3D): convergence to the direct solution in a number of cycles that
does not grow with the grid, the per-cycle factor, the Galerkin operator against the rediscretised one,
boundary data carried into full multigrid by a lift, and no silent fallback."""
import numpy as np
import pytest

from poissonfp.case import CaseError, load_case
from poissonfp.grid import Grid
from poissonfp.problem import Problem, build_problem
from poissonfp.solvers import StoppingCriterion, solve
from poissonfp.solvers.hierarchy.coarse_solvers import ExactCoarse
from poissonfp.solvers.hierarchy.galerkin_assembly import interpolation_from_positions
from poissonfp.solvers.hierarchy.multilevel import Multilevel
from poissonfp.solvers.hierarchy.multilevel_galerkin import GalerkinMultilevel

SIDES = "".join(f'[boundary.{s}]\ntype = "neumann"\n' for s in ("left", "right", "bottom", "top"))
KINDS = {
    "L-shape": ('inside = "max(-x, y)"\n[problem]\nexact = "cos(x + 2*y) + x**3"', 2),
    "disk": ('inside = "1 - x**2 - y**2"\n[problem]\nexact = "exp(-x) * cos(y) + y**3"', 2),
    "Neumann sides": ('[problem]\nexact = "cos(x + 2*y) + x**3"\n[boundary.left]\ntype = "neumann"\n'
                      '[boundary.top]\ntype = "neumann"', 2),
    "all Neumann": (f'[problem]\nexact = "cos(pi*x/2 + 0.2) * sin(y) + x*y"\n{SIDES}', 2),
    "smooth coefficient": ('[problem]\nexact = "sin(pi*x)*sin(pi*y)"\ncoefficient = "1 + 0.9*sin(6*x)*cos(5*y)"', 2),
    "contrast e^8": ('[problem]\nexact = "sin(pi*x)*sin(pi*y)"\ncoefficient = "exp(4*sin(2*pi*x)*cos(2*pi*y))"', 2),
    "1D mixed": ('[problem]\nexact = "cos(2*x) + x"\ncoefficient = "2 + x"\n[boundary.right]\ntype = "neumann"', 1),
    "3D coefficient": ('[problem]\nexact = "x*y*z + cos(x)"\ncoefficient = "1 + x*y*z"\n[boundary.front]\n'
                       'type = "neumann"', 3),
}
BOX = {1: ("[-1.0]", "[1.0]"), 2: ("[-1.0, -1.0]", "[1.0, 1.0]"), 3: ("[-1.0, -1.0, -1.0]", "[1.0, 1.0, 1.0]")}


def problem_of(tmp_path, kind, n):
    body, dim = KINDS[kind]
    path = tmp_path / "case.toml"
    path.write_text(f"[domain]\nlower = {BOX[dim][0]}\nupper = {BOX[dim][1]}\n{body}\n[grid]\npoints = 7\n")
    return build_problem(load_case(path), n)


def cycles_to(problem, tol=1e-9):
    hierarchy = GalerkinMultilevel(problem.operator, ExactCoarse())
    solution, cycles = hierarchy.solve_rhs(problem.rhs, tol=tol, max_cycles=40)
    return hierarchy, solution, cycles


@pytest.mark.parametrize("kind", list(KINDS))
def test_galerkin_cycles_reach_the_direct_solution_in_a_grid_independent_count(tmp_path, kind):
    dim = KINDS[kind][1]
    sizes = {1: (63, 255, 1023), 2: (31, 63, 127), 3: (15, 31)}[dim]
    counts = []
    for n in sizes:
        problem = problem_of(tmp_path, kind, n)
        _hierarchy, solution, cycles = cycles_to(problem)
        direct = problem.operator.project(problem.discrete_solution)
        scale = np.abs(direct).max()
        assert np.abs(problem.operator.project(solution) - direct).max() <= 1e-7 * scale, (kind, n)
        if problem.operator.singular:
            assert abs(solution[problem.operator.inside].mean()) < 1e-9 * scale
        counts.append(cycles)
    assert max(counts) <= 16 and counts[-1] <= counts[0] + 2, (kind, counts)


@pytest.mark.parametrize("kind", ["L-shape", "Neumann sides", "contrast e^8", "all Neumann"])
def test_the_per_cycle_factor_is_a_multigrid_factor(tmp_path, kind):
    problem = problem_of(tmp_path, kind, 63)
    hierarchy = GalerkinMultilevel(problem.operator, ExactCoarse())
    hierarchy.full_cycle(problem.rhs)
    norms = [np.linalg.norm(hierarchy.fine.compute_residual())]
    for _ in range(6):
        hierarchy.cycle(0)
        norms.append(np.linalg.norm(hierarchy.fine.compute_residual()))
    factor = (norms[-1] / norms[0]) ** (1 / 6)
    assert factor < 0.35, (kind, factor)


def test_without_the_mask_on_the_transfers_the_outside_rows_leak(tmp_path):
    """The control: interpolation rows of points outside the L-shape kept (their identity rows enter
    PᵀAP) make the coarse operator wrong and the cycle slow; the masked transfers do not."""
    problem = problem_of(tmp_path, "L-shape", 63)
    good = GalerkinMultilevel(problem.operator, ExactCoarse())
    inside = problem.operator.inside.ravel()
    leaked = GalerkinMultilevel(problem.operator, ExactCoarse())
    fine_p = leaked.prolongations[0]
    assert abs(fine_p[~inside]).sum() == 0 and abs(good.prolongations[0][~inside]).sum() == 0
    # with the outside rows of P set to interpolation, PᵀAP counts the identity rows
    import scipy.sparse as sp
    positions = [np.arange(63.0)] * 2
    from poissonfp.solvers.hierarchy.galerkin_assembly import axis_positions
    coarse = [axis_positions(p, True, True) for p in positions]
    p1 = interpolation_from_positions(positions[0], coarse[0], -1.0, 63.0)
    full = sp.kron(p1, p1, format="csr")
    wrong = (full.T @ problem.operator.matrix @ full).tocsr()
    right = good.levels[1].matrix
    assert abs(wrong - right).max() > 0.1 * abs(right).max()


def test_galerkin_equals_rediscretisation_on_the_1d_box():
    """In 1D, (1/2) PᵀA_hP with linear interpolation is the 3-point Laplacian of the coarse grid exactly
    (the box's hierarchy rediscretises; in 2D and 3D the Galerkin stencils are 9- and 27-point)."""
    from poissonfp.discrete_operator import box_operator
    from poissonfp.operators import laplacian_matrix

    grid = Grid((0.0,), (1.0,), (31,))
    hierarchy = GalerkinMultilevel(box_operator(grid), ExactCoarse(), coarsest_points=7)
    for level, coarse in zip(hierarchy.levels[1:], Multilevel(grid, None, coarsest_points=7).grids[1:]):
        assert level.grid.shape == coarse.shape
        np.testing.assert_allclose(level.grid.spacing, coarse.spacing)
        np.testing.assert_allclose(level.matrix.toarray() / 2 ** (hierarchy.levels.index(level)),
                                   laplacian_matrix(coarse, "csr").toarray(), rtol=1e-12)


def test_neumann_transfers_keep_constants():
    fine = np.arange(9.0)
    coarse = np.arange(0.0, 9.0, 2.0)
    p = interpolation_from_positions(fine, coarse, None, None).toarray()
    np.testing.assert_allclose(p @ np.ones(coarse.size), 1.0)
    mixed = interpolation_from_positions(np.arange(8.0), np.arange(1.0, 8.0, 2.0), -1.0, None).toarray()
    np.testing.assert_allclose(mixed @ (np.arange(1.0, 8.0, 2.0) + 1), np.arange(8.0) + 1)  # linear, 0 at -1


TWIST = """[domain]
lower = [0.0, 0.0]
upper = [1.0, 1.0]
[grid]
points = 7
[problem]
source = "1 + x"
boundary = "{boundary}"
"""


@pytest.mark.parametrize("inside", ["", 'inside = "max(-x + 0.5, y - 0.5)"\n'])
def test_non_zero_boundary_data_costs_the_cycles_of_zero_data(tmp_path, inside):
    """The lift (the Dirichlet expression at the unknowns) carries the data into full multigrid: a case
    whose data expression differs from the solution inside needs the cycles of zero data ± 1; without
    the lift (the control) it needs several more."""
    import poissonfp.solvers.hybrids.hybrid_multilevel as hybrid_multilevel

    cycles = {}
    for name, boundary in (("zero", "0"), ("data", "exp(x)*sin(2*y) + x*y**2 + 7*x*(1-x)*y*(1-y)*cos(3*x*y)")):
        path = tmp_path / f"{name}.toml"
        path.write_text(TWIST.format(boundary=boundary).replace("[grid]", inside + "[grid]"))
        problem = build_problem(load_case(path), 127)
        result = solve(problem, "hybrid", StoppingCriterion("discrete", tol=1e-6))
        assert result.converged
        cycles[name] = result.info["cycles"]
        assert result.info["boundary_lift"] == (name == "data")
    assert cycles["data"] <= cycles["zero"] + 1, cycles
    lift = hybrid_multilevel.boundary_lift
    try:
        hybrid_multilevel.boundary_lift = lambda problem: None
        control = solve(problem, "hybrid", StoppingCriterion("discrete", tol=1e-6))
    finally:
        hybrid_multilevel.boundary_lift = lift
    assert control.info["cycles"] >= cycles["data"] + 3, (control.info["cycles"], cycles)


@pytest.mark.parametrize("cycle", ["multilevel", "two-level"])
def test_the_cycle_that_ran_is_recorded_off_the_box(tmp_path, cycle):
    from poissonfp.settings import HybridSettings, NetworkSettings

    problem = problem_of(tmp_path, "contrast e^8", 31)
    result = solve(problem, "hybrid", StoppingCriterion("discrete", tol=1e-8), hybrid=HybridSettings(cycle=cycle),
                   network=NetworkSettings(widths=(16, 16)))
    assert result.converged and result.info["cycle"] == cycle
    if cycle == "multilevel":
        assert result.info["hierarchy"] == "galerkin" and "off the box" in result.info["decision"]["reason"]


def test_the_torch_hierarchy_refuses_the_general_operator_on_the_cpu(tmp_path):
    from poissonfp.settings import HybridSettings, NetworkSettings, TrainingSettings
    from poissonfp.solvers.base import Monitor
    from poissonfp.solvers.hybrids.torch_solvers import solve_hybrid_torch

    problem = problem_of(tmp_path, "L-shape", 15)
    with pytest.raises(CaseError, match="constant-coefficient"):
        solve_hybrid_torch(problem, Monitor(problem, StoppingCriterion("discrete")), network=NetworkSettings(),
                           training=TrainingSettings(), hybrid=HybridSettings(), seed=0, device="cpu", omega=0.8,
                           check_every=10, switch="auto")


def test_a_hierarchy_built_once_solves_new_right_hand_sides(tmp_path):
    problem = problem_of(tmp_path, "contrast e^8", 63)
    hierarchy = GalerkinMultilevel(problem.operator, ExactCoarse())
    rng = np.random.default_rng(0)
    for _ in range(2):
        rhs = np.where(problem.operator.inside, rng.standard_normal(problem.grid.shape), 0.0)
        solution, cycles = hierarchy.solve_rhs(rhs, tol=1e-10)
        np.testing.assert_allclose(solution, problem.operator.solve(rhs), atol=1e-8 * np.abs(solution).max())
        assert cycles <= 25
    box = Problem.from_functions(Grid((0.0, 0.0), (1.0, 1.0), (63, 63)), lambda x, y: x + y)
    solution, _ = Multilevel(box.grid, ExactCoarse(), coarsest_points=15).solve_rhs(box.rhs, tol=1e-10)
    np.testing.assert_allclose(solution, box.discrete_solution, atol=1e-9)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_fixed_weight_transfers_equal_the_tap_lists(ndim):
    from poissonfp.solvers.hierarchy import multilevel_transfers as ml

    fine = Grid((0.0,) * ndim, (1.0,) * ndim, (15,) * ndim)
    coarse = fine.with_shape((7,) * ndim)
    rng = np.random.default_rng(1)
    restriction, interpolation = ml.make_restriction(fine, coarse), ml.make_interpolation(fine, coarse)
    assert restriction.nested and interpolation.nested
    taps = ml.Transfer([ml.restriction_taps(15, 7, 0.5)] * ndim, coarse.shape, restrict=True)
    residual = rng.standard_normal(fine.shape)
    np.testing.assert_allclose(restriction(residual).copy(), taps(residual).copy(), rtol=1e-13, atol=1e-13)
    padded = np.pad(rng.standard_normal(coarse.shape), 1)
    fast, slow = np.zeros(tuple(n + 2 for n in fine.shape)), np.zeros(tuple(n + 2 for n in fine.shape))
    interpolation(padded, fast)
    ml.Transfer([ml.interpolation_taps(15, 7)] * ndim, fine.shape, restrict=False)(padded, slow)
    np.testing.assert_allclose(fast, slow, rtol=1e-13, atol=1e-13)


def test_bench_hierarchy_quick_writes_rows_with_ratios_from_one_run(tmp_path):
    import json

    from click.testing import CliRunner

    from poissonfp.cli import main

    result = CliRunner().invoke(main, ["bench", "--hierarchy", "--quick", "--quiet", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "hierarchy.json").read_text())
    rows = {row["case"]: row for row in data["rows"]}
    assert set(rows) == {"2d_contrast", "2d_boundary"}
    for row in rows.values():
        assert row["hybrid"]["converged"] and row["pyamg_rs"]["converged"] and row["pyamg_sa"]["converged"]
        assert row["ratios"]["rs_with_setup_over_hybrid"] == pytest.approx(
            row["pyamg_rs"]["total_s"] / row["hybrid"]["time_s"])
    assert "dst" in rows["2d_boundary"] and "dst" not in rows["2d_contrast"]
    boundary = rows["2d_boundary"]["hybrid"]
    assert rows["2d_contrast"]["hierarchy"] == "galerkin"
    assert boundary["boundary_lift"] or boundary["decision"] == "jacobi"  # 31²: one Jacobi run may be cheaper
    assert "| 2d_contrast | 31x31 |" in (tmp_path / "hierarchy.md").read_text()


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_hierarchy_reference_is_the_direct_solution_to_round_off(tmp_path, kind):
    """problem.discrete_solution above LU_LIMIT: the hierarchy's cycles to a backward error of 1e-14 agree
    with SuperLU to 1e-11 (relative, max norm); stopped at 1e-6 (the control) they do not."""
    from poissonfp.solvers.hierarchy.multilevel_galerkin import reference_solution

    problem = problem_of(tmp_path, kind, {1: 63, 2: 31, 3: 15}[KINDS[kind][1]])
    direct = problem.operator.project(problem.operator.solve(problem.rhs))
    scale = np.abs(direct).max()
    solution, info = reference_solution(problem.operator, problem.rhs)
    assert info["backward_error"] <= 1e-14 and np.abs(solution - direct).max() <= 1e-11 * scale, (kind, info)
    loose, _ = reference_solution(problem.operator, problem.rhs, backward_error=1e-6)
    assert np.abs(loose - direct).max() > 1e-11 * scale
    assert reference_solution(problem.operator, problem.rhs, max_cycles=1) is None  # the caller factorises
    tiny, _ = reference_solution(problem.operator, problem.rhs * 1e-200)  # norms in power-of-two units
    assert np.abs(tiny * 1e200 - solution).max() <= 1e-12 * scale


def test_the_chebyshev_smoother_contracts_faster_on_the_contrast_case(tmp_path):
    """Chebyshev steps (degree 2 on [ρ/4, ρ] of D⁻¹A) against ω-Jacobi, the same sweeps per cycle; an
    unknown smoother is refused."""
    problem = problem_of(tmp_path, "contrast e^8", 63)
    factors = {}
    for smoother in ("jacobi", "chebyshev"):
        hierarchy = GalerkinMultilevel(problem.operator, ExactCoarse(), smoother=smoother)
        hierarchy.full_cycle(problem.rhs)
        hierarchy.cycle(0)
        first = np.linalg.norm(hierarchy.fine.compute_residual())
        for _ in range(5):
            hierarchy.cycle(0)
        factors[smoother] = (np.linalg.norm(hierarchy.fine.compute_residual()) / first) ** (1 / 5)
    assert factors["chebyshev"] < 0.85 * factors["jacobi"], factors
    with pytest.raises(ValueError, match="smoother"):
        GalerkinMultilevel(problem.operator, ExactCoarse(), smoother="gauss-seidel")


def test_compiled_products_are_scipys_to_the_bit():
    """The hierarchy's compiled ``R (A P)``, residual and transfers on unsigned index views against scipy:
    the same entries, order and bits, exact zeros dropped (row 0, column 0 cancels), the diagonal first."""
    import scipy.sparse as sp

    from poissonfp.solvers.hierarchy import galerkin_kernels as kernels

    rng = np.random.default_rng(3)
    a = sp.random(40, 40, density=0.2, random_state=4, format="lil")
    b = sp.random(40, 40, density=0.2, random_state=5, format="lil")
    a[0, :], b[:, 0] = 0.0, 0.0
    a[0, 1], a[0, 2], b[1, 0], b[2, 0], b[1, 5] = 0.5, 0.25, 1.0, -2.0, 3.0  # (A B)[0, 0] = 0.5 - 0.5
    a, b = a.tocsr(), b.tocsr()
    expected = a @ b
    assert 0 not in expected[0].indices and 5 in expected[0].indices
    arguments = (*kernels.unsigned(a.indptr, a.indices, a.data), *kernels.unsigned(b.indptr, b.indices, b.data), 40)
    first = kernels.diagonal_first(expected.indptr, expected.indices, expected.data)
    for mine, theirs in zip(kernels.sparse_product(*arguments, True), first):
        np.testing.assert_array_equal(mine, theirs)
    for mine, theirs in zip(kernels.sparse_product(*arguments, False), (expected.indptr, expected.indices, expected.data)):
        np.testing.assert_array_equal(mine, theirs)
    x, out, rhs = rng.standard_normal(40), rng.standard_normal(40), rng.standard_normal(40)
    before = out.copy()
    kernels.csr_apply(*kernels.unsigned(expected.indptr, expected.indices, expected.data), x, out, True)
    np.testing.assert_array_equal(out, before + expected @ x)
    kernels.residual(*kernels.unsigned(expected.indptr, expected.indices, expected.data), rhs, x, out)
    np.testing.assert_array_equal(out, rhs - expected @ x)


def test_compiled_a_p_builds_scipys_hierarchy(monkeypatch):
    """The compiled ``A P`` below :data:`COMPILED_PRODUCT_NNZ` gives the hierarchy scipy's product gives:
    every level's arrays and smoothing weight to the bit (2d_lshape at 63²: cut rows, dropped points)."""
    import poissonfp.solvers.hierarchy.galerkin_assembly as assembly

    problem = build_problem(load_case("2d_lshape"), 63)
    compiled = GalerkinMultilevel(problem.operator, ExactCoarse())
    monkeypatch.setattr(assembly, "COMPILED_PRODUCT_NNZ", -1)
    scipys = GalerkinMultilevel(problem.operator, ExactCoarse())
    assert len(compiled.levels) == len(scipys.levels) > 2
    for mine, theirs in zip(compiled.levels, scipys.levels):
        assert mine.omega_scale == theirs.omega_scale
        for a, b in zip(mine.arrays, theirs.arrays):
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes()


def test_compiled_transpose_is_scipys():
    """``galerkin_kernels.transpose`` gives scipy's ``A.T.tocsr()`` arrays to the bit (each row's columns
    ascending, empty rows and columns included)."""
    import scipy.sparse as sp

    from poissonfp.solvers.hierarchy import galerkin_kernels as kernels

    a = sp.random(30, 17, density=0.15, random_state=6, format="lil")
    a[:, 3] = 0.0
    a = a.tocsr()
    expected = a.T.tocsr()
    mine = kernels.transpose(*kernels.unsigned(a.indptr, a.indices, a.data), 17)
    for m, e in zip(mine, (expected.indptr, expected.indices, expected.data)):
        assert m.dtype == e.dtype and m.tobytes() == e.tobytes()
