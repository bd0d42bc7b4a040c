"""Experiment ``poisson-1d``: quick run on the article's problem; both orders of convergence hold."""
import numpy as np
import pytest

from poissonfp.diagnostics.base import load_experiment, make_settings
from poissonfp.diagnostics.poisson_1d import spectral_peaks


@pytest.fixture(scope="module")
def quick_result():
    experiment = load_experiment("poisson-1d")
    return experiment, experiment.run(make_settings(experiment, quick=True), 0, None)


def test_claims_hold_with_numbers(quick_result):
    _, result = quick_result
    dnn, jacobi = result.claims
    assert dnn.passed and jacobi.passed, [c.measured for c in result.claims]
    assert list(dnn.measured["peaks_k"]) == [1, 3, 8]
    first_dnn, first_jacobi = dnn.measured["first_step_below_threshold"], jacobi.measured["first_sweep_below_threshold"]
    assert first_dnn == sorted(first_dnn) and first_jacobi == sorted(first_jacobi, reverse=True)
    assert np.all(np.asarray(jacobi.measured["final_delta_F"]) < 0.1)


def test_records_and_figures(quick_result):
    experiment, result = quick_result
    r = result.records
    assert r["dnn_delta_F"].shape == (len(r["dnn_steps"]), 3) and r["dnn_steps"][0] == 0
    assert r["jacobi_delta_F"].shape == (len(r["jacobi_sweeps"]), 3)
    np.testing.assert_allclose(r["jacobi_delta_F"][0], 1.0)  # Jacobi starts from zero
    assert set(experiment.figures(result)) == {"dnn_delta_f_heatmap", "jacobi_delta_f_heatmap"}


def test_peaks_are_completed_from_the_source():
    n = 200
    x = -1 + 2 * np.arange(n) / n
    source = np.sin(np.pi * x) + np.sin(3 * np.pi * x) + np.sin(8 * np.pi * x)
    solution = np.sin(np.pi * x) + np.sin(8 * np.pi * x) / 64  # k = 3 missing from the solution
    peaks, sources = spectral_peaks(solution, source, 3)
    assert list(peaks) == [1, 3, 8] and sources == ["solution", "source", "solution"]
