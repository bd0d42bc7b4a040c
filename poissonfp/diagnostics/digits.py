"""Experiment ``digits``: the F-Principle on real data (scikit-learn's 8x8 handwritten digits).

Paper (arXiv:1901.06523, Sec. 3.2, MNIST): (a) projection method -- the spectrum of the data set along its
first principal component, ``Delta_F`` at its peaks over training; (b) filtering method -- a Gaussian
low-pass filter splits targets and outputs into low and high parts; ``e_low`` converges before ``e_high``.

Inputs are pixel intensities scaled to [0, 1]. The targets are one-hot labels minus their mean over the data
set (``target="onehot-centred"``): the constant part (k = 0) is fitted at once by the output bias and would
otherwise dwarf every other peak. Filter widths are multiples of the median pairwise squared distance m
(m = 9.41 for these inputs; the median nearest-neighbour squared distance is about 1.0): delta = 0.1 m, 0.15 m,
0.2 m put 51 %, 35 % and 23 % of ||y|| into the low part. Narrower filters (0.05 m: 86 %) leave almost all
of y in the low part, so their split says little.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from sklearn.datasets import load_digits

from poissonfp import spectral
from poissonfp.diagnostics import plots
from poissonfp.diagnostics.base import Experiment, ExperimentResult, ProgressCallback, first_step_below
from poissonfp.diagnostics.fitting import fit_full_batch
from poissonfp.networks import make_mlp

NAME = "digits"


@dataclass(frozen=True)
class DigitsSettings:
    """Settings of the real-data experiment."""

    target: str = "onehot-centred"
    widths: tuple[int, ...] = (200, 100)
    activation: str = "tanh"
    learning_rate: float = 1e-3
    epochs: int = 1000
    record_every: int = 10
    frequency_max: float = 3.0
    frequency_count: int = 301
    peak_min_relative_height: float = 0.05
    threshold: float = 0.1
    delta_factors: tuple[float, ...] = (0.1, 0.15, 0.2)
    filter_threshold: float = 0.1
    dtype: str = "float32"


def load_data(target: str) -> tuple[np.ndarray, np.ndarray]:
    """Inputs scaled to [0, 1], shape ``(1797, 64)``, and targets of shape ``(1797, m)``."""
    images, labels = load_digits(return_X_y=True)
    x = images / 16.0
    if target == "onehot":
        y = np.eye(10)[labels]
    elif target == "onehot-centred":
        y = np.eye(10)[labels]
        y = y - y.mean(axis=0)
    elif target == "label":
        y = ((labels - labels.mean()) / labels.std())[:, None]
    else:
        raise ValueError(f"target must be 'onehot', 'onehot-centred' or 'label', got {target!r}")
    return x, y


def _norm(a: np.ndarray) -> float:
    """Euclidean norm over all entries (no BLAS call: cheap and thread-neutral)."""
    return float(np.sqrt(np.sum(a * a)))


def median_squared_distance(x: np.ndarray) -> float:
    """Median of ``|x_i - x_j|^2`` over pairs ``i < j``."""
    norms = np.einsum("ij,ij->i", x, x)
    squared = norms[:, None] + norms[None, :] - 2.0 * x @ x.T
    return float(np.median(np.maximum(squared[np.triu_indices(len(x), 1)], 0.0)))


def run(settings: DigitsSettings, seed: int, on_progress: ProgressCallback | None = None) -> ExperimentResult:
    """Train on all digits; record ``Delta_F`` at the spectral peaks and ``e_low`` / ``e_high`` per delta."""
    start = time.perf_counter()
    dtype = getattr(torch, settings.dtype)
    x, y = load_data(settings.target)
    direction = spectral.first_principal_component(x)
    k = np.linspace(0.0, settings.frequency_max, settings.frequency_count)
    target_spectrum = spectral.projected_nudft(x, y, direction, k)
    amplitude = np.sqrt(np.sum(np.abs(target_spectrum) ** 2, axis=1))
    peaks = spectral.spectrum_peaks(amplitude, min_relative_height=settings.peak_min_relative_height)
    typical = median_squared_distance(x)
    deltas = [factor * typical for factor in settings.delta_factors]
    # Both transforms are linear in the values: build their matrices once and apply them (in torch, which
    # honours the run's thread setting) to the residual h - y at every record.
    filters = [torch.from_numpy(spectral.gaussian_filter_matrix(x, delta)) for delta in deltas]
    phases = np.exp(-2j * np.pi * np.outer(k[peaks], x @ direction)) / len(x)
    operator = torch.cat([torch.from_numpy(np.vstack([phases.real, phases.imag])), *filters])
    target_values = torch.from_numpy(y)
    target_low = [(w @ target_values).numpy() for w in filters]
    n_peaks = len(peaks)
    epochs, delta_f, e_low, e_high = [], [], [], []

    def record(epoch: int, output: np.ndarray) -> None:
        epochs.append(epoch)
        residual = torch.from_numpy(output.astype(np.float64)) - target_values
        applied = (operator @ residual).numpy()
        real, imaginary = applied[:n_peaks], applied[n_peaks : 2 * n_peaks]
        delta_f.append(np.sqrt(np.sum(real**2 + imaginary**2, axis=1)) / amplitude[peaks])
        lows = applied[2 * n_peaks :].reshape(len(deltas), *y.shape)
        residual_np = residual.numpy()
        e_low.append([_norm(lo) / _norm(yl) for lo, yl in zip(lows, target_low)])
        e_high.append([_norm(residual_np - lo) / _norm(y - yl) for lo, yl in zip(lows, target_low)])

    model = make_mlp(x.shape[1], settings.widths, y.shape[1], settings.activation, dtype, seed=seed)
    history = fit_full_batch(
        model, torch.tensor(x, dtype=dtype), torch.tensor(y, dtype=dtype), epochs=settings.epochs,
        learning_rate=settings.learning_rate, record_every=settings.record_every, on_epoch=record,
        on_progress=on_progress,
    )
    epochs_array = np.array(epochs)
    result = ExperimentResult(NAME, seed, asdict(settings))
    _check_projection(result, settings, epochs_array, np.array(delta_f), k[peaks], amplitude[peaks], y)
    _check_filtering(result, settings, epochs_array, np.array(e_low), np.array(e_high), deltas, y, target_low)
    result.observe("training loss (MSE) at the end", final_loss=history.loss[-1], median_squared_distance=typical)
    result.records = {
        "k": k, "amplitude": amplitude, "peaks": peaks, "epochs": epochs_array, "delta_F": np.array(delta_f),
        "e_low": np.array(e_low), "e_high": np.array(e_high), "delta_factors": settings.delta_factors,
        "threshold": settings.threshold, "filter_threshold": settings.filter_threshold,
    }
    result.runtime_s = time.perf_counter() - start
    return result


def _check_projection(result, settings, epochs, delta_f, peak_k, peak_amplitude, y) -> None:
    first = first_step_below(epochs, delta_f, settings.threshold)
    later = [np.inf if e is None else e for e in first[1:]]
    result.claim(
        f"projection method: the lowest-frequency peak is the first to reach Delta_F < {settings.threshold}",
        len(first) > 1 and first[0] is not None and all(first[0] < e for e in later),
        peaks_k=peak_k,
        first_epoch_below_threshold=first,
        final_delta_F=delta_f[-1],
        threshold=settings.threshold,
    )
    noise_floor = np.sqrt(np.mean(np.sum((y - y.mean(axis=0)) ** 2, axis=1)) / len(y))
    result.observe(
        "projection method: peak amplitudes against the noise floor of a random relabelling, "
        "sqrt(mean |y_i - mean y|^2 / n); first epochs in increasing k (None = not within the run)",
        peaks_k=peak_k,
        peak_amplitudes=peak_amplitude,
        noise_floor=noise_floor,
        first_epoch_below_threshold=first,
        monotone_in_k=all(a <= b for a, b in zip([np.inf if e is None else e for e in first][:-1], later)),
    )


def _check_filtering(result, settings, epochs, e_low, e_high, deltas, y, target_low) -> None:
    low_first = first_step_below(epochs, e_low, settings.filter_threshold)
    high_first = first_step_below(epochs, e_high, settings.filter_threshold)
    for i, factor in enumerate(settings.delta_factors):
        low_epoch, high_epoch = low_first[i], high_first[i]
        result.claim(
            f"filtering method, delta = {factor} x median squared distance: e_low falls below "
            f"{settings.filter_threshold} before e_high",
            low_epoch is not None and (high_epoch is None or low_epoch < high_epoch),
            delta=deltas[i],
            first_epoch_e_low_below=low_epoch,
            first_epoch_e_high_below=high_epoch,
            final_e_low=e_low[-1, i],
            final_e_high=e_high[-1, i],
            low_share_of_target=np.linalg.norm(target_low[i]) / np.linalg.norm(y),
            high_share_of_target=np.linalg.norm(y - target_low[i]) / np.linalg.norm(y),
        )


def figures(result: ExperimentResult) -> dict:
    """The data set's spectrum with its peaks, the Delta_F heat map and the filter errors."""
    r = result.records
    labels = [f"{factor} x median |dx|^2" for factor in r["delta_factors"]]
    return {
        "spectrum": plots.plot_spectrum_peaks(
            r["k"], r["amplitude"], r["peaks"], title="Digits: spectrum of the targets along the first PC"
        ),
        "delta_f_heatmap": plots.plot_delta_f_heatmap(
            r["delta_F"], [f"k = {k:.2f}" for k in r["k"][r["peaks"]]], r["epochs"],
            title=f"Digits, projection method (seed {result.seed})",
            first_epochs=result.claims[0].measured["first_epoch_below_threshold"],
        ),
        "filter_errors": plots.plot_filter_errors(
            r["epochs"], dict(zip(labels, r["e_low"].T)), dict(zip(labels, r["e_high"].T)),
            threshold=r["filter_threshold"], title=f"Digits, filtering method (seed {result.seed})",
        ),
    }


EXPERIMENT = Experiment(
    name=NAME,
    description="real handwritten digits: low frequencies (projection and filtering methods) converge first",
    settings_type=DigitsSettings,
    quick={"widths": (100, 100), "epochs": 300, "record_every": 5, "filter_threshold": 0.2},
    run=run,
    figures=figures,
)
