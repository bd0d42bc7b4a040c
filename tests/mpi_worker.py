"""Run under ``mpirun -n P`` by tests/test_petsc_backend.py (not a test module itself).

``python tests/mpi_worker.py SPEC OUT``: SPEC is a JSON list of runs ``{"case", "n", "method", "pc", "tol"}``;
each is solved with --backend petsc's library path (criterion ``discrete`` at ``tol``) and rank 0 writes
the gathered solutions to the NPZ ``OUT`` (``run<i>``) and what each run reported to ``OUT.json``.
"""
from __future__ import annotations

import json
import sys


def main(spec: str, out: str) -> None:
    import numpy as np
    import petsc4py

    petsc4py.init([])
    from petsc4py import PETSc

    from poissonfp.case import load_case
    from poissonfp.petsc_backend.distributed import solve_distributed
    from poissonfp.petsc_backend.saving import gather_arrays

    mpi = PETSc.COMM_WORLD.tompi4py()
    solutions, reports = {}, []
    with open(spec) as handle:
        runs = json.load(handle)
    for i, run in enumerate(runs):
        case = load_case(run["case"]).with_overrides(size=run["n"], method=run["method"], criterion="discrete",
                                                     tol=run["tol"])
        solved = solve_distributed(case, run.get("pc"), lambda: False, None)
        full = gather_arrays(mpi, solved)
        blocks = mpi.gather(solved.local.block.size, root=0)
        if full is not None:
            solutions[f"run{i}"] = full["solution"]
            r = solved.result
            reports.append({"converged": r.converged, "stop_reason": r.stop_reason, "iterations": r.iterations,
                            "pc_type": r.info["pc_type"], "ranks": r.info["ranks"], "block_sizes": blocks,
                            "vertices": solved.layout.size})
    if mpi.rank == 0:
        np.savez(out, **solutions)
        with open(out + ".json", "w") as handle:
            json.dump(reports, handle)


if __name__ == "__main__":
    main(*sys.argv[1:3])
