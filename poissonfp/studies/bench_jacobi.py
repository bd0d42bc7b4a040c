"""The benchmark's measurements of pure Jacobi: on the box its exact sweep count (DST-I), per-sweep time and
bandwidth, a real run checked against the prediction (within the check batch, or sweep by sweep) or a time
computed from the count where a real run would exceed its budget; off the box a real run where its
extrapolated time fits, the CSR kernel's per-sweep time beside the box stencil's."""
from __future__ import annotations

import math
import time
from typing import Any

from poissonfp.api import criterion_of
from poissonfp.case import Case
from poissonfp.jacobi_theory import predicted_sweeps
from poissonfp.problem import Problem
from poissonfp.solvers import Monitor, StoppingCriterion
from poissonfp.solvers.classical.jacobi import JacobiIteration, check_batch, jacobi_factor
from poissonfp.studies.bench_kernel import kernel_bandwidth, sweep_time
from poissonfp.studies.bench_plan import BenchConfig
from poissonfp.studies.bench_runs import extrapolate, measure

__all__ = ["check_prediction", "device_sweep_time", "exact_check", "measure_jacobi", "measure_jacobi_off_box"]


def measure_jacobi_off_box(config: BenchConfig, case: Case, problem: Problem, first: bool,
                    past: list[tuple[int, float]]) -> dict[str, Any]:
    """Pure Jacobi off the box: no exact sweep count exists, so it runs for real at the first size and
    where its time extrapolated from the smaller sizes fits ``jacobi_real_budget_s``; beyond, it is not
    run and its time is not computed. The per-sweep time of its CSR kernel is recorded beside that of
    the box stencil on the same grid (the control)."""
    per_sweep = sweep_time(problem, case.solver.omega, config.kernel_min_time_s)
    box = Problem(problem.grid, problem.source, problem.rhs, name="box stencil (control)")
    sweeps = {"sweep_time_s": per_sweep, "box_sweep_time_s": sweep_time(box, case.solver.omega,
                                                                          config.kernel_min_time_s)}
    estimate = extrapolate(past, problem.grid.size)
    if first or estimate is None or estimate <= config.jacobi_real_budget_s:
        return {**measure(config, case, problem, "jacobi"), **sweeps, "estimated_time_s": estimate}
    note = (f"not run: no exact sweep count off the box; estimated {estimate:.3g} s (extrapolated from the "
            f"smaller sizes) > real-run budget {config.jacobi_real_budget_s:.3g} s")
    return {"method": "jacobi", "status": "not_run", "computed": False, "converged": None, "time_s": None,
            "wall_time_s": None, "estimated_time_s": estimate, "note": note, **sweeps}


def measure_jacobi(config: BenchConfig, case: Case, problem: Problem, first: bool,
            where: dict) -> tuple[dict, dict | None, dict]:
    """Pure Jacobi: predicted count, per-sweep time and bandwidth; a real run (checked) or a computed time."""
    start = time.perf_counter()
    predicted = predicted_sweeps(problem, criterion_of(case), case.solver.omega)
    predict_time = time.perf_counter() - start
    kernel = {**where, **kernel_bandwidth(problem, case.solver.omega, config.kernel_min_time_s)}
    if case.network.device == "cuda":  # pure Jacobi runs through torch there: time its sweeps
        kernel["sweep_time_s"] = device_sweep_time(problem, case.solver.omega, config.kernel_min_time_s)
        kernel["sweep_device"] = "cuda"
    estimate = predicted * kernel["sweep_time_s"]
    if first or estimate <= config.jacobi_real_budget_s:
        record = measure(config, case, problem, "jacobi")
        record.update(predicted_sweeps=predicted, predict_time_s=predict_time, estimated_time_s=estimate)
        return record, check_prediction(config, case, problem, predicted, record, kernel, where), kernel
    record = {"method": "jacobi", "status": "computed", "computed": True, "converged": True, "time_s": estimate,
              "wall_time_s": None, "iterations": predicted, "predicted_sweeps": predicted,
              "predict_time_s": predict_time, "estimated_time_s": estimate, "work_sweeps": float(predicted),
              "work_how": "sweeps (computed)", "factor_per_iteration": jacobi_factor(problem, case.solver.omega),
              "note": f"computed: {predicted:,} sweeps (exact, DST-I) x {kernel['sweep_time_s']:.3e} s/sweep"}
    return record, None, kernel


def device_sweep_time(problem: Problem, omega: float, min_time_s: float, device: str = "cuda") -> float:
    """Seconds per torch Jacobi sweep on ``device`` (best of three timed batches of at least ``min_time_s``)."""
    import torch

    from poissonfp.solvers.hybrids.torch_backend import TorchLevel, sweep_seconds

    level = TorchLevel(problem.grid, torch.device(device))
    count, best = 8, math.inf
    while True:
        per_sweep = sweep_seconds(level, omega, count)
        if per_sweep * count >= min_time_s or count >= 2**16:
            break
        count *= 4
    for _ in range(3):
        best = min(best, sweep_seconds(level, omega, count))
    return best


def check_prediction(config: BenchConfig, case: Case, problem: Problem, predicted: int, record: dict, kernel: dict,
           where: dict) -> dict[str, Any]:
    """Predicted against real sweep count. The real run checks its criterion after batches of
    :func:`~poissonfp.solvers.classical.jacobi.check_batch` sweeps, so ``real - batch < predicted <= real``.
    Where a batch exceeds the tolerance (small counts), an exact check runs too: the criterion fails
    after ``predicted - 1`` sweeps and holds after ``predicted`` (sweep-by-sweep precision)."""
    real = int(record["iterations"])
    batch = check_batch(problem.grid.size, real, case.solver.check_every) + 1
    relative = (real - predicted) / real if real else 0.0
    exact = None
    if batch > config.check_tolerance * real:
        exact = exact_check(problem, criterion_of(case), case.solver.omega, predicted)
    passed = bool(record["converged"]) and (exact if exact is not None else abs(relative) <= config.check_tolerance)
    return {**where, "predicted": predicted, "real": real, "batch_tolerance": batch,
            "within_batch": 0 <= real - predicted < batch, "relative_difference": relative,
            "exact_check": exact, "passed": passed,
            "model_sweep_time_s": kernel["sweep_time_s"],
            "real_sweep_time_s": record["wall_time_s"] / real if real and record["wall_time_s"] else None}


def exact_check(problem: Problem, criterion: StoppingCriterion, omega: float, predicted: int) -> bool:
    """Whether the first iterate meeting the criterion is the predicted one: it holds after ``k`` sweeps
    and fails after ``k - 1``, where ``k = predicted`` (``predicted - 1`` for the residual criterion,
    whose real runs see the residual one sweep late)."""
    first = max(predicted - (criterion.kind == "residual"), 0)
    monitor, iteration = Monitor(problem, criterion), JacobiIteration(problem, omega)
    holds, done = [], 0
    for count in ([first - 1, first] if first > 0 else [0]):
        if count > done:
            iteration.sweep(count - done)
            done = count
        holds.append(monitor.satisfied(monitor.metrics(iteration.solution)[criterion.metric]))
    return holds == [False, True] or holds == [True]
