"""Experiment ``parity``: a high-frequency target that a DNN fits, but generalises only from large samples.

Paper (arXiv:1901.06523, Sec. 4): x in {-1, 1}^d, d = 10, f(x) = prod_j x_j; train on a random fraction,
test on the rest (tanh 200-200-100, Adam 1e-3, full batch). The run sweeps the training fraction.

Frequency on the hypercube is the degree of a Walsh character ``prod_{j in S} x_j``; parity is the one
character of degree d. Aliasing, exactly: the training subset's empirical spectrum
``(1/n) sum_{i in train} y_i prod_{j in S} x_ij`` carries spurious energy ``N/n - 1`` (Parseval) spread
over the characters the target lacks, with mean degree about d/2 whatever the learner. The paper's
explanation is that the network fills the unseen points with *low-frequency* content: its excess over the
true spectrum on those characters, ``sum_{S: y_S = 0} h_S^2``, is large where it fails and sits at a lower
mean degree than that aliasing. Both are measured over all degrees (no cutoff). The projected spectra along p = (1, ..., 1)/sqrt(d) of the
paper are drawn too; along p parity depends on p . x only (d + 1 levels), and a band k <= 0.3 holds about
two independent frequencies, so a verdict read from it hinges on where the cutoff sits.

Below-chance test accuracy: the d nearest neighbours (Hamming distance 1) of every point have the opposite
parity, so a learner that interpolates from nearby training points predicts the wrong sign; the report
gives the accuracy of that nearest-neighbour vote beside the network's. The control (``--control``)
is a sin network with its first layer x30 (no low-frequency bias): it fills the unseen points at high degree.
"""
from __future__ import annotations

import itertools
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from poissonfp import spectral
from poissonfp.diagnostics.base import Experiment, ExperimentResult, PaperSetting, ProgressCallback
from poissonfp.diagnostics.fitting import fit_full_batch
from poissonfp.diagnostics.learners import make_learner
from poissonfp.diagnostics.rules import DTYPES, setting
from poissonfp.networks import ACTIVATIONS
from poissonfp.plotting import diagnostics as plots

NAME = "parity"
UNVERIFIED = ("not verified: no parity script in github.com/xuzhiqin1990/F-Principle and the paper's text was not "
              "retrieved; SCIENCE.md §1.2")


@dataclass(frozen=True)
class ParitySettings:
    """Settings; the defaults are the paper's. ``target_bits`` (0: all) < ``dimension`` makes a lower-degree
    target: the parity of the first ``target_bits`` coordinates."""

    dimension: int = setting(10, min=2, max=16)
    target_bits: int = setting(0, min=0, max=16)
    widths: tuple[int, ...] = setting((200, 200, 100), max=4096)
    activation: str = setting("tanh", choices=tuple(ACTIVATIONS))
    first_layer_scale: float = setting(1.0, max=1000.0)
    learning_rate: float = setting(1e-3, max=10.0)
    epochs: int = setting(2000, max=1_000_000)
    fractions: tuple[float, ...] = setting((0.3, 0.5, 0.7, 0.9), above=0.0, below=1.0)
    max_test_accuracy: float = setting(0.6, below=1.0)
    min_test_accuracy: float = setting(0.9, below=1.0)
    degree_margin: float = setting(0.5, max=16.0)
    min_excess_share: float = setting(0.25, max=10.0)
    frequency_max: float = setting(1.5, max=100.0)
    frequency_count: int = setting(301, min=3, max=100_000)
    dtype: str = setting("float32", choices=DTYPES)

    def check(self) -> str | None:
        if self.target_bits > self.dimension:
            return f"target_bits {self.target_bits} exceeds dimension {self.dimension}"
        if list(self.fractions) != sorted(set(self.fractions)) or len(self.fractions) < 2:
            return f"fractions must be at least two increasing values, got {self.fractions}"
        return None


def hypercube(d: int, bits: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All ``2^d`` points of ``{-1, 1}^d`` and the parity of their first ``bits`` coordinates (all by default)."""
    x = np.array(list(itertools.product([-1.0, 1.0], repeat=d)))
    return x, np.prod(x[:, : d if bits is None else bits], axis=1)


def _train_split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    permutation = np.random.default_rng(seed).permutation(n)
    n_train = round(fraction * n)
    return np.sort(permutation[:n_train]), np.sort(permutation[n_train:])


def neighbour_vote_accuracy(y: np.ndarray, train: np.ndarray, test: np.ndarray) -> float:
    """Test accuracy of the majority vote of each test point's training neighbours at Hamming distance 1
    (points with no such neighbour, or a tied vote, count as half right).

    >>> x, y = hypercube(4)
    >>> neighbour_vote_accuracy(y, np.arange(0, 16, 2), np.arange(1, 16, 2))
    0.0
    """
    d = int(np.log2(len(y)))
    in_train = np.zeros(len(y), bool)
    in_train[train] = True
    votes = np.zeros(len(test))
    for bit in range(d):
        neighbours = test ^ (1 << bit)
        votes += np.where(in_train[neighbours], y[neighbours], 0.0)
    right = np.where(votes == 0, 0.5, (np.sign(votes) == y[test]).astype(float))
    return float(right.mean()) if len(test) else float("nan")


def _fit_fraction(settings: ParitySettings, x, y, fraction: float, seed: int, on_progress) -> dict:
    """Train on a random ``fraction`` of the cube; return accuracies, outputs and the Walsh measures."""
    dtype = getattr(torch, settings.dtype)
    train, test = _train_split(len(x), fraction, seed)
    generator = torch.Generator().manual_seed(seed)
    model = make_learner("network", x.shape[1], len(train), settings.widths, 1, settings.activation, dtype,
                         generator=generator, first_layer_scale=settings.first_layer_scale)
    history = fit_full_batch(
        model, torch.tensor(x[train], dtype=dtype), torch.tensor(y[train, None], dtype=dtype),
        epochs=settings.epochs, learning_rate=settings.learning_rate, on_progress=on_progress,
    )
    with torch.no_grad():
        output = model(torch.tensor(x, dtype=dtype)).numpy()[:, 0].astype(float)
    correct = np.sign(output) == y
    true = spectral.walsh_coefficients(y)
    off_target = np.abs(true) < 1e-12  # characters the target does not contain
    subset_values = np.zeros(len(y))
    subset_values[train] = y[train] * len(y) / len(train)
    aliasing = spectral.walsh_degree_energy(np.where(off_target, spectral.walsh_coefficients(subset_values), 0.0))
    network = spectral.walsh_coefficients(output)
    excess = spectral.walsh_degree_energy(np.where(off_target, network, 0.0))
    return {
        "fraction": fraction, "train": train, "output": output,
        "train_accuracy": float(correct[train].mean()),
        "test_accuracy": float(correct[test].mean()) if len(test) else float("nan"),
        "neighbour_vote_accuracy": neighbour_vote_accuracy(y, train, test),
        "final_loss": history.loss[-1],
        "aliasing_energy": float(aliasing.sum()), "aliasing_expected": len(y) / len(train) - 1.0,
        "aliasing_mean_degree": _mean_degree(aliasing), "aliasing_by_degree": aliasing,
        "excess_energy": float(excess.sum()), "excess_mean_degree": _mean_degree(excess),
        "excess_by_degree": excess,
        "target_amplitude": float(np.sqrt(np.sum(network[~off_target] ** 2) / np.sum(true[~off_target] ** 2))),
    }


def _mean_degree(energy: np.ndarray) -> float:
    total = float(energy.sum())
    return float(np.arange(len(energy)) @ energy / total) if total > 0 else float("nan")


def transition_bracket(fractions, accuracies, level: float) -> tuple[float, float] | None:
    """The two measured fractions between which test accuracy first rises through ``level``; None if it
    never does. No value between them is claimed: nothing was measured there.

    >>> transition_bracket([0.3, 0.5, 0.7, 0.9], [0.41, 0.4, 0.9, 1.0], 0.75)
    (0.5, 0.7)
    >>> transition_bracket([0.3, 0.9], [0.41, 0.99], 0.75)
    (0.3, 0.9)
    """
    pairs = list(zip(fractions, accuracies))
    for (f0, a0), (f1, a1) in itertools.pairwise(pairs):
        if a0 < level <= a1:
            return (f0, f1)
    return None


def run(settings: ParitySettings, seed: int, on_progress: ProgressCallback | None = None) -> ExperimentResult:
    """Sweep the training fraction and check the claims at the smallest and largest fractions."""
    start = time.perf_counter()
    x, y = hypercube(settings.dimension, settings.target_bits or None)
    total = settings.epochs * len(settings.fractions)
    fits = []
    for i, fraction in enumerate(settings.fractions):
        def progress(done, _total, offset=i * settings.epochs):
            if on_progress is not None:
                on_progress(offset + done, total)

        fits.append(_fit_fraction(settings, x, y, fraction, seed, progress))
    result = ExperimentResult(NAME, seed, asdict(settings))
    _check_claims(result, settings, fits)
    k = np.linspace(0.0, settings.frequency_max, settings.frequency_count)
    _check_spectrum_identity(result, settings, k)
    diagonal = np.ones(settings.dimension) / np.sqrt(settings.dimension)
    smallest = fits[0]
    result.records = {
        "k": k,
        "along_p": _spectra(x, y, smallest, diagonal, k),
        "along_pc": _spectra(x, y, smallest, spectral.first_principal_component(x[smallest["train"]]), k),
        "peak_k": np.sqrt(settings.dimension) / 4,
        "fractions": [f["fraction"] for f in fits],
        "train_accuracy": [f["train_accuracy"] for f in fits],
        "test_accuracy": [f["test_accuracy"] for f in fits],
        "neighbour_vote_accuracy": [f["neighbour_vote_accuracy"] for f in fits],
        "excess_by_degree": [f["excess_by_degree"] for f in fits],
        "aliasing_by_degree": [f["aliasing_by_degree"] for f in fits],
    }
    result.runtime_s = time.perf_counter() - start
    return result


def _spectra(x, y, fit: dict, direction: np.ndarray, k: np.ndarray) -> dict[str, np.ndarray]:
    train = fit["train"]
    return {
        "full data set": np.abs(spectral.projected_nudft(x, y, direction, k)),
        "training subset": np.abs(spectral.projected_nudft(x[train], y[train], direction, k)),
        "network on full set": np.abs(spectral.projected_nudft(x, fit["output"], direction, k)),
    }


def _check_claims(result: ExperimentResult, settings: ParitySettings, fits: list[dict]) -> None:
    fractions = [f["fraction"] for f in fits]
    tests = [f["test_accuracy"] for f in fits]
    smallest, largest = fits[0], fits[-1]
    level = (settings.max_test_accuracy + settings.min_test_accuracy) / 2
    result.claim(
        "the network fits every training set",
        all(f["train_accuracy"] == 1.0 for f in fits),
        rule="training accuracy (sign of the output) is 1.0 at every fraction, in every seed",
        fractions=fractions, train_accuracy=[f["train_accuracy"] for f in fits],
    )
    result.claim(
        "it does not generalise from a small training fraction",
        smallest["test_accuracy"] <= settings.max_test_accuracy,
        rule=f"test accuracy <= {settings.max_test_accuracy} (chance 0.5) at the smallest fraction, in every seed",
        fraction=smallest["fraction"], test_accuracy=smallest["test_accuracy"],
        neighbour_vote_accuracy=smallest["neighbour_vote_accuracy"],
    )
    result.claim(
        "it generalises from a large training fraction",
        largest["test_accuracy"] >= settings.min_test_accuracy,
        rule=f"test accuracy >= {settings.min_test_accuracy} at the largest fraction, in every seed; the "
        f"transition is reported as the two measured fractions between which test accuracy rises through {level:g}",
        fraction=largest["fraction"], test_accuracy=largest["test_accuracy"], fractions=fractions,
        test_accuracies=tests, transition_between=transition_bracket(fractions, tests, level),
    )
    _check_aliasing(result, settings, fits)


def _check_aliasing(result: ExperimentResult, settings: ParitySettings, fits: list[dict]) -> None:
    failing = [f for f in fits if f["test_accuracy"] <= settings.max_test_accuracy]
    shares = [f["excess_energy"] / f["aliasing_energy"] for f in failing]
    gaps = [f["aliasing_mean_degree"] - f["excess_mean_degree"] for f in failing]
    result.claim(
        "where it fails, the network fills the unseen points with low-frequency content (aliasing)",
        bool(failing) and all(share >= settings.min_excess_share for share in shares)
        and all(gap >= settings.degree_margin for gap in gaps),
        rule=f"at every fraction where the network fails (test accuracy <= {settings.max_test_accuracy}; at least "
        f"one) its Walsh energy on the characters the target lacks is >= {settings.min_excess_share}x the training "
        f"subset's aliasing energy (N/n - 1), and its mean degree is >= {settings.degree_margin} below the "
        f"aliasing's; in every seed",
        fractions=[f["fraction"] for f in failing], excess_share=shares, degree_gap=gaps,
        excess_mean_degree=[f["excess_mean_degree"] for f in failing],
        aliasing_mean_degree=[f["aliasing_mean_degree"] for f in failing],
    )
    deviation = max(abs(f["aliasing_energy"] - f["aliasing_expected"]) / f["aliasing_expected"] for f in fits)
    result.claim(
        "the training subset's aliasing energy on the characters the target lacks is N/n - 1 (Parseval)",
        deviation < 1e-9,
        kind="sanity",
        rule="relative deviation < 1e-9 at every fraction",
        max_relative_deviation=deviation,
    )
    _observe_fractions(result, fits)


def _observe_fractions(result: ExperimentResult, fits: list[dict]) -> None:
    for f in fits:
        result.observe(
            f"training fraction {f['fraction']}",
            train_accuracy=f["train_accuracy"], test_accuracy=f["test_accuracy"],
            neighbour_vote_accuracy=f["neighbour_vote_accuracy"], target_amplitude=f["target_amplitude"],
            excess_energy=f["excess_energy"],
            excess_mean_degree=f["excess_mean_degree"], aliasing_energy=f["aliasing_energy"],
            aliasing_mean_degree=f["aliasing_mean_degree"], final_loss=f["final_loss"],
        )
    below = [f["fraction"] for f in fits if f["test_accuracy"] < 0.5]
    if below:
        result.observe(
            "test accuracy below chance: every point's Hamming neighbours have the opposite parity, so "
            "interpolating from nearby training points predicts the wrong sign (neighbour vote accuracy beside it)",
            fractions=below,
            test_accuracy=[f["test_accuracy"] for f in fits if f["test_accuracy"] < 0.5],
            neighbour_vote_accuracy=[f["neighbour_vote_accuracy"] for f in fits if f["test_accuracy"] < 0.5],
        )


def _check_spectrum_identity(result: ExperimentResult, settings: ParitySettings, k: np.ndarray) -> None:
    x, y = hypercube(settings.dimension)
    direction = np.ones(settings.dimension) / np.sqrt(settings.dimension)
    projected = spectral.projected_nudft(x, y, direction, k)
    exact = spectral.parity_spectrum_exact(np.outer(k, direction))
    deviation = float(np.max(np.abs(projected - exact)))
    result.claim(
        "the projected spectrum of parity equals (-i)^d prod sin(2 pi k_j)",
        deviation < 1e-8,
        kind="sanity",
        rule="largest deviation < 1e-8 along p = (1, ..., 1)/sqrt(d)",
        max_abs_deviation=deviation,
    )


def figures(result: ExperimentResult) -> dict:
    """Spectra along p and the principal component, the accuracy sweep and the Walsh degree profiles."""
    r = result.records
    fraction = r["fractions"][0]
    d = result.settings["dimension"]
    return {
        "spectra": plots.plot_projected_spectra(
            r["k"], {"p = (1,...,1)/sqrt(d)": r["along_p"], "first PC of the training inputs": r["along_pc"]},
            title=f"Parity, d = {d}, training fraction {fraction} (seed {result.seed})",
            marks={"sqrt(d)/4": r["peak_k"]},
        ),
        "accuracy_sweep": plots.plot_accuracy_sweep(
            r["fractions"], r["train_accuracy"], r["test_accuracy"], r["neighbour_vote_accuracy"],
            title=f"Parity, d = {d}: accuracy vs training fraction (seed {result.seed})",
        ),
        "walsh_degrees": plots.plot_degree_profiles(
            r["fractions"], r["excess_by_degree"], r["aliasing_by_degree"],
            title=f"Parity, d = {d}: network excess and training-set aliasing by Walsh degree (seed {result.seed})",
        ),
    }


EXPERIMENT = Experiment(
    name=NAME,
    description="parity on {-1,1}^10: fits every training set, generalises only from large fractions",
    settings_type=ParitySettings,
    quick={"epochs": 800, "fractions": (0.3, 0.9)},
    run=run,
    figures=figures,
    control={"activation": "sin", "first_layer_scale": 30.0},
    control_description="a sin network with its first layer x30 (no low-frequency bias)",
    paper=(
        PaperSetting("data", "{-1, 1}^10, parity of all 10 bits", ("dimension", "target_bits"), "",
                     "paper abstract (arXiv:1901.06523): 'parity function'; d = 10: " + UNVERIFIED),
        PaperSetting("network", "unknown", ("activation", "widths"),
                     "tanh 200-200-100 is this project's choice (SCIENCE.md §1.2), not the paper's", UNVERIFIED),
        PaperSetting("optimiser", "unknown", ("learning_rate", "epochs"),
                     "Adam 1e-3, full batch, MSE, 2000 epochs: this project's choice; quick: 800 epochs", UNVERIFIED),
        PaperSetting("training fraction", "one split", ("fractions",),
                     "a sweep, to locate the transition; quick: 0.3 and 0.9", UNVERIFIED),
        PaperSetting("aliasing", "projected spectrum along the first PC / p", ("degree_margin", "min_excess_share"),
                     "Walsh degree over all characters (no cutoff); margin 0.5 from measured gaps (docs); projected "
                     "spectra drawn", UNVERIFIED),
    ),
)
