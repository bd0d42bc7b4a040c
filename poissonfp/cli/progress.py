"""The one progress display of every command: a status line on stderr, with an ETA where the end is known.

On a terminal the line rewrites itself (``\\r``) at most five times a second, after ``delay`` seconds,
padded so no fragment of a longer earlier line remains. When stderr is not a terminal (a log file,
a pipe, CI) it prints whole lines, one every ``interval`` seconds, and never a ``\\r``. The clock shown is
the one the caller passes (for a solve: the monitor's solver clock, the same one the summary's wall
time reads), so the two always agree.
"""
from __future__ import annotations

import sys
import time
from typing import TextIO, TypeVar

_Line = TypeVar("_Line", bound="ProgressLine")

__all__ = ["ProgressLine", "SolveProgress", "StepProgress", "format_duration"]


def format_duration(seconds: float) -> str:
    """``"42.0s"``, ``"3m07s"`` or ``"1h02m"``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


class ProgressLine:
    """A status line for one task.

    Args:
        label: what runs (shown first).
        quiet: show nothing.
        stream: where to write (default ``sys.stderr``).
        delay: seconds before anything is shown (short runs stay silent).
        interval: seconds between two whole lines when ``stream`` is not a terminal.
    """

    def __init__(self, label: str, quiet: bool = False, stream: TextIO | None = None, delay: float = 1.0,
                 interval: float = 10.0) -> None:
        self.label, self.quiet, self.delay, self.interval = label, quiet, delay, interval
        self.stream = stream or sys.stderr
        self.terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        self._start = time.perf_counter()
        self._last = -float("inf")
        self._width = 0

    def update(self, text: str, *, clock: float | None = None, done: float | None = None,
               total: float | None = None, force: bool = False) -> None:
        """Show ``text`` with the clock (default: time since creation) and, when ``done`` of ``total``
        is known, a percentage and an ETA (remaining work at the pace so far). ``force`` shows it now,
        whatever the delay and the pace (a task's start)."""
        now = time.perf_counter()
        if self.quiet:
            return
        if not force and (now - self._start < self.delay
                          or now - self._last < (0.2 if self.terminal else self.interval)):
            return
        self._last = now
        clock = now - self._start if clock is None else clock
        line = f"{self.label} {text} {format_duration(clock)}"
        if total and done is not None and 0 < done <= total:
            eta = clock / done * (total - done)
            line += f" [{100 * done / total:3.0f}% of {total:,.0f}, ETA {format_duration(eta)}]"
        self._write(line)

    def elapsed(self) -> float:
        """Seconds since the line was created."""
        return time.perf_counter() - self._start

    def finish(self, text: str) -> None:
        """Replace the status with the task's outcome ``text`` (always shown unless quiet) and end the line."""
        if self.quiet:
            return
        self._write(f"{self.label} {text}")
        self.close()

    def _write(self, line: str) -> None:
        if self.terminal:
            self.stream.write("\r" + line.ljust(self._width))
            self._width = max(self._width, len(line), 1)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the line on a terminal (if one was shown)."""
        if self.terminal and self._width:
            self.stream.write("\n")
            self.stream.flush()
        self._width = 0

    def __enter__(self: _Line) -> _Line:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SolveProgress(ProgressLine):
    """A :class:`ProgressLine` fed with a solver monitor's records (use it as the solve's callback).

    Args:
        label: what runs.
        training_steps: the network's step budget when it is fixed (``dnn``, or a hybrid with a
            fixed switch): the training phase then shows an ETA.
        **options: passed to :class:`ProgressLine`.
    """

    def __init__(self, label: str, training_steps: int | None = None, **options) -> None:
        super().__init__(label, **options)
        self.training_steps = training_steps

    def __call__(self, record: dict) -> None:
        steps = record.get("dnn_steps") or 0
        phase = record.get("phase", "")
        text = f"{phase} it {record['iteration']:,}" + (f" dnn {steps:,}" if steps else "")
        text += f" res {record['rel_residual']:.2e}"
        in_training = phase == "dnn" and self.training_steps
        self.update(text, clock=record["time_s"], done=steps if in_training else None,
                    total=self.training_steps if in_training else None)


class StepProgress:
    """Progress of a run of steps that report ``(key, done, total)`` (diagnose's experiments and seeds):
    one :class:`ProgressLine` per key, each finished when the next key starts.

    Args:
        quiet: show nothing.
        **options: passed to every :class:`ProgressLine`.
    """

    def __init__(self, quiet: bool = False, **options) -> None:
        self.quiet, self.options = quiet, options
        self._key: object = None
        self._line: ProgressLine | None = None
        self._last = (0.0, 0.0)

    def __call__(self, key: object, label: str, done: float, total: float) -> None:
        if key != self._key:
            self.close()
            self._key, self._line = key, ProgressLine(label, self.quiet, **self.options)
            self._line.update("started", force=True)
        assert self._line is not None
        self._last = (done, total)
        self._line.update(f"{done:,.0f}/{total:,.0f}", done=done, total=total)

    def close(self) -> None:
        """Finish the current line (with the steps reached)."""
        if self._line is not None:
            done, total = self._last
            self._line.finish(f"{done:,.0f}/{total:,.0f} {format_duration(self._line.elapsed())}")
        self._line = None
