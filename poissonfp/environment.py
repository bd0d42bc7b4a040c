"""Where a result was computed: package versions, the git commit of the source tree, thread counts."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["environment_record"]

_PACKAGES = ("poissonfp", "numpy", "scipy", "torch", "numba", "pyamg", "sympy", "matplotlib", "click", "pyevtk")
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def git_commit(folder: Path | None = None) -> str | None:
    """The commit checked out in the git tree holding ``folder`` (the package's source by default),
    with ``+dirty`` when tracked files differ from it; None outside a git tree or without git."""
    folder = folder or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True,
                                timeout=5)
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=folder,
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def _threads() -> dict[str, Any]:
    threads: dict[str, Any] = {"cpu_count": os.cpu_count()}
    if "torch" in sys.modules:
        threads["torch"] = sys.modules["torch"].get_num_threads()
    if "numba" in sys.modules:
        threads["numba"] = sys.modules["numba"].get_num_threads()
    threads.update({name: os.environ[name] for name in _THREAD_VARIABLES if name in os.environ})
    return threads


def environment_record() -> dict[str, Any]:
    """Package versions, Python and platform, git commit (None outside a git tree) and thread counts."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in _PACKAGES},
        "git_commit": git_commit(),
        "threads": _threads(),
    }
