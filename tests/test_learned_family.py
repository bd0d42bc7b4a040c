"""The Gaussian-random-field family: its stated spectrum, reproducibility and the domain mask."""
import numpy as np
import pytest

from poissonfp.grid import Grid
from poissonfp.learned.family import grf_sources, grf_spectrum
from poissonfp.spectral import dst_coefficients


@pytest.mark.parametrize("shape", [(63,), (31, 31)])
def test_mean_power_per_mode_follows_the_stated_spectrum(shape):
    grid = Grid((0.0,) * len(shape), (1.0,) * len(shape), shape)
    fields = grf_sources(grid, 400, seed=3, k0=3.0, decay=1.5)
    coefficients = np.stack([dst_coefficients(f) for f in fields])
    power = np.mean(coefficients**2, axis=0)
    expected = grf_spectrum(shape, k0=3.0, decay=1.5) ** 2
    # log power against log stated power: slope 1 (the per-sample unit-RMS scaling couples only the few
    # modes that dominate the RMS, so the 5 strongest are left out)
    keep = np.argsort(expected.ravel())[:-5]
    slope = np.polyfit(np.log(expected.ravel()[keep]), np.log(power.ravel()[keep]), 1)[0]
    assert abs(slope - 1.0) < 0.05
    # the spectrum decays: the highest modes hold far less power than the lowest
    assert power.ravel()[0] > 1e4 * power.ravel()[-1]


def test_same_seed_same_fields_other_seed_other_fields():
    grid = Grid((0.0, 0.0), (1.0, 2.0), (9, 13))
    first = grf_sources(grid, 4, seed=11)
    assert first.shape == (4, 9, 13) and first.dtype == np.float64
    np.testing.assert_array_equal(first, grf_sources(grid, 4, seed=11))
    assert not np.allclose(first, grf_sources(grid, 4, seed=12))
    # no global state: drawing from numpy's global generator in between changes nothing
    np.random.seed(0)
    np.random.standard_normal(10)
    np.testing.assert_array_equal(first, grf_sources(grid, 4, seed=11))


def test_mask_zeroes_outside_and_unit_rms_inside():
    grid = Grid((0.0, 0.0), (1.0, 1.0), (15, 15))
    mask = np.ones(grid.shape, dtype=bool)
    mask[8:, 8:] = False
    fields = grf_sources(grid, 3, seed=0, mask=mask)
    assert np.all(fields[:, ~mask] == 0.0)
    np.testing.assert_allclose(np.sqrt(np.mean(fields[:, mask] ** 2, axis=1)), 1.0)


def test_bad_arguments_are_refused():
    grid = Grid((0.0,), (1.0,), (7,))
    with pytest.raises(ValueError, match="count"):
        grf_sources(grid, 0, seed=0)
    with pytest.raises(ValueError, match="mask"):
        grf_sources(grid, 1, seed=0, mask=np.ones(5, dtype=bool))
    with pytest.raises(ValueError, match="k0"):
        grf_sources(grid, 1, seed=0, k0=0.0)


def test_a_band_without_signal_has_no_relative_error_but_its_share():
    """A target with no energy in the high bands (one low sine mode) once gave a relative error of ~1e14 there
    (round-off over round-off); now None, with the band's share of the target beside it."""
    import numpy as np

    from poissonfp.learned.training import band_errors

    x = np.arange(1, 64) / 64
    target = np.sin(np.pi * x)[None]
    predicted = target + 1e-3 * np.sin(40 * np.pi * x)[None]
    bands = band_errors(predicted, target)
    assert bands[0]["error"] is not None and bands[0]["error"] < 1e-12
    assert bands[0]["share"] > 0.99
    assert all(b["error"] is None and b["share"] < 1e-8 for b in bands[1:])
    assert band_errors(predicted + 1e-3, target + 1e-3)[-1]["error"] is not None  # a real signal keeps its error
