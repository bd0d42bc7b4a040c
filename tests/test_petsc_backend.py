"""``--backend petsc``: refusals without the MPI stack (always run), and distributed solves under
``mpirun -n 2`` equal to the one-process direct solve (skipped, with the reason, without petsc4py / mpirun)."""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from poissonfp.case import load_case
from poissonfp.cli import main
from poissonfp.loading import load_result
from poissonfp.problem import build_problem

HAVE_STACK = all(importlib.util.find_spec(name) is not None for name in ("petsc4py", "mpi4py"))
MPIRUN = shutil.which("mpirun")
needs_mpi = pytest.mark.skipif(not (HAVE_STACK and MPIRUN),
                               reason="needs petsc4py, mpi4py and mpirun: `make mpi` installs them")
TOL = 1e-7


def mpirun(*args: str, ranks: int = 2, timeout: float = 300) -> subprocess.CompletedProcess:
    command = [MPIRUN or "mpirun", "--oversubscribe", "-n", str(ranks)]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.insert(1, "--allow-run-as-root")
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=timeout)


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "poissonfp", *args]


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("error:")]


# -- without the stack -------------------------------------------------------------------------------

def test_backend_petsc_without_the_stack_says_how_to_install(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("petsc4py", "mpi4py") else real(name, *a))
    result = CliRunner().invoke(main, ["solve", "2d_square", "--n", "8", "--backend", "petsc",
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert len(error_lines(result.output)) == 1 and "make mpi" in result.output
    assert "missing: mpi4py, petsc4py" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, needle", [
    (["--pc", "hypre"], "--pc applies to --backend petsc only"),
    (["--", "-ksp_monitor"], "need --backend petsc"),
])
def test_petsc_only_flags_refused_on_the_local_backend(tmp_path, args, needle):
    result = CliRunner().invoke(main, ["solve", "2d_square", "--n", "8", "--out", str(tmp_path / "out"), *args])
    assert result.exit_code == 2 and needle in result.output
    assert not (tmp_path / "out").exists()


def test_several_ranks_without_backend_petsc_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    monkeypatch.setenv("OMPI_COMM_WORLD_RANK", "0")
    result = CliRunner().invoke(main, ["solve", "2d_square", "--n", "8", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "add --backend petsc" in result.output
    assert not (tmp_path / "out").exists()


# -- under mpirun ------------------------------------------------------------------------------------

def write_case(folder: Path, name: str, body: str, dim: int) -> str:
    box = {2: ("[-1.0, -1.0]", "[1.0, 1.0]"), 3: ("[0.0, 0.0, 0.0]", "[1.0, 1.0, 1.0]")}[dim]
    path = folder / f"{name}.toml"
    path.write_text(f'[domain]\nlower = {box[0]}\nupper = {box[1]}\n{body.strip()}\n[grid]\npoints = 15\n')
    return str(path)


def cases(folder: Path) -> dict[str, tuple[str, int]]:
    """Box, masks (grid-aligned and curved), variable coefficients with Neumann sides; 2D and 3D."""
    return {
        "2d box": ("2d_square", 15),
        "2d mask (L)": ("2d_lshape", 15),
        "2d curved": ("2d_disk", 15),
        "2d k, neumann": (write_case(folder, "k2", '''
[problem]
exact = "sin(2*x) * cos(y) + y"
coefficient = "1 + 0.5*sin(x*y) + x**2"
[boundary.left]
type = "neumann"
[boundary.top]
type = "neumann"''', 2), 15),
        "3d box": ("3d_cube", 7),
        "3d curved, k": (write_case(folder, "k3", '''
inside = "0.45**2 - (x - 0.5)**2 - (y - 0.5)**2 - (z - 0.4)**2 + 0.2"
[problem]
exact = "exp(x*y) + z**2 * x"
coefficient = "2 + x - y*z"''', 3), 7),
        "3d k, neumann": (write_case(folder, "n3", '''
[problem]
exact = "cos(x) * exp(y) * (1 + z)"
coefficient = "1 + x*y*z"
[boundary.back]
type = "neumann"
[boundary.left]
type = "neumann"''', 3), 7),
    }


METHODS = [("jacobi", None), ("multigrid", None), ("multigrid", "hypre"), ("multigrid", "gamg"), ("direct", None)]


@needs_mpi
def test_distributed_solutions_equal_the_one_process_direct_solve(tmp_path):
    problems = cases(tmp_path)
    runs = [{"case": case, "n": n, "method": m, "pc": pc, "criterion": "discrete", "tol": TOL, "gather": True,
             "label": f"{label}: {m} {pc or ''}"}
            for label, (case, n) in problems.items() for m, pc in METHODS]
    (tmp_path / "spec.json").write_text(json.dumps(runs))
    out = str(tmp_path / "solutions")
    done = mpirun(sys.executable, "-m", "poissonfp.petsc_backend.worker", str(tmp_path / "spec.json"), out)
    assert done.returncode == 0, done.stderr[-3000:]
    reports = json.loads(Path(out + ".json").read_text())
    serial = {case: build_problem(load_case(case).with_overrides(size=n)).discrete_solution
              for case, n in problems.values()}
    with np.load(out + ".npz") as solutions:
        for i, run in enumerate(runs):
            report, reference = reports[i], serial[run["case"]]
            assert report["info"]["ranks"] == 2 and max(report["block_sizes"]) < report["vertices"], run["label"]
            assert report["converged"], (run["label"], report)
            error = np.linalg.norm(solutions[f"run{i}"] - reference) / np.linalg.norm(reference)
            bound = 1e-10 if run["method"] == "direct" else 2 * TOL
            assert error <= bound, (run["label"], error, report)


def hybrid_cases(folder: Path) -> dict[str, tuple[str, int | list[int]]]:
    """Grids with a PCMG hierarchy of at least two levels down to the hybrid's coarsest (15 per axis in 2D,
    7 in 3D): box, mask, coefficient (with Neumann sides in 2D); 2D and 3D."""
    small = cases(folder)
    rectangle = folder / "rectangle.toml"  # PETSc splits its long axis, the DMDA's x: its ordering is not C order
    rectangle.write_text('[domain]\nlower = [0.0, 0.0]\nupper = [1.0, 4.0]\n[problem]\nexact = "sin(3*x) * cos(y) + x*y"\n'
                         '[grid]\npoints = 15\n')
    return {"2d box": ("2d_square", 31), "2d rectangle": (str(rectangle), [31, 127]), "2d mask (L)": ("2d_lshape", 31), "2d k, neumann": (small["2d k, neumann"][0], 31),
            "3d box": ("3d_cube", 15), "3d curved, k": (small["3d curved, k"][0], 15)}


@needs_mpi
def test_distributed_hybrid_equals_the_one_process_solutions(tmp_path):
    """The hybrid (PCMG, its coarsest level solved by the network's Galerkin space through PCPYTHON, or by a
    trained operator model) on 2 ranks reaches the one-process discrete solution to the criterion's
    tolerance, and agrees with the one-process multilevel hybrid to twice it."""
    from poissonfp.api import solve_case

    model = tmp_path / "model"
    trained = CliRunner().invoke(main, ["train", "2d_square", "--n", "15", "--steps", "3", "--samples", "16",
                                        "--batch", "4", "--out", str(model), "--quiet"])
    assert trained.exit_code == 0, trained.output[-2000:]
    problems = hybrid_cases(tmp_path)
    runs = [{"case": case, ("grid" if isinstance(n, list) else "n"): n, "method": "hybrid", "criterion": "discrete",
             "tol": TOL, "gather": True, "label": label} for label, (case, n) in problems.items()]
    runs.append({**runs[0], "model": str(model), "label": "2d box, operator model"})
    (tmp_path / "spec.json").write_text(json.dumps(runs))
    out = str(tmp_path / "solutions")
    done = mpirun(sys.executable, "-m", "poissonfp.petsc_backend.worker", str(tmp_path / "spec.json"), out)
    assert done.returncode == 0, done.stderr[-3000:]
    reports = json.loads(Path(out + ".json").read_text())
    with np.load(out + ".npz") as solutions:
        for i, run in enumerate(runs):
            report = reports[i]
            info = report["info"]
            assert report["converged"] and info["ranks"] == 2 and info["pc_type"] == "mg", (run["label"], report)
            assert info["hybrid_levels"] >= 2 and info["coarse_passes"] >= report["iterations"], run["label"]
            assert info.get("coarse") == ("operator model" if "model" in run else "network"), run["label"]
            case = load_case(run["case"])
            case = dataclasses.replace(case, grid_size=tuple(run["grid"])) if "grid" in run else case
            case = case.with_overrides(size=run.get("n"), criterion="discrete", tol=TOL)
            problem = build_problem(case)
            reference = problem.discrete_solution
            error = np.linalg.norm(solutions[f"run{i}"] - reference) / np.linalg.norm(reference)
            assert error <= 2 * TOL, (run["label"], error)
            if run["label"] == "2d rectangle":  # the Galerkin space meets the coarse residual in C order: one
                assert info["coarse_passes"] <= report["iterations"], report  # pass per cycle (2 when scrambled)
            if i in (0, 3, 4):  # the one-process multilevel hybrid, same settings
                _, local = solve_case(case, "hybrid", problem=problem, track_modes=False)
                gap = np.linalg.norm(solutions[f"run{i}"] - local.solution) / np.linalg.norm(reference)
                assert local.converged and gap <= 2 * TOL, (run["label"], gap)


@needs_mpi
@pytest.mark.parametrize("per_rank", [False, True])
def test_solve_under_mpirun_writes_the_one_process_set(tmp_path, per_rank):
    out = tmp_path / "out"
    extra = ["--", "-poissonfp_gather_limit_mb", "0"] if per_rank else []
    done = mpirun(*cli("solve", "2d_lshape", "--n", "15", "--backend", "petsc", "--method", "multigrid",
                       "--criterion", "discrete", "--tol", str(TOL), "--out", str(out), "--quiet", *extra))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("criterion ") == 1  # rank 0 alone prints
    files = {p.name for p in out.iterdir()}
    if per_rank:
        assert {"parts.json", "part-00000.npz", "part-00001.npz", "result.json", "convergence.png"} <= files
        assert "solution.npz" not in files
    else:
        assert {"solution.npz", "result.json", "solution.png", "error.png", "convergence.png"} <= files
    problem, result = load_result(out)
    record = json.loads((out / "result.json").read_text())
    assert record["info"]["backend"] == "petsc" and record["info"]["ranks"] == 2 and record["converged"]
    reference = build_problem(load_case("2d_lshape").with_overrides(size=15)).discrete_solution
    assert result.solution.shape == problem.grid.shape == reference.shape
    assert np.linalg.norm(result.solution - reference) / np.linalg.norm(reference) <= 2 * TOL


@needs_mpi
@pytest.mark.parametrize("args, needle", [
    (["--backend", "petsc", "--method", "dnn"], "dnn is not available on --backend petsc"),
    (["--backend", "petsc", "--method", "hybrid", "--switch", "5"], "training before the hand-over"),
    (["--backend", "petsc", "--method", "hybrid", "--n", "40"], "cannot coarsen 40x40 to at most 15"),
    (["--backend", "petsc", "--method", "multigrid", "--n", "16"], "geometric multigrid cannot coarsen"),
    (["--n", "15"], "2 MPI ranks but --backend local"),
])
def test_bad_input_under_mpirun_is_one_line_and_exit_2(tmp_path, args, needle):
    done = mpirun(*cli("solve", "2d_square", "--out", str(tmp_path / "out"), "--quiet", *args), timeout=120)
    lines = error_lines(done.stderr)
    assert done.returncode == 2 and len(lines) == 1 and needle in lines[0], done.stderr[-2000:]
    assert not (tmp_path / "out").exists()


@needs_mpi
def test_ctrl_c_to_mpirun_leaves_a_whole_set_marked_interrupted_or_nothing(tmp_path):
    import signal
    import time

    out = tmp_path / "out"
    command = [MPIRUN or "mpirun", "--oversubscribe", "--mca", "odls_base_sigkill_timeout", "8", "-n", "2",
               *cli("solve", "2d_square", "--n", "255", "--backend", "petsc", "--method", "jacobi", "--criterion",
                    "residual", "--tol", "1e-12", "--out", str(out))]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.insert(1, "--allow-run-as-root")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(12)  # start-up and set-up; pure Jacobi to 1e-12 at 255² runs for minutes
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    if (out / "result.json").exists():
        record = json.loads((out / "result.json").read_text())
        assert record["interrupted"] and record["stop_reason"] == "interrupted", record["stop_reason"]
        assert {"solution.npz", "convergence.png", "solution.png"} <= {p.name for p in out.iterdir()}
        problem, result = load_result(out)
        assert result.solution.shape == problem.grid.shape and result.iterations > 0
        assert "marked interrupted" in stderr
    else:  # the signal came before the solve started
        assert not out.exists() and "nothing written" in stderr, stderr[-2000:]


def test_compare_backend_petsc_refuses_a_method_without_a_petsc_version(tmp_path):
    result = CliRunner().invoke(main, ["compare", "2d_square", "--n", "15", "--backend", "petsc", "--methods",
                                       "jacobi,dst", "--out", str(tmp_path / "out")])
    if HAVE_STACK:
        assert result.exit_code == 2 and len(error_lines(result.output)) == 1 and "no dst" in result.output
    else:
        assert result.exit_code == 2 and "make mpi" in result.output
    assert not (tmp_path / "out").exists()


@needs_mpi
def test_compare_under_mpirun_runs_the_petsc_methods_beside_each_other(tmp_path):
    out = tmp_path / "out"
    done = mpirun(*cli("compare", "2d_lshape", "--n", "31", "--backend", "petsc", "--methods", "multigrid,hybrid",
                       "--criterion", "discrete", "--tol", str(TOL), "--out", str(out), "--quiet"))
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((out / "compare.json").read_text())
    assert record["ranks"] == 2 and [row["method"] for row in record["methods"]] == ["multigrid", "hybrid"]
    assert [row["iteration_unit"] for row in record["methods"]] == ["V-cycles", "cycles"]
    assert all(row["converged"] and row["final"]["error_vs_discrete_rel_l2"] <= TOL for row in record["methods"])
    assert done.stdout.count("written:") == 1  # rank 0 alone prints


@needs_mpi
def test_hybrid_summary_under_mpirun_counts_cycles(tmp_path):
    """The PETSc hybrid's iterations are V-cycles (as the one-process hybrid's summary says), not sweeps; the
    summary names the ranks, the KSP and the peak memory per rank."""
    out = tmp_path / "out"
    done = mpirun(*cli("solve", "2d_square", "--n", "31", "--backend", "petsc", "--method", "hybrid",
                       "--criterion", "discrete", "--tol", str(TOL), "--out", str(out), "--quiet"))
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((out / "result.json").read_text())
    line = next(line for line in done.stdout.splitlines() if line.startswith("iterations"))
    assert line.split()[1:3] == [str(record["iterations"]), "cycles"], line
    assert record["info"]["cycles"] == record["iterations"] >= 1
    petsc = next(line for line in done.stdout.splitlines() if line.startswith("petsc"))
    assert "2 rank(s), richardson + mg" in petsc and "peak memory per rank" in petsc, petsc


@needs_mpi
def test_bench_petsc_has_hybrid_rows_beside_multigrid_and_jacobi():
    """``bench --backend petsc``'s harness measures the hybrid beside CG + PCMG and the capped Jacobi
    baseline: all measured, the two multigrid methods reach 1e-10 in few iterations, Jacobi does not."""
    from poissonfp.studies.bench_petsc import JACOBI_SWEEPS, ScalingConfig, format_scaling, run_scaling

    config = ScalingConfig(ranks=(2,), strong=(("2d_square", (31, 31)),), weak=(),
                           solvers=(("multigrid", "mg"), ("hybrid", None), ("jacobi", None)))
    data = run_scaling(config)
    rows = {row["method"]: row for row in data["rows"]}
    assert set(rows) == {"multigrid", "hybrid", "jacobi"}
    assert all(row["status"] == "measured" and len(row["peak_memory_mb_per_rank"]) == 2 for row in rows.values()), rows
    assert rows["hybrid"]["reached"] and rows["hybrid"]["pc_type"] == "mg" and rows["hybrid"]["iterations"] <= 20
    assert rows["multigrid"]["reached"] and rows["multigrid"]["iterations"] <= 20
    assert not rows["jacobi"]["reached"] and rows["jacobi"]["iterations"] == JACOBI_SWEEPS
    assert rows["hybrid"]["rel_residual"] <= 1e-10 < rows["jacobi"]["rel_residual"]
    table = format_scaling(data)
    assert "| hybrid | 2 |" in table and "| multigrid (mg) | 2 |" in table and "| jacobi | 2 |" in table
