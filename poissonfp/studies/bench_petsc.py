"""``poissonfp bench --backend petsc``: strong and weak scaling of the PETSc solvers over MPI ranks.

Each measurement is one ``mpirun -n P python -m poissonfp.petsc_backend.worker`` launch (so its peak
memory per rank is its own): CG to a relative residual of 1e-10 with PCMG (geometric, Galerkin), hypre's
BoomerAMG and GAMG. Strong scaling keeps the grid and adds ranks; weak scaling keeps the points per rank
(the grid doubles along its first axis with the ranks). Reported per run: iterations, wall time (the
preconditioner's set-up included), the set-up alone, peak memory per rank, and whether 1e-10 was reached.
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


@dataclass(frozen=True)
class ScalingConfig:
    """What ``bench --backend petsc`` measures.

    Attributes:
        ranks: the rank counts.
        strong: (case, interior points per axis) grids solved on every rank count.
        weak: (case, interior points per axis on one rank): on P ranks the first axis has ``P (n + 1) - 1``.
        preconditioners: ``--pc`` values for ``--method multigrid``.
    """

    ranks: tuple[int, ...] = (1, 2)
    strong: tuple[tuple[str, tuple[int, ...]], ...] = (("2d_square", (1023, 1023)), ("3d_cube", (127, 127, 127)))
    weak: tuple[tuple[str, tuple[int, ...]], ...] = (("2d_square", (511, 511)), ("3d_cube", (63, 63, 63)))
    preconditioners: tuple[str, ...] = ("mg", "hypre", "gamg")


def quick_scaling() -> ScalingConfig:
    """A tiny run that checks the harness."""
    return ScalingConfig(strong=(("2d_square", (31, 31)),), weak=(("2d_square", (15, 15)),), preconditioners=("mg",))


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
            "pc_type": info["pc_type"], "launch_s": time.perf_counter() - start}


def run_scaling(config: ScalingConfig, callback: Callable[[dict], None] | None = None) -> dict[str, Any]:
    """Measure every strong and weak run; returns the rows with the machine's load before and after."""
    rows = []
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="poissonfp-scaling-") as tmp:
        for kind, grids in (("strong", config.strong), ("weak", config.weak)):
            for case, grid in grids:
                for pc in config.preconditioners:
                    for ranks in config.ranks:
                        shape = list(grid) if kind == "strong" else [ranks * (grid[0] + 1) - 1, *grid[1:]]
                        run = {"scaling": kind, "case": case, "grid": shape, "method": "multigrid", "pc": pc,
                               "criterion": "residual", "tol": TOL}
                        row = _measure(run, ranks, Path(tmp))
                        rows.append(row)
                        if callback is not None:
                            callback(row)
    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"rows": rows, "load_before": load_before, "load_after": load_after, "cpus": os.cpu_count(),
            "elapsed_s": time.perf_counter() - started, "tol": TOL}


def format_scaling(data: dict[str, Any]) -> str:
    """The rows as Markdown tables (strong, then weak), speed-up / efficiency against one rank."""
    lines = [f"CG to relative residual {data['tol']:g}; load {data['load_before']} -> {data['load_after']} "
             f"on {data['cpus']} CPUs.", ""]
    for kind in ("strong", "weak"):
        lines += [f"**{kind} scaling**", "",
                  "| case | grid | pc | ranks | unknowns | iterations | time (s) | set-up (s) | "
                  f"{'speed-up' if kind == 'strong' else 'efficiency'} | peak MB per rank | reached |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        base: dict[tuple, float] = {}
        for row in (r for r in data["rows"] if r["scaling"] == kind):
            grid = "x".join(map(str, row["grid"]))
            if row["status"] != "measured":
                lines.append(f"| {row['case']} | {grid} | {row['pc']} | {row['ranks']} | | | | | | | "
                             f"{row['status']}: {row.get('note', '')} |")
                continue
            key = (row["case"], row["pc"]) if kind == "weak" else (row["case"], grid, row["pc"])
            base.setdefault(key, row["wall_time_s"])
            ratio = base[key] / row["wall_time_s"]
            memory = "/".join(f"{m:.0f}" for m in row["peak_memory_mb_per_rank"])
            lines.append(f"| {row['case']} | {grid} | {row['pc']} | {row['ranks']} | {row['unknowns']:,} | "
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
            click.echo(f"{row['scaling']:>6} {row['case']} {grid} {row['pc']} on {row['ranks']} rank(s): {text}",
                       err=True)

    data = run_scaling(config, show)
    data["command"] = "poissonfp bench --backend petsc" + " --quick" * quick + f" --out {out}"
    write_json(out / "scaling.json", data)
    table = format_scaling(data)
    write_text(out / "scaling.md", table + "\n")
    click.echo(table)
    return data
