"""The off-box discrete reference two ways, in one process, best of two each (BLAS on one thread): the
present `multilevel_galerkin.reference_solution` (full multigrid, then V-cycles of the Galerkin hierarchy
with Chebyshev smoothing and an exact coarsest solve, until the normwise backward error
``‖b - Au‖₂ / (‖b‖₂ + ‖|A||u|‖₂)`` is at most 1e-14) against the same full multigrid followed by conjugate
gradients preconditioned by the same V-cycle, stopped by the same backward error (a measurement for
issue 16, item 4: the reference is the largest stage of an off-box `solve` after the imports).

usage: python docs/scripts/reference_krylov_check.py CASE N   (CASE: a shipped case or a case file)
"""
from __future__ import annotations

import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from poissonfp import build_problem, load_case
from poissonfp.solvers.base import norm2
from poissonfp.solvers.hierarchy import multilevel_galerkin as mg
from poissonfp.solvers.hierarchy.multilevel import DEFAULT_COARSEST_POINTS, ExactCoarse


def krylov_reference(operator, rhs, backward_error=mg.REFERENCE_BACKWARD_ERROR, max_iterations=40):
    """Full multigrid, then V-cycle-preconditioned CG until the backward error holds: (u, iterations, error)."""
    hierarchy = mg.GalerkinMultilevel(operator, ExactCoarse(), coarsest_points=DEFAULT_COARSEST_POINTS[operator.grid.ndim],
                                      smoother="chebyshev")
    matrix, shape = hierarchy.fine.matrix, hierarchy.fine.grid.shape
    magnitude, b = abs(matrix), np.asarray(rhs, dtype=float).ravel()
    b_norm = norm2(b)
    hierarchy.full_cycle(np.asarray(rhs, dtype=float))
    x = hierarchy.fine.solution.ravel().copy()

    def error_of(u):
        return norm2(b - matrix @ u) / (b_norm + norm2(magnitude @ np.abs(u)))

    def preconditioned(r):
        hierarchy.set_rhs(r.reshape(shape))
        hierarchy.fine.zero()
        hierarchy.cycle(0)
        return hierarchy.fine.solution.ravel().copy()

    r = b - matrix @ x
    error, iterations = error_of(x), 0
    if error > backward_error:
        z = preconditioned(r)
        d, rz = z.copy(), r @ z
        while iterations < max_iterations:
            iterations += 1
            product = matrix @ d
            alpha = rz / (d @ product)
            x += alpha * d
            r -= alpha * product
            error = error_of(x)
            if error <= backward_error:
                break
            z = preconditioned(r)
            rz, previous = r @ z, rz
            d = z + (rz / previous) * d
    return operator.project(x.reshape(shape)), iterations, error


def main(case_name: str, size: int) -> None:
    threadpool_limits(1)
    problem = build_problem(load_case(case_name).with_overrides(size=size))
    operator = problem.operator
    mg.warm_up_csr()
    mg.kernels.warm_up()
    best = {"cycles": np.inf, "krylov": np.inf}
    for _ in range(2):
        start = time.perf_counter()
        cycles, info = mg.reference_solution(operator, problem.rhs)
        best["cycles"] = min(best["cycles"], time.perf_counter() - start)
        start = time.perf_counter()
        krylov, iterations, error = krylov_reference(operator, problem.rhs)
        best["krylov"] = min(best["krylov"], time.perf_counter() - start)
    difference = np.max(np.abs(krylov - cycles)) / np.max(np.abs(cycles))
    print(f"{case_name} {size}: V-cycles {info['cycles']} in {best['cycles']:.3f} s (backward error "
          f"{info['backward_error']:.1e}); full multigrid + CG {iterations} in {best['krylov']:.3f} s (backward error "
          f"{error:.1e}); ratio {best['cycles'] / best['krylov']:.2f}x; max difference {difference:.1e} (relative)")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
