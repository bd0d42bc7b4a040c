"""Spectral tools for the F-Principle: DFT / DST mode errors, peaks, projected spectra, filtering.

Conventions (exact, no hidden scaling):

- DFT of samples ``a_0 .. a_{n-1}``: ``F[a](k) = sum_j a_j exp(-2 pi i k j / n)`` (``numpy.fft.fft``).
  A mode ``A sin(2 pi k j / n)`` has ``|F(k)| = A n / 2``.
- DST: orthonormal DST-I of interior-grid values (``scipy.fft.dstn(type=1, norm="ortho")``). On ``n``
  interior points of an interval ``[a, b]`` with spacing ``h = (b - a) / (n + 1)``, array index ``k - 1``
  holds the 1-based wavenumber ``k`` of ``sin(k pi (x - a) / (b - a))``; the mode itself has coefficient
  ``sqrt((n + 1) / 2)`` per dimension.
- Projected (non-uniform) spectrum of data ``(x_i, y_i)`` along a unit direction ``p``:
  ``y_hat(k) = (1 / n) sum_i y_i exp(-2 pi i k p . x_i)``.
- Gaussian low-pass filter: ``y_low(x_i) = sum_j y_j G(x_i - x_j) / sum_j G(x_i - x_j)`` with
  ``G(d) = exp(-|d|^2 / (2 delta))`` and ``y_high = y - y_low``.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.fft

__all__ = [
    "dft",
    "dft_peaks",
    "dst_coefficients",
    "dst_peaks",
    "first_principal_component",
    "gaussian_filter_matrix",
    "gaussian_filter_split",
    "mode_errors_dst",
    "parity_spectrum_exact",
    "projected_nudft",
    "relative_mode_errors",
    "spectrum_peaks",
    "walsh_coefficients",
    "walsh_degree_energy",
]


def dft(a: np.ndarray, axis: int = -1) -> np.ndarray:
    """Return ``F[a](k) = sum_j a_j exp(-2 pi i k j / n)`` along ``axis``, for ``k = 0 .. n - 1``.

    >>> n = 8; j = np.arange(n)
    >>> np.round(np.abs(dft(np.sin(2 * np.pi * j / n)))[:3], 12)
    array([0., 4., 0.])
    """
    return np.fft.fft(np.asarray(a), axis=axis)


def _local_maxima_1d(amplitude: np.ndarray, min_relative_height: float) -> np.ndarray:
    """Indices ``i`` with ``amplitude[i]`` above both neighbours (missing ones ignored) and the floor."""
    padded = np.concatenate(([-np.inf], amplitude, [-np.inf]))
    is_peak = (padded[1:-1] > padded[:-2]) & (padded[1:-1] >= padded[2:])
    is_peak &= amplitude > min_relative_height * amplitude.max(initial=0.0)
    return np.flatnonzero(is_peak)


def _order_peaks(indices: np.ndarray, amplitude: np.ndarray, count: int | None, order: str) -> np.ndarray:
    if order not in ("amplitude", "frequency"):
        raise ValueError(f"order must be 'amplitude' or 'frequency', got {order!r}")
    indices = indices[np.argsort(-amplitude[indices], kind="stable")][:count]
    return np.sort(indices) if order == "frequency" else indices


def dft_peaks(
    y: np.ndarray, count: int | None = None, order: str = "frequency", min_relative_height: float = 1e-3
) -> np.ndarray:
    """Wavenumbers ``k`` in ``1 .. n // 2`` where ``|F[y](k)|`` has a local maximum.

    Args:
        y: real samples, shape ``(n,)``.
        count: keep only the ``count`` largest peaks (all if ``None``).
        order: ``"frequency"`` (increasing ``k``) or ``"amplitude"`` (largest first).
        min_relative_height: ignore maxima below this fraction of the largest amplitude
            (round-off ripples of an exact sum of modes).

    >>> n = 101; x = -np.pi + 2 * np.pi * np.arange(n) / n
    >>> dft_peaks(np.sin(x) + np.sin(3 * x) + np.sin(5 * x))
    array([1, 3, 5])
    """
    y = np.asarray(y)
    amplitude = np.abs(dft(y))[1 : y.shape[0] // 2 + 1]
    peaks = _local_maxima_1d(amplitude, min_relative_height)
    return _order_peaks(peaks, amplitude, count, order) + 1


def _norm(values: np.ndarray) -> float:
    """The Euclidean norm, scaled by the largest magnitude first (no underflow or overflow)."""
    magnitude = np.abs(np.asarray(values))
    largest = float(np.max(magnitude)) if magnitude.size else 0.0
    if largest == 0.0 or not np.isfinite(largest):
        return largest
    return largest * float(np.sqrt(np.sum((magnitude / largest) ** 2)))


def relative_mode_errors(approx_coeffs: np.ndarray, target_coeffs: np.ndarray, modes: Sequence | np.ndarray) -> np.ndarray:
    """``Delta_F(k) = |approx(k) - target(k)| / |target(k)|`` for each mode.

    A mode the target does not have (``target(k) = 0``) has error 0 where the approximation lacks it
    too and ``inf`` where it does not.

    Args:
        approx_coeffs: spectral coefficients of the approximation; modes index the leading axes.
        target_coeffs: coefficients of the target, same shape.
        modes: integers (1-d spectra) or index tuples (n-d spectra), indexing the arrays directly.
            Trailing axes not indexed by a mode (e.g. several outputs) are folded into a Euclidean norm.

    >>> relative_mode_errors(np.array([0, 2, 1]), np.array([0, 4, 2]), [1, 2])
    array([0.5, 0.5])
    """
    approx_coeffs, target_coeffs = np.asarray(approx_coeffs), np.asarray(target_coeffs)
    errors = []
    for mode in modes:
        index = tuple(np.atleast_1d(mode))
        difference = _norm(approx_coeffs[index] - target_coeffs[index])
        size = _norm(target_coeffs[index])
        errors.append(difference / size if size > 0 else (np.inf if difference > 0 else 0.0))
    return np.asarray(errors, dtype=float)


def dst_coefficients(u: np.ndarray) -> np.ndarray:
    """Orthonormal DST-I over all axes of an interior-grid array; index ``k - 1`` is wavenumber ``k``.

    >>> n = 7; x = np.arange(1, n + 1) / (n + 1)
    >>> c = dst_coefficients(np.sin(3 * np.pi * x))
    >>> int(np.argmax(np.abs(c))) + 1, bool(np.isclose(c[2], np.sqrt((n + 1) / 2)))
    (3, True)
    """
    return scipy.fft.dstn(np.asarray(u, dtype=float), type=1, norm="ortho")


def _neighbour_maximum(amplitude: np.ndarray, floor: float) -> np.ndarray:
    """Largest axis-aligned neighbour of every entry, stepping over negligible neighbours.

    A function with a symmetry (odd about the centre, say) has exactly zero coefficients at every
    other wavenumber; comparing with those zeros would make every non-zero coefficient a "peak".
    """
    padded = np.pad(amplitude, 2, mode="constant", constant_values=-np.inf)
    centre = tuple(slice(2, -2) for _ in range(amplitude.ndim))
    largest = np.full(amplitude.shape, -np.inf)
    for axis in range(amplitude.ndim):
        for step in (-1, 1):
            near, far = list(centre), list(centre)
            near[axis] = slice(2 + step, padded.shape[axis] - 2 + step)
            far[axis] = slice(2 + 2 * step, padded.shape[axis] - 2 + 2 * step)
            neighbour = padded[tuple(near)]
            neighbour = np.where(neighbour > floor, neighbour, np.maximum(neighbour, padded[tuple(far)]))
            largest = np.maximum(largest, neighbour)
    return largest


def dst_peaks(u: np.ndarray, count: int, min_relative_height: float = 1e-3) -> list[tuple[int, ...]]:
    """The ``count`` largest local maxima of ``|DST(u)|`` as 1-based wavenumber tuples, largest first.

    A local maximum is at least as large as its axis-aligned neighbours; exactly vanishing neighbours
    (a symmetry of ``u``) are stepped over.

    >>> x = np.arange(1, 32) / 32
    >>> dst_peaks(np.sin(np.pi * x) + 0.5 * np.sin(4 * np.pi * x), count=2)
    [(1,), (4,)]
    >>> odd = np.sin(2 * np.pi * x) + 0.3 * np.sin(8 * np.pi * x)   # odd about the centre: odd k vanish
    >>> dst_peaks(odd, count=3)
    [(2,), (8,)]
    """
    amplitude = np.abs(dst_coefficients(u))
    floor = 1e-10 * amplitude.max(initial=0.0)
    is_peak = amplitude >= _neighbour_maximum(amplitude, floor)
    is_peak &= amplitude > min_relative_height * amplitude.max(initial=0.0)
    peaks = np.argwhere(is_peak)
    peaks = peaks[np.argsort(-amplitude[tuple(peaks.T)], kind="stable")][:count]
    return [tuple(int(i) + 1 for i in peak) for peak in peaks]


def mode_errors_dst(u: np.ndarray, reference: np.ndarray, modes: Sequence[Sequence[int]]) -> np.ndarray:
    """Relative DST coefficient errors of ``u`` against ``reference`` at 1-based wavenumber tuples.

    >>> x = np.arange(1, 16) / 16; ref = np.sin(np.pi * x) + np.sin(2 * np.pi * x)
    >>> mode_errors_dst(np.sin(np.pi * x), ref, [(1,), (2,)]).round(12)
    array([0., 1.])
    """
    zero_based = [tuple(int(k) - 1 for k in np.atleast_1d(mode)) for mode in modes]
    return relative_mode_errors(dst_coefficients(u), dst_coefficients(reference), zero_based)


def projected_nudft(x: np.ndarray, y: np.ndarray, direction: np.ndarray, frequencies: np.ndarray) -> np.ndarray:
    """Spectrum of data along a direction: ``y_hat(k) = (1/n) sum_i y_i exp(-2 pi i k p . x_i)``.

    Args:
        x: inputs, shape ``(n, d)``.
        y: values, shape ``(n,)`` or ``(n, m)`` (one spectrum per output column).
        direction: shape ``(d,)``; normalised to the unit vector ``p`` here.
        frequencies: ``k`` values, shape ``(K,)``.

    Returns:
        complex array of shape ``(K,)`` or ``(K, m)``.

    >>> x = np.linspace(0, 1, 8, endpoint=False)[:, None]
    >>> np.round(np.abs(projected_nudft(x, np.cos(2 * np.pi * 3 * x[:, 0]), [2.0], [0, 3])), 12)
    array([0. , 0.5])
    """
    direction = np.asarray(direction, dtype=float)
    norm = np.linalg.norm(direction)
    if norm == 0:
        raise ValueError("direction must be non-zero")
    projection = np.asarray(x, dtype=float) @ (direction / norm)
    phases = np.exp(-2j * np.pi * np.outer(np.asarray(frequencies, dtype=float), projection))
    return phases @ np.asarray(y) / projection.shape[0]


def spectrum_peaks(
    amplitude: np.ndarray, count: int | None = None, order: str = "frequency", min_relative_height: float = 1e-3
) -> np.ndarray:
    """Indices of local maxima of a sampled amplitude spectrum (e.g. ``|projected_nudft|`` on a grid).

    >>> spectrum_peaks(np.array([3.0, 1.0, 2.0, 0.5, 0.8, 0.1]), count=2)
    array([0, 2])
    """
    amplitude = np.asarray(amplitude, dtype=float)
    peaks = _local_maxima_1d(amplitude, min_relative_height)
    return _order_peaks(peaks, amplitude, count, order)


def first_principal_component(x: np.ndarray) -> np.ndarray:
    """Unit direction of largest variance of the rows of ``x``; sign fixed so its largest entry is positive.

    >>> first_principal_component(np.array([[0.0, 0.0], [2.0, 1.0], [4.0, 2.0]])).round(4)
    array([0.8944, 0.4472])
    """
    centred = np.asarray(x, dtype=float) - np.mean(x, axis=0)
    direction = np.linalg.svd(centred, full_matrices=False)[2][0]
    return direction * np.sign(direction[np.argmax(np.abs(direction))])


def _gaussian_rows(x: np.ndarray, rows: slice, delta: float, squared_norms: np.ndarray) -> np.ndarray:
    distances2 = squared_norms[rows, None] + squared_norms[None, :] - 2.0 * x[rows] @ x.T
    weights = np.exp(-np.maximum(distances2, 0.0) / (2.0 * delta))
    return weights / weights.sum(axis=1, keepdims=True)


def gaussian_filter_matrix(x: np.ndarray, delta: float, chunk_size: int = 1024) -> np.ndarray:
    """Row-normalised Gaussian weights ``W_ij = G(x_i - x_j) / sum_l G(x_i - x_l)``, shape ``(n, n)``.

    ``W @ y`` is the low-frequency part of ``y``; worth building once when many outputs are filtered.

    >>> W = gaussian_filter_matrix(np.array([[0.0], [1.0]]), delta=0.5)
    >>> W.round(4)
    array([[0.7311, 0.2689],
           [0.2689, 0.7311]])
    """
    if delta <= 0:
        raise ValueError(f"delta must be positive, got {delta}")
    x = np.asarray(x, dtype=float).reshape(len(x), -1)
    squared_norms = np.einsum("ij,ij->i", x, x)
    return np.vstack(
        [_gaussian_rows(x, slice(s, s + chunk_size), delta, squared_norms) for s in range(0, len(x), chunk_size)]
    )


def gaussian_filter_split(
    x: np.ndarray, y: np.ndarray, delta: float, chunk_size: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``y`` (shape ``(n,)`` or ``(n, m)``) into ``(y_low, y_high)`` with the Gaussian filter.

    Pairwise distances are computed ``chunk_size`` rows at a time (memory ``O(chunk_size * n)``).

    >>> x = np.linspace(0, 1, 50)[:, None]
    >>> low, high = gaussian_filter_split(x, np.full(50, 2.0), delta=0.01)
    >>> bool(np.allclose(low, 2.0) and np.allclose(high, 0.0))
    True
    """
    if delta <= 0:
        raise ValueError(f"delta must be positive, got {delta}")
    x = np.asarray(x, dtype=float).reshape(len(x), -1)
    y = np.asarray(y, dtype=float)
    squared_norms = np.einsum("ij,ij->i", x, x)
    low = np.concatenate(
        [
            _gaussian_rows(x, slice(s, s + chunk_size), delta, squared_norms) @ y
            for s in range(0, len(x), chunk_size)
        ]
    )
    return low, y - low


def parity_spectrum_exact(k_vectors: np.ndarray) -> np.ndarray:
    """Fourier transform of the parity function on ``{-1, 1}^d``: ``(-i)^d prod_j sin(2 pi k_j)``.

    Equals ``(1 / 2^d) sum_x prod_j x_j exp(-2 pi i k . x)`` exactly.

    Args:
        k_vectors: shape ``(K, d)`` (or ``(d,)`` for one vector).

    >>> np.round(parity_spectrum_exact(np.array([[0.25, 0.25]])), 12)
    array([-1.+0.j])
    """
    k_vectors = np.atleast_2d(np.asarray(k_vectors, dtype=float))
    d = k_vectors.shape[1]
    return (-1j) ** d * np.prod(np.sin(2 * np.pi * k_vectors), axis=1)


def walsh_coefficients(values: np.ndarray) -> np.ndarray:
    """Walsh-Fourier coefficients on the hypercube: ``c_S = (1 / 2^d) sum_x f(x) prod_{j in S} x_j``.

    The Walsh characters ``prod_{j in S} x_j`` are the Fourier basis of ``{-1, 1}^d``; the degree ``|S|``
    is their frequency (parity is the single character of degree d).

    Args:
        values: ``f`` at the ``2^d`` points of ``{-1, 1}^d`` in ``itertools.product([-1, 1], repeat=d)``
            order (coordinate 0 varies slowest).

    Returns:
        shape ``(2^d,)``; index ``S`` is a bit mask whose most significant of d bits is coordinate 0.

    >>> import itertools
    >>> x = np.array(list(itertools.product([-1.0, 1.0], repeat=3)))
    >>> c = walsh_coefficients(x[:, 0] * x[:, 2] + 0.5)
    >>> np.flatnonzero(np.abs(c) > 1e-12).tolist(), float(c[0b101]), float(c[0])
    ([0, 5], 1.0, 0.5)
    """
    coefficients = np.array(values, dtype=float)
    n = coefficients.shape[0]
    if n & (n - 1) or n == 0:
        raise ValueError(f"expected 2^d values, got {n}")
    step = 1
    while step < n:  # in-place fast Walsh-Hadamard transform, characters of bits set = (-1)^(x = -1)
        blocks = coefficients.reshape(-1, 2, step)
        coefficients = np.stack((blocks[:, 0] + blocks[:, 1], blocks[:, 1] - blocks[:, 0]), axis=1).reshape(n)
        step *= 2
    return coefficients / n


def walsh_degree_energy(coefficients: np.ndarray) -> np.ndarray:
    """Energy ``sum_{|S| = m} c_S^2`` per degree ``m = 0 .. d`` of Walsh coefficients.

    >>> walsh_degree_energy(np.array([0.5, 0.0, 0.0, 1.0])).tolist()
    [0.25, 0.0, 1.0]
    """
    coefficients = np.asarray(coefficients, dtype=float)
    d = int(np.log2(coefficients.shape[0]))
    degrees = np.array([bin(s).count("1") for s in range(coefficients.shape[0])])
    return np.bincount(degrees, weights=coefficients**2, minlength=d + 1)
