"""Real SIGINTs at any moment of `poissonfp solve` from 50 ms after the interpreter's start-up on: exit 130
within 2 s, and either a whole output set marked interrupted or nothing written."""
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

CASE = Path(__file__).resolve().parents[1] / "cases" / "2d_square.toml"
POISSONFP = str(Path(sys.executable).with_name("poissonfp"))


def _start(out: Path, ignore_sigint: bool) -> subprocess.Popen:
    """The console script on a Jacobi solve of tens of seconds; with ``ignore_sigint`` the process starts
    as a background job of a non-interactive shell does (``cmd &``): SIGINT inherited as ignored."""
    args = [POISSONFP, "solve", str(CASE), "--method", "jacobi", "--n", "255", "--criterion", "residual",
            "--tol", "1e-14", "--out", str(out), "--quiet"]
    setup = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore_sigint else None
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=setup)


def _startup_window(together: int = 1) -> float:
    """Seconds the interpreter takes, now, before poissonfp's first statement runs (start-up, site's .pth
    files, ``import poissonfp.__main__``), measured for ``together`` processes started at once as the test
    starts them: twice the longest of them. A signal before that meets Python's own handling (a traceback
    in site.py, or death by SIGINT); the moments below are counted from it, so a busy machine does not shift
    them into it (measured: 0.04 s idle, 0.15-0.3 s for one process at load 10-16)."""
    start = time.monotonic()
    probes = [subprocess.Popen([sys.executable, "-c", "import poissonfp.__main__"]) for _ in range(together)]
    times = []
    for probe in probes:
        probe.wait()
        times.append(time.monotonic() - start)
    return 2 * max(times)


def _check_outcome(out: Path, process: subprocess.Popen, sent: float) -> None:
    """The process ended with 130 within 2 s of ``sent`` (its SIGINT), leaving a marked set or nothing."""
    try:
        _, stderr = process.communicate(timeout=max(0.1, sent + 2.0 - time.monotonic()))
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"{out.name}: still running 2 s after the SIGINT")
    assert process.returncode == 130, (out.name, stderr)
    assert "Traceback" not in stderr and "Aborted" not in stderr, stderr
    if out.exists():  # a whole set, marked
        record = json.loads((out / "result.json").read_text())
        assert record["interrupted"] is True and record["converged"] is False
        with np.load(out / "solution.npz") as data:
            assert data["solution"].shape == tuple(record["grid_shape"])
    else:
        assert "nothing written" in stderr or stderr.strip() == "interrupted", stderr
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no staging folder, no lock


@pytest.mark.parametrize("ignore_sigint", [False, True], ids=["sigint-default", "sigint-inherited-ignored"])
def test_a_ctrl_c_in_the_first_second_is_never_lost(tmp_path, ignore_sigint):
    """Issue 18 item 1: at 0.3 s (modules still loading) the signal was lost when SIGINT was inherited
    ignored, and the solve ran to its end with exit 0."""
    out = tmp_path / "out"
    window = _startup_window()
    process = _start(out, ignore_sigint)
    time.sleep(window + 0.05)  # modules still loading: seconds before the command's own guard
    process.send_signal(signal.SIGINT)
    _check_outcome(out, process, time.monotonic())


#: The earliest moment tested, after the interpreter's start-up (:func:`_startup_window`).
EARLIEST = 0.05
#: Solves run at once.
AT_ONCE = 2


def test_twenty_sigints_at_random_moments(tmp_path):
    """20 solves, 2 at a time (one per core of this 2-core machine: the interrupted save takes ~0.8 s of CPU, so five at once
    shared two cores past the 2 s limit), each sent one SIGINT at a random moment spread log-uniformly between
    EARLIEST and 3 s after the interpreter's start-up (module imports, case loading, the solve, the save;
    half of them with SIGINT inherited ignored)."""
    chooser = random.Random(18)
    window = _startup_window(together=AT_ONCE)
    runs = [(EARLIEST * (3.0 / EARLIEST) ** ((index + chooser.random()) / 20), index % 2 == 1) for index in range(20)]
    for first in range(0, len(runs), AT_ONCE):
        batch = []
        for index, (delay, ignore) in enumerate(runs[first:first + AT_ONCE], start=first):
            folder = tmp_path / f"run{index}"
            folder.mkdir()
            batch.append((folder / "out", _start(folder / "out", ignore), time.monotonic() + window + delay))
        sent = []
        for out, process, when in sorted(batch, key=lambda item: item[2]):
            time.sleep(max(0.0, when - time.monotonic()))
            process.send_signal(signal.SIGINT)
            sent.append((out, process, time.monotonic()))
        for out, process, at in sent:
            _check_outcome(out, process, at)
