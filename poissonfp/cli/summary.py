"""The summary ``poissonfp solve`` prints after a solve (also for ``--backend petsc``): the verdict, the
work, the errors, and where the command's time went."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

__all__ = ["compile_clock", "print_summary", "seconds_since_start"]


def seconds_since_start() -> float | None:
    """Seconds since this process started (the interpreter's start-up and every import included), from
    ``/proc`` (10 ms resolution); None where there is no ``/proc`` (not Linux)."""
    import os

    try:
        with open("/proc/self/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()  # the name in parentheses may hold spaces
        with open("/proc/uptime") as uptime:
            now = float(uptime.read().split()[0])
        return max(0.0, now - int(fields[19]) / os.sysconf("SC_CLK_TCK"))  # field 22: start time in ticks
    except (OSError, ValueError, IndexError, AttributeError):
        return None


@contextmanager
def compile_clock(timings: dict, key: str = "compile") -> Iterator[None]:
    """Add to ``timings[key]`` the seconds numba spends compiling inside the block (outermost compiles
    only: a kernel compiles the functions it calls inside its own compile). A first run with a cold cache
    compiles every kernel it uses (a 16² hybrid solve: 4.9 s of an 8.0 s stage); later runs load them from
    numba's cache and compile nothing. Only where numba is already loaded: importing it for the clock alone
    cost 0.1-0.3 s in runs that never compile (dst, direct, multigrid); a block whose kernels may compile
    imports their module first."""
    import sys

    if "numba" not in sys.modules:  # nothing has compiled anything
        yield
        return
    from numba.core import event
    with event.install_recorder("numba:compile") as recorder:
        try:
            yield
        finally:
            depth, start, total = 0, 0.0, 0.0
            for stamp, record in recorder.buffer:
                if record.is_start:
                    start = stamp if depth == 0 else start
                    depth += 1
                else:
                    depth -= 1
                    total += stamp - start if depth == 0 else 0.0
            timings[key] = timings.get(key, 0.0) + total


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3e}"


def print_summary(case, problem, result, out: Path, timings: dict | None = None) -> None:
    f = result.final
    verdict = "reached" if result.converged else "NOT reached"
    click.echo(f"case        {case.name} ({case.path})")
    click.echo(f"method      {result.method}   grid {problem.grid.describe()} ({problem.grid.size:,} unknowns)")
    click.echo(f"criterion   {result.info['criterion']} <= {result.info['threshold']:.3e}: {verdict} "
               f"({result.stop_reason}{', interrupted' if result.interrupted and result.stop_reason != 'interrupted' else ''})")
    from poissonfp.methods import iteration_unit

    unit = iteration_unit(result.method, result.info)
    work = result.info.get("work_sweep_equivalents")
    click.echo(f"iterations  {result.iterations:,}{' ' + unit if unit else ''}"
               + (f" ({work:,.0f} sweep-equivalents)" if work is not None and unit != "sweeps" else "")
               + f"   dnn steps {result.dnn_steps:,}   wall time {result.wall_time_s:.3f} s")
    if result.info.get("backend") == "petsc":
        info = result.info
        click.echo(f"petsc       {info['ranks']} rank(s), {info['ksp_type']} + {info['pc_type']}"
                   + (f" ({info['mg_levels']} levels)" if "mg_levels" in info else "") + ", peak memory per rank "
                   + " / ".join(f"{m:,.0f}" for m in info["peak_memory_mb_per_rank"]) + " MB")
    if result.method == "operator":
        info = result.info
        click.echo(f"network     {info['network_calls']:,} calls ({info['model_use']}, model {info['model_grid']} "
                   f"{info['model_fingerprint']}), {info['call_sweep_equivalents']:,.0f} sweeps per call"
                   + (f"; fallback: {info['fallback']}" if info.get("fallback") else ""))
    click.echo(f"residual    {_fmt(f['rel_residual'])} (relative)")
    click.echo(f"error       vs exact: {_fmt(f['error_vs_exact_inf'])} (max), {_fmt(f['error_vs_exact_rel_l2'])} "
               f"(rel l2); vs discrete: {_fmt(f['error_vs_discrete_rel_l2'])} (rel l2)")
    if problem.discretization_error_inf is not None:
        click.echo(f"             discretization error (best possible, max): {problem.discretization_error_inf:.3e}")
    if timings:
        click.echo(f"time        {_stages(timings, result.wall_time_s)}")
    click.echo(f"outputs     {out}/")


#: (printed name, key in ``timings``) of the stages of a solve command, in their order.
STAGES = (("start-up", "startup"), ("load", "load"), ("build", "build"), ("reference", "reference"),
          ("imports", "imports"), ("solve", "solve"), ("figures", "figures"), ("writing", "write"))


def _stages(timings: dict, solver_seconds: float) -> str:
    """One line: the seconds of each stage, the solver's own clock, and the end-to-end total (since the
    process started, where that is known) as a multiple of it."""
    def note(key: str) -> str:
        compiled = timings.get({"solve": "compile", "reference": "compile_reference"}.get(key, ""), 0.0)
        return (f" (of which compiling kernels: {compiled:.3g} s, a first run; numba caches them for the next)"
                if compiled >= 0.05 else "")

    text = ", ".join(f"{name} {timings[key]:.3g} s{note(key)}" for name, key in STAGES if key in timings)
    text += f" (solver clock {solver_seconds:.3g} s)"
    total = timings.get("total")
    if total is not None:
        text += f"; end to end {total:.3g} s" + (f" = {total / solver_seconds:.3g}x the solver clock"
                                                  if solver_seconds > 0 else "")
    return text
