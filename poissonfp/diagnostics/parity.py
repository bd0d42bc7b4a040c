"""Experiment ``parity``: a high-frequency target that a DNN fits but does not generalise.

Paper (arXiv:1901.06523, Sec. 4): x in {-1, 1}^d, d = 10, f(x) = prod_j x_j; train on a random fraction,
test on the rest (tanh 200-200-100, Adam 1e-3, full batch). Spectra along p = (1, ..., 1) / sqrt(d) with the
projection method ``y_hat(k) = (1/n) sum_i y_i exp(-2 pi i k p . x_i)``. The full cube's covariance is the
identity, so it has no first principal component; the second direction is the training inputs' one.
"""
from __future__ import annotations

import itertools
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from poissonfp import spectral
from poissonfp.diagnostics import plots
from poissonfp.diagnostics.base import Experiment, ExperimentResult, ProgressCallback
from poissonfp.diagnostics.fitting import fit_full_batch
from poissonfp.networks import make_mlp

NAME = "parity"


@dataclass(frozen=True)
class ParitySettings:
    """Settings; the defaults are the paper's. ``claim_fraction`` must be one of ``fractions``."""

    dimension: int = 10
    widths: tuple[int, ...] = (200, 200, 100)
    activation: str = "tanh"
    learning_rate: float = 1e-3
    epochs: int = 2000
    fractions: tuple[float, ...] = (0.3, 0.5, 0.7, 0.9)
    claim_fraction: float = 0.5
    max_test_accuracy: float = 0.6
    low_frequency_cutoff: float = 0.3
    aliasing_ratio: float = 2.0
    peak_ratio: float = 0.5
    frequency_max: float = 1.5
    frequency_count: int = 301
    dtype: str = "float32"


def hypercube(d: int) -> tuple[np.ndarray, np.ndarray]:
    """All ``2^d`` points of ``{-1, 1}^d`` and the parity ``prod_j x_j`` on them."""
    x = np.array(list(itertools.product([-1.0, 1.0], repeat=d)))
    return x, np.prod(x, axis=1)


def _train_split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    permutation = np.random.default_rng(seed).permutation(n)
    n_train = int(round(fraction * n))
    return np.sort(permutation[:n_train]), np.sort(permutation[n_train:])


def _fit_fraction(settings: ParitySettings, x, y, fraction: float, seed: int, on_progress) -> dict:
    """Train on a random ``fraction`` of the cube; return accuracies and the outputs on the full cube."""
    dtype = getattr(torch, settings.dtype)
    train, test = _train_split(len(x), fraction, seed)
    generator = torch.Generator().manual_seed(seed)
    model = make_mlp(x.shape[1], settings.widths, activation=settings.activation, dtype=dtype, generator=generator)
    history = fit_full_batch(
        model,
        torch.tensor(x[train], dtype=dtype),
        torch.tensor(y[train, None], dtype=dtype),
        epochs=settings.epochs,
        learning_rate=settings.learning_rate,
        on_progress=on_progress,
    )
    with torch.no_grad():
        output = model(torch.tensor(x, dtype=dtype)).numpy()[:, 0].astype(float)
    correct = np.sign(output) == y
    return {
        "fraction": fraction,
        "train": train,
        "output": output,
        "train_accuracy": float(correct[train].mean()),
        "test_accuracy": float(correct[test].mean()) if len(test) else float("nan"),
        "final_loss": history.loss[-1],
    }


def _spectra(x, y, fit: dict, direction: np.ndarray, k: np.ndarray) -> dict[str, np.ndarray]:
    train = fit["train"]
    return {
        "full data set": np.abs(spectral.projected_nudft(x, y, direction, k)),
        "training subset": np.abs(spectral.projected_nudft(x[train], y[train], direction, k)),
        "network on full set": np.abs(spectral.projected_nudft(x, fit["output"], direction, k)),
        "exact": np.abs(spectral.parity_spectrum_exact(np.outer(k, direction / np.linalg.norm(direction)))),
    }


def run(settings: ParitySettings, seed: int, on_progress: ProgressCallback | None = None) -> ExperimentResult:
    """Sweep the training fraction, then check the paper's claims at ``claim_fraction``."""
    if settings.claim_fraction not in settings.fractions:
        raise ValueError(f"claim_fraction {settings.claim_fraction} is not among fractions {settings.fractions}")
    start = time.perf_counter()
    d = settings.dimension
    x, y = hypercube(d)
    total = settings.epochs * len(settings.fractions)
    fits = []
    for i, fraction in enumerate(settings.fractions):
        def progress(done, _total, offset=i * settings.epochs):
            if on_progress is not None:
                on_progress(offset + done, total)

        fits.append(_fit_fraction(settings, x, y, fraction, seed, progress))
    fit = fits[settings.fractions.index(settings.claim_fraction)]
    k = np.linspace(0.0, settings.frequency_max, settings.frequency_count)
    diagonal = np.ones(d) / np.sqrt(d)
    along_p = _spectra(x, y, fit, diagonal, k)
    principal = spectral.first_principal_component(x[fit["train"]])
    along_pc = _spectra(x, y, fit, principal, k)
    result = ExperimentResult(NAME, seed, asdict(settings))
    _check_claims(result, settings, fit, along_p, k)
    for f in fits:
        result.observe(
            f"training fraction {f['fraction']}: train / test accuracy and the network's spectrum at the true peak",
            fraction=f["fraction"],
            train_accuracy=f["train_accuracy"],
            test_accuracy=f["test_accuracy"],
            network_peak_amplitude=np.abs(spectral.projected_nudft(x, f["output"], diagonal, [np.sqrt(d) / 4]))[0],
            final_loss=f["final_loss"],
        )
    eigenvalues = np.linalg.eigvalsh(np.cov(x.T))
    result.observe(
        "the full cube's covariance is the identity (no principal direction); spectra 'along PC' use the "
        "training inputs' first principal component",
        covariance_eigenvalue_min=eigenvalues[0],
        covariance_eigenvalue_max=eigenvalues[-1],
        max_exact_spectrum_along_pc=along_pc["exact"].max(),
    )
    result.records = {
        "k": k,
        "along_p": along_p,
        "along_pc": along_pc,
        "peak_k": np.sqrt(d) / 4,
        "fractions": [f["fraction"] for f in fits],
        "train_accuracy": [f["train_accuracy"] for f in fits],
        "test_accuracy": [f["test_accuracy"] for f in fits],
        "claim_fraction": settings.claim_fraction,
    }
    result.runtime_s = time.perf_counter() - start
    return result


def _check_claims(result, settings: ParitySettings, fit: dict, along_p: dict, k: np.ndarray) -> None:
    fraction = settings.claim_fraction
    result.claim(
        f"at training fraction {fraction} the network fits the training set (accuracy 1.0) and fails on the "
        f"test set (accuracy <= {settings.max_test_accuracy})",
        fit["train_accuracy"] == 1.0 and fit["test_accuracy"] <= settings.max_test_accuracy,
        train_accuracy=fit["train_accuracy"],
        test_accuracy=fit["test_accuracy"],
        fraction=fraction,
    )
    deviation = float(np.max(np.abs(along_p["full data set"] - along_p["exact"])))
    result.claim(
        "the projected spectrum of the full data set equals the exact parity spectrum (-i)^d prod sin(2 pi k_j)",
        deviation < 1e-8,
        max_abs_deviation=deviation,
    )
    low = k <= settings.low_frequency_cutoff
    train_low = float(along_p["training subset"][low].max())
    full_low = float(along_p["full data set"][low].max())
    result.claim(
        f"aliasing: the training subset has low-frequency content (k <= {settings.low_frequency_cutoff}) at "
        f"least {settings.aliasing_ratio}x that of the full data set",
        train_low >= settings.aliasing_ratio * full_low,
        training_subset_max_low=train_low,
        full_set_max_low=full_low,
        ratio=train_low / full_low,
        fraction=fraction,
    )
    peak = int(np.argmax(along_p["exact"]))
    network, true = float(along_p["network on full set"][peak]), float(along_p["full data set"][peak])
    result.claim(
        f"the network's spectrum at the true peak is at most {settings.peak_ratio}x the true amplitude",
        network <= settings.peak_ratio * true,
        peak_k=k[peak],
        network_amplitude=network,
        true_amplitude=true,
        ratio=network / true,
        fraction=fraction,
    )


def figures(result: ExperimentResult) -> dict:
    """Spectra along p and along the principal component, and the accuracy sweep."""
    r = result.records
    fraction = r["claim_fraction"]
    return {
        "spectra": plots.plot_projected_spectra(
            r["k"],
            {"p = (1,...,1)/sqrt(d)": r["along_p"], "first PC of the training inputs": r["along_pc"]},
            title=f"Parity, d = {result.settings['dimension']}, training fraction {fraction} (seed {result.seed})",
            marks={"sqrt(d)/4": r["peak_k"]},
        ),
        "accuracy_sweep": plots.plot_accuracy_sweep(
            r["fractions"], r["train_accuracy"], r["test_accuracy"],
            title=f"Parity, d = {result.settings['dimension']}: accuracy vs training fraction (seed {result.seed})",
        ),
    }


EXPERIMENT = Experiment(
    name=NAME,
    description="parity on {-1,1}^10: fits the training set, fails on the test set (aliasing to low frequencies)",
    settings_type=ParitySettings,
    quick={"epochs": 300, "fractions": (0.5,)},
    run=run,
    figures=figures,
)
