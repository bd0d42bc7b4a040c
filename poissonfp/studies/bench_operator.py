"""Operator rows of the benchmark: the operator iteration against pure Jacobi and PyAMG, per solve, in and out
of the network's training distribution.

For every trained model (its case; 1D rows at 255 and 511 points, 2D at 63², 127² and 255², those not coarser
than the model's grid) and every source: a Gaussian random field (``grf``, the training family: in
distribution), a narrow Gaussian bump (``bump``, width 0.02 of the box), a step (``step``, 1 on the lower 40 %
of the first axis), a single high mode (``mode``, sin 40πt₁ sin 30πt₂ in box coordinates t) and the case's own
source (``case``). Each is solved to relative residual ``tol`` by

- ``operator``: :func:`~poissonfp.solvers.hybrids.operator.solve_operator` (its safeguard on: a model that stops
  helping falls back to the multilevel hybrid, recorded);
- ``network_only``: the same iteration without the safeguard, stopped at pure Jacobi's sweep count (what the
  network's corrections achieve alone: the safeguard falls back whenever a call's measured price exceeds the
  error energy it removes);
- ``untrained``: the control: the same architecture and settings, same seed, built by
  :func:`~poissonfp.learned.training.train_operator` with ``steps=0`` (what ``poissonfp train --steps 0``
  saves) for the same operator, run like ``network_only`` (no safeguard) but stopped at
  :data:`UNTRAINED_BUDGET` times the trained operator's work in sweeps (at most pure Jacobi's): where it does
  not converge, the trained network's gain over its untrained self is at least that factor;
- ``multigrid``: PyAMG V-cycles with the hierarchy built once per (case, size) (per-solve time; the set-up in
  its own column);
- ``jacobi``: run for real where the exact sweep count (:func:`~poissonfp.jacobi_theory.predicted_sweeps`)
  times the per-sweep time measured in this run fits ``jacobi_budget_s``; beyond, that product (``computed``).

Ratios are formed from times of the same run; the model's training time has its own column. BLAS and torch
run on one thread.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from poissonfp.problem import Problem

__all__ = ["SOURCES", "UNTRAINED_BUDGET", "OperatorBenchConfig", "format_operator_markdown", "run_operator_bench",
           "source_array", "untrained_control"]

#: Sources of the rows, in distribution first.
SOURCES = ("grf", "bump", "step", "mode", "case")
#: Sizes per dimension (points per axis).
SIZES = {1: (255, 511), 2: (63, 127, 255), 3: (15, 31)}
#: The untrained control's sweep budget, in multiples of the trained operator's work (issue 15: the untrained
#: network fails within the budget or needs >= 10x more work).
UNTRAINED_BUDGET = 10


@dataclass(frozen=True)
class OperatorBenchConfig:
    """What to run: model folders, sources, sizes per dimension (points per axis), tolerance, budgets."""

    models: tuple[str, ...]
    sources: tuple[str, ...] = SOURCES
    sizes: tuple[tuple[int, tuple[int, ...]], ...] = tuple(SIZES.items())
    tol: float = 1e-8
    jacobi_budget_s: float = 30.0
    seed: int = 0
    untrained: bool = True


def source_array(name: str, base: Problem, seed: int) -> np.ndarray:
    """The source ``name`` (see the module docstring) on ``base``'s grid."""
    grid = base.grid
    t = [(x - lo) / (hi - lo) for x, lo, hi in zip(grid.coordinates(), grid.lower, grid.upper)]
    if name == "grf":
        from poissonfp.studies.batch_sources import family_sources

        return family_sources("grf", base, 1, seed)[0]
    if name == "bump":
        centre = (0.3, 0.6, 0.5)[: grid.ndim]
        return np.exp(-sum((a - c) ** 2 for a, c in zip(t, centre)) / (2 * 0.02**2)) * np.ones(grid.shape)
    if name == "step":
        return np.where(t[0] < 0.4, 1.0, 0.0) * np.ones(grid.shape)
    if name == "mode":
        waves = (40, 30, 20)
        wave = np.ones(grid.shape)
        for k, a in zip(waves, t):
            wave = wave * np.sin(k * np.pi * a)
        return wave
    if name == "case":
        return np.array(base.source)
    raise ValueError(f"unknown source {name!r}; expected one of {', '.join(SOURCES)}")


def _hierarchy(base: Problem) -> tuple[Any, float]:
    """PyAMG's hierarchy of ``base`` and the seconds it took."""
    from poissonfp.solvers.classical.reference import multigrid_hierarchy

    start = time.perf_counter()
    hierarchy = multigrid_hierarchy(base)
    return hierarchy, time.perf_counter() - start


def _jacobi(problem: Problem, criterion, budget_s: float) -> dict[str, Any]:
    from poissonfp.jacobi_theory import predicted_sweeps
    from poissonfp.solvers import solve
    from poissonfp.studies.bench_kernel import sweep_time

    sweeps = predicted_sweeps(problem, criterion, 1.0)
    per_sweep = sweep_time(problem, 1.0, min_time_s=0.05)
    record = {"predicted_sweeps": sweeps, "sweep_s": per_sweep, "computed": True, "time_s": sweeps * per_sweep,
              "work_sweeps": float(sweeps)}
    if sweeps * per_sweep <= budget_s:
        result = solve(problem, "jacobi", criterion, omega=1.0)
        record.update(computed=False, time_s=result.wall_time_s, sweeps=result.iterations,
                      work_sweeps=float(result.iterations), converged=result.converged)
    return record


def _operator(problem: Problem, criterion, model, fallback: bool = True) -> dict[str, Any]:
    from poissonfp.solvers import solve

    result = solve(problem, "operator", criterion, model=model, fallback=fallback)
    info = result.info
    return {"time_s": result.wall_time_s, "converged": result.converged, "network_calls": info.get("network_calls"),
            "sweeps": info.get("sweeps"), "work_sweeps": info.get("work_sweep_equivalents"),
            "call_s": info.get("call_s"), "fallback": info.get("fallback"), "model_use": info.get("model_use"),
            "rel_residual": result.final.get("rel_residual")}


def untrained_control(model, case) -> Any:
    """The untrained control of ``model``: its architecture, settings and seed, trained 0 steps for the same
    operator (the case at the model's grid; a few GRF samples: they set only the output scale, which the
    energy-optimal step removes).

    Raises:
        ValueError: when the case at the model's grid does not give the model's operator (fingerprint).
    """
    from poissonfp.learned.store import operator_fingerprint
    from poissonfp.learned.training import train_operator
    from poissonfp.problem import build_problem

    meta = model.meta
    points = max(model.grid.shape) + (case.grid_unit == "intervals")
    operator = build_problem(case, size=points).operator
    if operator_fingerprint(operator) != meta["fingerprint"]:
        raise ValueError(f"model {meta.get('folder')}: case {case.name!r} at {model.grid.describe()} does not give "
                         "the model's operator; no untrained control")
    control, _ = train_operator(operator, case=meta["case"], arch=meta["arch"], settings=meta.get("settings") or {},
                                samples=8, held_out=4, steps=0, batch=4, seed=int(meta.get("seed", 0)))
    return control


def _warm_up(base: Problem, model) -> None:
    """One untimed pass of the operator iteration at this size (torch's first calls at a new shape are slow)."""
    from poissonfp.solvers import StoppingCriterion, solve

    solve(base, "operator", StoppingCriterion("residual", 1e-300, max_iterations=1), model=model, fallback=False)


def _multigrid(problem: Problem, criterion, hierarchy) -> dict[str, Any]:
    from poissonfp.solvers.base import Monitor
    from poissonfp.solvers.classical.reference import multigrid_cycles

    monitor = Monitor(problem, criterion)
    monitor.restart()
    result = multigrid_cycles(problem, monitor, hierarchy)
    return {"time_s": result.wall_time_s, "converged": result.converged, "cycles": result.iterations}


def _row(base: Problem, source: str, config: OperatorBenchConfig, model, hierarchy, criterion,
         control=None) -> dict[str, Any]:
    from poissonfp.studies.batch_sources import problems_for

    problem = problems_for(base, source_array(source, base, config.seed)[None])[0]
    from poissonfp.solvers import StoppingCriterion

    jacobi = _jacobi(problem, criterion, config.jacobi_budget_s)
    capped = StoppingCriterion(criterion.kind, criterion.tol, max_iterations=max(10, int(jacobi["work_sweeps"])))
    results = {"operator": _operator(problem, criterion, model),
               "network_only": _operator(problem, capped, model, fallback=False),
               "multigrid": _multigrid(problem, criterion, hierarchy), "jacobi": jacobi}
    if control is not None:
        budget = min(max(10, int(UNTRAINED_BUDGET * (results["operator"]["work_sweeps"] or 0))),
                     max(10, int(jacobi["work_sweeps"])))
        untrained = _operator(problem, StoppingCriterion(criterion.kind, criterion.tol, max_iterations=budget),
                              control, fallback=False)
        results["untrained"] = {**untrained, "sweep_budget": budget}
    t = {m: r["time_s"] for m, r in results.items()}
    ratios = {"jacobi_over_operator": t["jacobi"] / t["operator"] if t["operator"] else None,
              "jacobi_over_network_only": t["jacobi"] / t["network_only"] if results["network_only"]["converged"] else None,
              "operator_over_multigrid": t["operator"] / t["multigrid"] if t["multigrid"] else None,
              "operator_work_over_jacobi": (results["operator"]["work_sweeps"] or 0) / results["jacobi"]["work_sweeps"]}
    if control is not None:  # a lower bound where the control did not converge (``untrained.converged``)
        op_work = results["operator"]["work_sweeps"]
        ratios["untrained_work_over_operator"] = (results["untrained"]["work_sweeps"] / op_work
                                                  if op_work and results["untrained"]["work_sweeps"] is not None else None)
        ratios["jacobi_over_untrained"] = t["jacobi"] / t["untrained"] if results["untrained"]["converged"] else None
    return {"source": source, "in_distribution": source == "grf", **results, "ratios": ratios}


def run_operator_bench(config: OperatorBenchConfig, callback: Callable[[dict], None] | None = None) -> dict[str, Any]:
    """Run every model's rows (see the module docstring); returns the content of bench_operator.json. Ctrl-C
    keeps the rows measured, marked ``interrupted``."""
    from poissonfp.case import load_case
    from poissonfp.learned.store import load_model
    from poissonfp.neural.model import single_threaded
    from poissonfp.problem import build_problem
    from poissonfp.solvers import StoppingCriterion
    from poissonfp.studies.bench import machine_info

    notify = callback or (lambda event: None)
    criterion = StoppingCriterion("residual", config.tol)
    rows, interrupted = [], False
    sizes = dict(config.sizes)
    with single_threaded():
        try:
            for folder in config.models:
                model = load_model(folder)
                case = load_case(model.meta["case"])
                control, control_note = None, None
                if config.untrained:
                    try:
                        control = untrained_control(model, case)
                    except ValueError as err:  # the case no longer gives the model's operator: rows without it
                        control_note = str(err)
                for points in (s for s in sizes.get(model.grid.ndim, ()) if s >= max(model.grid.shape)):
                    base = build_problem(case, size=points + (case.grid_unit == "intervals"))
                    hierarchy, setup_s = _hierarchy(base)
                    _warm_up(base, model)
                    if control is not None:
                        _warm_up(base, control)
                    for source in config.sources:
                        notify({"event": "start", "case": case.name, "size": points, "source": source})
                        row = _row(base, source, config, model, hierarchy, criterion, control)
                        row.update(case=case.name, grid=base.grid.describe(), model=str(folder),
                                   model_grid=model.grid.describe(), training_s=model.meta.get("training_s"),
                                   multigrid_setup_s=setup_s)
                        if control_note:
                            row["untrained_note"] = control_note
                        rows.append(row)
                        notify({"event": "done", "row": row})
        except KeyboardInterrupt:
            interrupted = True
    return {"config": {"models": list(config.models), "sources": list(config.sources), "tol": config.tol,
                       "jacobi_budget_s": config.jacobi_budget_s, "seed": config.seed, "untrained": config.untrained,
                       "untrained_budget": UNTRAINED_BUDGET},
            "machine": machine_info(), "rows": rows, "interrupted": interrupted}


def _cell(value: Any, spec: str = ".3g") -> str:
    return "-" if value is None else format(value, spec)


def _untrained_cells(r: dict[str, Any]) -> tuple[str, str]:
    """The control's time (calls) and its work over the trained operator's (``>`` where it did not converge)."""
    u = r.get("untrained")
    if u is None:
        return "-", "-"
    time_cell = f"{_cell(u['time_s'])} ({u['network_calls']})" + ("" if u["converged"] else " NOT reached")
    ratio = r["ratios"].get("untrained_work_over_operator")
    return time_cell, ("-" if ratio is None else ("" if u["converged"] else ">") + _cell(ratio))


def format_operator_markdown(data: dict[str, Any]) -> str:
    """The rows as a markdown table (times per solve; training in its own column): the trained network
    (safeguarded, and alone), its untrained control, PyAMG and pure Jacobi, ratios from this run."""
    lines = ["| case | grid | source | operator s (calls, fallback) | network only s (calls) | untrained s (calls) | "
             "untrained / trained work | multigrid s (set-up s) | jacobi s | jacobi / operator | "
             "jacobi / network only | operator / multigrid | training s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in data["rows"]:
        op, mg, jac, alone = r["operator"], r["multigrid"], r["jacobi"], r["network_only"]
        only = f"{_cell(alone['time_s'])} ({alone['network_calls']})" + ("" if alone["converged"] else " NOT reached")
        untrained, untrained_ratio = _untrained_cells(r)
        fallback = ", fell back" if op["fallback"] else ""
        verdict = "" if op["converged"] else " NOT reached"
        lines.append(f"| {r['case']} | {r['grid']} | {r['source']} | {_cell(op['time_s'])} ({op['network_calls']}"
                     f"{fallback}){verdict} | {only} | {untrained} | {untrained_ratio} | "
                     f"{_cell(mg['time_s'])} ({_cell(r['multigrid_setup_s'])}) | "
                     f"{_cell(jac['time_s'])}{' (computed)' if jac['computed'] else ''} | "
                     f"{_cell(r['ratios']['jacobi_over_operator'])} | {_cell(r['ratios']['jacobi_over_network_only'])} | "
                     f"{_cell(r['ratios']['operator_over_multigrid'])} | "
                     f"{_cell(r['training_s'])} |")
    load = data["machine"].get("load_average")
    config = data["config"]
    lines.append("")
    lines.append(f"Load average at the end: {load}; tolerance {config['tol']:g} (relative residual)"
                 + ("; INTERRUPTED" if data["interrupted"] else ""))
    if config.get("untrained"):
        lines.append(f"Untrained: the same architecture, settings and seed trained 0 steps, no safeguard, stopped at "
                     f"{config['untrained_budget']}x the trained operator's work in sweeps (at most pure Jacobi's); "
                     "'>': it did not converge within that budget (the ratio is a lower bound).")
    return "\n".join(lines) + "\n"
