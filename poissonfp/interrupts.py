"""Ctrl-C and SIGTERM as one controlled path: stop the work, save the state reached, exit 130 / 143.

Python turns SIGINT into :class:`KeyboardInterrupt` wherever the main thread happens to be, and lets
SIGTERM kill the process without running any ``except`` or ``finally``. The solvers already catch
``KeyboardInterrupt`` in their loops and return the state reached, marked ``stop_reason =
"interrupted"``. What they cannot control is *where* a signal lands: during set-up, during the final
record, while the outputs are written, or a second time while the first is being handled. A command
makes that predictable with :class:`SignalGuard`::

    with SignalGuard() as guard:              # SIGINT and SIGTERM now take the same path
        try:
            set_up()                          # the first signal raises KeyboardInterrupt here
            with guard.solving():             # the solvers catch it and return the state reached
                result = solve(...)
        except KeyboardInterrupt:
            ...                               # nothing reached: say so, write nothing
        with guard.deferred():                # signals are only recorded while saving
            save(result, interrupted=guard.received is not None)
    exit(guard.exit_code or 0)                # 130 after SIGINT, 143 after SIGTERM

Rules the guard enforces:

* the **first** signal raises ``KeyboardInterrupt`` (unless inside :meth:`SignalGuard.deferred`);
* every **later** signal is only recorded: a second Ctrl-C never aborts the clean-up of the first;
* inside :meth:`SignalGuard.deferred` signals are only recorded; the caller decides afterwards;
* library code that must not be torn apart (a solver's final record) wraps itself in
  :func:`shielded`: with a guard active it defers through the guard, without one it holds the signal
  back and re-raises ``KeyboardInterrupt`` when the block ends, so plain-Python callers keep their
  usual Ctrl-C behaviour;
* :func:`finish_solving` (called when a solver's result exists) tells the guard, inside its
  :meth:`SignalGuard.solving` block, that this solve is over: until the block ends signals are only
  recorded, so the solver's post-processing completes. A command that runs several solves (compare,
  bench) wraps each in ``solving()`` and stops when :attr:`SignalGuard.received` is set afterwards.

The exit codes follow the shell's convention 128 + signal number: 130 for SIGINT, 143 for SIGTERM.
Handlers can only be installed from the main thread; elsewhere the guard is inert.
"""
from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import FrameType
from typing import Any

__all__ = [
    "EXIT_SIGINT",
    "EXIT_SIGTERM",
    "SignalGuard",
    "caused_by_interrupt",
    "exit_promptly",
    "finish_solving",
    "interrupt_exit_code",
    "raise_pending",
    "shielded",
]

EXIT_SIGINT = 128 + signal.SIGINT     # 130
EXIT_SIGTERM = 128 + signal.SIGTERM   # 143
_SIGNALS = (signal.SIGINT, signal.SIGTERM)

#: How many guards this process has entered (a command writes only inside one): read by
#: :mod:`poissonfp.__main__` to tell "nothing written" when an interrupt escapes every command's handling.
guards_entered = 0


def caused_by_interrupt(error: BaseException) -> bool:
    """Whether ``error`` is a ``KeyboardInterrupt`` or was raised from one: Python wraps one raised inside some
    hooks (``__set_name__`` while a dataclass module is imported, e.g. by a lazy import inside a command) in
    another exception (``RuntimeError("Error calling __set_name__ ...")``, the interrupt as its ``__cause__``).
    Only causes are followed: an error raised while an interrupt was being handled (its ``__context__``, a
    failed write, say) is that error."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__
    return False


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class SignalGuard:
    """Route SIGINT and SIGTERM into one ``KeyboardInterrupt``, then only record them.

    Attributes:
        received: the number of the first signal received (``signal.SIGINT`` / ``SIGTERM``), or None.
        count: how many signals arrived in all.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self.count = 0
        #: a first signal not yet known to have reached the solver (see :func:`raise_pending`)
        self.pending = False
        self._defer = 0
        self._solving = False
        self._finished = False
        self._previous: dict[int, Any] = {}

    # -- context ------------------------------------------------------------------------------
    def __enter__(self) -> SignalGuard:
        global guards_entered
        guards_entered += 1
        if _main_thread():
            for number in _SIGNALS:
                self._previous[number] = signal.signal(number, self._handle)
            early = _entry_point_signal()
            if early is not None and self.received is None:  # its KeyboardInterrupt was swallowed while loading
                self.received, self.count, self.pending = early, self.count + 1, True
        return self

    def __exit__(self, *exc) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()

    def _handle(self, number: int, _frame: FrameType | None) -> None:
        self.count += 1
        if self.received is not None:
            return  # a second signal never interrupts the handling of the first
        self.received = number
        if not self._defer and not self._finished:
            # pending until the solve has its result: raise_pending() delivers it again at the solver's next
            # record should a library swallow the KeyboardInterrupt raised here (2 of 150 random Ctrl-Cs ran on
            # to the end of the solve before: the signal recorded, its exception lost)
            self.pending = True
            if _in_foreign_callback(_frame):
                return  # raising here would be swallowed
            raise KeyboardInterrupt

    # -- what callers use ---------------------------------------------------------------------
    @contextmanager
    def deferred(self) -> Iterator[SignalGuard]:
        """Record signals without raising inside the block (saving, printing the summary)."""
        self._defer += 1
        try:
            yield self
        finally:
            self._defer -= 1

    @contextmanager
    def solving(self) -> Iterator[SignalGuard]:
        """Mark one solve: once its result exists (:func:`finish_solving`, called by the solver's
        monitor) signals are only recorded until the block ends, so the solver's own post-processing
        completes. Check :attr:`received` after the block. Solves outside such a block (warm-ups)
        never end interruptibility."""
        self._solving = True
        try:
            yield self
        finally:
            self._solving = False
            self._finished = False
            self.pending = False

    def finish(self) -> None:
        """The interruptible work is over: record every later signal, never raise it."""
        self._finished = True
        self.pending = False

    @property
    def finished(self) -> bool:
        """Whether :meth:`finish` was called."""
        return self._finished

    @property
    def exit_code(self) -> int | None:
        """130 after SIGINT, 143 after SIGTERM, None when no signal arrived."""
        if self.received is None:
            return None
        return EXIT_SIGTERM if self.received == signal.SIGTERM else EXIT_SIGINT


#: Code whose frames run inside C callbacks (llvmlite's object-cache notifier while numba compiles, ctypes
#: callbacks): a ``KeyboardInterrupt`` raised there is printed as "Exception ignored" and lost. numba's
#: own Python frames are not listed: an exception raised in them propagates as from any Python code (its
#: compiler lock is a ``with`` block, its cache files are written to a temporary name, then replaced), and
#: holding the signal there until the next record made a Ctrl-C while numba loads the Jacobi kernels from
#: its cache (0.7 s of CPU, 1.3-1.6 s on a loaded 2-core machine) wait for the whole load.
_FOREIGN = ("llvmlite", "ctypes")


def _entry_point_signal() -> int | None:
    """The first signal :mod:`poissonfp.__main__` recorded while the command line loaded, if any: its
    ``KeyboardInterrupt`` should have ended the process before any command ran, so a guard that finds one
    takes it over (a library swallowed the exception)."""
    entry = sys.modules.get("poissonfp.__main__")
    received = getattr(entry, "_received", None)
    return received[0] if received else None


#: Python functions the interpreter calls where an exception cannot propagate ("Exception ignored in ...", then
#: lost): finalizers and weakref callbacks, among them importlib's module-lock callback (a Ctrl-C while modules
#: load landed there once in 80 signals on a loaded machine).
_FINALIZERS = (("<frozen importlib._bootstrap>", "cb"),)


def _in_foreign_callback(frame: FrameType | None) -> bool:
    """Whether ``frame`` runs inside a C callback or a finalizer, where a raised exception would be lost."""
    while frame is not None:
        code = frame.f_code
        name = code.co_filename.replace("\\", "/")
        if any(f"/{package}/" in name for package in _FOREIGN) or code.co_name == "__del__" \
                or (code.co_filename, code.co_name) in _FINALIZERS:
            return True
        frame = frame.f_back
    return False


def raise_pending() -> None:
    """Deliver a first signal that has not ended the solve yet as ``KeyboardInterrupt``: one that arrived
    inside a foreign callback (see :data:`_FOREIGN`), whose exception a library swallowed, or that the entry
    point recorded while loading. The solver's monitor calls it at every record and criterion check; it stays
    pending until the solve has its result (:meth:`SignalGuard.finish`) or its ``solving`` block ends. A no-op
    without an active guard and inside :meth:`SignalGuard.deferred`."""
    guard = _active_guard()
    if guard is not None and guard.pending and not guard._defer and not guard._finished:
        raise KeyboardInterrupt


def _active_guard() -> SignalGuard | None:
    if not _main_thread():
        return None
    handler = signal.getsignal(signal.SIGINT)
    owner = getattr(handler, "__self__", None)
    return owner if isinstance(owner, SignalGuard) else None


@contextmanager
def shielded() -> Iterator[None]:
    """Keep Ctrl-C / SIGTERM out of a block that must run whole (e.g. a solver's final record).

    With a :class:`SignalGuard` active the guard records the signal and, unless the computation was
    declared over inside the block (:func:`finish_solving`), raises it when the block ends. Without one, a SIGINT arriving inside the block is held back and raised as
    ``KeyboardInterrupt`` once the block has finished; off the main thread nothing changes.
    """
    guard = _active_guard()
    if guard is not None:
        before = guard.received
        with guard.deferred():
            yield
        if before is None and guard.received is not None and not guard.finished:
            raise KeyboardInterrupt  # the held-back first signal, now that the block is whole
        return
    if not _main_thread() or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    held: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda number, _frame: held.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if held:
        raise KeyboardInterrupt


def finish_solving() -> None:
    """A solve has its result: inside :meth:`SignalGuard.solving` the guard defers every later signal.

    Called by :meth:`poissonfp.solvers.base.Monitor.result`; a no-op without an active guard or
    outside its ``solving`` block.
    """
    guard = _active_guard()
    if guard is not None and guard._solving:
        guard.finish()


def interrupt_exit_code() -> int:
    """The exit code of the signal that interrupted the work: the active guard's (130 after SIGINT, 143
    after SIGTERM); 130 without a guard (a plain Ctrl-C) or when none was recorded."""
    guard = _active_guard()
    code = guard.exit_code if guard is not None else None
    return code or EXIT_SIGINT


def exit_promptly(code: int) -> None:
    """End the process with ``code`` now that its outputs are written and closed: flush the standard
    streams, run the ``atexit`` handlers (logging's flush among them), then leave without the
    interpreter's teardown. Tearing down the ~1,300 modules a solve imports (numba, llvmlite, sympy,
    scipy) took 0.5-1.2 s after the last line of an interrupted ``poissonfp solve`` on a loaded 2-core
    machine (load 4-5), half of the 2 s a Ctrl-C may take; with this exit it takes ~0.03 s. Only for the
    command line's own process, after a signal (:func:`poissonfp.__main__.run`): a library caller keeps
    Python's normal exit."""
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError, AttributeError):  # a closed pipe or no stream: nothing to add
            stream.flush()
    atexit._run_exitfuncs()
    os._exit(code)
