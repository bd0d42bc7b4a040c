"""Spectral tools against exact spectra of known signals."""
import itertools

import numpy as np
import pytest

from poissonfp import spectral


def test_dft_peaks_of_a_sum_of_sines_have_amplitude_n_over_2():
    n = 101
    x = -np.pi + 2 * np.pi * np.arange(n) / n
    y = np.sin(x) + np.sin(3 * x) + np.sin(5 * x)
    peaks = spectral.dft_peaks(y)
    np.testing.assert_array_equal(peaks, [1, 3, 5])
    np.testing.assert_allclose(np.abs(spectral.dft(y)[peaks]), n / 2, rtol=1e-12)
    assert list(spectral.dft_peaks(y + 0.5 * np.sin(3 * x), count=1, order="amplitude")) == [3]


def test_relative_mode_errors_are_exact_per_mode():
    n = 64
    j = np.arange(n)
    target = np.sin(2 * np.pi * 2 * j / n) + np.sin(2 * np.pi * 7 * j / n)
    approx = np.sin(2 * np.pi * 2 * j / n) + 0.75 * np.sin(2 * np.pi * 7 * j / n)
    errors = spectral.relative_mode_errors(spectral.dft(approx), spectral.dft(target), [2, 7])
    np.testing.assert_allclose(errors, [0.0, 0.25], atol=1e-12)


def test_projected_nudft_of_a_cosine_along_a_direction(rng):
    direction = np.array([3.0, 4.0])  # unit p = (0.6, 0.8)
    # Points whose projections are evenly spaced make the transform exact:
    v = np.arange(400) / 400
    x = np.outer(v, direction / 5) + np.outer(rng.normal(size=400), [0.8, -0.6])
    y = np.cos(2 * np.pi * 5 * v)
    spectrum = spectral.projected_nudft(x, y, direction, [0.0, 4.0, 5.0, -5.0])
    np.testing.assert_allclose(np.abs(spectrum), [0.0, 0.0, 0.5, 0.5], atol=1e-12)


def test_gaussian_filter_keeps_constants_and_removes_high_frequencies():
    x = np.linspace(0, 1, 400)[:, None]
    low, high = spectral.gaussian_filter_split(x, np.full(400, 3.0), delta=0.01, chunk_size=97)
    np.testing.assert_allclose(low, 3.0, rtol=1e-12)
    np.testing.assert_allclose(high, 0.0, atol=1e-12)
    x = np.linspace(0, 1, 1000)[:, None]
    wave = np.sin(2 * np.pi * 20 * x[:, 0])  # wavelength 0.05; filter width sqrt(delta) = 0.05
    low, high = spectral.gaussian_filter_split(x, wave, delta=0.0025, chunk_size=97)
    interior = slice(300, 700)  # away from the ends, where the truncated kernel is lopsided
    assert np.max(np.abs(low[interior])) < 1e-6
    np.testing.assert_allclose(low + high, wave, atol=1e-14)
    np.testing.assert_allclose(spectral.gaussian_filter_matrix(x, 0.0025) @ wave, low, atol=1e-12)


@pytest.mark.parametrize("d", [3, 4])
def test_parity_spectrum_formula_matches_all_points(d, rng):
    x = np.array(list(itertools.product([-1.0, 1.0], repeat=d)))
    y = np.prod(x, axis=1)
    direction = rng.normal(size=d)
    k = np.linspace(0, 2, 41)
    computed = spectral.projected_nudft(x, y, direction, k)
    exact = spectral.parity_spectrum_exact(np.outer(k, direction / np.linalg.norm(direction)))
    np.testing.assert_allclose(computed, exact, atol=1e-12)
    diagonal = spectral.parity_spectrum_exact(np.full((1, d), np.sqrt(d) / 4 / np.sqrt(d)))
    np.testing.assert_allclose(np.abs(diagonal), 1.0)


def test_dst_of_sine_modes_in_two_dimensions():
    n0, n1 = 15, 11
    x0 = np.arange(1, n0 + 1) / (n0 + 1)
    x1 = np.arange(1, n1 + 1) / (n1 + 1)
    u = np.outer(np.sin(3 * np.pi * x0), np.sin(2 * np.pi * x1)) + 0.5 * np.outer(
        np.sin(7 * np.pi * x0), np.sin(np.pi * x1)
    )
    coeffs = spectral.dst_coefficients(u)
    scale = np.sqrt((n0 + 1) / 2 * (n1 + 1) / 2)
    np.testing.assert_allclose(coeffs[2, 1], scale, rtol=1e-12)
    np.testing.assert_allclose(coeffs[6, 0], 0.5 * scale, rtol=1e-12)
    assert spectral.dst_peaks(u, count=2) == [(3, 2), (7, 1)]
    reference = np.outer(np.sin(3 * np.pi * x0), np.sin(2 * np.pi * x1))
    np.testing.assert_allclose(spectral.mode_errors_dst(u, reference, [(3, 2)]), [0.0], atol=1e-12)


def test_first_principal_component_and_spectrum_peaks(rng):
    direction = np.array([1.0, 2.0, 2.0]) / 3
    x = np.outer(rng.normal(size=500) * 5, direction) + 0.01 * rng.normal(size=(500, 3))
    np.testing.assert_allclose(spectral.first_principal_component(x), direction, atol=1e-3)
    assert list(spectral.spectrum_peaks(np.array([1.0, 0.2, 0.5, 0.1, 0.3]))) == [0, 2, 4]
    with pytest.raises(ValueError):
        spectral.projected_nudft(x, x[:, 0], np.zeros(3), [1.0])
