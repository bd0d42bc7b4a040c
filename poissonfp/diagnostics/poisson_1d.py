"""Experiment ``poisson-1d``: on the article's Poisson problem a DNN converges low -> high, Jacobi high -> low.

The problem (``cases/1d_article.toml``, SCIENCE.md §1.4): -u'' = g on (-1, 1), u(±1) = 0,
g = sin x + 4 sin 4x - 8 sin 8x + 16 sin 24x, 1000 intervals. Both methods aim at the discrete solution
``u_h``; ``Delta_F(k) = |F[v](k) - F[u_h](k)| / |F[u_h](k)|`` is tracked at the spectral peaks, with
``F`` the DFT of the values at the periodic grid ``x_0 = -1, ..., x_{n-1} = 1 - h``.

- DNN: the boundary-exact network of :mod:`poissonfp.neural` trained by Adam on the grid Ritz energy
  (the loss of method ``dnn``), without the Galerkin output layer, so the order is the optimiser's;
  ``Delta_F`` is computed from the network's grid values every ``record_every`` steps.
- Jacobi: weighted Jacobi from zero (mode k decays by about ``cos(2 pi k / n)`` per sweep: slowest for low k).

Verdicts (:mod:`poissonfp.diagnostics.ordering`): the settled crossings of the smoothed ``Delta_F`` at
``threshold`` increase with k (DNN, evidence) or decrease with k (Jacobi: the eigenvalue formula, a sanity
check), each by the margin. The control (``--control``) trains a table of free grid values on the same
Ritz energy with the same optimiser: it converges high -> low like Jacobi.

Peaks: the largest local maxima of ``|F[u_h]|``. Its 1/k^2 decay leaves only two of them (k = 1, 8) and
turns the k = 3 peak of the source into a shoulder, so missing peaks are taken from ``|F[g]|``, whose
peaks are the problem's frequencies; ``peak_sources`` records which spectrum supplied each.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from poissonfp import spectral
from poissonfp.case import load_case
from poissonfp.diagnostics.base import Experiment, ExperimentResult, PaperSetting, ProgressCallback
from poissonfp.diagnostics.learners import LEARNERS
from poissonfp.diagnostics.ordering import ordered_with_margin, ordering_rule, settled_crossings, smoothed
from poissonfp.diagnostics.rules import DTYPES, setting
from poissonfp.networks import ACTIVATIONS
from poissonfp.plotting import diagnostics as plots
from poissonfp.problem import Problem, build_problem
from poissonfp.settings import SettingError

UNVERIFIED = ("not verified: SCIENCE.md §1.4 (the article's Poisson follow-up); no Poisson script in "
              "github.com/xuzhiqin1990/F-Principle")
NAME = "poisson-1d"


@dataclass(frozen=True)
class Poisson1DSettings:
    """Settings of ``poisson-1d``: a plain tanh network (no first-layer scaling, no Galerkin output layer)
    trained by Adam, as in the article; the case's own network settings are not used."""

    case: str = "1d_article"
    intervals: int = setting(1000, min=16, max=1_000_000)
    peaks: int = setting(3, min=2, max=10)
    widths: tuple[int, ...] = setting((64, 64), max=4096)
    activation: str = setting("tanh", choices=tuple(ACTIVATIONS))
    learner: str = setting("network", choices=LEARNERS)
    dtype: str = setting("float64", choices=DTYPES)
    learning_rate: float = setting(1e-3, max=10.0)
    adam_steps: int = setting(3000, max=1_000_000)
    record_every: int = 10
    jacobi_sweeps: int = setting(150_000, max=100_000_000)
    jacobi_record_every: int = 500
    omega: float = setting(1.0, max=1.0)
    threshold: float = setting(0.2, below=1.0)

    def check(self) -> str | None:
        from poissonfp.case import CaseError

        try:
            path = case_path(self.case)
        except CaseError as err:
            return f"case {self.case!r}: {err.message}"
        return None if path.is_file() else f"case {self.case!r} not found (looked for {path})"


def case_path(case: str) -> Path:
    """A case file: a path as given, or the name of a shipped case (:func:`poissonfp.catalog.find_case`)."""
    from poissonfp.catalog import find_case

    return find_case(case)


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
    path = case_path(settings.case)
    case = load_case(path)
    if case.dim != 1:
        raise SettingError(f"{NAME}.case", "a 1D case", f"{path} ({case.dim}D)")
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


def train_free_values(problem: Problem, settings: Poisson1DSettings, seed: int, delta_f, on_progress=None):
    """The control: Adam on the same grid Ritz energy over a table of free grid values (from zero, so
    ``seed`` changes nothing; it keeps the call shape of :func:`train_dnn`).

    Returns:
        (steps, Delta_F rows, final grid values, training seconds).
    """
    import torch

    from poissonfp.neural.losses import laplacian_torch

    dtype = getattr(torch, settings.dtype)
    values = torch.zeros(problem.grid.shape, dtype=dtype, requires_grad=True)
    rhs = torch.as_tensor(problem.rhs, dtype=dtype)
    optimiser = torch.optim.Adam([values], lr=settings.learning_rate)
    steps, rows = [0], [delta_f(values.detach().numpy().copy())]
    start = time.perf_counter()
    for step in range(1, settings.adam_steps + 1):
        energy = problem.grid.cell_volume * (
            0.5 * torch.sum(values * laplacian_torch(values, problem.grid.spacing)) - torch.sum(rhs * values))
        optimiser.zero_grad(set_to_none=True)
        energy.backward()
        optimiser.step()
        if step % settings.record_every == 0 or step == settings.adam_steps:
            steps.append(step)
            rows.append(delta_f(values.detach().numpy().copy()))
            if on_progress is not None:
                on_progress(step, settings.adam_steps)
    final = values.detach().numpy().copy()
    return np.array(steps), np.array(rows), final, time.perf_counter() - start


def run_jacobi(problem: Problem, settings: Poisson1DSettings, delta_f) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted Jacobi from zero; ``delta_f(iterate)`` every ``jacobi_record_every`` sweeps (and at 0).

    Returns:
        (sweeps, Delta_F rows, final iterate).
    """
    from poissonfp.solvers.classical.jacobi import JacobiIteration

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

    train = train_dnn if settings.learner == "network" else train_free_values
    dnn_steps, dnn_errors, dnn_u, train_s = train(problem, settings, seed, delta_f, on_progress)
    jacobi_sweeps, jacobi_errors, jacobi_u = run_jacobi(problem, settings, delta_f)
    result = ExperimentResult(NAME, seed, asdict(settings))
    dnn_settled = settled_crossings(dnn_steps, smoothed(dnn_errors), settings.threshold)
    jacobi_settled = settled_crossings(jacobi_sweeps, smoothed(jacobi_errors), settings.threshold)
    _check_claims(result, settings, peaks, (dnn_steps, dnn_errors, dnn_settled),
                  (jacobi_sweeps, jacobi_errors, jacobi_settled))
    result.observe(
        "tracked peaks of |F[u_h]| (completed from the source's peaks where u_h has fewer local maxima)",
        peaks_k=peaks, peak_sources=sources, peak_amplitudes=np.abs(target_spectrum[peaks]),
        dnn_train_time_s=train_s,
    )
    result.records = {
        "x": problem.grid.axes[0], "discrete_solution": problem.discrete_solution, "peaks": peaks,
        "threshold": settings.threshold, "dnn_steps": dnn_steps, "dnn_delta_F": dnn_errors, "dnn_solution": dnn_u,
        "jacobi_sweeps": jacobi_sweeps, "jacobi_delta_F": jacobi_errors, "jacobi_solution": jacobi_u,
        "dnn_settled_step": dnn_settled, "jacobi_settled_sweep": jacobi_settled,
    }
    result.runtime_s = time.perf_counter() - start
    return result


def _check_claims(result: ExperimentResult, settings: Poisson1DSettings, peaks: np.ndarray, dnn, jacobi) -> None:
    learner = "DNN" if settings.learner == "network" else "table of free grid values"
    result.claim(
        f"the {learner} trained on the Ritz energy converges the peaks from low to high frequency",
        ordered_with_margin(dnn[2], increasing=True),
        rule=ordering_rule(settings.threshold, direction="increases with k (training steps)"),
        peaks_k=peaks, settled_step=dnn[2], final_delta_F=dnn[1][-1], steps=int(dnn[0][-1]),
    )
    result.claim(
        "Jacobi converges the peaks from high to low frequency",
        ordered_with_margin(jacobi[2], increasing=False),
        kind="sanity",
        rule=ordering_rule(settings.threshold, direction="decreases with k (sweeps)") + "; mode k decays by "
        "cos(2 pi k / n) per sweep, so a failure means a bug or too few sweeps",
        peaks_k=peaks, settled_sweep=jacobi[2], final_delta_F=jacobi[1][-1], sweeps=int(jacobi[0][-1]),
    )


def figures(result: ExperimentResult) -> dict:
    """The two heat maps of ``Delta_F`` (peak x step): DNN over training steps, Jacobi over sweeps."""
    r = result.records
    labels = [f"k = {k}" for k in r["peaks"]]
    return {
        "dnn_delta_f_heatmap": plots.plot_delta_f_heatmap(
            r["dnn_delta_F"], labels, r["dnn_steps"], xlabel="Adam step", first_epochs=r["dnn_settled_step"],
            title=f"Poisson 1D: DNN (Ritz energy) converges low -> high (seed {result.seed})",
        ),
        "jacobi_delta_f_heatmap": plots.plot_delta_f_heatmap(
            r["jacobi_delta_F"], labels, r["jacobi_sweeps"], xlabel="Jacobi sweep",
            first_epochs=r["jacobi_settled_sweep"],
            title="Poisson 1D: Jacobi from zero converges high -> low",
        ),
    }


EXPERIMENT = Experiment(
    name=NAME,
    description="article's 1D Poisson problem: DNN converges its DFT peaks low -> high, Jacobi high -> low",
    settings_type=Poisson1DSettings,
    quick={"intervals": 250, "adam_steps": 2500, "jacobi_sweeps": 15_000, "jacobi_record_every": 50},
    run=run,
    figures=figures,
    control={"learner": "free-values"},
    control_description="a table of free grid values trained on the same Ritz energy (no network)",
    paper=(
        PaperSetting("problem", "-u'' = g on (-1, 1), 4 sines, u(+-1) = 0, 1000 intervals", ("case", "intervals"),
                     "quick: 250 intervals (same peaks k = 1, 3, 8)", UNVERIFIED),
        PaperSetting("network", "fully connected tanh (sizes not stated)", ("activation", "widths"),
                     "64-64 tanh is this project's choice, boundary-exact output (u = B N) instead of a boundary "
                     "penalty", UNVERIFIED),
        PaperSetting("loss / optimiser", "Ritz energy with a boundary penalty, Adam", ("learning_rate", "adam_steps"),
                     "Ritz energy on the grid, no penalty (boundary-exact); lr 1e-3 is this project's choice; quick: "
                     "2500 steps", UNVERIFIED),
        PaperSetting("Jacobi", "plain Jacobi from zero", ("omega", "jacobi_sweeps"), "quick: 15,000 sweeps", UNVERIFIED),
        PaperSetting("verdict", "read off the heat maps", ("threshold",),
                     "settled crossing of Delta_F at 0.2, margin x1.5 (same rule as fprinciple-1d)", UNVERIFIED),
    ),
)
