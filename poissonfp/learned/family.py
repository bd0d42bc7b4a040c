"""Families of right-hand sides for training operator networks: Gaussian random fields on a grid.

A field is a sine series over the box with independent standard normal coefficients scaled by the spectrum
``(1 + (|k| / k0)²)^(-decay)``, ``k`` the integer wavenumber vector (``k_d = 1 .. n_d``): the orthonormal
DST-I of a sample has expected magnitude proportional to that spectrum, so ``decay`` sets how fast the
high modes fade and ``k0`` where the fading starts.
"""
from __future__ import annotations

import numpy as np
import scipy.fft

from ..grid import Grid

__all__ = ["grf_sources", "grf_spectrum"]


def grf_spectrum(shape: tuple[int, ...], *, k0: float = 4.0, decay: float = 2.0) -> np.ndarray:
    """Amplitude ``(1 + (|k| / k0)²)^(-decay)`` of every sine mode of a grid of ``shape`` interior points.

    Index ``k - 1`` along each axis holds wavenumber ``k`` (the layout of
    :func:`poissonfp.spectral.dst_coefficients`).

    >>> grf_spectrum((3,), k0=1.0, decay=1.0).tolist()
    [0.5, 0.2, 0.1]
    """
    if k0 <= 0 or decay < 0:
        raise ValueError(f"need k0 > 0 and decay >= 0, got k0={k0}, decay={decay}")
    axes = np.meshgrid(*(np.arange(1, n + 1, dtype=float) for n in shape), indexing="ij", sparse=True)
    squared = sum(k**2 for k in axes)
    return np.asarray((1.0 + squared / k0**2) ** (-decay), dtype=float)


def grf_sources(grid: Grid, count: int, seed: int, *, mask: np.ndarray | None = None, k0: float = 4.0,
                decay: float = 2.0) -> np.ndarray:
    """``count`` Gaussian random fields on ``grid``, shape ``(count, *grid.shape)``, float64.

    Each field is the inverse orthonormal DST-I of standard normal coefficients times
    :func:`grf_spectrum` (``k0``, ``decay``), set to zero outside ``mask`` (a boolean array of
    ``grid.shape``, True inside the domain) and scaled to unit root-mean-square over the points inside.
    The draws come from ``numpy.random.default_rng(seed)`` alone: the same arguments give the same fields.

    Args:
        grid: the grid of interior points.
        count: number of fields (>= 1).
        seed: seed of the generator.
        mask: points of the domain; None means the whole box.
        k0: wavenumber where the spectrum starts to fall (default 4).
        decay: exponent of the fall; amplitudes decay like ``|k|^(-2 decay)`` far beyond ``k0`` (default 2).

    >>> f = grf_sources(Grid((0.0,), (1.0,), (15,)), 3, seed=1)
    >>> f.shape, bool(np.allclose(np.sqrt(np.mean(f**2, axis=1)), 1.0))
    ((3, 15), True)
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != grid.shape or not mask.any():
            raise ValueError(f"mask must be a non-empty boolean array of shape {grid.shape}, got {mask.shape}")
    spectrum = grf_spectrum(grid.shape, k0=k0, decay=decay)
    generator = np.random.default_rng(seed)
    coefficients = generator.standard_normal((count, *grid.shape)) * spectrum
    axes = tuple(range(1, grid.ndim + 1))
    fields = scipy.fft.idstn(coefficients, type=1, norm="ortho", axes=axes)
    if mask is not None:
        fields[:, ~mask] = 0.0
        inside = int(mask.sum())
    else:
        inside = grid.size
    rms = np.sqrt(np.sum(fields.reshape(count, -1) ** 2, axis=1) / inside)
    return np.asarray(fields / rms.reshape((count,) + (1,) * grid.ndim), dtype=np.float64)
