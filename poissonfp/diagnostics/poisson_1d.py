"""Experiment ``poisson-1d``: on the article's Poisson problem a DNN converges low -> high, Jacobi high -> low.

The problem (``cases/1d_article.toml``, SCIENCE.md §1.4): -u'' = g on (-1, 1), u(±1) = 0,
g = sin x + 4 sin 4x - 8 sin 8x + 16 sin 24x, 1000 intervals. Both methods aim at the discrete solution
``u_h``; ``Delta_F(k) = |F[v](k) - F[u_h](k)| / |F[u_h](k)|`` is tracked at the spectral peaks, with
``F`` the DFT of the values at the periodic grid ``x_0 = -1, ..., x_{n-1} = 1 - h``.

- DNN: the boundary-exact network of :mod:`poissonfp.neural` trained by Adam on the grid Ritz energy
  (the loss of method ``dnn``), without the Galerkin output layer, so the order is the optimiser's;
  ``Delta_F`` is computed from the network's grid values every ``record_every`` steps.
- Jacobi: weighted Jacobi from zero (mode k decays by about ``cos(2 pi k / n)`` per sweep: slowest for low k).

Peaks: the largest local maxima of ``|F[u_h]|``. Its 1/k^2 decay leaves only two of them (k = 1, 8) and
turns the k = 3 peak of the source into a shoulder, so missing peaks are taken from ``|F[g]|``, whose
peaks are the problem's frequencies; ``peak_sources`` records which spectrum supplied each.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from poissonfp import spectral
from poissonfp.case import load_case
from poissonfp.diagnostics import plots
from poissonfp.diagnostics.base import (Experiment, ExperimentResult, ProgressCallback, SettingsError,
                                        first_step_below)
from poissonfp.problem import Problem, build_problem

NAME = "poisson-1d"


@dataclass(frozen=True)
class Poisson1DSettings:
    """Settings of ``poisson-1d``: a plain tanh network (no first-layer scaling, no Galerkin output layer)
    trained by Adam, as in the article; the case's own network settings are not used."""

    case: str = "1d_article"
    intervals: int = 1000
    peaks: int = 3
    widths: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    dtype: str = "float64"
    learning_rate: float = 1e-3
    adam_steps: int = 3000
    record_every: int = 10
    jacobi_sweeps: int = 150_000
    jacobi_record_every: int = 500
    omega: float = 1.0
    threshold: float = 0.1


def strictly_ordered(first_steps: list[int | None], increasing: bool) -> bool:
    """Whether every peak crossed the threshold and the crossing steps are strictly monotone.

    >>> strictly_ordered([30, 480, 1160], increasing=True), strictly_ordered([9000, 2000, None], False)
    (True, False)
    """
    if any(step is None for step in first_steps):
        return False
    pairs = zip(first_steps, first_steps[1:])
    return all(a < b if increasing else a > b for a, b in pairs)


def periodic_samples(problem: Problem, u: np.ndarray) -> np.ndarray:
    """Values at ``x_0 = a, ..., x_{n-1} = b - h``: the left boundary value, then the interior values."""
    left = problem.functions["boundary"].numpy(np.array([problem.grid.lower[0]]))
    return np.concatenate((np.ravel(np.broadcast_to(left, (1,))).astype(float), u))


def spectral_peaks(solution: np.ndarray, source: np.ndarray, count: int) -> tuple[np.ndarray, list[str]]:
    """The ``count`` largest DFT peaks of ``solution``, completed from those of ``source``; by frequency.

    Returns:
        (wavenumbers in increasing order, ``"solution"`` or ``"source"`` for each).
    """
    chosen = {int(k): "solution" for k in spectral.dft_peaks(solution, count, order="amplitude")}
    for k in spectral.dft_peaks(source, order="amplitude"):
        if len(chosen) >= count:
            break
        chosen.setdefault(int(k), "source")
    peaks = np.array(sorted(chosen))
    return peaks, [chosen[int(k)] for k in peaks]


def _problem(settings: Poisson1DSettings) -> Problem:
    case = load_case(settings.case)  # a path, or the name of a shipped case
    path = case.path
    if case.dim != 1:
        raise SettingsError(f"{NAME} needs a 1D case, {path} is {case.dim}D")
    return build_problem(case.with_overrides(size=settings.intervals) if case.grid_unit == "intervals"
                         else case.with_overrides(size=settings.intervals - 1))


def train_dnn(problem: Problem, settings: Poisson1DSettings, seed: int, delta_f, on_progress=None):
    """Adam on the grid Ritz energy; ``delta_f(grid values)`` every ``record_every`` steps (and at 0).

    Returns:
        (steps, Delta_F rows, final grid values, training seconds).
    """
    from poissonfp.neural import Trainer, build_model, make_loss
    from poissonfp.neural.model import single_threaded
    from poissonfp.settings import NetworkSettings

    network = NetworkSettings(widths=settings.widths, activation=settings.activation, dtype=settings.dtype)
    model = build_model(problem, network, seed=seed)
    trainer = Trainer(model, make_loss(problem, model, "ritz", "grid"), settings.learning_rate)
    points = model.grid_points(problem.grid)
    steps, rows = [0], [delta_f(model.grid_values(problem.grid, points))]

    def on_step(step: int, _loss: float) -> bool:
        if step % settings.record_every == 0 or step == settings.adam_steps:
            steps.append(step)
            rows.append(delta_f(model.grid_values(problem.grid, points)))
            if on_progress is not None:
                on_progress(step, settings.adam_steps)
        return False

    with single_threaded():  # as method dnn: one thread is fastest for a small network (and reproducible)
        trainer.adam(settings.adam_steps, on_step)
    return np.array(steps), np.array(rows), model.grid_values(problem.grid, points), trainer.time_s


def run_jacobi(problem: Problem, settings: Poisson1DSettings, delta_f) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted Jacobi from zero; ``delta_f(iterate)`` every ``jacobi_record_every`` sweeps (and at 0).

    Returns:
        (sweeps, Delta_F rows, final iterate).
    """
    from poissonfp.solvers.jacobi import JacobiIteration

    iteration = JacobiIteration(problem, settings.omega)
    sweeps, rows = [0], [delta_f(iteration.solution)]
    while sweeps[-1] < settings.jacobi_sweeps:
        count = min(settings.jacobi_record_every, settings.jacobi_sweeps - sweeps[-1])
        iteration.sweep(count)
        sweeps.append(sweeps[-1] + count)
        rows.append(delta_f(iteration.solution))
    return np.array(sweeps), np.array(rows), iteration.solution.copy()


def run(settings: Poisson1DSettings, seed: int, on_progress: ProgressCallback | None = None) -> ExperimentResult:
    """Train the DNN and run Jacobi, record ``Delta_F`` at the peaks, and check both orders of convergence."""
    start = time.perf_counter()
    problem = _problem(settings)
    target = periodic_samples(problem, problem.discrete_solution)
    peaks, sources = spectral_peaks(target, periodic_samples(problem, problem.source), settings.peaks)
    target_spectrum = spectral.dft(target)

    def delta_f(u: np.ndarray) -> np.ndarray:
        return spectral.relative_mode_errors(spectral.dft(periodic_samples(problem, u)), target_spectrum, peaks)

    dnn_steps, dnn_errors, dnn_u, train_s = train_dnn(problem, settings, seed, delta_f, on_progress)
    jacobi_sweeps, jacobi_errors, jacobi_u = run_jacobi(problem, settings, delta_f)
    result = ExperimentResult(NAME, seed, asdict(settings))
    _check_claims(result, settings.threshold, peaks, (dnn_steps, dnn_errors), (jacobi_sweeps, jacobi_errors))
    result.observe(
        "tracked peaks of |F[u_h]| (completed from the source's peaks where u_h has fewer local maxima)",
        peaks_k=peaks, peak_sources=sources, peak_amplitudes=np.abs(target_spectrum[peaks]),
        dnn_train_time_s=train_s,
    )
    result.records = {
        "x": problem.grid.axes[0], "discrete_solution": problem.discrete_solution, "peaks": peaks,
        "threshold": settings.threshold, "dnn_steps": dnn_steps, "dnn_delta_F": dnn_errors, "dnn_solution": dnn_u,
        "jacobi_sweeps": jacobi_sweeps, "jacobi_delta_F": jacobi_errors, "jacobi_solution": jacobi_u,
        "dnn_first_step": first_step_below(dnn_steps, dnn_errors, settings.threshold),
        "jacobi_first_sweep": first_step_below(jacobi_sweeps, jacobi_errors, settings.threshold),
    }
    result.runtime_s = time.perf_counter() - start
    return result


def _check_claims(result: ExperimentResult, threshold: float, peaks: np.ndarray, dnn, jacobi) -> None:
    dnn_first = first_step_below(*dnn, threshold)
    jacobi_first = first_step_below(*jacobi, threshold)
    result.claim(
        f"the DNN converges the peaks from low to high frequency (first training step with Delta_F < "
        f"{threshold} increases with k)",
        strictly_ordered(dnn_first, increasing=True),
        peaks_k=peaks, first_step_below_threshold=dnn_first, final_delta_F=dnn[1][-1], steps=int(dnn[0][-1]),
    )
    result.claim(
        f"Jacobi converges the peaks from high to low frequency (first sweep with Delta_F < {threshold} "
        "decreases with k)",
        strictly_ordered(jacobi_first, increasing=False),
        peaks_k=peaks, first_sweep_below_threshold=jacobi_first, final_delta_F=jacobi[1][-1],
        sweeps=int(jacobi[0][-1]),
    )


def figures(result: ExperimentResult) -> dict:
    """The two heat maps of ``Delta_F`` (peak x step): DNN over training steps, Jacobi over sweeps."""
    r = result.records
    labels = [f"k = {k}" for k in r["peaks"]]
    return {
        "dnn_delta_f_heatmap": plots.plot_delta_f_heatmap(
            r["dnn_delta_F"], labels, r["dnn_steps"], xlabel="Adam step", first_epochs=r["dnn_first_step"],
            title=f"Poisson 1D: DNN (Ritz energy) converges low -> high (seed {result.seed})",
        ),
        "jacobi_delta_f_heatmap": plots.plot_delta_f_heatmap(
            r["jacobi_delta_F"], labels, r["jacobi_sweeps"], xlabel="Jacobi sweep",
            first_epochs=r["jacobi_first_sweep"],
            title="Poisson 1D: Jacobi from zero converges high -> low",
        ),
    }


EXPERIMENT = Experiment(
    name=NAME,
    description="article's 1D Poisson problem: DNN converges its DFT peaks low -> high, Jacobi high -> low",
    settings_type=Poisson1DSettings,
    quick={"learning_rate": 1e-2, "adam_steps": 500},
    run=run,
    figures=figures,
)
