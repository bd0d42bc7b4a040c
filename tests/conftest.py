"""Shared test fixtures: a seeded generator, a headless matplotlib, strict floating point."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(20190118)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")
