"""Figures of issue 18 a scientist would publish: records that crowd at the end of a long set-up are spread
over the time panel, and a history with no positive value draws without a log-scale warning."""
import warnings

import numpy as np

from poissonfp.plotting.solution import plot_convergence


def _history(times, values):
    n = len(times)
    return {"time_s": list(times), "iteration": list(range(1, n + 1)), "dnn_steps": [0] * n,
            "rel_residual": list(values), "error_vs_exact_inf": list(values),
            "error_vs_exact_rel_l2": [None] * n, "error_vs_discrete_rel_l2": [None] * n}


def _spread(axis, x):
    """The share of the panel's width between the first and the last record."""
    left, right = (axis.transAxes.inverted().transform(axis.transData.transform((value, 1.0)))[0]
                   for value in (min(x), max(x)))
    return right - left


def test_two_records_after_a_long_set_up_are_spread_over_the_time_panel():
    """The default demo (2d_square, hybrid, 256²): two records at 0.268 s and 0.271 s after 0.268 s of
    set-up shared 1 % of the time panel (a log axis from 0.134 s to 0.41 s): one vertical stroke."""
    times = [0.268, 0.271]
    figure = plot_convergence(_history(times, [1e-3, 2e-4]), "error_vs_exact_inf", 3e-4, "demo")
    axis = figure.axes[0]
    assert _spread(axis, times) > 0.5
    assert axis.get_xlim()[0] > 0 and axis.get_xlim()[0] < times[0]  # the records inside, the set-up cut


def test_records_spread_from_zero_keep_the_linear_axis_from_zero():
    times = [0.1, 0.5, 1.0, 2.0]
    figure = plot_convergence(_history(times, [1e-1, 1e-2, 1e-3, 1e-4]), "rel_residual", 1e-4, "jacobi")
    axis = figure.axes[0]
    assert axis.get_xscale() == "linear" and axis.get_xlim()[0] == 0


def test_a_history_of_zeros_draws_without_a_log_scale_warning():
    """A one-point grid: every norm is 0 after one sweep; the y axis had a log scale with no positive value
    (matplotlib's UserWarning on the terminal of `poissonfp solve`)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        figure = plot_convergence(_history([0.01], [0.0]), "error_vs_exact_inf", 0.0, "one point")
    assert all(axis.get_yscale() == "linear" for axis in figure.axes)
    assert np.isfinite(figure.axes[0].get_ylim()).all()
