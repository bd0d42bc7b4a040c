"""Real SIGINTs at any moment of `poissonfp solve` from 50 ms after the interpreter's start-up on: exit 130
within 2 s of the signal, and either a whole output set marked interrupted or "nothing written" (issue 18).

"Within 2 s" is a promise about a machine that gives the command a core. On a shared machine (the
suite runs beside other jobs on 2 cores) a wall-clock limit alone fails for the load, not for the code, so
each run is held to two limits that load does not move:

* the CPU time the process spends from the signal to its exit (its ``/proc`` stat when the signal is
  sent, its ``rusage`` when it is reaped) is under 2 s: the work it does after a Ctrl-C;
* its wall time from the signal to its exit is under 2 s times the machine's slowdown, measured just
  before the run as the wall time of a fixed piece of CPU work over its CPU time (1 on an idle machine).
  A process that ignores the signal, or hangs without using the CPU, fails this one.

The time is counted from the signal's delivery (``send_signal`` returned), never from the spawn, and the
moments are counted from the end of the interpreter's start-up (:func:`_startup_window`).
"""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CASE = Path(__file__).resolve().parents[1] / "cases" / "2d_square.toml"
POISSONFP = str(Path(sys.executable).with_name("poissonfp"))
#: The promise: seconds from a SIGINT to the exit.
LIMIT_S = 2.0
#: The earliest moment tested, after the interpreter's start-up (:func:`_startup_window`).
EARLIEST = 0.05
#: The latest: the solve has long started (module imports, case loading, set-up, sweeps, save all lie before).
LATEST = 3.0
#: Real SIGINTs sent, one per process (the issue's 20).
RUNS = 20
#: Past this, a run is a hang whatever the load.
HANG_S = 60.0
_TICK = os.sysconf("SC_CLK_TCK")


def _start(out: Path, ignore_sigint: bool) -> tuple[subprocess.Popen, Path]:
    """The console script on a Jacobi solve of tens of seconds, its stderr to a file; with
    ``ignore_sigint`` the process starts as a background job of a non-interactive shell does (``cmd &``):
    SIGINT inherited as ignored."""
    args = [POISSONFP, "solve", str(CASE), "--method", "jacobi", "--n", "255", "--criterion", "residual",
            "--tol", "1e-14", "--out", str(out), "--quiet"]
    setup = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore_sigint else None
    errors = out.parent / "stderr.txt"
    with errors.open("w") as stream:
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=stream, preexec_fn=setup)
    return process, errors


def _startup_window() -> float:
    """Seconds the interpreter takes, now, before poissonfp's first statement runs (start-up, site's .pth
    files, ``import poissonfp.__main__``): twice that of a probe process. A signal before it meets
    Python's own handling (a traceback in site.py, or death by SIGINT); the moments are counted from it,
    so a busy machine does not shift them into it (measured: 0.04 s idle, 0.15-0.3 s at load 10-16)."""
    start = time.monotonic()
    subprocess.run([sys.executable, "-c", "import poissonfp.__main__"], check=True)
    return 2 * (time.monotonic() - start)


def _slowdown(work_s: float = 0.05) -> float:
    """Wall time over CPU time of ``work_s`` CPU seconds of pure Python here and now: 1 on an idle
    machine, about the load per core on a busy one."""
    wall, cpu = time.monotonic(), time.process_time()
    while time.process_time() - cpu < work_s:
        sum(i * i for i in range(2000))
    return max(1.0, (time.monotonic() - wall) / (time.process_time() - cpu))


def _cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system, every thread) the live process ``pid`` has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _reap(process: subprocess.Popen, deadline: float) -> tuple[int, float, float] | None:
    """Wait for ``process`` until ``deadline`` (monotonic): its exit code, the moment it was reaped and its
    CPU seconds in all; None (the process killed) if it was still running."""
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return process.returncode, time.monotonic(), usage.ru_utime + usage.ru_stime
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            return None
        time.sleep(0.005)


def _interrupt(folder: Path, delay: float, ignore_sigint: bool) -> dict:
    """One run: start, send SIGINT ``delay`` s after the start-up window, reap; what a check needs."""
    window, slowdown = _startup_window(), _slowdown()
    out = folder / "out"
    process, errors = _start(out, ignore_sigint)
    time.sleep(window + delay)
    cpu_before = _cpu_seconds(process.pid)
    process.send_signal(signal.SIGINT)
    sent = time.monotonic()
    reaped = _reap(process, sent + HANG_S)
    run = {"name": folder.name, "delay": delay, "ignored": ignore_sigint, "slowdown": slowdown, "out": out,
           "stderr": errors.read_text()}
    if reaped is not None:
        code, ended, cpu = reaped
        run.update(code=code, wall=ended - sent, cpu=cpu - cpu_before)
    return run


def _check(run: dict) -> None:
    """Exit 130, within the limits, no traceback, and a whole marked set or nothing written."""
    what = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in run.items() if k not in ("out", "stderr")}
    stderr = run["stderr"]
    assert "code" in run, f"still running {HANG_S:.0f} s after the SIGINT: {what}"
    assert run["code"] == 130, (what, stderr)
    assert run["cpu"] <= LIMIT_S, (f"{run['cpu']:.2f} s of CPU after the SIGINT", what, stderr)
    assert run["wall"] <= LIMIT_S * run["slowdown"], (f"{run['wall']:.2f} s after the SIGINT", what, stderr)
    assert not any(word in stderr for word in ("Traceback", "Exception ignored", "Aborted")), stderr
    out = run["out"]
    if out.exists():  # a whole set, marked
        record = json.loads((out / "result.json").read_text())
        assert record["interrupted"] is True and record["converged"] is False, what
        with np.load(out / "solution.npz") as data:
            assert data["solution"].shape == tuple(record["grid_shape"])
    else:
        assert "nothing written" in stderr, (what, stderr)
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no staging folder, no lock


def test_a_ctrl_c_in_the_first_second_is_never_lost(tmp_path):
    """Issue 18 item 1: at 0.3 s (modules still loading) the signal was lost when SIGINT was inherited
    ignored, and the solve ran to its end with exit 0."""
    for ignore in (False, True):
        folder = tmp_path / f"ignored-{ignore}"
        folder.mkdir()
        _check(_interrupt(folder, 0.05, ignore))


def test_twenty_sigints_at_random_moments(tmp_path):
    """RUNS solves one after the other (two at once would measure each other), each sent one real SIGINT
    at a random moment spread log-uniformly between EARLIEST and LATEST after the interpreter's start-up
    (module imports, case loading, set-up, the sweeps, the save), half of them with SIGINT inherited
    ignored. Every run is checked; the failures are reported together."""
    chooser = random.Random(18)
    moments = [EARLIEST * (LATEST / EARLIEST) ** ((index + chooser.random()) / RUNS) for index in range(RUNS)]
    failures, runs = [], []
    for index, delay in enumerate(moments):
        folder = tmp_path / f"run{index:02d}"
        folder.mkdir()
        run = _interrupt(folder, delay, ignore_sigint=index % 2 == 1)
        runs.append(run)
        try:
            _check(run)
        except AssertionError as error:
            failures.append(f"{folder.name}: {error}")
    assert len(runs) == RUNS == 20
    assert not failures, "\n".join(failures)
