"""Experiment ``poisson-1d``: the quick run holds both orders; its control (free grid values) fails the DNN's."""
import numpy as np
import pytest

from poissonfp.diagnostics.base import load_experiment, make_settings
from poissonfp.diagnostics.poisson_1d import spectral_peaks


@pytest.fixture(scope="module")
def experiment():
    return load_experiment("poisson-1d")


@pytest.fixture(scope="module")
def quick_result(experiment):
    return experiment.run(make_settings(experiment, quick=True), 0, None)


def test_claims_hold_with_margins(quick_result):
    dnn, jacobi = quick_result.claims
    assert dnn.passed and jacobi.passed, [c.measured for c in quick_result.claims]
    assert (dnn.kind, jacobi.kind) == ("evidence", "sanity") and "1.5x" in dnn.rule
    assert list(dnn.measured["peaks_k"]) == [1, 3, 8]
    a, b, c = dnn.measured["settled_step"]
    assert 1.5 * a <= b and 1.5 * b <= c
    low, middle, high = jacobi.measured["settled_sweep"]
    assert low >= 1.5 * middle and middle >= 1.5 * high
    assert np.all(np.asarray(jacobi.measured["final_delta_F"]) < 0.2)


def test_control_free_values_converge_high_to_low(experiment):
    result = experiment.run(make_settings(experiment, quick=True, control=True), 0, None)
    table, jacobi = result.claims
    assert not table.passed and jacobi.passed
    assert table.claim.startswith("the table of free grid values")
    low, middle, high = table.measured["settled_step"]
    assert low > middle > high  # like Jacobi: the Ritz gradient is largest for high frequencies


def test_records_and_figures(experiment, quick_result):
    r = quick_result.records
    assert r["dnn_delta_F"].shape == (len(r["dnn_steps"]), 3) and r["dnn_steps"][0] == 0
    assert r["jacobi_delta_F"].shape == (len(r["jacobi_sweeps"]), 3)
    np.testing.assert_allclose(r["jacobi_delta_F"][0], 1.0)  # Jacobi starts from zero
    assert set(experiment.figures(quick_result)) == {"dnn_delta_f_heatmap", "jacobi_delta_f_heatmap"}


def test_peaks_are_completed_from_the_source():
    n = 200
    x = -1 + 2 * np.arange(n) / n
    source = np.sin(np.pi * x) + np.sin(3 * np.pi * x) + np.sin(8 * np.pi * x)
    solution = np.sin(np.pi * x) + np.sin(8 * np.pi * x) / 64  # k = 3 missing from the solution
    peaks, sources = spectral_peaks(solution, source, 3)
    assert list(peaks) == [1, 3, 8] and sources == ["solution", "source", "solution"]
