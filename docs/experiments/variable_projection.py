"""Does training make the hybrid's coarse space save sweeps? Plain Adam against variable projection.

Usage (from the repository root, in the project's environment)::

    python docs/experiments/variable_projection.py CASE SIZE TOL STEPS
    python docs/experiments/variable_projection.py 2d_bump 128 1e-6 0,10,30,100

For each M in STEPS the case's network (seeded) is trained M steps on the grid Ritz energy, either by
plain Adam on every parameter (after an exact Galerkin solve of the output layer, as the hybrid does) or by
variable projection (before every step the output layer is solved exactly; Adam moves only the hidden
layers, so the features adapt to the solution). Then the coarse space of its features runs two-level
cycles {ν = max(64, 4m) Jacobi sweeps, Galerkin correction} until ``||u - u_h|| / ||u_h|| <= TOL``.
Printed per M: the rank of the space, the error at the hand-over, the sweeps and the time per step.
Training pays where ``(S(0) - S(M)) / M`` exceeds ``t_step / t_sweep`` (README, "How the hybrid works").
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

from poissonfp.case import load_case
from poissonfp.neural import galerkin_output_layer, make_loss
from poissonfp.neural.model import build_model, single_threaded
from poissonfp.operators import apply_laplacian
from poissonfp.problem import build_problem
from poissonfp.solvers.classical.jacobi import JacobiIteration

CASES = Path(__file__).resolve().parents[2] / "cases"


def two_level_sweeps(problem, space, u, tol: float, nu: int, limit: int = 2_000_000) -> int:
    """Sweeps of two-level cycles from ``u`` until the relative error against u_h is at most ``tol``."""
    reference = problem.discrete_solution
    norm = np.linalg.norm(reference)
    iteration = JacobiIteration(problem, 1.0, u)
    sweeps = 0
    while sweeps < limit:
        for _ in range(nu // 16):
            iteration.sweep(16)
            sweeps += 16
            if np.linalg.norm(iteration.solution - reference) / norm <= tol:
                return sweeps
        u = iteration.solution.copy()
        iteration.set(u + space.correction(problem.rhs - apply_laplacian(problem.grid, u)))
        if np.linalg.norm(iteration.solution - reference) / norm <= tol:
            return sweeps
    return sweeps


def train(problem, case, steps: int, projected: bool) -> tuple[object, float]:
    """The case's network trained ``steps`` steps; returns it and the training seconds."""
    model = build_model(problem, case.network, case.seed)
    points = model.grid_points(problem.grid)
    galerkin_output_layer(model, problem, case.training.rcond, points)
    output = model.output_layer
    parameters = [p for p in model.parameters() if not projected or all(p is not q for q in output.parameters())]
    optimiser = torch.optim.Adam(parameters, lr=case.training.learning_rate)
    loss = make_loss(problem, model, "ritz", "grid")
    start = time.perf_counter()
    for _ in range(steps):
        if projected:
            galerkin_output_layer(model, problem, case.training.rcond, points)
        optimiser.zero_grad()
        value, _ = loss()
        value.backward()
        optimiser.step()
    return model, time.perf_counter() - start


def main(name: str, size: int, tol: float, steps: list[int]) -> None:
    case = load_case(CASES / f"{name}.toml").with_overrides(size=size)
    problem = build_problem(case)
    with single_threaded():
        for projected in (False, True):
            for m in steps:
                if projected and m == 0:
                    continue
                model, seconds = train(problem, case, m, projected)
                space, u = galerkin_output_layer(model, problem, case.training.rcond)
                error = np.linalg.norm(u - problem.discrete_solution) / np.linalg.norm(problem.discrete_solution)
                sweeps = two_level_sweeps(problem, space, u, tol, max(64, 4 * space.size))
                print(f"{name} {size} {'varpro' if projected else 'adam':6s} M={m:4d} rank={space.rank:4d} "
                      f"error_at_switch={error:.2e} sweeps={sweeps:7d} per_step={seconds / max(m, 1) * 1e3:.1f} ms",
                      flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), [int(s) for s in sys.argv[4].split(",")])
