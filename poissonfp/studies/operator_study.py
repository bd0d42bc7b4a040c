"""Measurements of the operator iteration (a benchmark, not a test): calls, work and time per solve.

``python -m poissonfp.studies.operator_study MODEL_DIR --control UNTRAINED_DIR --sizes 63,127,255 --out FILE.json``

For each fine grid of the model's box (2D Dirichlet box, the model's case): the trained model's calls, sweeps,
work (sweep-equivalents) and wall time to relative residual ``tol``; the same loop with an exact coarse solve
(the control that bounds what a perfect network could do; on the model's own grid that is an exact solve, so
``exact_two_grid`` there runs the loop with the exact solve one grid coarser, (n - 1) / 2, the two-grid a
multigrid would run); the untrained network (no fallback, a sweep
budget: the control that must fail); pure Jacobi (ω = 1, the project's baseline) priced as its exact sweep
count (:func:`poissonfp.jacobi_theory.predicted_sweeps`) times its compiled kernel's measured sweep time;
PyAMG's solve with its hierarchy reused (set-up excluded, BLAS pinned to one thread); out-of-distribution
sources. torch and BLAS run on one thread; every ratio comes from one run. Each operator solve is timed as
the median of ``repeats`` solves after one untimed solve of the same problem (the first solve at a grid
compiles kernels: 2.6 s of a 127² solve on a fresh checkout), as PyAMG's is; ``paired`` holds the ratios
measured round by round (operator, Jacobi's probe, PyAMG back to back; median over at least 5 rounds).
"""
from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

__all__ = ["ExactCoarseModel", "main", "measure"]


class ExactCoarseModel:
    """The control: an exact ``A_c⁻¹`` (sine transform) on the model's grid behind the model's interface."""

    def __init__(self, model) -> None:
        self.meta, self.inside, self.across_sizes = dict(model.meta), model.inside, False
        self.grid = model.grid
        self.call_seconds: list[float] = []

    @property
    def seconds_per_call(self) -> float | None:
        return float(np.median(self.call_seconds)) if self.call_seconds else None

    def apply(self, residuals: np.ndarray) -> np.ndarray:
        from poissonfp.operators import solve_dst

        start = time.perf_counter()
        out = np.stack([solve_dst(self.grid, r) for r in np.asarray(residuals).reshape(-1, *self.grid.shape)])
        self.call_seconds.append(time.perf_counter() - start)
        return out.reshape(np.shape(residuals))

    def warm_up(self, batch: int = 1, shape: tuple[int, ...] | None = None) -> None:
        self.apply(np.ones((batch, *self.grid.shape)))
        self.call_seconds.pop()

    @classmethod
    def coarser(cls, model) -> ExactCoarseModel:
        """The exact solve on the grid one coarsening below the model's ((n - 1) / 2 points per axis): on the
        model's own grid its "exact coarse" control is an exact solve (one call), so the two-grid that a
        multigrid would run there is this one."""
        from poissonfp.discrete_operator import box_operator
        from poissonfp.grid import Grid
        from poissonfp.learned.store import operator_fingerprint

        exact = cls(model)
        g = model.grid
        exact.grid = Grid(tuple(g.lower), tuple(g.upper), tuple((n - 1) // 2 for n in g.shape))
        exact.meta["grid"] = {"lower": list(g.lower), "upper": list(g.upper), "shape": list(exact.grid.shape)}
        exact.meta["fingerprint"] = operator_fingerprint(box_operator(exact.grid))
        exact.inside = np.ones(exact.grid.shape, dtype=bool)
        return exact


def _row(result) -> dict[str, Any]:
    info = result.info
    return {"converged": result.converged, "rel_residual": result.final["rel_residual"],
            "calls": info["network_calls"], "sweeps": info["sweeps"], "work": info["work_sweep_equivalents"],
            "call_sweeps": info["call_sweep_equivalents"], "wall_s": result.wall_time_s,
            "fallback": info.get("fallback")}


def _timed(run, repeats: int):
    """``run()`` once untimed, then ``repeats`` times: the last result with the median wall time of those."""
    run()
    results = [run() for _ in range(max(1, repeats))]
    result = results[-1]
    result.wall_time_s = float(np.median([r.wall_time_s for r in results]))
    return result


def _jacobi(problem, criterion) -> dict[str, Any]:
    from poissonfp.jacobi_theory import predicted_sweeps
    from poissonfp.solvers import StoppingCriterion, solve

    sweeps = predicted_sweeps(problem, criterion, omega=1.0)
    probe = solve(problem, "jacobi", StoppingCriterion("residual", 1e-300, max_iterations=2000), omega=1.0)
    sweep_s = probe.wall_time_s / probe.iterations
    return {"sweeps": sweeps, "sweep_s": sweep_s, "wall_s": sweeps * sweep_s}


def _pyamg(problem, tol: float) -> dict[str, Any]:
    import pyamg
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        hierarchy = pyamg.ruge_stuben_solver(problem.operator.matrix.tocsr())
        b = problem.rhs.ravel()
        residuals: list[float] = []
        hierarchy.solve(b, tol=tol, maxiter=200, residuals=residuals)  # warm
        times = []
        for _ in range(3):
            start = time.perf_counter()
            hierarchy.solve(b, tol=tol, maxiter=200)
            times.append(time.perf_counter() - start)
    return {"cycles": len(residuals) - 1, "wall_s": float(np.median(times))}


def _paired(problem, criterion, model, sweeps: int, rounds: int) -> dict[str, Any]:
    """Ratios that survive a shared machine's load: ``rounds`` rounds of an operator solve, pure Jacobi's
    2,000-sweep probe and a PyAMG solve (hierarchy reused) back to back; the median over rounds of each
    round's ratios (a load spike hits one round's three timings alike)."""
    import pyamg
    from threadpoolctl import threadpool_limits

    from poissonfp.jacobi_theory import predicted_sweeps
    from poissonfp.solvers import StoppingCriterion, solve

    jacobi_sweeps = predicted_sweeps(problem, criterion, omega=1.0)
    probe = StoppingCriterion("residual", 1e-300, max_iterations=2000)
    b = problem.rhs.ravel()
    with threadpool_limits(1):
        hierarchy = pyamg.ruge_stuben_solver(problem.operator.matrix.tocsr())
        hierarchy.solve(b, tol=criterion.tol, maxiter=200)
        solve(problem, "operator", criterion, model=model, sweeps=sweeps)
        rows = []
        for _ in range(max(1, rounds)):
            operator = solve(problem, "operator", criterion, model=model, sweeps=sweeps).wall_time_s
            sweep = solve(problem, "jacobi", probe, omega=1.0)
            jacobi = jacobi_sweeps * sweep.wall_time_s / sweep.iterations
            start = time.perf_counter()
            hierarchy.solve(b, tol=criterion.tol, maxiter=200)
            rows.append((operator, jacobi, time.perf_counter() - start))
    operator_s, jacobi_s, pyamg_s = (np.array(column) for column in zip(*rows))
    return {"rounds": len(rows), "operator_s": float(np.median(operator_s)), "jacobi_s": float(np.median(jacobi_s)),
            "pyamg_s": float(np.median(pyamg_s)), "jacobi_over_operator": float(np.median(jacobi_s / operator_s)),
            "operator_over_pyamg": float(np.median(operator_s / pyamg_s))}


def _sources(grid) -> dict[str, np.ndarray]:
    x, y = grid.coordinates()
    return {"bump": np.exp(-((x - 0.3) ** 2 + (y - 0.6) ** 2) / (2 * 0.03**2)) + 0 * y,
            "step": np.where(x < 0.5, 1.0, 0.0) + 0 * y,
            "high_mode": np.sin(40 * np.pi * x) * np.sin(30 * np.pi * y)}


def measure(model_dir: str, control_dir: str | None, sizes: list[int], tol: float = 1e-10, sweeps: int = 10,
            ood_sizes: tuple[int, ...] = (127, 255), repeats: int = 3) -> dict[str, Any]:
    """The measurements described in the module docstring, as a JSON-able dict."""
    import dataclasses

    import torch

    from poissonfp.case import load_case
    from poissonfp.learned.store import load_model
    from poissonfp.problem import Problem, build_problem
    from poissonfp.solvers import StoppingCriterion, solve

    torch.set_num_threads(1)
    model = load_model(model_dir)
    case = load_case(model.meta["case"])
    criterion = StoppingCriterion("residual", tol, max_iterations=50_000)  # sweeps: a budget, never reached here
    out: dict[str, Any] = {"model": model_dir, "model_meta": {k: v for k, v in model.meta.items() if k != "folder"},
                           "tol": tol, "sweeps_per_call": sweeps, "repeats": repeats, "rows": [],
                           "out_of_distribution": []}
    for n in sizes:
        problem = build_problem(case, size=n)
        row: dict[str, Any] = {"n": n, "source": "case"}
        for name, accel in (("trained", "none"), ("trained_fcg", "fcg")):
            row[name] = _row(_timed(lambda p=problem, a=accel: solve(p, "operator", criterion, model=model,
                                                                     sweeps=sweeps, accel=a), repeats))
        row["exact_coarse"] = _row(solve(problem, "operator", criterion, model=ExactCoarseModel(model),
                                         sweeps=sweeps, fallback=False))
        if problem.grid.shape == model.grid.shape:  # there the exact coarse solve is an exact solve
            row["exact_two_grid"] = _row(solve(problem, "operator", criterion, model=ExactCoarseModel.coarser(model),
                                               sweeps=sweeps, fallback=False))
        if control_dir:
            budget = StoppingCriterion("residual", tol, max_iterations=20 * max(row["trained"]["sweeps"], 10))
            control = load_model(control_dir)
            row["untrained"] = _row(solve(problem, "operator", budget, model=control, sweeps=sweeps, fallback=False))
            row["untrained_safeguarded"] = _row(solve(problem, "operator", criterion, model=control, sweeps=sweeps))
        row["jacobi"] = _jacobi(problem, criterion)
        row["pyamg"] = _pyamg(problem, tol)
        row["paired"] = _paired(problem, criterion, model, sweeps, max(5, repeats))
        out["rows"].append(row)
        print(row, flush=True)
    for n in ood_sizes:
        base = build_problem(case, size=n)
        for name, f in {**_sources(base.grid), "article": base.source}.items():
            problem = dataclasses.replace(Problem(base.grid, f, f, name=case.name), general=None) \
                if name != "article" else base
            entry = {"n": n, "source": name,
                     "trained": _row(_timed(lambda p=problem: solve(p, "operator", criterion, model=model,
                                                                    sweeps=sweeps), repeats)),
                     "jacobi": _jacobi(problem, criterion)}
            out["out_of_distribution"].append(entry)
            print(entry, flush=True)
    return out


def main(argv: list[str] | None = None) -> None:
    from poissonfp.results import write_json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--control")
    parser.add_argument("--sizes", default="63,127,255")
    parser.add_argument("--ood-sizes", default="127,255")
    parser.add_argument("--tol", type=float, default=1e-10)
    parser.add_argument("--sweeps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    data = measure(args.model, args.control, [int(s) for s in args.sizes.split(",")], args.tol, args.sweeps,
                   tuple(int(s) for s in args.ood_sizes.split(",") if s), args.repeats)
    write_json(args.out, data)


if __name__ == "__main__":
    main()
