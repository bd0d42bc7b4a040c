"""``python -m poissonfp`` and the ``poissonfp`` script: the command line.

SIGINT and SIGTERM are taken over from the first statement poissonfp runs in the command's process: when
this module is imported as the entry point (the console script imports it, then runs a last line of its own
before calling :func:`run`), a signal is recorded at once and delivered as soon as :func:`run` starts, which
then imports the command line inside its own handling. A signal while modules load (torch, numba, sympy
take seconds) ends in one line and exit status 130 / 143, never a traceback, and never silence. A process
started in the background by a non-interactive shell (``cmd &``, ``nohup``) inherits SIGINT *ignored*; the
commands' own guard handles SIGINT later in any case, so it is handled from the start too instead of
losing a Ctrl-C (or ``kill -INT``) sent in the first seconds. Imported for any other purpose (a test),
nothing is installed until :func:`run` is called.
"""
import os
import signal
import sys
import threading

from poissonfp.interrupts import _in_foreign_callback, caused_by_interrupt

__all__ = ["run"]

EXIT_INTERRUPTED = 130
_EXIT_CODES: dict[int, int] = {signal.SIGINT: 128 + signal.SIGINT, signal.SIGTERM: 128 + signal.SIGTERM}

_received: list[int] = []
_running = [False]


def _first_signal(number: int, frame) -> None:
    """Record the first signal; raise it as KeyboardInterrupt once :func:`run` is running, unless it landed
    where the exception would be lost (a finalizer, a C callback): :func:`run` raises it when the import
    returns, or the command's guard takes it over."""
    if _received:
        return
    _received.append(number)
    if _running[0] and not _in_foreign_callback(frame):
        raise KeyboardInterrupt


def _take_signals() -> dict[int, object]:
    return {number: signal.signal(number, _first_signal) for number in _EXIT_CODES}


def _is_entry_point() -> bool:
    """The process is the command line itself (the console script or ``python -m poissonfp``)."""
    path = sys.argv[0] if sys.argv and sys.argv[0] else ""
    name = os.path.basename(path)
    ours = name in ("poissonfp", "poissonfp.exe") or (name == "__main__.py"
                                                      and os.path.basename(os.path.dirname(path)) == "poissonfp")
    return ours and threading.current_thread() is threading.main_thread()


_previous = _take_signals() if _is_entry_point() else None


def run() -> None:
    """Run the ``poissonfp`` command group (:func:`poissonfp.cli.main`)."""
    previous = _previous if _previous is not None else _take_signals()
    _running[0] = True
    loaded = False
    try:
        if _received:  # arrived between this module's import and now
            raise KeyboardInterrupt
        from poissonfp.cli import main

        loaded = True
        if _received:  # held back while the command line loaded
            raise KeyboardInterrupt
        main()
    except SystemExit as done:
        if done.code in _EXIT_CODES.values():  # a command stopped by a signal has written what it will
            _exit_promptly(int(done.code))  # type: ignore[arg-type]  # an int, checked just above
        raise
    except KeyboardInterrupt:
        _exit_interrupted(loaded)
    except Exception as error:
        if not caused_by_interrupt(error):
            raise
        _exit_interrupted(loaded)  # e.g. RuntimeError("Error calling __set_name__"): a Ctrl-C inside a class body
    finally:
        _running[0] = False
        for number, handler in previous.items():
            signal.signal(number, handler)  # type: ignore[arg-type]


def _exit_interrupted(loaded: bool) -> None:
    """One line and 130 / 143. Before the command line was loaded, or before any command entered its signal
    guard (commands write only inside one), nothing was written, and the line says so."""
    interrupts = sys.modules.get("poissonfp.interrupts")
    if not loaded:
        line = "interrupted while loading: nothing written"
    elif not getattr(interrupts, "guards_entered", 0):
        line = "interrupted before the command started: nothing written"
    else:
        line = "interrupted"
    sys.stderr.write(line + "\n")
    _exit_promptly(_EXIT_CODES.get(_received[0], EXIT_INTERRUPTED) if _received else EXIT_INTERRUPTED)


def _exit_promptly(code: int) -> None:
    """Exit without the interpreter's teardown (:func:`poissonfp.interrupts.exit_promptly`) when this
    process is the command line; called from elsewhere (a test), the normal ``SystemExit``."""
    if _is_entry_point():
        from poissonfp.interrupts import exit_promptly

        exit_promptly(code)
    sys.exit(code)


if __name__ == "__main__":
    run()
