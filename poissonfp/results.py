"""Atomic saving of run outputs: JSON, NPZ and figures, and whole output sets.

Every writer goes through a temporary file in the destination folder followed by
``os.replace``, so an interrupted run never leaves a half-written file behind. A whole set is
written into a staging folder inside its destination (:func:`staged_folder`), under an exclusive
lock (:class:`OutputLock`), after a check made before any work (:func:`check_output_folder`).
"""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "OutputError",
    "OutputLock",
    "atomic_path",
    "check_output_folder",
    "read_json",
    "read_limited",
    "save_figure",
    "staged_folder",
    "to_jsonable",
    "write_json",
    "write_npz",
    "write_text",
]


def read_limited(path: str | os.PathLike, limit: int) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them.

    Opens without blocking and checks the opened file, so a FIFO, a device (``/dev/zero``), a socket or
    a folder is refused at once instead of hanging or filling the memory.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a regular file, or larger than ``limit`` bytes (the message says which).
        OSError: the file cannot be read.
    """
    import stat

    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else \
                "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a special file"
            raise ValueError(f"is {kind}, not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as stream:
            data = stream.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise ValueError(f"is larger than {limit:,} bytes")
    return data


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it into place only on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or target.suffix, dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.chmod(0o666 & ~_umask())  # mkstemp makes 0600; give the file the permissions open() would
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def to_jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays, paths and dataclass-like values to JSON types.

    Non-finite floats become ``None`` (JSON has no NaN or infinity).

    >>> to_jsonable({"a": np.float64(1.5), "b": np.array([1, 2]), "c": float("nan")})
    {'a': 1.5, 'b': [1, 2], 'c': None}
    """
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(to_jsonable(data), indent=2) + "\n")
    return Path(path)


#: The largest JSON file :func:`read_json` reads.
MAX_JSON_BYTES = 256 << 20


def read_json(path: str | os.PathLike, limit: int = MAX_JSON_BYTES) -> Any:
    """Read a JSON file written by :func:`write_json` (a regular file of at most ``limit`` bytes).

    Raises:
        FileNotFoundError, OSError: as :func:`read_limited`.
        ValueError: not a regular file, too large, not UTF-8 or not JSON.
    """
    return json.loads(read_limited(path, limit).decode("utf-8"))


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_npz(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """Write arrays to a compressed ``.npz`` file atomically."""
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **arrays)  # type: ignore[arg-type]  # numpy's stub types allow_pickle only
    return Path(path)


def save_figure(fig, path: str | os.PathLike, dpi: int = 150) -> Path:
    """Save a matplotlib figure atomically (format from the suffix) and close it."""
    import matplotlib.pyplot as plt

    target = Path(path)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=target.suffix.lstrip(".") or "png")
    plt.close(fig)
    return target


class OutputError(OSError):
    """An output folder cannot be used: not writable, not a folder, or another run is writing it."""


def check_output_folder(out: str | os.PathLike) -> Path:
    """Make sure ``out`` can receive an output set before any work starts; return it as a Path.

    Creates the missing parent folders (not ``out`` itself) and writes and removes a probe file in
    the parent (where the set is staged) and in ``out`` when it exists: permission bits alone do not
    tell (root, read-only mounts). Raises :class:`OutputError` naming the folder otherwise. Symbolic
    links are resolved first: the lock (:class:`OutputLock`) is taken on the real folder, so a link and
    its target never hold two locks on one set.
    """
    out = Path(os.path.realpath(out))
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out}: exists and is not a folder")
    blocking = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise OutputError(f"--out {out}: {blocking} is a file, not a folder")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"--out {out}: cannot create its parent folder ({err.strerror or err})") from None
    for folder in (out.parent, out) if out.exists() else (out.parent,):
        try:
            fd, probe = tempfile.mkstemp(prefix=".poissonfp-probe-", dir=folder)
            os.close(fd)
            os.unlink(probe)
        except OSError as err:
            raise OutputError(f"--out {out}: cannot write in {folder} ({err.strerror or err})") from None
    return out


class OutputLock:
    """An exclusive, non-blocking lock on an output folder, so two runs never write one set.

    The lock is the file ``.<name>.lock`` beside the folder, locked with ``flock`` and removed on
    release. A second run that finds it locked fails at once with :class:`OutputError` (it does not
    wait). On a system without ``fcntl`` (Windows) the lock is a no-op.
    """

    def __init__(self, out: str | os.PathLike) -> None:
        self.out = Path(out)
        self.path = self.out.parent / f".{self.out.name}.lock"
        self._fd: int | None = None

    def __enter__(self) -> OutputLock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return self
        while True:
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o666)
            except OSError as err:
                raise OutputError(f"--out {self.out}: cannot create {self.path.name} ({err.strerror})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise OutputError(f"--out {self.out}: another poissonfp run is writing this folder "
                                  f"(lock {self.path})") from None
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:  # else the previous holder removed the file between our open and flock: retry
                self._fd = fd
                return self
            os.close(fd)

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            with suppress(FileNotFoundError):
                self.path.unlink()
            os.close(self._fd)
            self._fd = None


@contextmanager
def staged_folder(out: str | os.PathLike, first_out: str = "", last_in: str = "",
                  owned: tuple[str, ...] = ()) -> Iterator[Path]:
    """Yield an empty temporary folder inside ``out``; on success its files become ``out``'s set.

    The staging folder lives inside ``out`` (created when missing), so every move is a rename of a file
    within one folder of one file system: ``out`` itself is never renamed, and a mount point (a
    container volume) or a folder on another device works as any other. The files replace those of
    ``out`` one by one (each ``os.replace`` is atomic), ``first_out`` (e.g. ``result.json``) being removed
    from ``out`` only once the new set is complete and right before the first file moves, and
    ``last_in`` moved in after all others, so ``out`` never holds a ``last_in`` next to a partial set;
    files of an older set named in ``owned`` that the new set lacks are removed (other files in ``out``
    are kept). On failure (an exception, a Ctrl-C included) the staging folder is removed, ``out`` is
    left as it was, and an ``out`` this call created is removed again.
    """
    target = Path(out)
    created = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target))
    staging.chmod(0o777 & ~_umask())
    moved = False
    try:
        yield staging
        names = sorted(p.name for p in staging.iterdir())
        moved = True
        if first_out:
            (target / first_out).unlink(missing_ok=True)
        for name in set(owned) - set(names):
            (target / name).unlink(missing_ok=True)
        for name in sorted(names, key=lambda n: n == last_in):
            os.replace(staging / name, target / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created and not moved:
            with suppress(OSError):
                target.rmdir()
