"""``poissonfp bench``: time to accuracy of every solver over problems and sizes; tables and figures."""
from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path
from typing import Any

import click

from poissonfp.cli.common import EXIT_INTERRUPTED, guarded
from poissonfp.cli.params import CommaList, NamedChoice
from poissonfp.cli.progress import ProgressLine
from poissonfp.interrupts import SignalGuard
from poissonfp.methods import BENCH_METHODS, BENCH_OPTIONAL, DEVICES

__all__ = ["bench"]


class _Lines:
    """One progress line per solve (:class:`~poissonfp.cli.progress.ProgressLine`) on stderr."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.line: ProgressLine | None = None
        self.check = ""

    def __call__(self, event: dict) -> None:
        kind = event["event"]
        if kind == "problem" and not self.quiet:
            click.echo(f"{event['problem']}: sizes {event['sizes']}", err=True)
        elif kind == "start":
            size = "x".join(map(str, event["size"])) if isinstance(event["size"], list) else str(event["size"])
            self.line, self.check = ProgressLine(f"  {size:>9} {event['method']:<13}", self.quiet), ""
            self.line.update("running", force=True)
        elif kind == "check":
            self.check = (f" [sweeps predicted {event['predicted']:,}, real {event['real']:,}: "
                          f"{'ok' if event['passed'] else 'MISMATCH'}]")
        elif kind == "done" and self.line is not None:
            r = event["record"]
            time = "-" if r.get("time_s") is None else f"{r['time_s']:.3g} s"
            note = f"  ({r['note']})" if r["status"] not in ("measured", "computed") else ""
            self.line.finish(f"{self.check} {time:>12}  {r['status']}{note}")
            self.line = None


@click.command()
@click.option("--quick", is_flag=True, help="A tiny run (two problems, two small sizes) that checks the harness.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("results/bench"),
              show_default=True, help="Output folder.")
@click.option("--problems", type=CommaList("problem"), help="Comma-separated subset of the problems (case names) to run.")
@click.option("--methods", type=CommaList("method", BENCH_METHODS + BENCH_OPTIONAL),
              help=f"Comma-separated methods and controls (default: {','.join(BENCH_METHODS)}; "
                   f"{','.join(BENCH_OPTIONAL)} only when named: it costs about pure Jacobi's time).")
@click.option("--jacobi-budget", type=float, help="Seconds up to which pure Jacobi runs for real (default 30).")
@click.option("--device", type=NamedChoice(DEVICES, "device"), default=None,
              help="Where the hybrid, the network and pure Jacobi run (cuda: through torch on the GPU).")
@click.option("--quiet", is_flag=True, help="No progress lines.")
@click.option("--backend", type=click.Choice(["local", "petsc"]), default="local", show_default=True,
              help="petsc: strong and weak scaling of the PETSc solvers on 1 and 2 MPI ranks (launches mpirun "
                   "itself; writes scaling.json and scaling.md; see docs/scaling.md).")
@click.option("--hierarchy", is_flag=True,
              help="Run the rows off the box instead (coefficients, Neumann sides, masks, boundary data: hybrid "
                   "against PyAMG RS/SA with and without set-up, direct, dst); writes hierarchy.json and "
                   "hierarchy.md. --quick: two tiny rows.")
@click.option("--operator", is_flag=True, help="Only the operator rows (with --model): bench_operator.json/.md.")
@click.option("--model", "models", multiple=True, type=click.Path(path_type=Path),
              help="Operator model folder (poissonfp train), repeatable: its case's rows.")
@guarded
def bench(quick: bool, out: Path, problems, methods, jacobi_budget, device, quiet, hierarchy, operator,
          models, backend) -> None:
    """Wall time to discretization accuracy of every solver on a matrix of problems and sizes; writes
    bench.json, bench.csv, bench.md and log-log figures of time and work against unknowns into OUT.
    Ctrl-C (SIGTERM) saves the rows measured so far, marked interrupted, and exits 130 (143).
    With --operator: the operator network's rows instead (poissonfp.studies.bench_operator)."""
    if backend == "petsc":
        from poissonfp.studies.bench_petsc import bench_petsc

        _check_writable(out)
        bench_petsc(out, quick, quiet)
        return
    if operator or models:
        from poissonfp.cli.bench_operator import run_operator_bench_command

        return run_operator_bench_command(tuple(models), out, quick, quiet)
    from poissonfp.studies.bench import BenchConfig, quick_config, run_bench
    from poissonfp.studies.bench_report import format_markdown, save_bench

    if hierarchy:
        _hierarchy(quick, out, problems, quiet)
        return

    config = quick_config() if quick else BenchConfig()
    changes: dict[str, Any] = {}
    if problems:
        known = tuple(p.case for p in config.plan)  # the plan (full or quick) decides which are known
        unknown = [name for name in problems if name not in known]
        if unknown:
            raise click.BadParameter(f"unknown problem {unknown[0]!r}; expected some of {', '.join(known)}",
                                     param_hint="--problems")
        changes["plan"] = tuple(p for p in config.plan if p.case in problems)
    changes["methods"] = methods or config.methods
    if jacobi_budget is not None:
        if not (jacobi_budget >= 0 and jacobi_budget < float("inf")):
            raise click.BadParameter(f"expected a non-negative number of seconds, got {jacobi_budget}",
                                     param_hint="--jacobi-budget")
        changes["jacobi_real_budget_s"] = jacobi_budget
    if device is not None:
        _check_device(device)
        changes["case_overrides"] = (*config.case_overrides, ("device", device))
    _check_writable(out)
    flags = ["--quick"] * quick + ["--out", str(out)] + ["--problems", ",".join(problems or ())] * bool(problems) \
        + ["--methods", ",".join(methods or ())] * bool(methods) + ["--jacobi-budget", str(jacobi_budget)] * (jacobi_budget is not None) \
        + ["--device", device] * (device is not None)
    with SignalGuard() as guard:  # SIGINT and SIGTERM take one path; a second signal is only recorded
        try:
            data = run_bench(dataclasses.replace(config, **changes), callback=_Lines(quiet))  # a signal ends it
        except KeyboardInterrupt:  # before the first problem started (the machine record)
            click.echo("interrupted before anything was measured: nothing written", err=True)
            raise click.exceptions.Exit(guard.exit_code or EXIT_INTERRUPTED) from None
        with guard.deferred():  # the rows measured are saved whole, whatever arrives meanwhile
            data["command"] = "poissonfp bench " + shlex.join(flags)
            save_bench(data, out)
            if not data["interrupted"]:
                click.echo(format_markdown(data))
                click.echo(f"wrote {out}/bench.json, bench.csv, bench.md and figures ({data['elapsed_s']:.0f} s)")
    if data["interrupted"]:
        click.echo(f"interrupted: the rows measured so far are in {out}/bench.json (marked interrupted)", err=True)
    if data["interrupted"] or guard.exit_code:
        raise click.exceptions.Exit(guard.exit_code or EXIT_INTERRUPTED)


def _hierarchy(quick: bool, out: Path, problems, quiet: bool) -> None:
    """``bench --hierarchy``: the rows of :mod:`poissonfp.studies.bench_hierarchy`."""
    from poissonfp.results import write_json, write_text
    from poissonfp.studies.bench_hierarchy import (
        HIERARCHY_PLAN,
        QUICK_HIERARCHY_PLAN,
        format_hierarchy_markdown,
        run_hierarchy_bench,
    )

    plan = QUICK_HIERARCHY_PLAN if quick else HIERARCHY_PLAN
    if problems:
        known = [name for name, _ in plan]
        unknown = [name for name in problems if name not in known]
        if unknown:
            raise click.BadParameter(f"unknown problem {unknown[0]!r}; expected some of {', '.join(known)}",
                                     param_hint="--problems")
        plan = tuple(entry for entry in plan if entry[0] in problems)
    _check_writable(out)

    def show(row: dict) -> None:
        if not quiet:
            click.echo(f"{row['case']} {row['size']}: hybrid {row['hybrid']['time_s']:.3g} s, "
                       f"RS/hybrid {row['ratios']['rs_with_setup_over_hybrid']:.2f}", err=True)

    data = run_hierarchy_bench(plan, repeats=1 if quick else 2, callback=show)
    data["command"] = "poissonfp bench --hierarchy" + " --quick" * quick + \
        (f" --problems {','.join(problems)}" if problems else "") + f" --out {out}"
    write_json(out / "hierarchy.json", data)
    table = format_hierarchy_markdown(data)
    write_text(out / "hierarchy.md", f"`{data['command']}`\n\n" + table)
    click.echo(table)
    click.echo(f"wrote {out}/hierarchy.json and hierarchy.md")


def _check_device(device: str) -> None:
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise click.BadParameter("torch sees no CUDA device on this machine", param_hint="--device")


def _check_writable(out: Path) -> None:
    """Create ``out`` and write a probe file there before any work (an OSError becomes one line, exit 1)."""
    import tempfile

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=out, prefix=".write-check-"):
        pass
