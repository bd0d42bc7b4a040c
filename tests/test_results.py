"""Atomic writers: all or nothing, ordinary permissions, JSON without NaN."""
import json
import os

import numpy as np
import pytest

from poissonfp.results import atomic_path, write_json, write_npz


def test_failed_write_leaves_nothing_behind(tmp_path):
    target = tmp_path / "result.json"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("{half")
        raise RuntimeError("interrupted while writing")
    assert list(tmp_path.iterdir()) == []


def test_written_files_have_the_permissions_open_would_give(tmp_path):
    mask = os.umask(0)
    os.umask(mask)
    path = write_json(tmp_path / "a.json", {"x": 1})
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_json_has_no_nan_and_npz_round_trips(tmp_path):
    write_json(tmp_path / "a.json", {"bad": float("inf"), "v": np.arange(3)})
    assert json.loads((tmp_path / "a.json").read_text()) == {"bad": None, "v": [0, 1, 2]}
    write_npz(tmp_path / "s.npz", u=np.eye(2))
    with np.load(tmp_path / "s.npz") as data:
        np.testing.assert_array_equal(data["u"], np.eye(2))
