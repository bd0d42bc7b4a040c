"""Output sets saved into a mount point: the staging never renames the output folder itself."""
import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest

from poissonfp.case import load_case
from poissonfp.loading import load_result
from poissonfp.outputs import save_solve_outputs
from poissonfp.problem import build_problem
from poissonfp.results import staged_folder
from poissonfp.solvers import StoppingCriterion, solve

CASE = Path(__file__).resolve().parents[1] / "cases" / "2d_square.toml"


@pytest.fixture
def mount_point(tmp_path, monkeypatch):
    """``tmp_path / "volume"`` behaves as a mount point: renaming it fails with EBUSY, renaming a file
    across its edge fails with EXDEV (as os.rename and os.replace do on Linux)."""
    mount = tmp_path / "volume"
    mount.mkdir()
    real_rename, real_replace = os.rename, os.replace

    def inside(path) -> bool:
        return Path(os.path.abspath(path)).is_relative_to(mount)

    def checked(real):
        def move(src, dst, *args, **kwargs):
            if Path(os.path.abspath(src)) == mount or Path(os.path.abspath(dst)) == mount:
                raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), str(src))
            if inside(src) != inside(dst):
                raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), str(src))
            return real(src, dst, *args, **kwargs)
        return move

    monkeypatch.setattr(os, "rename", checked(real_rename))
    monkeypatch.setattr(os, "replace", checked(real_replace))
    return mount


def _solved():
    case = load_case(CASE).with_overrides(size=15, method="dst")
    problem = build_problem(case)
    return case, problem, solve(problem, "dst", StoppingCriterion("discretization"))


def test_a_set_saves_into_a_mount_point_and_replaces_the_old_one(mount_point):
    """Issue 18 item 2: every save failed after the solve, and the old result.json was deleted."""
    case, problem, result = _solved()
    save_solve_outputs(mount_point, case, problem, result, figures=False)
    first = json.loads((mount_point / "result.json").read_text())["created"]
    save_solve_outputs(mount_point, case, problem, result, figures=False)  # the second run replaces the set in place
    _loaded_problem, loaded = load_result(mount_point)
    np.testing.assert_array_equal(loaded.solution, result.solution)
    assert first and not [p for p in mount_point.iterdir() if p.name.startswith(".")]


def test_a_failed_save_keeps_the_old_set_and_creates_nothing(tmp_path):
    case, problem, result = _solved()
    out = tmp_path / "out"
    save_solve_outputs(out, case, problem, result, figures=False)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(RuntimeError), staged_folder(out, "result.json", "result.json") as staging:
        (staging / "result.json").write_text("{}")
        raise RuntimeError("the disk filled up")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    with pytest.raises(RuntimeError), staged_folder(tmp_path / "new") as staging:
        raise RuntimeError("interrupted")
    assert not (tmp_path / "new").exists()
