"""Tracebacks of issue 18 turned into one line and an exit code, and the output lock that links bypassed."""
import numpy as np
import pytest
from click.testing import CliRunner

from poissonfp.case import case_from_text
from poissonfp.cli import main
from poissonfp.results import OutputLock


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_cuda_with_jacobi_on_a_machine_without_cuda_is_one_line(tmp_path):
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    result = _invoke("solve", "2d_square", "--method", "jacobi", "--device", "cuda", "--n", 7, "--out", tmp_path / "o")
    assert result.exit_code == 2 and "--device" in result.output and result.exception.__class__ is SystemExit
    assert not (tmp_path / "o").exists()


def test_a_symlinked_out_takes_the_lock_of_its_target(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    with OutputLock(real):
        result = _invoke("solve", "2d_square", "--method", "dst", "--n", 7, "--out", tmp_path / "link")
    assert result.exit_code == 2 and "another poissonfp run" in result.output, result.output


@pytest.mark.parametrize("blocker", ["lock", "file"])
def test_compare_checks_and_locks_out_before_any_work(tmp_path, monkeypatch, blocker):
    def no_work(*_args, **_kwargs):
        raise AssertionError("compare measured before checking --out")

    monkeypatch.setattr("poissonfp.problem.build_problem", no_work)
    out = tmp_path / "out"
    if blocker == "file":
        out.write_text("x")
        result = _invoke("compare", "2d_square", "--n", 7, "--methods", "dst", "--out", out)
    else:
        with OutputLock(out):
            result = _invoke("compare", "2d_square", "--n", 7, "--methods", "dst", "--out", out)
    assert result.exit_code == 2 and "--out" in result.output, result.output


def test_compare_stages_its_set(tmp_path):
    out = tmp_path / "out"
    result = _invoke("compare", "2d_square", "--n", 7, "--methods", "dst,direct", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    assert (out / "compare.json").exists() and not [p for p in out.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("flags", [["--seeds", ",".join(map(str, range(65)))], ["--seeds", "4294967296"],
                                   ["--threads", "100000"]])
def test_diagnose_bounds_seeds_and_threads(tmp_path, flags):
    result = _invoke("diagnose", "--quick", "--out", tmp_path / "d", *flags)
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output


def test_diagnose_on_a_full_disk_is_one_line(tmp_path, monkeypatch):
    def full(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("poissonfp.diagnostics.suite.run_suite", full)
    result = _invoke("diagnose", "--quick", "--out", tmp_path / "d")
    assert result.exit_code == 1 and "No space left" in result.output and "Traceback" not in result.output


def test_the_threshold_of_a_3d_case_off_the_box_is_iterated_not_factorised(monkeypatch):
    """A 64^3 ball spent over 10 minutes and 7.2 GB in the LU of its stopping threshold; the hierarchy's
    cycles (and their fallback, AMG-GMRES) agree with the LU to round-off on a small one."""
    text = ('[domain]\nlower = [0.0, 0.0, 0.0]\nupper = [1.0, 1.0, 1.0]\n'
            'inside = "0.2 - (x-0.5)**2 - (y-0.5)**2 - (z-0.5)**2"\n[grid]\npoints = 15\n'
            '[problem]\nexact = "exp(x*y) + z*z*x"\n')
    from poissonfp import problem as problem_module
    from poissonfp.solvers.hierarchy import multilevel_galerkin

    lu = problem_module.build_problem(case_from_text(text)).discrete_solution
    monkeypatch.setattr(problem_module, "LU_LIMIT", 100)
    calls = []
    real = multilevel_galerkin.reference_solution
    monkeypatch.setattr(multilevel_galerkin, "reference_solution", lambda *a: calls.append(1) or real(*a))
    cycles = problem_module.build_problem(case_from_text(text)).discrete_solution
    assert calls and np.max(np.abs(cycles - lu)) <= 1e-11 * np.max(np.abs(lu))
    monkeypatch.setattr(multilevel_galerkin, "reference_solution", lambda *a: None)  # the cycles stall
    real = problem_module._iterative_solution
    monkeypatch.setattr(problem_module, "_iterative_solution", lambda *a: calls.append(2) or real(*a))
    amg = problem_module.build_problem(case_from_text(text)).discrete_solution
    assert calls[-1] == 2 and np.max(np.abs(amg - lu)) <= 1e-10 * np.max(np.abs(lu))
