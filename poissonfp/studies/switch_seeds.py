"""The article's panel d over seeds and a fine grid of M, with exact sweep counts and classical stand-ins.

The article's scheme (train ``M`` Adam steps, then plain Jacobi from the network's grid values) costs
``T(M) + S(M) t_sweep``. Timing a Jacobi run per M and seed is unaffordable on a fine grid of M (pure
Jacobi needs ~15 M sweeps on ``1d_article_loose``), and it is also unnecessary:

- **one training run per seed.** The network after ``M`` Adam steps is the same whether trained to ``M``
  or recorded at ``M`` along a longer trajectory from the same seeded initialisation
  (:func:`poissonfp.solvers.hybrids.article.plain_network` serves both; a test checks the equality), so each seed
  trains once to the largest M and the grid values are snapshot at every requested M. ``T(M)`` is the
  measured optimiser time up to step M along that trajectory.
- **exact sweep counts.** On the box the DST-I diagonalises plain Jacobi, so ``S(M)``, the sweeps to the
  stopping criterion from the snapshot, is computed mode by mode (:func:`poissonfp.jacobi_theory.predicted_sweeps`,
  checked against real runs in the tests): load-free numbers.
- ``t_sweep`` is measured once (best of 3 timed batches of compiled sweeps); the time of an M is
  ``T(M) + S(M) t_sweep`` (modelled from measured parts, labelled so), pure Jacobi's ``S_0 t_sweep``. Both
  parts are CPU seconds (``time.process_time``, torch on one thread): on a machine shared with other jobs
  wall time depends on the load, CPU time much less.

What the sweep count follows: per M the study records the amplitude of the error's slowest sine modes at
the hand-over and ``slow_mode_bound``, the sweeps each of them alone needs to fall below the threshold
(``max_k ln(|ê_k| / (tol ||u_h||)) / -ln|μ_k|`` over the lowest modes): a lower bound that tracks ``S(M)``.

Classical stand-ins on the same problem and criterion: the exact solution on a coarse grid (``coarse``
intervals per dimension), interpolated linearly; and the Galerkin solution on the lowest sine modes
(``sine`` modes per dimension: exact for those modes, the sine modes being A's eigenvectors). Each gives a
start for plain Jacobi whose sweeps are counted the same way, and its set-up is timed.
"""
from __future__ import annotations

import logging
import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from poissonfp.problem import Problem
from poissonfp.solvers.base import StoppingCriterion

__all__ = ["PANEL_SIZE", "STUDY_SEEDS", "article_trajectory", "coarse_start", "panel_switches", "seed_study", "sine_start", "slow_mode_bound", "study_switches", "time_per_sweep"]

logger = logging.getLogger(__name__)

#: Seeds of the article's switch study when none are given.
STUDY_SEEDS = (0, 1, 2)
#: Largest M grid whose every point gets a timed article entry.
PANEL_SIZE = 4
#: Lowest sine modes (per dimension) whose amplitude at the hand-over the study records.
SLOW_MODES = 4


def panel_switches(grid: Sequence[int], optimum: int | None) -> list[int]:
    """The M of the timed article entries: the whole grid up to :data:`PANEL_SIZE` points, else the
    smallest positive M, the optimum and the largest M.

    >>> panel_switches([0, 4], 4), panel_switches(list(range(0, 101, 2)), 30)
    ([0, 4], [2, 30, 100])
    """
    grid = sorted(set(grid))
    if len(grid) <= PANEL_SIZE:
        return grid
    positive = [m for m in grid if m > 0]
    chosen = {positive[0], positive[-1]}
    if optimum is not None:
        chosen.add(min(grid, key=lambda m: abs(m - optimum)))
    return sorted(chosen)


def study_switches(methods: Sequence[str], switches: Sequence[int | str] | None) -> list[int]:
    """The fixed M of a seeded article study, or [] when none applies (the article's scheme not among
    ``methods``, or fewer than two fixed M)."""
    fixed = sorted({int(m) for m in switches or () if m != "auto"})
    return fixed if "article" in methods and len(fixed) >= 2 else []


def article_trajectory(problem: Problem, switches: Sequence[int], *, seed: int, training, network=None,
                       device: str | None = None) -> dict[str, Any]:
    """Train the article's network once to ``max(switches)`` Adam steps and snapshot it at every M.

    Returns:
        ``switches`` (sorted, distinct), ``snapshots`` (grid values at each M), ``train_time_s`` (CPU seconds
        of the training up to each M, the snapshots' own evaluation left out: on a shared machine CPU time,
        not wall time, is what a run costs), ``train_wall_s`` (wall seconds of the optimiser steps up to each
        M), ``setup_time_s`` (CPU seconds building the network and its loss).
    """
    from poissonfp.neural.model import single_threaded
    from poissonfp.solvers.hybrids.article import ARTICLE_NETWORK, article_network, plain_network

    wanted = sorted(set(int(m) for m in switches))
    shape = article_network(network, ARTICLE_NETWORK)
    snapshots: dict[int, np.ndarray] = {}
    cpu: dict[int, float] = {}
    wall: dict[int, float] = {}
    aside = [0.0]  # CPU seconds spent taking snapshots, not part of the training
    with single_threaded():
        start = time.process_time()
        model, trainer = plain_network(problem, shape, training, seed, device)
        points = model.grid_points(problem.grid)
        setup = time.process_time() - start
        if 0 in wanted:
            snapshots[0], cpu[0], wall[0] = model.grid_values(problem.grid, points), 0.0, 0.0
        start = time.process_time()

        def on_step(step: int, _loss: float) -> bool:
            if step in wanted:
                clock = time.process_time()
                cpu[step], wall[step] = clock - start - aside[0], trainer.time_s
                snapshots[step] = model.grid_values(problem.grid, points)
                aside[0] += time.process_time() - clock
            return False

        if wanted[-1] > 0:
            trainer.adam(wanted[-1], on_step)
    return {"switches": wanted, "snapshots": [snapshots[m] for m in wanted],
            "train_time_s": [cpu[m] for m in wanted], "train_wall_s": [wall[m] for m in wanted],
            "setup_time_s": setup}


def time_per_sweep(problem: Problem, omega: float = 1.0, sweeps: int | None = None) -> float:
    """CPU seconds per plain Jacobi sweep on ``problem``: best of 3 timed batches (after a compiling one)."""
    from poissonfp.solvers.classical.jacobi import jacobi_iteration

    count = sweeps or max(10, int(2e6 // max(problem.grid.size, 1)))
    iteration = jacobi_iteration(problem, omega)
    iteration.sweep(1)
    best = math.inf
    for _ in range(3):
        start = time.process_time()
        iteration.sweep(count)
        best = min(best, time.process_time() - start)
    return best / count


def _dst(values: np.ndarray) -> np.ndarray:
    import scipy.fft

    return scipy.fft.dstn(values, type=1, norm="ortho")


def sine_start(problem: Problem, modes: int) -> np.ndarray:
    """The Galerkin solution on the lowest ``modes`` sine modes per dimension (A's eigenvectors on the box:
    those coefficients of ``u_h`` exactly, from the right-hand side alone)."""
    import scipy.fft

    from poissonfp.operators import laplacian_eigenvalues

    coefficients = _dst(problem.rhs) / laplacian_eigenvalues(problem.grid)
    keep = np.zeros(problem.grid.shape, bool)
    keep[tuple(slice(0, modes) for _ in problem.grid.shape)] = True
    return scipy.fft.idstn(np.where(keep, coefficients, 0.0), type=1, norm="ortho")


def coarse_start(problem: Problem, intervals: int) -> np.ndarray:
    """The exact discrete solution on a grid of ``intervals`` intervals per dimension (same source and
    boundary functions), interpolated linearly onto the problem's grid (boundary values included)."""
    from scipy.interpolate import RegularGridInterpolator

    from poissonfp.grid import Grid

    grid = problem.grid
    functions = problem.functions
    if "source" not in functions:
        raise ValueError("a coarse-grid start needs the problem's source function (a problem built from a case)")
    coarse = Grid(grid.lower, grid.upper, (intervals - 1,) * grid.ndim)
    source = functions["source"].numpy
    boundary = functions["boundary"].numpy if "boundary" in functions else None
    coarse_problem = Problem.from_functions(coarse, source, boundary)
    axes = [np.concatenate(([a], axis, [b])) for a, axis, b in zip(grid.lower, coarse.axes, grid.upper)]
    mesh = np.meshgrid(*axes, indexing="ij")
    padded = np.broadcast_to(boundary(*mesh) if boundary else 0.0, mesh[0].shape).astype(float).copy()
    padded[tuple(slice(1, -1) for _ in axes)] = coarse_problem.discrete_solution
    points = np.stack([c.ravel() for c in grid.coordinates()], axis=-1)
    values = RegularGridInterpolator(axes, padded)(points)
    return values.reshape(grid.shape)


def slow_mode_bound(problem: Problem, start: np.ndarray, criterion: StoppingCriterion, omega: float = 1.0,
                    modes: int = SLOW_MODES) -> tuple[list[float], float | None]:
    """The relative amplitudes ``|ê_k| / ||u_h||`` of the lowest ``modes`` sine modes of ``start - u_h``
    (along the first axis, the others at 1) and the sweeps the slowest of them alone needs to fall below
    ``discrete`` criterion's threshold (a lower bound on Jacobi's sweeps; None for other criteria)."""
    from poissonfp.jacobi_theory import jacobi_multipliers

    coefficients = _dst(start - problem.discrete_solution)
    mu = jacobi_multipliers(problem, omega)
    scale = float(np.linalg.norm(problem.discrete_solution)) or 1.0
    index = [(k,) + (0,) * (problem.grid.ndim - 1) for k in range(min(modes, problem.grid.shape[0]))]
    amplitudes = [abs(float(coefficients[i])) / scale for i in index]
    if criterion.kind != "discrete":
        return amplitudes, None
    threshold = criterion.tol
    bound = 0.0
    for a, i in zip(amplitudes, index):
        factor = abs(float(mu[i]))
        if a > threshold and 0 < factor < 1:
            bound = max(bound, math.log(a / threshold) / -math.log(factor))
    return amplitudes, bound


def _sweeps(problem: Problem, criterion: StoppingCriterion, omega: float, start: np.ndarray | None) -> int:
    from poissonfp.jacobi_theory import predicted_sweeps

    return predicted_sweeps(problem, criterion, omega, initial_guess=start)


def seed_study(problem: Problem, criterion: StoppingCriterion, switches: Sequence[int], seeds: Sequence[int], *,
               training, network=None, device: str | None = None, omega: float = 1.0,
               coarse: Sequence[int] = (64,), sine: Sequence[int] = (2,),
               callback: Callable[[dict], None] | None = None) -> dict[str, Any]:
    """The article's trade-off in M per seed: exact sweeps, modelled times, optimum, losses to Jacobi.

    Args:
        problem: a box problem (exact sweep counts need the sine modes to be A's eigenvectors).
        criterion: the stopping criterion (``discrete`` or ``residual``: l2 criteria, monotone in sweeps).
        switches: the M grid (0 allowed: Jacobi from the untrained network).
        seeds: network seeds, one training trajectory each.
        training, network, device: the case's training settings (loss, learning rate), network settings
            (dtype, device), device.
        omega: Jacobi's weight.
        coarse, sine: the classical stand-ins (coarse intervals; sine modes per dimension).
        callback: receives ``{"event": "seed", "seed", "index", "count"}`` before each trajectory.

    Returns:
        the study record (see ``docs`` and the README's article section): ``per_seed`` rows, the medians
        and spreads over seeds, ``classical`` stand-ins, pure Jacobi's sweeps and time; Ctrl-C during a
        trajectory keeps the seeds that finished and sets ``interrupted``.
    """
    notify = callback or (lambda event: None)
    grid_m = sorted(set(int(m) for m in switches))
    t_sweep = time_per_sweep(problem, omega)
    jacobi_sweeps = _sweeps(problem, criterion, omega, None)
    jacobi_time = jacobi_sweeps * t_sweep
    per_seed = []
    interrupted = False
    for index, seed in enumerate(seeds):
        try:
            notify({"event": "seed", "seed": seed, "index": index, "count": len(seeds)})
            trajectory = article_trajectory(problem, grid_m, seed=seed, training=training, network=network,
                                            device=device)
        except KeyboardInterrupt:  # keep the seeds that finished
            interrupted = True
            break
        rows = []
        for m, start, train_time in zip(grid_m, trajectory["snapshots"], trajectory["train_time_s"]):
            sweeps = _sweeps(problem, criterion, omega, start)
            amplitudes, bound = slow_mode_bound(problem, start, criterion, omega)
            error_inf = (float(np.max(np.abs(start - problem.exact))) if problem.exact is not None else None)
            rows.append({"switch": m, "sweeps": sweeps, "training_time_s": train_time,
                         "training_wall_s": trajectory["train_wall_s"][grid_m.index(m)],
                         "time_s": train_time + sweeps * t_sweep, "slow_mode_amplitudes": amplitudes,
                         "slow_mode_bound": bound, "error_vs_exact_inf": error_inf})
        per_seed.append(_seed_summary(seed, rows, jacobi_sweeps, jacobi_time, trajectory["setup_time_s"]))
    classical = [] if interrupted else _classical(problem, criterion, omega, coarse, sine, t_sweep, jacobi_time)
    return {
        "interrupted": interrupted,
        "method": "article",
        "switches": grid_m,
        "seeds": list(seeds),
        "criterion": criterion.kind,
        "threshold": criterion.threshold(problem),
        "time_per_sweep_s": t_sweep,
        "jacobi_sweeps": jacobi_sweeps,
        "jacobi_time_s": jacobi_time,
        "time_model": "CPU seconds: training measured along the trajectory + exact sweeps (DST-I) x the measured "
                      "CPU time per sweep (load-independent on a shared machine, unlike wall time)",
        "per_seed": per_seed,
        **_over_seeds(per_seed),
        "classical": classical,
    }


def _seed_summary(seed: int, rows: list[dict], jacobi_sweeps: int, jacobi_time: float, setup: float) -> dict:
    best = min(rows, key=lambda row: row["time_s"])
    positive = [row for row in rows if row["switch"] > 0]
    losing_time = [row["switch"] for row in positive if row["time_s"] > jacobi_time]
    losing_sweeps = [row["switch"] for row in positive if row["sweeps"] > jacobi_sweeps]
    return {
        "seed": seed, "runs": rows, "setup_time_s": setup,
        "optimum_switch": best["switch"], "optimum_sweeps": best["sweeps"], "optimum_time_s": best["time_s"],
        "speedup_at_optimum": jacobi_time / best["time_s"] if best["time_s"] > 0 else None,
        "switches_losing_in_time": losing_time, "switches_losing_in_sweeps": losing_sweeps,
        "fraction_losing_in_time": len(losing_time) / len(positive) if positive else None,
        "fraction_losing_in_sweeps": len(losing_sweeps) / len(positive) if positive else None,
        "sweeps_vs_slow_mode_bound_rank_correlation": _rank_correlation(
            [row["sweeps"] for row in positive], [row["slow_mode_bound"] for row in positive])
        if all(row["slow_mode_bound"] is not None for row in positive) else None,
    }


def _over_seeds(per_seed: list[dict]) -> dict[str, Any]:
    def spread(key: str) -> dict[str, Any]:
        values = [row[key] for row in per_seed if row[key] is not None]
        if not values:
            return {"median": None, "min": None, "max": None, "per_seed": []}
        return {"median": statistics.median(values), "min": min(values), "max": max(values), "per_seed": values}

    return {"optimum_switch": spread("optimum_switch"), "speedup_at_optimum": spread("speedup_at_optimum"),
            "fraction_losing_in_time": spread("fraction_losing_in_time"),
            "fraction_losing_in_sweeps": spread("fraction_losing_in_sweeps")}


def _classical(problem, criterion, omega, coarse, sine, t_sweep, jacobi_time) -> list[dict]:
    out = []
    builders = [(f"coarse grid, {n} intervals, solved exactly, interpolated", lambda n=n: coarse_start(problem, n))
                for n in coarse if "source" in problem.functions]
    builders += [(f"lowest {k} sine mode{'s' if k > 1 else ''} (Galerkin)", lambda k=k: sine_start(problem, k))
                 for k in sine]
    for label, build in builders:
        build()  # first calls (expression evaluation, interpolator set-up) are not the stand-in's cost
        start_time = time.process_time()
        start = build()
        setup = time.process_time() - start_time
        sweeps = _sweeps(problem, criterion, omega, start)
        amplitudes, bound = slow_mode_bound(problem, start, criterion, omega)
        total = setup + sweeps * t_sweep
        out.append({"label": label, "setup_time_s": setup, "sweeps": sweeps, "time_s": total,
                    "speedup": jacobi_time / total if total > 0 else None,
                    "slow_mode_amplitudes": amplitudes, "slow_mode_bound": bound})
    return out


def _rank_correlation(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman's rank correlation (average ranks for ties); None for fewer than 3 pairs or a constant list."""
    if len(a) < 3:
        return None

    def ranks(values):
        order = np.argsort(values, kind="stable")
        r = np.empty(len(values))
        r[order] = np.arange(len(values), dtype=float)
        values = np.asarray(values, dtype=float)
        for v in np.unique(values):
            r[values == v] = r[values == v].mean()
        return r

    ra, rb = ranks(a), ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return None
    return float(np.corrcoef(ra, rb)[0, 1])
