"""``poissonfp bench --backend petsc``: strong and weak scaling of the PETSc solvers over MPI ranks.

Each measurement is one ``mpirun -n P python -m poissonfp.petsc_backend.worker`` launch (so its peak
memory per rank is its own), to a relative residual of 1e-10: ``multigrid`` (CG with PCMG, geometric and
Galerkin; hypre's BoomerAMG; GAMG), ``hybrid`` (PCMG V-cycles with ω-Jacobi smoothing, the coarsest level
solved by poissonfp's coarse solver through PCPYTHON) and ``jacobi`` (ω-Jacobi, the baseline: capped at
:data:`JACOBI_SWEEPS` sweeps, far short of 1e-10, so its row gives the time per sweep, not a solve).
Strong scaling keeps the grid and adds ranks; weak scaling keeps the points per rank (the grid doubles
along its first axis with the ranks). Reported per run: iterations, wall time (the preconditioner's set-up
included), the set-up alone, peak memory per rank, and whether 1e-10 was reached.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ScalingConfig", "format_scaling", "quick_scaling", "run_scaling"]

TOL = 1e-10
#: Jacobi's sweeps per benchmark run: to 1e-10 it would need ~10^6 sweeps at 1023² (its rate is 1 - O(h²)).
JACOBI_SWEEPS = 200


@dataclass(frozen=True)
class ScalingConfig:
    """What ``bench --backend petsc`` measures.

    Attributes:
        ranks: the rank counts.
        strong: (case, interior points per axis) grids solved on every rank count.
        weak: (case, interior points per axis on one rank): on P ranks the first axis has ``P (n + 1) - 1``.
        solvers: (method, ``--pc``) pairs: ``--pc`` for ``multigrid`` (mg, hypre, gamg), None otherwise.
    """

    ranks: tuple[int, ...] = (1, 2)
    strong: tuple[tuple[str, tuple[int, ...]], ...] = (("2d_square", (1023, 1023)), ("3d_cube", (127, 127, 127)))
    weak: tuple[tuple[str, tuple[int, ...]], ...] = (("2d_square", (511, 511)), ("3d_cube", (63, 63, 63)))
    solvers: tuple[tuple[str, str | None], ...] = (("multigrid", "mg"), ("multigrid", "hypre"), ("multigrid", "gamg"),
                                                    ("hybrid", None), ("jacobi", None))


def quick_scaling() -> ScalingConfig:
    """A tiny run that checks the harness (every method once)."""
    return ScalingConfig(strong=(("2d_square", (31, 31)),), weak=(("2d_square", (15, 15)),),
                         solvers=(("multigrid", "mg"), ("hybrid", None), ("jacobi", None)))


def solver_label(method: str, pc: str | None) -> str:
    return f"{method} ({pc})" if pc else method


def _mpirun(ranks: int) -> list[str]:
    launcher = shutil.which("mpirun") or shutil.which("mpiexec")
    if launcher is None:
        raise FileNotFoundError("bench --backend petsc needs mpirun (`make mpi` installs Open MPI)")
    root = ["--allow-run-as-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    return [launcher, *root, "--oversubscribe", "-n", str(ranks)]


def _measure(run: dict[str, Any], ranks: int, folder: Path) -> dict[str, Any]:
    spec, out = folder / "spec.json", folder / "out"
    spec.write_text(json.dumps([run]))
    start = time.perf_counter()
    done = subprocess.run([*_mpirun(ranks), sys.executable, "-m", "poissonfp.petsc_backend.worker", str(spec),
                           str(out)], capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {**run, "ranks": ranks, "status": "failed", "note": last}
    report = json.loads(Path(str(out) + ".json").read_text())[0]
    info = report["info"]
    return {**run, "ranks": ranks, "status": "measured", "unknowns": report["unknowns"],
            "iterations": report["iterations"], "wall_time_s": report["wall_time_s"],
            "setup_time_s": info["setup_time_s"], "peak_memory_mb_per_rank": info["peak_memory_mb_per_rank"],
            "reached": report["converged"], "rel_residual": report["final"]["rel_residual"],
            "pc_type": info["pc_type"], "launch_s": time.perf_counter() - start,
            "max_error_vs_exact": report["final"]["error_vs_exact_inf"]}


def run_scaling(config: ScalingConfig, callback: Callable[[dict], None] | None = None) -> dict[str, Any]:
    """Measure every strong and weak run; returns the rows with the machine's load before and after."""
    rows = []
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="poissonfp-scaling-") as tmp:
        for kind, grids in (("strong", config.strong), ("weak", config.weak)):
            for case, grid in grids:
                for method, pc in config.solvers:
                    for ranks in config.ranks:
                        shape = list(grid) if kind == "strong" else [ranks * (grid[0] + 1) - 1, *grid[1:]]
                        run = {"scaling": kind, "case": case, "grid": shape, "method": method, "pc": pc,
                               "criterion": "residual", "tol": TOL}
                        if method == "jacobi":
                            run["max_iterations"] = JACOBI_SWEEPS
                        row = _measure(run, ranks, Path(tmp))
                        rows.append(row)
                        if callback is not None:
                            callback(row)
    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"rows": rows, "load_before": load_before, "load_after": load_after, "cpus": os.cpu_count(),
            "elapsed_s": time.perf_counter() - started, "tol": TOL, "jacobi_sweeps": JACOBI_SWEEPS}


def format_scaling(data: dict[str, Any]) -> str:
    """The rows as Markdown tables (strong, then weak), speed-up / efficiency against one rank."""
    load = "/".join("?" if v is None else f"{v:.1f}" for v in (data["load_before"], data["load_after"]))
    lines = [f"To relative residual {data['tol']:g} (jacobi: {data.get('jacobi_sweeps', JACOBI_SWEEPS)} sweeps, "
             f"not reached); load average {load} (before/after) on {data['cpus']} CPUs.", ""]
    for kind in ("strong", "weak"):
        lines += [f"**{kind} scaling**", "",
                  "| case | grid | method | ranks | unknowns | iterations | time (s) | set-up (s) | "
                  f"{'speed-up' if kind == 'strong' else 'efficiency'} | peak MB per rank | reached |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        base: dict[tuple, float] = {}
        for row in (r for r in data["rows"] if r["scaling"] == kind):
            grid = "x".join(map(str, row["grid"]))
            label = solver_label(row.get("method", "multigrid"), row["pc"])
            if row["status"] != "measured":
                lines.append(f"| {row['case']} | {grid} | {label} | {row['ranks']} | | | | | | | "
                             f"{row['status']}: {row.get('note', '')} |")
                continue
            key = (row["case"], label) if kind == "weak" else (row["case"], grid, label)
            base.setdefault(key, row["wall_time_s"])
            ratio = base[key] / row["wall_time_s"]
            memory = "/".join(f"{m:.0f}" for m in row["peak_memory_mb_per_rank"])
            lines.append(f"| {row['case']} | {grid} | {label} | {row['ranks']} | {row['unknowns']:,} | "
                         f"{row['iterations']} | {row['wall_time_s']:.3f} | {row['setup_time_s']:.3f} | "
                         f"{ratio:.2f} | {memory} | {'yes' if row['reached'] else 'no'} |")
        lines.append("")
    return "\n".join(lines)


def bench_petsc(out: Path, quick: bool = False, quiet: bool = False) -> dict[str, Any]:
    """Measure, then write ``out/scaling.json`` and ``out/scaling.md`` (atomically); print the tables."""
    import click

    from poissonfp.petsc_backend import missing_stack
    from poissonfp.results import write_json, write_text

    missing = missing_stack()
    if missing is not None:
        from poissonfp.case import CaseError

        raise CaseError("bench", "--backend", missing)
    config = quick_scaling() if quick else ScalingConfig()

    def show(row: dict) -> None:
        if not quiet:
            grid = "x".join(map(str, row["grid"]))
            text = (f"{row['iterations']} its, {row['wall_time_s']:.3f} s" if row["status"] == "measured"
                    else f"{row['status']}: {row.get('note', '')}")
            click.echo(f"{row['scaling']:>6} {row['case']} {grid} {solver_label(row['method'], row['pc'])} on {row['ranks']} rank(s): {text}",
                       err=True)

    data = run_scaling(config, show)
    data["command"] = "poissonfp bench --backend petsc" + " --quick" * quick + f" --out {out}"
    write_json(out / "scaling.json", data)
    table = format_scaling(data)
    write_text(out / "scaling.md", table + "\n")
    click.echo(table)
    return data
