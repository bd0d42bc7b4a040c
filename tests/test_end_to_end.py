"""What `poissonfp solve` costs around its solver: the saved arrays (stored or deflated per member, read back
equal), the reference solution, and the summary's stages and end-to-end total."""
from __future__ import annotations

import subprocess
import sys
import zipfile

import numpy as np

from poissonfp.outputs import SMALL_ARRAY_BYTES, write_arrays


def test_write_arrays_stores_dense_fields_deflates_small_and_mostly_zero_ones(tmp_path):
    rng = np.random.default_rng(0)
    n = SMALL_ARRAY_BYTES // 8 + 1  # one float past the small limit
    mostly_zero = np.zeros(n)
    mostly_zero[: n // 3] = rng.standard_normal(n // 3)
    arrays = {"dense": rng.standard_normal(n), "mostly_zero": mostly_zero, "small": rng.standard_normal(100),
              "history": np.array([1.0, np.nan, 3.0]), "grid": rng.standard_normal((4, 5))}
    path = write_arrays(tmp_path / "s.npz", arrays)
    with zipfile.ZipFile(path) as archive:
        kinds = {info.filename: info.compress_type for info in archive.infolist()}
    assert kinds == {"dense.npy": zipfile.ZIP_STORED, "mostly_zero.npy": zipfile.ZIP_DEFLATED,
                     "small.npy": zipfile.ZIP_DEFLATED, "history.npy": zipfile.ZIP_DEFLATED,
                     "grid.npy": zipfile.ZIP_DEFLATED}
    with np.load(path, allow_pickle=False) as data:
        assert sorted(data.files) == sorted(arrays)
        for name, value in arrays.items():
            np.testing.assert_array_equal(data[name], value)
            assert data[name].dtype == value.dtype and data[name].shape == value.shape
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # the temporary file is gone


def test_an_old_compressed_set_and_a_new_one_read_back_the_same(tmp_path):
    """A set written by np.savez_compressed (before) and by write_arrays (now) load alike."""
    from poissonfp.api import solve_case
    from poissonfp.case import load_case
    from poissonfp.loading import load_result
    from poissonfp.outputs import save_solve_outputs

    case = load_case("2d_square").with_overrides(size=15, method="dst")
    problem, result = solve_case(case)
    new = save_solve_outputs(tmp_path / "new", case, problem, result, figures=False)[0].parent
    old = tmp_path / "old"
    old.mkdir()
    (old / "result.json").write_text((new / "result.json").read_text())
    with np.load(new / "solution.npz") as data:
        np.savez_compressed(old / "solution.npz", **{k: data[k] for k in data.files})
    (pa, ra), (pb, rb) = load_result(new), load_result(old)
    np.testing.assert_array_equal(ra.solution, rb.solution)
    np.testing.assert_array_equal(ra.solution, result.solution)
    np.testing.assert_array_equal(pa.rhs, pb.rhs)
    assert ra.history == rb.history == result.history


def test_seconds_since_start_counts_the_interpreter_start_up():
    script = ("import time, numpy; time.sleep(0.3); "
              "from poissonfp.cli.summary import seconds_since_start; print(seconds_since_start())")
    started = __import__("time").perf_counter()
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    elapsed = __import__("time").perf_counter() - started
    age = float(out.stdout)
    assert 0.3 <= age <= elapsed + 0.02  # /proc's clock ticks are 10 ms


def test_the_summary_tells_the_reference_and_the_end_to_end_total(tmp_path, capsys):
    from poissonfp.api import solve_case
    from poissonfp.case import load_case
    from poissonfp.cli.summary import print_summary

    case = load_case("2d_square").with_overrides(size=15, method="dst")
    problem, result = solve_case(case)
    result.wall_time_s = 0.5
    timings = {"startup": 0.4, "load": 0.1, "build": 0.2, "reference": 0.3, "compile_reference": 1.0,
               "imports": 0.2, "solve": 0.6, "write": 0.1, "total": 2.0}
    print_summary(case, problem, result, tmp_path, timings)
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("time"))
    assert line.startswith("time        start-up 0.4 s, load 0.1 s, build 0.2 s, reference 0.3 s (of which "
                           "compiling kernels: 1 s"), line
    assert line.endswith("(solver clock 0.5 s); end to end 2 s = 4x the solver clock"), line
    del timings["total"]
    print_summary(case, problem, result, tmp_path, timings)
    assert "end to end" not in capsys.readouterr().out


def test_the_command_line_reports_its_total_from_the_process_start(tmp_path):
    out = subprocess.run([sys.executable, "-m", "poissonfp", "solve", "2d_square", "--n", "15", "--method", "dst",
                          "--no-figures", "--quiet", "--out", str(tmp_path / "o")],
                         capture_output=True, text=True, timeout=300, check=True)
    line = next(line for line in out.stdout.splitlines() if line.startswith("time"))
    stages = dict((part.split()[0], float(part.split()[1])) for part in
                  line.removeprefix("time").split(" (solver clock")[0].split(", "))
    assert list(stages) == ["start-up", "load", "build", "reference", "imports", "solve", "writing"], line
    total = float(line.split("end to end ")[1].split()[0])
    assert sum(stages.values()) <= total * 1.001 + 0.01 and total <= sum(stages.values()) + 0.5, line


def test_the_command_line_process_ends_with_its_code_and_every_line_written(tmp_path):
    """The command-line process skips the interpreter's teardown (os._exit): the exit status (3: criterion
    not reached with --strict), the summary's last line and the warning still arrive."""
    out = subprocess.run([sys.executable, "-m", "poissonfp", "solve", "2d_square", "--n", "15", "--method", "jacobi",
                          "--criterion", "residual", "--tol", "1e-30", "--strict", "--no-figures", "--quiet",
                          "--out", str(tmp_path / "o")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 3, out.stderr
    assert out.stdout.rstrip().splitlines()[-1] == f"outputs     {tmp_path / 'o'}/"
    assert "warning: the stopping criterion was not reached" in out.stderr
    assert (tmp_path / "o" / "result.json").exists()
