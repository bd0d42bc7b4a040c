"""`poissonfp solve` end to end: every shipped case, the output files, and bad input."""
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from poissonfp.cli import main

CASES = sorted(Path(__file__).resolve().parents[1].joinpath("cases").glob("*.toml"))
SMALL = {"1d_article": "64", "1d_article_loose": "64", "2d_square": "15", "2d_bump": "15", "3d_cube": "7",
         "2d_lshape": "15", "2d_disk": "15"}
RESULT_KEYS = {"case", "method", "grid_shape", "converged", "stop_reason", "wall_time_s", "iterations",
               "rel_residual", "error_vs_exact_rel_l2", "error_vs_exact_inf", "error_vs_discrete_rel_l2", "history"}


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
@pytest.mark.parametrize("method", [None, "jacobi"])
def test_every_case_solves_on_a_small_grid(tmp_path, case, method):
    args = ["solve", case, "--n", SMALL[case.stem], "--out", tmp_path, "--quiet"]
    result = run(*args, *(["--method", method] if method else []))
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "result.json").read_text())
    assert record.keys() >= RESULT_KEYS
    assert record["converged"] is True
    if record["criterion"] == "discretization":  # (1d_article_loose asks for a loose discrete criterion)
        assert record["error_vs_exact_inf"] <= 1.5 * record["discretization_error_inf"] * (1 + 1e-12)
    elif record["criterion"] == "discrete":
        assert record["error_vs_discrete_rel_l2"] <= record["threshold"]
    with np.load(tmp_path / "solution.npz") as data:
        assert data["solution"].shape == tuple(record["grid_shape"])
    assert (tmp_path / "solution.png").stat().st_size > 0
    assert (tmp_path / "convergence.png").stat().st_size > 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary leftovers


def test_summary_names_method_grid_and_errors(tmp_path):
    result = run("solve", CASES[0], "--n", "64", "--method", "dst", "--out", tmp_path)
    assert result.exit_code == 0
    for word in ("dst", "63", "residual", "error", "reached"):
        assert word in result.output


_ONE_D = '[domain]\nlower = [0.0]\nupper = [1.0]\n[grid]\npoints = 9\n[problem]\n'
BAD_CASES = {
    "unknown_key": ('[domain]\nlower = [0.0]\nupper = [1.0]\n[grid]\npoints = 9\nspacing = 2\n'
                    '[problem]\nexact = "sin(pi*x)"\n', "spacing"),
    "bad_expression": ('[domain]\nlower = [0.0]\nupper = [1.0]\n[grid]\npoints = 9\n'
                       '[problem]\nexact = "__import__(\'os\').system(\'touch hacked\')"\n', "exact"),
    "syntax_error": ('[domain]\nlower = [0.0]\nupper = [1.0]\n[grid]\npoints = 9\n'
                     '[problem]\nsource = "sin(x"\n', "source"),
    "negative_grid": ('[domain]\nlower = [0.0, 0.0]\nupper = [1.0, 1.0]\n[grid]\npoints = -3\n'
                      '[problem]\nsource = "1"\n', "points"),
    "absurd_grid": ('[domain]\nlower = [0.0, 0.0, 0.0]\nupper = [1.0, 1.0, 1.0]\n[grid]\npoints = 100000\n'
                    '[problem]\nsource = "1"\n', "points"),
    "missing_key": ('[domain]\nlower = [0.0]\n[grid]\npoints = 9\n[problem]\nsource = "1"\n', "upper"),
    "wrong_type": ('[domain]\nlower = [0.0]\nupper = [1.0]\n[grid]\npoints = "many"\n'
                   '[problem]\nsource = "1"\n', "points"),
    "toml_syntax": ('[domain\nlower = [0.0]\n', ""),
    "unknown_method": ('[domain]\nlower = [0.0]\nupper = [1.0]\n[grid]\npoints = 9\n'
                       '[problem]\nsource = "1"\n[solver]\nmethod = "gauss"\n', "method"),
    # issue #10, defects 1, 3, 5 and 6: each was a traceback, minutes of work or a write outside results/
    "name_absolute": ('name = "/tmp/poissonfp-evil"\n' + _ONE_D + 'source = "1"\n', "name"),
    "name_parent": ('name = "../../evil"\n' + _ONE_D + 'source = "1"\n', "name"),
    "ellipsis": (_ONE_D + 'source = "..."\n', "[problem] source"),
    "overflowing_number": (_ONE_D + 'source = "1e300*1e300*x"\n', "[problem] source"),
    "nested_150": (_ONE_D + f'source = "{"sin(" * 150}x{")" * 150}"\n', "[problem] source"),
    "nested_exact_100": (_ONE_D + f'exact = "{"sin(" * 100}x{")" * 100}"\n', "[problem] exact"),
    "long_product": (_ONE_D + 'exact = "' + "*".join(f"sin({k}*x)" for k in range(1, 41)) + '"\n',
                     "[problem] exact"),
    "toml_nested": ("a = " + "[" * 100_000 + "]" * 100_000 + "\n", "nested too deeply"),
    "domain_huge": (_ONE_D.replace("upper = [1.0]", "upper = [1e200]") + 'source = "1"\n', "[domain] upper"),
    "domain_tiny": (_ONE_D.replace("upper = [1.0]", "upper = [1e-200]") + 'source = "1"\n', "[domain] upper"),
    "huge_seed": ("seed = 1180591620717411303424\n" + _ONE_D + 'source = "1"\n', "seed"),
    "infinite_at_grid_point": (_ONE_D.replace("points = 9", "points = 7") + 'source = "1/(x-0.125)"\n',
                               "[problem] source: is not finite at the interior grid point x=0.125"),
}


@pytest.mark.parametrize("name", sorted(BAD_CASES))
def test_bad_case_gives_one_line_and_exit_code_2(tmp_path, monkeypatch, name):
    text, key = BAD_CASES[name]
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["solve", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert f"{name}.toml" in lines[0] and key in lines[0]
    assert not (tmp_path / "out").exists() and not (tmp_path / "hacked").exists()


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.parametrize("flags,key", [
    (["--method", "gauss"], "--method"), (["--n", "-4"], "--n"), (["--tol", "-1"], "--tol"),
    (["--criterion", "best"], "--criterion"),
    (["--switch", "²"], "--switch"),  # "²".isdigit() is True
    (["--seed", "1180591620717411303424"], "--seed"),
    (["--methd", "dst"], "--methd"),  # click's own errors: one line, no usage block
    pytest.param(["--device", "cuda", "--method", "hybrid"], "--device",
                 marks=pytest.mark.skipif(_cuda_available(), reason="a CUDA GPU is present")),
])
def test_bad_flags_give_one_line_and_exit_code_2(tmp_path, flags, key):
    result = CliRunner().invoke(main, ["solve", str(CASES[0]), *flags, "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1 and key in result.output
    assert "Traceback" not in result.output


def test_a_case_name_cannot_send_outputs_outside_results(tmp_path, monkeypatch):
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    case = tmp_path / "work" / "case.toml"
    case.write_text(f'name = "{tmp_path / "outside"}"\n' + _ONE_D + 'source = "1"\n')
    result = CliRunner().invoke(main, ["solve", str(case), "--quiet"])
    assert result.exit_code == 2 and "name: expected a plain file-name stem" in result.output
    assert not (tmp_path / "outside").exists() and not (tmp_path / "work" / "results").exists()


def test_a_shipped_case_solves_by_name_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("solve", "2d_square", "--n", "8", "--method", "dst", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "out" / "result.json").read_text())["case"] == "2d_square"
    unknown = CliRunner().invoke(main, ["solve", "2d_sqare"])
    assert unknown.exit_code == 2 and "did you mean '2d_square'" in unknown.output


def test_missing_case_file(tmp_path):
    result = CliRunner().invoke(main, ["solve", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2 and "nope.toml" in result.output


def test_divergent_training_exits_1_with_one_line_and_writes_nothing(tmp_path):
    case = tmp_path / "divergent.toml"
    case.write_text('[domain]\nlower = [0.0]\nupper = [1.0]\n[grid]\npoints = 31\n'
                    '[problem]\nexact = "sin(pi*x)"\n[solver]\nmethod = "dnn"\n'
                    '[training]\nadam_steps = 50\nlearning_rate = 1e6\ngalerkin = false\n')
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["solve", str(case), "--out", str(out)])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "diverge" in lines[0].lower() and "Traceback" not in result.output
    assert not out.exists()


# -- progress and logging -----------------------------------------------------------------------
class _Stream:
    def __init__(self, terminal: bool) -> None:
        self.text, self.terminal = "", terminal

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return self.terminal


def _record(step: int, time_s: float, phase: str = "dnn") -> dict:
    return {"iteration": 0, "dnn_steps": step, "rel_residual": 0.5, "time_s": time_s, "phase": phase}


def test_progress_off_a_terminal_prints_whole_lines_with_the_solver_clock_and_an_eta():
    from poissonfp.cli.progress import SolveProgress

    stream = _Stream(terminal=False)
    progress = SolveProgress("dnn 31x31", training_steps=400, stream=stream, delay=0.0, interval=0.0)
    progress(_record(100, 2.0))
    progress(_record(200, 4.0))
    progress.close()
    lines = stream.text.splitlines()
    assert "\r" not in stream.text and len(lines) == 2
    assert "4.0s" in lines[1] and "50% of 400" in lines[1] and "ETA 4.0s" in lines[1]  # the solver's clock


def test_progress_on_a_terminal_rewrites_one_line_without_leftovers():
    from poissonfp.cli.progress import SolveProgress

    stream = _Stream(terminal=True)
    progress = SolveProgress("jacobi 7x7", stream=stream, delay=0.0)
    progress({**_record(0, 1.0, "jacobi"), "iteration": 123456789})
    progress._last = -1e9  # the next update is due
    progress({**_record(0, 2.0, "jacobi"), "iteration": 5})
    progress.close()
    first, second = stream.text.split("\r")[1:]
    assert len(second.rstrip("\n")) >= len(first) and stream.text.endswith("\n")


def test_verbose_and_log_level_show_the_library_loggers(tmp_path):
    quiet = CliRunner().invoke(main, ["solve", str(CASES[0]), "--n", "16", "--method", "dst", "--out",
                                      str(tmp_path / "a"), "--quiet"])
    verbose = CliRunner().invoke(main, ["-v", "solve", str(CASES[0]), "--n", "16", "--method", "dst", "--out",
                                        str(tmp_path / "b"), "--quiet"])
    debug = CliRunner().invoke(main, ["--log-level", "debug", "solve", str(CASES[0]), "--n", "16", "--method",
                                      "dst", "--out", str(tmp_path / "c"), "--quiet"])
    assert "INFO poissonfp.cli.solve: solving" not in quiet.output
    assert "INFO poissonfp.cli.solve: solving" in verbose.output and "DEBUG" not in verbose.output
    assert "DEBUG poissonfp.cli.solve: reading the case" in debug.output
