"""torch (1-3 s to import) loads only where a run builds a network or runs on torch: never for the classical
methods, nor for the hybrid with a classical coarse space, by `solve` or `compare`; the default hybrid (the
network's coarse space) does load it, which shows the check can fail. numba (0.3-0.5 s with its compiler
context) loads only where a compiled kernel runs: not for multigrid, dst or direct."""
from __future__ import annotations

import json
import subprocess
import sys

#: (label, command-line arguments after the case); each runs in one process, in this order, and the
#: process reports after each whether torch is loaded.
_CLASSICAL = [
    ("solve multigrid", ["solve", "2d_square", "--n", "15", "--method", "multigrid"]),
    ("solve dst", ["solve", "2d_square", "--n", "15", "--method", "dst"]),
    ("solve direct", ["solve", "2d_square", "--n", "15", "--method", "direct"]),
    ("solve jacobi", ["solve", "2d_square", "--n", "15", "--method", "jacobi"]),
    ("solve hybrid --coarse polynomial", ["solve", "2d_square", "--n", "15", "--method", "hybrid", "--coarse",
                                          "polynomial"]),
    ("solve hybrid --coarse sine", ["solve", "2d_square", "--n", "15", "--method", "hybrid", "--coarse", "sine"]),
    ("solve hybrid --coarse polynomial, off the box", ["solve", "2d_lshape", "--n", "15", "--method", "hybrid",
                                                       "--coarse", "polynomial"]),
    ("compare of classical methods", ["compare", "2d_square", "--n", "15", "--methods", "jacobi,multigrid,dst,direct"]),
]
_NETWORK = ("solve hybrid (network coarse space)", ["solve", "2d_square", "--n", "15", "--method", "hybrid"])

_SCRIPT = """
import json, sys
from poissonfp.cli import main
loaded = []
for i, args in enumerate(json.loads(sys.argv[1])):
    flags = ["--out", f"{sys.argv[2]}/{i}", "--quiet"] + (["--no-figures"] if args[0] == "solve" else [])
    try:
        main(args + flags, standalone_mode=False)
    except SystemExit as done:
        assert not done.code, (args, done.code)
    loaded.append(["torch" in sys.modules, "numba" in sys.modules])
print(json.dumps(loaded))
"""


def _loaded_after_each(runs: list, tmp_path) -> list[list[bool]]:
    out = subprocess.run([sys.executable, "-c", _SCRIPT, json.dumps([args for _, args in runs]), str(tmp_path)],
                         capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_torch_is_imported_only_when_a_network_is_built(tmp_path):
    loaded = _loaded_after_each([*_CLASSICAL, _NETWORK], tmp_path)
    torch = [flags[0] for flags in loaded]
    first = next((label for (label, _), flag in zip(_CLASSICAL, torch) if flag), None)
    assert first is None, f"torch was imported by: {first}"
    assert torch[-1], "the network's hybrid ran without torch: the check above proves nothing"
    numba = [flags[1] for flags in loaded]
    assert numba[:3] == [False] * 3, f"numba was imported by: {_CLASSICAL[numba.index(True)][0]}"
    assert numba[3], "jacobi ran without numba: the check above proves nothing"


def test_single_threaded_limits_blas_and_a_loaded_torch_and_restores_them():
    import numpy  # noqa: F401  (its BLAS is the one limited)
    import torch
    from threadpoolctl import threadpool_info, threadpool_limits

    from poissonfp.threads import single_threaded

    def blas_threads() -> set[int]:
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}

    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with threadpool_limits(2, user_api="blas"):
            assert blas_threads() == {2}
            with single_threaded():
                assert torch.get_num_threads() == 1 and blas_threads() == {1}
            assert torch.get_num_threads() == 2 and blas_threads() == {2}
    finally:
        torch.set_num_threads(previous)
