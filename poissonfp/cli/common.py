"""What every command shares: one-line errors with the right exit code, and a progress line."""
from __future__ import annotations

import functools
import sys
import time
from typing import Any, Callable

import click

from poissonfp.case import CaseError
from poissonfp.solvers import DivergenceError

__all__ = ["guarded", "Progress", "OneLineErrors", "with_flags", "EXIT_USAGE", "EXIT_FAILED", "EXIT_INTERRUPTED"]

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class OneLineErrors(click.Group):
    """A command group whose usage errors, its own and its commands', print one line
    (``Error: ...``, no usage block) and exit with status 2, and where a Ctrl-C that no command handles
    (while a command imports its modules, say) prints ``interrupted`` and exits with 130, not click's
    ``Aborted!`` and 1."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as error:
            error.ctx = None
            raise

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as error:
            error.ctx = None
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None


#: ``Case.with_overrides`` keywords whose flag is not ``--keyword``.
_FLAGS = {"size": "--n"}


def with_flags(case: Any, **flags: Any) -> Any:
    """``case.with_overrides(**flags)`` for command-line values: an error names the flag (``--method``)."""
    try:
        return case.with_overrides(**flags)
    except CaseError as err:
        if err.key not in flags:
            raise
        flag = _FLAGS.get(err.key, "--" + err.key.replace("_", "-"))
        raise CaseError(err.path, flag, err.message, err.expected) from None


def guarded(command: Callable) -> Callable:
    """Turn expected failures into one line on stderr and an exit code, never a traceback.

    Invalid input (a case file or a flag) exits with 2; a diverging solver or an unwritable output
    exits with 1.
    """

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except CaseError as err:
            click.echo(f"error: {err}", err=True)
            raise click.exceptions.Exit(EXIT_USAGE) from None
        except DivergenceError as err:
            click.echo(f"error: {err}", err=True)
            raise click.exceptions.Exit(EXIT_FAILED) from None
        except OSError as err:
            click.echo(f"error: cannot write outputs: {err}", err=True)
            raise click.exceptions.Exit(EXIT_FAILED) from None
        except MemoryError:
            click.echo("error: out of memory (the estimate before the solve was too low); try a smaller --n",
                       err=True)
            raise click.exceptions.Exit(EXIT_FAILED) from None

    return wrapper


class Progress:
    """A single self-updating status line on stderr, shown only for runs longer than ``delay`` seconds.

    Use an instance as the solver callback; it reads the fields of the monitor's history records.
    """

    def __init__(self, label: str, quiet: bool = False, delay: float = 1.0) -> None:
        self.label, self.quiet, self.delay = label, quiet, delay
        self._start = time.perf_counter()
        self._shown = False
        self._last = 0.0

    def __call__(self, record: dict) -> None:
        now = time.perf_counter()
        if self.quiet or now - self._start < self.delay or now - self._last < 0.2:
            return
        self._last = now
        width = 24
        filled = int(round(width * record.get("progress", 0.0)))
        steps = f" dnn {record['dnn_steps']}" if record.get("dnn_steps") else ""
        line = (f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {record.get('phase', '')}"
                f"{steps} it {record['iteration']:,} res {record['rel_residual']:.2e} "
                f"{now - self._start:6.1f}s")
        sys.stderr.write(line)
        sys.stderr.flush()
        self._shown = True

    def close(self) -> None:
        """End the status line (if one was shown)."""
        if self._shown:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._shown = False
