"""``mpirun -n P python -m poissonfp.petsc_backend.worker SPEC OUT``: a list of distributed solves in one launch.

SPEC is a JSON list of runs ``{"case", "n" or "grid", "method", "pc", "criterion", "tol", "max_iterations",
"gather", "model"}`` (``grid``: interior points per axis in the case's unit; ``gather``: keep the solution;
``max_iterations``: the solver's cap, e.g. Jacobi's sweeps in a benchmark). Every run is solved with
:func:`~poissonfp.petsc_backend.distributed.solve_distributed`; rank 0 writes what each reported to
``OUT.json`` and the gathered solutions to ``OUT.npz`` (``run<i>``). The tests and ``bench --backend petsc``
use it; peak memory is per process, so a run measured for memory is best the only one of its launch.
"""
from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any

__all__ = ["run_spec"]


def _case(run: dict[str, Any]):
    from poissonfp.case import load_case

    case = load_case(run["case"])
    if "grid" in run:
        case = dataclasses.replace(case, grid_size=tuple(run["grid"]))
    overrides = {"size": run.get("n"), "method": run["method"], "criterion": run.get("criterion"),
                 "tol": run.get("tol"), "model": run.get("model"), "max_iterations": run.get("max_iterations")}
    return case.with_overrides(**overrides)


def run_spec(runs: list[dict[str, Any]], out: str) -> None:
    """Solve every run on ``PETSc.COMM_WORLD``; rank 0 writes ``out + ".json"`` and ``out + ".npz"``."""
    import numpy as np
    from petsc4py import PETSc

    from poissonfp.petsc_backend.distributed import solve_distributed
    from poissonfp.petsc_backend.saving import gather_arrays

    mpi = PETSc.COMM_WORLD.tompi4py()
    solutions: dict[str, Any] = {}
    reports = []
    for i, run in enumerate(runs):
        solved = solve_distributed(_case(run), run.get("pc"), lambda: False, None)
        full = gather_arrays(mpi, solved) if run.get("gather") else None
        blocks = mpi.gather(solved.local.block.size, root=0)
        if mpi.rank == 0:
            r = solved.result
            if full is not None:
                solutions[f"run{i}"] = full["solution"]
            reports.append({**{k: run.get(k) for k in ("case", "n", "grid", "method", "pc", "criterion", "tol")},
                            "converged": r.converged, "stop_reason": r.stop_reason, "iterations": r.iterations,
                            "wall_time_s": r.wall_time_s, "final": r.final, "info": r.info,
                            "unknowns": solved.layout.grid.size, "vertices": solved.layout.size,
                            "block_sizes": blocks})
    if mpi.rank == 0:
        np.savez(out + ".npz", **solutions)
        with open(out + ".json", "w") as handle:
            json.dump(reports, handle)


if __name__ == "__main__":
    import petsc4py

    petsc4py.init([])
    with open(sys.argv[1]) as spec:
        run_spec(json.load(spec), sys.argv[2])
