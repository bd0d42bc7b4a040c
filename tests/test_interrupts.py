"""Ctrl-C and SIGTERM: real signals sent to `poissonfp solve`, and the pieces that make them safe."""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from poissonfp.grid import Grid
from poissonfp.interrupts import EXIT_SIGINT, EXIT_SIGTERM, SignalGuard, shielded
from poissonfp.problem import Problem
from poissonfp.solvers import Monitor, StoppingCriterion, solve
from poissonfp.solvers.base import HISTORY_KEYS
from poissonfp.solvers.classical.jacobi import JacobiIteration, run_jacobi

CASE = Path(__file__).resolve().parents[1] / "cases" / "2d_square.toml"
POISSONFP = [sys.executable, "-c", "from poissonfp.cli import main; main()"]


def _problem(n: int = 31) -> Problem:
    grid = Grid((0.0, 0.0), (1.0, 1.0), (n, n))
    return Problem.from_functions(grid, lambda x, y: 2 * np.pi**2 * np.sin(np.pi * x) * np.sin(np.pi * y),
                                  exact=lambda x, y: np.sin(np.pi * x) * np.sin(np.pi * y))


def _start_solve(out: Path, *extra: str) -> subprocess.Popen:
    """`poissonfp -vv solve` on a 2D Jacobi solve that needs ~10^5 sweeps (tens of seconds here)."""
    args = [*POISSONFP, "-vv", "solve", str(CASE), "--method", "jacobi", "--n", "255", "--criterion", "residual",
            "--tol", "1e-13", "--out", str(out), *extra]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(process: subprocess.Popen, marker: str) -> None:
    """Read stderr up to the log line holding ``marker``: "reading the case" (set-up starts) or
    "solving" (set-up done)."""
    for line in process.stderr:
        if marker in line:
            return
    pytest.fail(f"no log line with {marker!r}")


def _assert_interrupted_set(out: Path) -> dict:
    record = json.loads((out / "result.json").read_text())
    assert record["interrupted"] is True
    assert record["stop_reason"] == "interrupted" and record["converged"] is False
    assert len({len(v) for v in record["history"].values()}) == 1  # every history list equally long
    with np.load(out / "solution.npz") as data:
        assert data["solution"].shape == tuple(record["grid_shape"])
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no staging folder, no lock
    return record


SCENARIOS = {"SIGINT": ([signal.SIGINT], EXIT_SIGINT), "SIGTERM": ([signal.SIGTERM], EXIT_SIGTERM),
             "second Ctrl-C": ([signal.SIGINT, signal.SIGINT], EXIT_SIGINT)}


@pytest.fixture(scope="module")
def signalled(tmp_path_factory):
    """The three scenarios run together: started at once, each signalled at a random short delay
    after its solve began, then waited for (so no solve burns CPU while another one saves)."""
    root = tmp_path_factory.mktemp("signals")
    started = {}
    for name in SCENARIOS:
        out = root / name.replace(" ", "_") / "out"
        out.parent.mkdir()
        started[name] = (out, _start_solve(out, "--format", "vtk"))
    try:
        for _, process in started.values():
            _wait_for(process, "solving")
        for name, (_, process) in started.items():
            time.sleep(random.uniform(0.1, 0.5))
            for number in SCENARIOS[name][0]:
                process.send_signal(number)
                time.sleep(0.05)  # a second one lands while the state is recorded, plotted or saved
        finished = {}
        for name, (out, process) in started.items():
            _, stderr = process.communicate(timeout=300)
            finished[name] = (out, process.returncode, stderr)
        yield finished
    finally:
        for _, process in started.values():
            if process.poll() is None:
                process.kill()


@pytest.mark.parametrize("name", SCENARIOS)
def test_a_real_signal_during_the_solve_saves_the_state_marked_interrupted(signalled, name):
    """SIGINT -> 130, SIGTERM -> 143, a second Ctrl-C while stopping changes nothing: always a whole
    output set marked interrupted, never a traceback, `Aborted!` or a staging folder left behind."""
    out, returncode, stderr = signalled[name]
    assert returncode == SCENARIOS[name][1], stderr
    assert "Traceback" not in stderr and "Aborted" not in stderr
    record = _assert_interrupted_set(out)
    assert record["history"]["iteration"][-1] == record["iterations"]  # the last batch's sweeps counted
    assert (out / "solution.vtr").exists()


def test_ctrl_c_during_set_up_never_leaves_a_partial_set(tmp_path):
    out = tmp_path / "out"
    process = _start_solve(out)
    _wait_for(process, "reading the case")
    process.send_signal(signal.SIGINT)  # lands in case loading (nothing written) or later (a set, marked)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == EXIT_SIGINT, stderr
    assert "Traceback" not in stderr and "Aborted" not in stderr
    if out.exists():
        _assert_interrupted_set(out)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_an_interrupt_before_the_solver_starts_saves_the_initial_state(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from poissonfp.cli import main

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt  # as a Ctrl-C in the set-up of solve_case (modes, monitor)

    monkeypatch.setattr("poissonfp.api.solve_case", interrupted)
    before = signal.getsignal(signal.SIGINT)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["solve", str(CASE), "--n", "15", "--method", "jacobi", "--out", str(out)])
    assert result.exit_code == EXIT_SIGINT, result.output
    record = _assert_interrupted_set(out)
    assert record["iterations"] == 0 and record["rel_residual"] == 1.0
    assert signal.getsignal(signal.SIGINT) is before  # the guard is gone


def _wrapped_interrupt(*_args, **_kwargs):
    """A Ctrl-C inside a class body of a module a lazy import runs: Python 3.11 raises it as the cause of
    RuntimeError("Error calling __set_name__ ..."), which no ``except KeyboardInterrupt`` catches."""
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt as interrupt:
        raise RuntimeError("Error calling __set_name__ on 'Field' instance") from interrupt


def test_a_wrapped_interrupt_in_the_set_up_still_saves_the_initial_state(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from poissonfp.cli import main

    monkeypatch.setattr("poissonfp.api.solve_case", _wrapped_interrupt)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["solve", str(CASE), "--n", "15", "--method", "jacobi", "--out", str(out)])
    assert result.exit_code == EXIT_SIGINT, result.output
    record = _assert_interrupted_set(out)
    assert record["iterations"] == 0


def test_a_wrapped_interrupt_before_the_case_is_read_writes_nothing_and_a_later_error_stays_an_error(
        tmp_path, monkeypatch):
    from click.testing import CliRunner

    from poissonfp.cli import main

    monkeypatch.setattr("poissonfp.case.load_case", _wrapped_interrupt)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["solve", str(CASE), "--n", "15", "--out", str(out)])
    assert result.exit_code == EXIT_SIGINT and "nothing written" in result.output and not out.exists()

    def failed_after_an_interrupt(*_args, **_kwargs):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise OSError("disk full")  # noqa: B904  (its context is the interrupt, its cause none: a write error)

    monkeypatch.setattr("poissonfp.case.load_case", failed_after_an_interrupt)
    result = CliRunner().invoke(main, ["solve", str(CASE), "--n", "15", "--out", str(out)])
    assert result.exit_code == 1 and "cannot write outputs: disk full" in result.output


# -- the pieces --------------------------------------------------------------------------------
def test_monitor_record_appends_all_or_nothing():
    problem = _problem(7)

    def interrupt(_entry):
        raise KeyboardInterrupt

    monitor = Monitor(problem, StoppingCriterion(), modes=[(1, 1)])
    monitor.record(np.zeros(problem.grid.shape), 0)
    monitor.metrics = lambda u: (_ for _ in ()).throw(KeyboardInterrupt)  # interrupted mid-record
    with pytest.raises(KeyboardInterrupt):
        monitor.record(np.zeros(problem.grid.shape), 1)
    monitor.callback = interrupt  # interrupted after appending: the record is whole
    del monitor.metrics
    with pytest.raises(KeyboardInterrupt):
        monitor.record(np.zeros(problem.grid.shape), 2)
    assert {len(monitor.history[k]) for k in HISTORY_KEYS} == {2}
    assert len(monitor.mode_history) == 2


def test_monitor_record_rolls_back_a_partial_append():
    problem = _problem(7)
    monitor = Monitor(problem, StoppingCriterion(), modes=[(1, 1)])
    monitor.history["error_vs_exact_inf"] = _FailingList()  # fails half-way through the appends
    with pytest.raises(KeyboardInterrupt):
        monitor.record(np.zeros(problem.grid.shape), 0)
    assert {len(v) for v in monitor.history.values()} == {0} and monitor.mode_history == []


class _FailingList(list):
    def append(self, value):
        raise KeyboardInterrupt


def _interrupt_kernel_call(iteration: JacobiIteration, call: int) -> list[int]:
    """Make the ``call``-th kernel call raise KeyboardInterrupt as it returns (as a Ctrl-C landing
    right after it); return the list of sweep counts asked for, filled as calls happen."""
    counts, original = [], iteration.sweep

    def sweep(count, reference=None):
        stats = original(count, reference)
        counts.append(count)
        if len(counts) == call:
            raise KeyboardInterrupt
        return stats

    iteration.sweep = sweep
    return counts


def test_jacobi_counts_every_sweep_that_ran_when_interrupted():
    problem = _problem(31)
    iteration = JacobiIteration(problem)
    counts = _interrupt_kernel_call(iteration, 5)
    done, reason = run_jacobi(iteration, Monitor(problem, StoppingCriterion("residual", 1e-14)), 10**6)
    assert reason == "interrupted" and done == sum(counts) == iteration.sweeps
    reference = JacobiIteration(problem)
    reference.sweep(done)
    np.testing.assert_array_equal(iteration.solution, reference.solution)  # the iterate matches the count


def test_jacobi_reports_the_sweeps_it_needed_on_tiny_grids():
    """The sweep count is that of a sweep-by-sweep check, up to 12.5% (was a whole 2**18/size batch).

    The kernel measures the residual of the iterate a sweep starts from, so the count includes that
    sweep: on one unknown, sweep 1 is exact and sweep 2 sees it.
    """
    grid = Grid((0.0,), (1.0,), (1,))
    result = solve(Problem.from_functions(grid, lambda x: np.ones_like(x)), "jacobi", StoppingCriterion("residual", 1e-12))
    assert result.converged and result.iterations == 2  # was 262,144
    for n, tol in ((5, 1e-10), (15, 1e-8)):
        grid = Grid((0.0,), (1.0,), (n,))
        problem = Problem.from_functions(grid, lambda x: np.ones_like(x))
        result = solve(problem, "jacobi", StoppingCriterion("residual", tol))
        needed = _sweeps_checked_one_by_one(problem, tol)
        assert needed <= result.iterations <= 1.125 * needed + 1


def _sweeps_checked_one_by_one(problem: Problem, tol: float) -> int:
    iteration = JacobiIteration(problem)
    norm = np.linalg.norm(problem.rhs)
    while iteration.sweep(1)["residual_norm"] / norm > tol:
        pass
    return iteration.sweeps


def test_a_large_check_every_does_not_delay_the_stop():
    """Kernel calls are bounded in time: a Ctrl-C landing after one stops a 10^7-sweep batch early."""
    problem = _problem(63)
    iteration = JacobiIteration(problem)
    counts = _interrupt_kernel_call(iteration, 4)
    done, reason = run_jacobi(iteration, Monitor(problem, StoppingCriterion("residual", 1e-14)), 10**7,
                              batch=10**7)
    assert reason == "interrupted" and done == sum(counts)
    assert done < 10**6 and max(counts) < 10**6  # (the old driver ran the batch in one call: 10^7 sweeps)


@pytest.fixture
def default_sigint():
    """Python's own SIGINT handler (a shell starts background jobs with SIGINT ignored)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def test_shielded_holds_a_sigint_back_until_the_block_ends(default_sigint):
    ran = []
    with pytest.raises(KeyboardInterrupt), shielded():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)
        ran.append("whole block")
    assert ran == ["whole block"]


def test_guard_raises_once_then_only_records(default_sigint):
    with SignalGuard() as guard:
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGINT)  # a second signal: recorded, not raised
        time.sleep(0.01)
    assert guard.received == signal.SIGTERM and guard.count == 2 and guard.exit_code == EXIT_SIGTERM
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize("method", ["multigrid", "jacobi", "dnn", "direct"])
def test_every_method_returns_a_consistent_state_when_interrupted(method):
    """A Ctrl-C landing in a record (here: raised by the progress callback on the third record)."""
    from poissonfp.settings import NetworkSettings, TrainingSettings

    problem = _problem(31)
    calls = []

    def interrupt_third(_entry):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt

    options = ({"network": NetworkSettings(widths=(8,)), "training": TrainingSettings(adam_steps=200, galerkin=False)}
               if method == "dnn" else {})
    result = solve(problem, method, StoppingCriterion("residual", 1e-15), callback=interrupt_third, **options)
    assert len({len(v) for v in result.history.values()}) == 1
    if method == "direct":  # one step, no records before the final one: never interrupted
        assert not result.interrupted and result.stop_reason == "exact"
        return
    assert result.interrupted and result.stop_reason == "interrupted" and not result.converged
    assert result.history["iteration"][-1] == result.iterations
    assert result.history["dnn_steps"][-1] == result.dnn_steps


def test_a_signal_inside_a_foreign_callback_is_delivered_at_the_next_record():
    """A KeyboardInterrupt raised inside llvmlite's object-cache callback (numba compiling on a cold
    cache) is printed as "Exception ignored" and lost; the guard holds it and the monitor raises it."""
    import sys

    from poissonfp.interrupts import SignalGuard, raise_pending

    namespace: dict = {}
    code = compile("def notify(handle, number):\n    handle(number, sys._getframe())\n",
                   "/site-packages/llvmlite/binding/executionengine.py", "exec")
    exec(code, {"sys": sys}, namespace)
    with SignalGuard() as guard:
        namespace["notify"](guard._handle, signal.SIGINT)  # would have raised, and been swallowed
        assert guard.received == signal.SIGINT and guard.pending
        with pytest.raises(KeyboardInterrupt):
            raise_pending()
        assert guard.pending  # until the solve has its result (it may be swallowed again)
        guard.finish()
        assert not guard.pending
        raise_pending()  # after the result: nothing more
    problem = _problem(15)
    with SignalGuard() as guard:
        namespace["notify"](guard._handle, signal.SIGINT)
        result = solve(problem, "jacobi", StoppingCriterion("residual", 1e-12))
    assert result.interrupted and result.stop_reason == "interrupted" and result.iterations == 0
