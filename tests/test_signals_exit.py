"""How fast a signalled command ends: a Ctrl-C while numba runs Python code is raised at once (not held
back until the next record), and the command line leaves without the interpreter's teardown."""
import signal
import subprocess
import sys
import textwrap

import pytest

from poissonfp.interrupts import SignalGuard


def _call_from(filename: str, guard: SignalGuard) -> None:
    """Deliver SIGINT to ``guard`` from a frame whose code lives in ``filename``."""
    namespace: dict = {}
    code = compile("def notify(handle, number):\n    handle(number, sys._getframe())\n", filename, "exec")
    exec(code, {"sys": sys}, namespace)
    namespace["notify"](guard._handle, signal.SIGINT)


def test_a_signal_in_numbas_python_code_is_raised_at_once():
    """numba's frames were counted as a C callback: the signal waited (pending) until the solver's next
    record, so a Ctrl-C while numba loaded the Jacobi kernels from its cache took 1.3-1.6 s (load 5)."""
    with SignalGuard() as guard:
        with pytest.raises(KeyboardInterrupt):
            _call_from("/venv/site-packages/numba/core/caching.py", guard)
        # raised at once; still pending until the solve has its result, should a library swallow it
        assert guard.received == signal.SIGINT and guard.pending


def test_a_signal_inside_llvmlites_callback_is_still_held():
    with SignalGuard() as guard:
        _call_from("/venv/site-packages/llvmlite/binding/executionengine.py", guard)  # would be swallowed
        assert guard.pending


def test_exit_promptly_runs_atexit_and_skips_the_teardown():
    """Module teardown after an interrupted solve took 0.5-1.2 s on a loaded machine; exit_promptly ends the
    process after the atexit handlers (logging's flush among them) and the streams' flush."""
    script = textwrap.dedent("""
        import atexit, sys
        from poissonfp.interrupts import exit_promptly

        class Teardown:
            def __del__(self):
                sys.stderr.write("teardown ran\\n")

        keep = Teardown()
        atexit.register(lambda: sys.stderr.write("atexit ran\\n"))
        sys.stdout.write("unflushed line")
        exit_promptly(130)
        sys.stderr.write("after the exit\\n")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 130 and done.stdout == "unflushed line"
    assert done.stderr == "atexit ran\n", done.stderr


def test_the_command_line_exits_promptly_after_a_signal_only(monkeypatch):
    """poissonfp.__main__.run, in the command line's process: a command that ends with 130 / 143 leaves
    through exit_promptly; any other status through Python's normal exit (and in any other process, such as
    this test's, always: the other tests here call run() and must not end pytest)."""
    import poissonfp.cli
    import poissonfp.interrupts
    from poissonfp import __main__ as entry

    class Prompt(Exception):
        pass

    def prompt(code):
        raise Prompt(code)

    monkeypatch.setattr(poissonfp.interrupts, "exit_promptly", prompt)
    monkeypatch.setattr(entry, "_is_entry_point", lambda: True)  # as in the console script's process
    for code, expected in ((130, Prompt), (143, Prompt), (0, SystemExit), (2, SystemExit)):
        def command(code=code):
            raise SystemExit(code)

        monkeypatch.setattr(poissonfp.cli, "main", command)
        with pytest.raises(expected) as caught:
            entry.run()
        assert caught.value.args[0] == code


def test_run_outside_the_command_lines_process_exits_normally(monkeypatch):
    import poissonfp.cli
    from poissonfp import __main__ as entry

    def command():
        raise SystemExit(130)

    monkeypatch.setattr(poissonfp.cli, "main", command)
    with pytest.raises(SystemExit) as caught:
        entry.run()
    assert caught.value.code == 130
