"""One plotting package: every panel function draws on the caller's axes (``ax=``) and returns its figure."""
import numpy as np
import pytest
from matplotlib.figure import Figure

from poissonfp.grid import Grid
from poissonfp.plotting import compare, diagnostics, solution
from poissonfp.plotting.axes import panel_axes


def test_panel_axes_uses_the_callers_axes_or_makes_a_figure():
    figure = Figure()
    axes = figure.subplots(1, 2)
    assert panel_axes(axes, 2, (4, 3)) == list(axes)
    with pytest.raises(ValueError, match="needs 1 axes, got 2"):
        panel_axes(axes, 1, (4, 3))
    new = panel_axes(None, 3, (9, 3))
    assert len(new) == 3 and new[0].figure.get_size_inches().tolist() == [9, 3]


def drawings(ax):
    """One call per plotting function with tiny data, drawing on ``ax``."""
    history = {"time_s": [0.1, 0.2], "rel_residual": [1.0, 0.1], "iteration": [1, 2], "dnn_steps": [0, 0]}
    modes, errors = [(1,), (3,)], [[1.0, 0.5], [0.2, 0.1]]
    study = {"runs": [{"switch": 0, "training_time_s": 0.0, "sweep_time_s": 1.0, "other_time_s": 0.1, "sweeps": 10,
                       "dnn_steps": 0, "reached": True}], "step_to_sweep_ratio": 2.0, "optimum_switch": 0}
    x = np.linspace(0, 1, 8)
    return [
        (1, lambda a: solution.plot_field(Grid((0.0,), (1.0,), (8,)), x, "u", ax=a)),
        (2, lambda a: solution.plot_convergence(history, "rel_residual", 0.5, "c", ax=a)),
        (1, lambda a: solution.plot_mode_errors(modes, np.array(errors), [0.1, 0.2], "m", ax=a)),
        (1, lambda a: compare.plot_error_vs_time([{"label": "jacobi", "history": history, "reached": True}],
                                                 "rel_residual", 0.5, "e", ax=a)),
        (1, lambda a: compare.plot_mode_heatmap([1, 2], modes, errors, "sweeps", "h", ax=a)),
        (1, lambda a: compare.plot_switch_mode_errors(["hybrid[M=0]"], modes, [[0.1, 0.2]], "s", ax=a)),
        (2, lambda a: compare.plot_tradeoff(study, "t", ax=a)),
        (1, lambda a: diagnostics.plot_accuracy_sweep([0.5, 0.7], [1.0, 1.0], [0.5, 0.6], title="a", ax=a)),
        (1, lambda a: diagnostics.plot_spectrum_peaks(x, x, [2], title="p", ax=a)),
    ]


def test_every_panel_function_draws_on_the_given_axes():
    for count, draw in drawings(None):
        figure = Figure()
        axes = figure.subplots(1, count) if count > 1 else figure.subplots()
        assert draw(axes) is figure
        assert all(a.has_data() or a.images or a.collections for a in np.atleast_1d(axes))
