"""Where a solve command's time goes: compiling kernels (a first run) and imports are told apart from the
solve, and an interrupted solve's save (no figures) does not import matplotlib."""
from __future__ import annotations

import subprocess
import sys

import numpy as np

from poissonfp.cli.summary import compile_clock


def test_the_compile_clock_counts_numba_compiling_inside_the_block():
    from numba import njit

    @njit(cache=False)
    def twice(x):  # a new function: compiled on its first call, here
        return 2.0 * x

    timings: dict = {}
    with compile_clock(timings):
        assert twice(np.float64(1.5)) == 3.0
    assert timings["compile"] > 0.0
    with compile_clock(timings := {}):
        twice(np.float64(2.0))  # compiled already
    assert timings["compile"] == 0.0


def test_the_summary_says_how_much_of_the_solve_was_compiling(tmp_path, capsys):
    from poissonfp.api import solve_case
    from poissonfp.case import load_case
    from poissonfp.cli.summary import print_summary

    case = load_case("2d_square").with_overrides(size=15, method="jacobi")
    problem, result = solve_case(case)
    timings = {"load": 0.1, "imports": 0.2, "solve": 6.0, "compile": 4.9, "write": 0.1}
    print_summary(case, problem, result, tmp_path, timings)
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("time"))
    assert "imports 0.2 s" in line and "solve 6 s (of which compiling kernels: 4.9 s, a first run" in line
    print_summary(case, problem, result, tmp_path, {**timings, "compile": 0.0})
    assert "compiling" not in capsys.readouterr().out


def test_an_interrupted_save_without_figures_does_not_import_matplotlib(tmp_path):
    script = f"""
import sys
from poissonfp.api import solve_case
from poissonfp.case import load_case
from poissonfp.outputs import save_solve_outputs
case = load_case("2d_square").with_overrides(size=15, method="jacobi")
problem, result = solve_case(case)
result.interrupted = True
save_solve_outputs({str(tmp_path / 'out')!r}, case, problem, result, figures=False)
print("matplotlib" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False"
    assert (tmp_path / "out" / "result.json").exists()
