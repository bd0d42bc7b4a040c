"""The output set of `poissonfp solve`: checked first, written whole or not at all, locked, read back."""
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import poissonfp
from poissonfp.cli import main
from poissonfp.grid import Grid
from poissonfp.loading import load_result
from poissonfp.problem import Problem
from poissonfp.results import OutputError, OutputLock, check_output_folder
from poissonfp.solvers import Monitor, StoppingCriterion, solve

CASES = Path(__file__).resolve().parents[1] / "cases"
SQUARE = CASES / "2d_square.toml"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_an_unusable_output_folder_is_refused_before_any_work(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    for out in ("/proc/poissonfp-x", blocker / "sub"):
        result = run("solve", SQUARE, "--n", "15", "--method", "jacobi", "--out", out)
        assert result.exit_code == 2, result.output
        assert len(result.output.strip().splitlines()) == 1 and str(out) in result.output
        assert "error: --out" in result.output  # no summary: nothing was solved
    assert run("solve", SQUARE, "--out", blocker).exit_code == 2  # click refuses a file itself


def test_check_output_folder_writes_a_probe(tmp_path):
    assert check_output_folder(tmp_path / "new" / "out") == tmp_path / "new" / "out"
    assert (tmp_path / "new").is_dir() and not (tmp_path / "new" / "out").exists()
    assert list((tmp_path / "new").iterdir()) == []
    with pytest.raises(OutputError, match="poissonfp-x"):
        check_output_folder("/proc/poissonfp-x")


def test_two_runs_never_write_one_folder(tmp_path):
    out = tmp_path / "out"
    with OutputLock(out):
        result = run("solve", SQUARE, "--n", "15", "--method", "dst", "--out", out)
        with pytest.raises(OutputError), OutputLock(out):
            pass
    assert result.exit_code == 2 and "another poissonfp run" in result.output
    assert not out.exists()
    assert run("solve", SQUARE, "--n", "15", "--method", "dst", "--out", out, "--quiet").exit_code == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # the lock file is gone


def test_a_failed_save_leaves_no_partial_set_and_keeps_the_old_one(tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert run("solve", SQUARE, "--n", "15", "--method", "dst", "--out", out, "--quiet").exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def disk_full(*_args, **_kwargs):
        raise OSError(27, "File too large")

    monkeypatch.setattr("poissonfp.outputs.save_figure", disk_full)
    result = run("solve", SQUARE, "--n", "15", "--method", "jacobi", "--out", out, "--quiet")
    assert result.exit_code == 1 and "cannot write outputs" in result.output
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the old set, untouched
    fresh = tmp_path / "fresh"
    assert run("solve", SQUARE, "--n", "15", "--method", "jacobi", "--out", fresh, "--quiet").exit_code == 1
    assert not fresh.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_a_file_size_limit_leaves_no_result_json(tmp_path):
    """The issue's reproduction: with a 20 KiB file-size limit the old code left only result.json."""
    out = tmp_path / "out"
    script = ("import resource; resource.setrlimit(resource.RLIMIT_FSIZE, (20480, 20480)); "
              "from poissonfp.cli import main; main()")
    process = subprocess.run([sys.executable, "-c", script, "solve", str(SQUARE), "--n", "31", "--method", "dst",
                              "--out", str(out), "--quiet"], capture_output=True, text=True, timeout=120)
    assert process.returncode == 1, process.stderr
    assert "Traceback" not in process.stderr
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_new_set_replaces_an_older_one_whole(tmp_path):
    out = tmp_path / "out"
    (tmp_path / "notes.txt").write_text("mine")
    assert run("solve", SQUARE, "--n", "15", "--method", "dst", "--out", out, "--quiet").exit_code == 0
    (out / "my_notes.txt").write_text("kept")
    nonexact = tmp_path / "nonexact.toml"
    nonexact.write_text('[domain]\nlower = [0.0, 0.0]\nupper = [1.0, 1.0]\n[grid]\npoints = 15\n'
                        '[problem]\nsource = "1"\n')
    assert run("solve", nonexact, "--method", "dst", "--out", out, "--quiet").exit_code == 0
    names = {p.name for p in out.iterdir()}
    assert "error.png" not in names  # the older set's error figure does not linger beside the new set
    assert {"result.json", "solution.npz", "my_notes.txt"} <= names
    assert json.loads((out / "result.json").read_text())["case"] == "nonexact"


# -- exit codes and a result.json that never contradicts itself -----------------------------------
def _capped_case(tmp_path, method="jacobi", extra=""):
    path = tmp_path / "capped.toml"
    path.write_text('[domain]\nlower = [0.0, 0.0]\nupper = [1.0, 1.0]\n[grid]\npoints = 15\n'
                    f'[problem]\nexact = "sin(pi*x)*sin(pi*y)"\n[solver]\nmethod = "{method}"\n'
                    f'max_iterations = 10\n{extra}')
    return path


def test_criterion_not_reached_exits_0_with_a_warning_and_3_with_strict(tmp_path):
    case = _capped_case(tmp_path)
    plain = run("solve", case, "--out", tmp_path / "a", "--quiet")
    assert plain.exit_code == 0 and "not reached" in plain.output
    strict = run("solve", case, "--out", tmp_path / "b", "--quiet", "--strict")
    assert strict.exit_code == 3
    record = json.loads((tmp_path / "b" / "result.json").read_text())
    assert record["converged"] is False and record["stop_reason"] == "max_iterations"
    assert run("solve", SQUARE, "--n", "15", "--method", "dst", "--out", tmp_path / "c", "--strict",
               "--quiet").exit_code == 0


@pytest.mark.parametrize("given", ["max_iterations", "interrupted", "converged"])
def test_verdict_and_stop_reason_agree(given):
    grid = Grid((0.0,), (1.0,), (15,))
    problem = Problem.from_functions(grid, lambda x: np.pi**2 * np.sin(np.pi * x), exact=lambda x: np.sin(np.pi * x))
    for u, holds in ((problem.discrete_solution, True), (np.zeros(grid.shape), False)):
        result = Monitor(problem, StoppingCriterion("discretization")).result("dnn", u, given)
        assert result.converged is holds
        assert result.stop_reason == ("converged" if holds else "final_check_failed" if given == "converged"
                                      else given)
        assert result.interrupted is (given == "interrupted")


def test_dnn_that_runs_out_of_steps_is_not_converged(tmp_path):
    case = _capped_case(tmp_path, "dnn", '[network]\nwidths = [8]\n[training]\nadam_steps = 3\nlbfgs_steps = 0\n'
                                         'galerkin = false\n')
    result = run("solve", case, "--out", tmp_path / "o", "--quiet", "--strict")
    record = json.loads((tmp_path / "o" / "result.json").read_text())
    assert result.exit_code == 3, result.output
    assert (record["converged"], record["stop_reason"]) == (False, "max_iterations")


# -- reading a set back ---------------------------------------------------------------------------
def test_load_result_returns_the_problem_and_the_result(tmp_path):
    out = tmp_path / "out"
    assert run("solve", SQUARE, "--n", "15", "--method", "jacobi", "--out", out, "--quiet").exit_code == 0
    problem, result = poissonfp.load_result(out)
    record = json.loads((out / "result.json").read_text())
    case = poissonfp.load_case(SQUARE).with_overrides(size=15)
    fresh = poissonfp.build_problem(case)
    np.testing.assert_array_equal(problem.rhs, fresh.rhs)
    np.testing.assert_array_equal(problem.exact, fresh.exact)
    assert problem.grid == fresh.grid
    x, y = problem.grid.coordinates()
    np.testing.assert_allclose(problem.functions["exact"].numpy(x, y), fresh.exact)
    assert (result.method, result.converged, result.iterations) == ("jacobi", True, record["iterations"])
    assert result.final["error_vs_exact_inf"] == record["error_vs_exact_inf"]
    assert len(result.history["time_s"]) == len(record["history"]["time_s"])
    np.testing.assert_allclose(result.solution, fresh.discrete_solution, atol=5 * fresh.discretization_error_inf)
    assert record["problem"]["exact"] == case.exact.text and record["description"] == case.description
    environment = record["environment"]
    assert environment["packages"]["numpy"] == np.__version__ and environment["threads"]["cpu_count"] >= 1
    assert environment["git_commit"] is None or re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", environment["git_commit"])


def test_reprs_are_short():
    problem = poissonfp.build_problem(poissonfp.load_case(SQUARE).with_overrides(size=63))
    result = solve(problem, "dst", StoppingCriterion("discretization"))
    assert len(repr(problem)) < 200 and "63x63" in repr(problem)  # was 50,611 characters
    assert len(repr(result)) < 300 and "dst" in repr(result) and "converged" in repr(result)  # was 19,521


# -- VTK ----------------------------------------------------------------------------------------
def read_vtr(path: Path) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """Read pyevtk's binary rectilinear grid back: the axes and the point data (a minimal reader:
    appended raw data, UInt64 headers, Float64 arrays, as written by pyevtk)."""
    raw = path.read_bytes()
    head, _, data = raw.partition(b'<AppendedData encoding="raw">')
    data = data[data.index(b"_") + 1:]
    header = head.decode()
    assert 'type="RectilinearGrid"' in header and 'header_type="UInt64"' in header
    extent = [int(v) for v in re.search(r'WholeExtent="([^"]+)"', header).group(1).split()]
    shape = tuple(extent[2 * d + 1] - extent[2 * d] + 1 for d in range(3))
    arrays = {}
    for name, offset in re.findall(r'<DataArray[^>]*Name="([^"]+)"[^>]*offset="(\d+)"', header):
        start = int(offset)
        size = int(np.frombuffer(data[start:start + 8], dtype="<u8")[0])
        arrays[name] = np.frombuffer(data[start + 8:start + 8 + size], dtype="<f8")
    axes = [arrays.pop(name) for name in ("x_coordinates", "y_coordinates", "z_coordinates")]
    return axes, {name: values.reshape(shape, order="F") for name, values in arrays.items()}


@pytest.mark.parametrize("case,n", [("1d_article", "16"), ("2d_square", "7"), ("3d_cube", "5")])
def test_vtk_holds_the_solution_with_its_boundary_values(tmp_path, case, n):
    out = tmp_path / "out"
    assert run("solve", CASES / f"{case}.toml", "--n", n, "--method", "dst", "--out", out, "--format", "vtk",
               "--quiet").exit_code == 0
    axes, fields = read_vtr(out / "solution.vtr")
    problem, result = load_result(out)
    grid = problem.grid
    for d in range(grid.ndim):
        np.testing.assert_allclose(axes[d], np.concatenate(([grid.lower[d]], grid.axes[d], [grid.upper[d]])))
    u = fields["u"].reshape([len(a) for a in axes[: grid.ndim]])
    np.testing.assert_array_equal(u[(slice(1, -1),) * grid.ndim], result.solution)
    full = np.meshgrid(*axes[: grid.ndim], indexing="ij")
    boundary = problem.functions["boundary"].numpy(*full)
    on_boundary = np.zeros(u.shape, bool)
    for d in range(grid.ndim):
        on_boundary[(slice(None),) * d + (0,)] = on_boundary[(slice(None),) * d + (-1,)] = True
    np.testing.assert_allclose(u[on_boundary], boundary[on_boundary], atol=1e-14)
    np.testing.assert_allclose(fields["u_exact"].reshape(u.shape), problem.functions["exact"].numpy(*full), atol=1e-14)


# -- figures --------------------------------------------------------------------------------------
def _hybrid_history(switch: int = 100) -> dict:
    """A hybrid-like record: network steps at iteration 0 over most of the time, then a few sweeps."""
    steps = list(range(0, switch + 1, 20))
    rows = [(0.9 * s / switch, 0, s, 10.0 ** (-s / 50)) for s in steps] + [(0.95, 40, switch, 1e-6),
                                                                              (1.0, 80, switch, 1e-8)]
    history = {key: [row[i] for row in rows] for i, key in enumerate(("time_s", "iteration", "dnn_steps",
                                                                       "rel_residual"))}
    history.update({k: [None] * len(rows) for k in ("error_vs_exact_rel_l2", "error_vs_exact_inf",
                                                     "error_vs_discrete_rel_l2")})
    return history


def test_convergence_figure_shows_both_phases_with_markers():
    from poissonfp.plotting.solution import plot_convergence

    fig = plot_convergence(_hybrid_history(), "rel_residual", 1e-8, "hybrid")
    time_panel, work_panel = fig.axes[:2]
    line = time_panel.get_lines()[0]
    assert line.get_marker() == "o"  # few records: markers
    assert time_panel.get_xlim()[0] == 0 and any(p.get_label() == "network phase" for p in time_panel.patches)
    x = work_panel.get_lines()[0].get_xdata()
    assert len(set(x[:6])) == 6 and x[-1] == 100 + 80  # steps 0..100, then 80 sweeps after the switch


def test_plots_draw_on_the_callers_axes():
    import matplotlib.pyplot as plt

    from poissonfp.plotting.solution import plot_convergence, plot_field, plot_mode_errors

    grid = Grid((0.0, 0.0), (1.0, 1.0), (7, 7))
    fig, axes = plt.subplots(2, 2)
    assert plot_field(grid, np.ones(grid.shape), "u", ax=axes[0, 0]) is fig
    assert plot_mode_errors([(1, 1)], np.array([[1.0], [0.1]]), [0.0, 1.0], "modes", ax=axes[0, 1]) is fig
    assert plot_convergence(_hybrid_history(), "rel_residual", 1e-8, "c", ax=axes[1]) is fig
    assert all(a.has_data() for a in axes.ravel())
    with pytest.raises(ValueError, match="3 axes"):
        plot_field(Grid((0.0,) * 3, (1.0,) * 3, (5, 5, 5)), np.ones((5, 5, 5)), "u", ax=axes[0, 0])


def test_3d_colour_bar_labels_do_not_overprint_the_next_panel():
    from poissonfp.plotting.solution import plot_field

    grid = Grid((0.0,) * 3, (1.0,) * 3, (9, 9, 9))
    fig = plot_field(grid, np.random.default_rng(0).random(grid.shape), "u", label="|error| of u", log=True)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    panels = [a for a in fig.axes if a.get_label() != "<colorbar>"]
    bars = [a for a in fig.axes if a.get_label() == "<colorbar>"]
    assert len(panels) == len(bars) == 3
    for bar, following in zip(bars, panels[1:]):
        label = bar.yaxis.label.get_window_extent(renderer)
        assert label.x1 <= following.get_tightbbox(renderer).x0
