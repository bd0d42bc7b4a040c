"""The output set of a distributed solve, written by rank 0 (and, for a large grid, one part per rank).

When the gathered arrays fit in rank 0's memory (:func:`gather_fits`), rank 0 gathers the solution,
the right-hand side, f, the exact and the discrete solution and writes the usual set with
:func:`poissonfp.outputs.save_solve_outputs`: the same files as on one process. Otherwise every rank
writes its own block to ``part-RRRRR.npz`` and rank 0 writes ``parts.json`` (the manifest),
``convergence.png`` and ``result.json``; :func:`poissonfp.outputs.load_result` reads both forms
(:func:`read_parts`). Either way the set is staged and moved into place whole (``result.json`` last).
"""
from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

__all__ = ["PARTS_MANIFEST", "gather_arrays", "gather_fits", "read_parts", "save_distributed"]

#: The manifest of a set written per rank.
PARTS_MANIFEST = "parts.json"
#: Arrays gathered to rank 0 (solution, rhs, source, exact, discrete solution) and the figures' copies.
_GATHERED_ARRAYS = 8


def gather_fits(size: int) -> bool:
    """Whether rank 0 can hold the gathered arrays of ``size`` points: at most half its available memory,
    or ``-poissonfp_gather_limit_mb`` megabytes when that PETSc option is set."""
    from petsc4py import PETSc

    limit_mb = PETSc.Options().getReal("poissonfp_gather_limit_mb", -1.0)
    limit = limit_mb * 2 ** 20 if limit_mb >= 0 else 0.5 * _available_bytes()
    return _GATHERED_ARRAYS * 8 * size <= limit


def _available_bytes() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 * 2**30  # no /proc: assume 4 GiB


def _grid_blocks(solved) -> tuple[tuple[slice, ...], tuple[int, ...], tuple[int, ...]]:
    """This rank's unknowns: slices into its vertex block and their grid-index start and stop."""
    layout, block = solved.layout, solved.local.block
    vpart, gpart = layout.grid_part(block)
    local = tuple(slice(a - s, b - s) for a, b, s in zip(vpart.start, vpart.stop, block.start))
    return local, gpart.start, gpart.stop


def _local_arrays(solved) -> dict[str, np.ndarray]:
    block = solved.local.block
    local, _, _ = _grid_blocks(solved)
    arrays = {"solution": solved.solution.getArray(readonly=True).reshape(block.shape),
              "rhs": solved.local.rhs, "source": solved.local.source,
              "discrete_solution": solved.discrete.getArray(readonly=True).reshape(block.shape)}
    if solved.local.exact is not None:
        arrays["exact"] = solved.local.exact
    return {name: np.array(value[local]) for name, value in arrays.items()}


def save_distributed(mpi: Any, out: Path, case, solved, vtk: bool) -> Any:
    """Write the output set (collective); returns the problem-like object the summary prints from."""
    from poissonfp.petsc_backend.distributed import collective

    grid = solved.layout.grid
    fits = mpi.bcast(gather_fits(grid.size) if mpi.rank == 0 else None)
    if fits:
        full = gather_arrays(mpi, solved)
        problem: Any = None
        solution: Any = None
        if full is not None:
            problem, solution = _gathered_problem(case, grid, full, solved)

        def write() -> None:
            if mpi.rank == 0:
                from poissonfp.outputs import save_solve_outputs

                solved.result.solution = solution
                save_solve_outputs(out, case, problem, solved.result, vtk=vtk)

        collective(mpi, write)
        return problem if mpi.rank == 0 else None
    _, start, stop = _grid_blocks(solved)
    return _save_parts(mpi, out, case, solved, start, stop)


def gather_arrays(mpi: Any, solved) -> dict[str, np.ndarray] | None:
    """The solve's arrays on the whole grid (``solution``, ``rhs``, ``source``, ``discrete_solution``,
    ``exact``) on rank 0, None on the other ranks (collective)."""
    _, start, stop = _grid_blocks(solved)
    pieces = mpi.gather((start, stop, _local_arrays(solved)), root=0)
    if pieces is None:
        return None
    full: dict[str, np.ndarray] = {}
    for first, last, arrays in pieces:
        where = tuple(slice(a, b) for a, b in zip(first, last))
        for name, value in arrays.items():
            full.setdefault(name, np.zeros(solved.layout.grid.shape))[where] = value
    return full


def _gathered_problem(case, grid, full: dict[str, np.ndarray], solved):
    from poissonfp.problem import Problem

    functions = {"source": case.source, "boundary": case.boundary}
    if case.exact is not None:
        functions["exact"] = case.exact
    problem = Problem(grid, full["source"], full["rhs"], full.get("exact"), case.name, functions)
    problem.__dict__["discrete_solution"] = full["discrete_solution"]  # cached_property values: the
    problem.__dict__["discretization_error_inf"] = solved.discretization_error_inf  # distributed ones
    return problem, full["solution"]


def _save_parts(mpi: Any, out: Path, case, solved, start, stop) -> Any:
    from poissonfp.outputs import OUTPUT_FILES, result_record
    from poissonfp.petsc_backend.distributed import collective
    from poissonfp.results import staged_folder, write_json, write_npz

    summary: Any = SimpleNamespace(grid=solved.layout.grid, discretization_error_inf=solved.discretization_error_inf)
    name = f"part-{mpi.rank:05d}.npz"
    parts = [f"part-{r:05d}.npz" for r in range(mpi.size)]
    stack = ExitStack()
    owned = (*OUTPUT_FILES, PARTS_MANIFEST, *parts)
    staging = collective(mpi, lambda: str(stack.enter_context(staged_folder(
        out, first_out="result.json", last_in="result.json", owned=owned))) if mpi.rank == 0 else None)
    folder = Path(mpi.bcast(staging))
    try:
        collective(mpi, lambda: write_npz(folder / name, start=np.asarray(start), stop=np.asarray(stop),
                                          **_local_arrays(solved)))
        blocks = mpi.gather({"file": name, "start": list(start), "stop": list(stop)}, root=0)

        def finish() -> None:
            if mpi.rank != 0:
                return
            from poissonfp.plotting.solution import plot_convergence
            from poissonfp.results import save_figure
            from poissonfp.settings import CRITERION_METRICS

            result = solved.result
            write_json(folder / PARTS_MANIFEST, {"format": "poissonfp parts", "grid_shape": list(summary.grid.shape),
                                                 "parts": blocks})
            metric = CRITERION_METRICS.get(result.info.get("criterion"), CRITERION_METRICS["residual"])
            save_figure(plot_convergence(result.history, metric, result.info.get("threshold"),
                                         f"Convergence ({case.name}, {result.method}, grid {summary.grid.describe()}, "
                                         f"{mpi.size} ranks)"), folder / "convergence.png")
            write_json(folder / "result.json", result_record(case, summary, result))

        collective(mpi, finish)
    except BaseException:
        if not stack.__exit__(*sys.exc_info()):
            raise
    else:
        stack.close()
    mpi.barrier()
    return summary if mpi.rank == 0 else None


def read_parts(folder: Path) -> dict[str, np.ndarray]:
    """The arrays of a set written per rank, reassembled (``solution``, ``rhs``, ``source``, ``exact``, ...)."""
    from poissonfp.results import read_json

    manifest = read_json(folder / PARTS_MANIFEST)
    shape = tuple(manifest["grid_shape"])
    arrays: dict[str, np.ndarray] = {}
    for part in manifest["parts"]:
        with np.load(folder / part["file"]) as data:
            where = tuple(slice(a, b) for a, b in zip(part["start"], part["stop"]))
            for key in data.files:
                if key not in ("start", "stop"):
                    arrays.setdefault(key, np.zeros(shape))[where] = data[key]
    return arrays
