"""``poissonfp train CASE --out MODEL_DIR``: train an operator network once for a case's discrete operator.

Order of work: read the case and check every flag and the output folder (one line and exit 2 before any
work), lock the folder, build the operator at the training grid, train (progress with ETA), save the model
folder (staged). Ctrl-C stops training at the current step and saves the model marked interrupted with a
checkpoint; ``--resume`` continues it to ``--steps``. Exit codes: 0 done, 2 bad input, 130 / 143 interrupted.
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from poissonfp.cli.common import EXIT_INTERRUPTED, EXIT_USAGE, guarded
from poissonfp.cli.params import NamedChoice
from poissonfp.interrupts import SignalGuard
from poissonfp.methods import DEVICES
from poissonfp.results import OutputLock, check_output_folder

__all__ = ["DEFAULT_POINTS", "train"]

#: Default training grid (interior points per axis): a coarse level of the finer grids it serves.
DEFAULT_POINTS = {1: 63, 2: 63, 3: 15}
#: ``--arch`` choices (:data:`poissonfp.learned.architectures.ARCHITECTURES`, kept here so that ``--help`` does not
#: import torch) and the dimensions each serves.
ARCHS = ("unet", "fno", "deeponet")
ARCH_DIMENSIONS = {"unet": (1, 2, 3), "fno": (1, 2, 3), "deeponet": (1,)}
#: ``--family`` choices (:data:`poissonfp.learned.training.FAMILIES`).
FAMILY_NAMES = ("grf", "case")


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    raise click.exceptions.Exit(EXIT_USAGE)


@click.command()
@click.argument("case_file", metavar="CASE", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Model folder to write.")
@click.option("--n", "size", type=int, help="Training grid per axis in the case's unit "
              "(default: 63 interior points in 1D/2D, 15 in 3D).")
@click.option("--samples", type=int, default=2048, show_default=True, help="Training right-hand sides.")
@click.option("--steps", type=int, help="Adam steps (0 saves the untrained network: the control)  [default: 5000; "
              "with --resume: the interrupted run's]")
@click.option("--batch", type=int, default=16, show_default=True, help="Right-hand sides per step.")
@click.option("--arch", type=NamedChoice(ARCHS, "architecture"), default="unet", show_default=True,
              help="unet and fno serve 1D/2D/3D grids, deeponet 1D grids (its training grid only).")
@click.option("--family", type=NamedChoice(FAMILY_NAMES, "family"), default="grf", show_default=True,
              help="Right-hand sides: grf = Gaussian random fields (k0 = 4, decay = 2); case = the case's source "
              "with each number of its formula drawn within ±spread of its value.")
@click.option("--spread", type=float, help="With --family case: relative spread of the source's numbers, in (0, 1) "
              "[default: 0.25]")
@click.option("--seed", type=click.IntRange(0, 2**31 - 1), default=0, show_default=True)
@click.option("--device", type=NamedChoice(DEVICES, "device"), default="cpu", show_default=True)
@click.option("--threads", type=click.IntRange(0), default=1, show_default=True,
              help="torch CPU threads (0: torch's default).")
@click.option("--resume", is_flag=True, help="Continue the interrupted training saved in --out (its grid, samples, "
              "batch, architecture and seed are the saved run's).")
@click.option("--quiet", is_flag=True, help="No progress line.")
@guarded
def train(case_file: Path, out: Path, size, samples, steps, batch, arch, family, spread, seed, device, threads,
          resume, quiet) -> None:
    """Train an operator network (r -> A⁻¹r) for CASE's discrete operator and save it in --out."""
    from poissonfp.case import load_case

    for name, value, low in (("--steps", steps, 0), ("--samples", samples, 1), ("--batch", batch, 1)):
        if value is not None and value < low:
            _fail(f"{name} {value}: expected an integer >= {low}")
    if spread is not None and family != "case":
        _fail(f"--spread {spread:g}: only the case family (--family case) has a spread")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            _fail("--device cuda: torch finds no CUDA GPU on this machine (or was built without CUDA); use cpu")
    case = load_case(case_file)
    out = check_output_folder(out)
    checkpoint = _resume_state(out) if resume else None
    if checkpoint is not None:  # the interrupted run's settings, so that the data and batches are the same
        meta = json.loads((out / "model.json").read_text())
        points = meta["grid"]["shape"][0]
        size = points if case.grid_unit == "points" else points + 1
        samples, batch, arch, seed = meta["samples"], meta["batch"], meta["arch"], meta["seed"]
        family, spread = meta["family"]["name"], meta["family"].get("spread")
        steps = meta["steps"] if steps is None else steps
    steps = 5000 if steps is None else steps
    if size is None:
        points = DEFAULT_POINTS[case.dim]
        size = points if case.grid_unit == "points" else points + 1
    shape = case.interior_shape(size)  # CaseError (exit 2) for a size the case's unit refuses
    if case.dim not in ARCH_DIMENSIONS[arch]:
        _fail(f"--arch {arch}: serves {'/'.join(f'{d}D' for d in ARCH_DIMENSIONS[arch])} grids; case {case.name!r} "
              f"is {case.dim}D (use unet or fno)")
    from poissonfp.learned.architectures import least_points

    if min(shape) < least_points(arch):
        _fail(f"--n {size}: grid {'x'.join(map(str, shape))} is too coarse for the {arch}, which needs at least "
              f"{least_points(arch)} points per axis")
    family_settings = _family_settings(case, family, spread, shape, seed)
    with SignalGuard() as guard, OutputLock(out):
        _train_and_save(case, out, size, samples, steps, batch, arch, family, family_settings, seed, device, threads,
                        checkpoint, quiet, guard)
    if guard.exit_code:
        raise click.exceptions.Exit(guard.exit_code)


def _resume_state(out: Path) -> dict:
    from poissonfp.learned.store import ModelError, load_checkpoint

    try:
        checkpoint = load_checkpoint(out)
    except ModelError as err:
        _fail(str(err))
    if not (out / "model.json").is_file() or checkpoint is None:
        _fail(f"--resume: {out} holds no interrupted training (expected model.json and checkpoint.pt)")
    assert checkpoint is not None
    return checkpoint


def _family_settings(case, family: str, spread: float | None, shape: tuple[int, ...], seed: int) -> dict:
    """The family's settings, checked before any work: for ``case``, the source must have numbers to vary that
    change its shape (probed with 8 draws on the case's box at the training size)."""
    if family == "grf":
        return {}
    from poissonfp.grid import Grid
    from poissonfp.learned.family import DEFAULT_SPREAD, FamilyError, case_sources, source_parameters

    spread = DEFAULT_SPREAD if spread is None else spread
    try:
        parameters = source_parameters(case.source)
        case_sources(parameters, Grid(tuple(case.lower), tuple(case.upper), tuple(shape)), 8, seed, spread=spread)
    except FamilyError as err:
        _fail(f"--family case ({case.name}): {err}")
    return {"source": case.source.text, "spread": spread}


def _train_and_save(case, out, size, samples, steps, batch, arch, family, family_settings, seed, device, threads,
                    checkpoint, quiet, guard) -> None:
    import torch

    from poissonfp.cli.progress import ProgressLine, format_duration
    from poissonfp.learned.store import save_model
    from poissonfp.learned.training import train_operator
    from poissonfp.problem import build_problem

    if threads:
        torch.set_num_threads(threads)
    try:
        operator = build_problem(case, size=size).operator
    except KeyboardInterrupt:
        click.echo("interrupted before training started: nothing written", err=True)
        raise click.exceptions.Exit(guard.exit_code or EXIT_INTERRUPTED) from None
    with ProgressLine(f"train {arch} {operator.grid.describe()}", quiet=quiet) as line:
        def progress(record: dict) -> None:
            line.update(f"step {record['step']:,}/{record['steps']:,} loss {record['loss']:.3e}",
                        clock=record["elapsed_s"], done=record["step"], total=record["steps"])

        with guard.solving():
            model, report = train_operator(operator, case=case.name, arch=arch, samples=samples, steps=steps,
                                           batch=batch, seed=seed, family=family,
                                           family_settings=family_settings, device=device,
                                           callback=progress, resume=checkpoint)
    with guard.deferred():
        model.meta["interrupted"] = model.meta["interrupted"] or guard.received is not None
        save_model(model, out)
    bands = ", ".join(f"{b['band']}: " + (f"{b['error']:.3g}" if b["error"] is not None else "no signal")
                      for b in report["held_out"]["bands"])
    state = "INTERRUPTED (resume with --resume)" if report["interrupted"] else "done"
    click.echo(f"model       {out}/ ({state}; {model.meta['parameters']:,} parameters, "
               f"fingerprint {model.meta['fingerprint']})")
    click.echo(f"training    {report['steps_done']:,}/{steps:,} steps in {format_duration(report['training_s'])}")
    click.echo(f"held-out    energy error {report['held_out']['energy']:.3e}; per band {bands}")
