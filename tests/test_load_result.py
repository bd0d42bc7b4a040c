"""load_result: every problem kind reloads the problem it solved; every corrupted set raises ResultError."""
import json
import os
import shutil

import numpy as np
import pytest

from poissonfp.case import case_from_text
from poissonfp.loading import ResultError, load_result
from poissonfp.outputs import save_solve_outputs
from poissonfp.problem import build_problem
from poissonfp.solvers import Monitor, StoppingCriterion, solve

BOX = '[domain]\nlower = [-1.0, -1.0]\nupper = [1.0, 1.0]\n{inside}\n[grid]\npoints = 15\n[problem]\n{problem}\n'
KINDS = {
    "L-shape": BOX.format(inside='inside = "max(-x, y)"', problem='exact = "x*x - y*y + x"\nsource = "0"'),
    "disk": BOX.format(inside='inside = "0.9 - x*x - y*y"', problem='exact = "exp(x) * cos(y)"\nsource = "0"'),
    "all Neumann": BOX.format(inside="", problem='exact = "cos(pi*x/2 + 0.2) * sin(y) + x*y"') + "".join(
        f'[boundary.{side}]\ntype = "neumann"\n' for side in ("left", "right", "bottom", "top")),
    "coefficient": BOX.format(inside="", problem='exact = "sin(2*x) * cos(y) + y"\ncoefficient = "1 + x*x"'),
}


def _saved(folder, text):
    case = case_from_text(text, "kind.toml")
    problem = build_problem(case)
    result = solve(problem, "direct", StoppingCriterion("discretization"))
    save_solve_outputs(folder, case, problem, result, figures=False)
    return problem, result


@pytest.mark.parametrize("kind", KINDS)
def test_an_off_box_set_reloads_its_own_problem(tmp_path, kind):
    """Issue 18 item 3: the L-shape reloaded as the plain box gave error 0.498 instead of the saved 0.013."""
    problem, result = _saved(tmp_path / "set", KINDS[kind])
    loaded_problem, loaded = load_result(tmp_path / "set")
    assert loaded_problem.general is not None and loaded.converged is result.converged
    again = Monitor(loaded_problem, StoppingCriterion("discretization")).metrics(loaded.solution)
    for key, value in result.final.items():
        assert again[key] == pytest.approx(value, rel=1e-9, abs=1e-14), key
    np.testing.assert_array_equal(loaded_problem.rhs, problem.rhs)


@pytest.fixture(scope="module")
def good_set(tmp_path_factory):
    folder = tmp_path_factory.mktemp("good") / "set"
    _saved(folder, KINDS["L-shape"])
    return folder


def _record_edits():
    """(name, edit of the record) — each makes the set invalid."""
    wrong = {"converged": ["false", 1, None], "interrupted": ["no", 0], "iterations": [-1, 1.5, "3", True],
             "dnn_steps": [-2, "0"], "wall_time_s": ["1", -1.0, None], "method": [3, ""],
             "stop_reason": [None, 7], "grid_shape": [[], [0, 15], [15, "15"], "15x15", [1, 2, 3, 4]],
             "lower": [[0, "a"], "0", [-1.0]], "upper": [[-2.0, -2.0], None], "history": [[], {"time_s": [1]},
             "x"], "modes": [[], "m"], "info": [[], 3], "criterion": [3], "threshold": ["1e-3"],
             "rel_residual": ["0.1"], "error_vs_exact_inf": [[1]], "case_text": [7, "[domain]\nlower = 3"],
             "grid_size": [[0, 0], "15", [15, 15, 15, 15]]}
    edits = [(f"{key}={value!r}", lambda r, k=key, v=value: r.__setitem__(k, v))
             for key, values in wrong.items() for value in values]
    edits += [(f"without {key}", lambda r, k=key: r.pop(k)) for key in
              ("method", "converged", "stop_reason", "wall_time_s", "iterations", "grid_shape", "lower", "upper",
               "history", "case")]
    edits.append(("history of unequal lengths", lambda r: r["history"]["time_s"].append(1.0)))
    edits.append(("history of strings", lambda r: r["history"]["iteration"].__setitem__(0, "a")))
    edits.append(("another case text", lambda r: r.__setitem__("case_text", r["case_text"].replace("x*x", "x*x*x"))))
    edits.append(("a bigger grid", lambda r: r.__setitem__("grid_size", [31, 31])))
    return edits


EDITS = _record_edits()


@pytest.mark.parametrize("name,edit", EDITS, ids=[name for name, _ in EDITS])
def test_a_hand_edited_record_raises_result_error(tmp_path, good_set, name, edit):
    folder = tmp_path / "set"
    shutil.copytree(good_set, folder)
    record = json.loads((folder / "result.json").read_text())
    edit(record)
    (folder / "result.json").write_text(json.dumps(record))
    with pytest.raises(ResultError):
        load_result(folder)


FILE_DAMAGE = {
    "result.json missing": lambda f: (f / "result.json").unlink(),
    "solution.npz missing": lambda f: (f / "solution.npz").unlink(),
    "result.json empty": lambda f: (f / "result.json").write_text(""),
    "result.json truncated": lambda f: (f / "result.json").write_text((f / "result.json").read_text()[:200]),
    "result.json a list": lambda f: (f / "result.json").write_text("[1, 2]"),
    "result.json not UTF-8": lambda f: (f / "result.json").write_bytes(b"\xff\xfe{}"),
    "result.json deeply nested": lambda f: (f / "result.json").write_text("[" * 100_000 + "]" * 100_000),
    "result.json a folder": lambda f: ((f / "result.json").unlink(), (f / "result.json").mkdir()),
    "result.json is /dev/zero": lambda f: ((f / "result.json").unlink(), (f / "result.json").symlink_to("/dev/zero")),
    "result.json a FIFO": lambda f: ((f / "result.json").unlink(), os.mkfifo(f / "result.json")),
    "solution.npz truncated": lambda f: (f / "solution.npz").write_bytes((f / "solution.npz").read_bytes()[:300]),
    "solution.npz text": lambda f: (f / "solution.npz").write_text("not a zip"),
    "solution.npz a FIFO": lambda f: ((f / "solution.npz").unlink(), os.mkfifo(f / "solution.npz")),
    "solution.npz a .npy": lambda f: np.save(f / "solution.npy", np.zeros(3)) or (f / "solution.npy").replace(f / "solution.npz"),
    "solution of another shape": lambda f: np.savez(f / "solution.npz", solution=np.zeros((3, 3)), rhs=np.zeros((3, 3))),
    "solution of strings": lambda f: np.savez(f / "solution.npz", solution=np.full((15, 15), "a"), rhs=np.zeros((15, 15))),
    "no rhs": lambda f: np.savez(f / "solution.npz", solution=np.zeros((15, 15))),
    "another rhs": lambda f: np.savez(f / "solution.npz", solution=np.zeros((15, 15)), rhs=np.ones((15, 15))),
    "pickled objects": lambda f: np.savez(f / "solution.npz", solution=np.array([{}], dtype=object), rhs=np.zeros(1)),
}


@pytest.mark.parametrize("name", FILE_DAMAGE)
def test_a_damaged_file_raises_result_error(tmp_path, good_set, name):
    folder = tmp_path / "set"
    shutil.copytree(good_set, folder)
    FILE_DAMAGE[name](folder)
    with pytest.raises(ResultError):
        load_result(folder)
