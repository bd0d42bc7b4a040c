"""Shared test fixtures: a seeded generator, a headless matplotlib, strict floating point."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(20190118)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="session")
def tiny_operator_model(tmp_path_factory):
    """An operator model for 2d_square at 15² trained 20 steps (seconds), saved in a folder."""
    from poissonfp.case import load_case
    from poissonfp.learned.training import train_operator
    from poissonfp.neural.model import single_threaded
    from poissonfp.problem import build_problem

    folder = tmp_path_factory.mktemp("operator-model") / "model"
    problem = build_problem(load_case("2d_square"), size=15)
    with single_threaded():  # two threads on a loaded 2-core machine: ~30 s instead of ~1 s
        train_operator(problem.operator, case="2d_square", samples=32, held_out=4, steps=20, batch=8, out=str(folder))
    return folder
