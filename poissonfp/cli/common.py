"""What every command shares: one-line errors with the right exit code, exit codes, logging set-up.

The progress display lives in :mod:`poissonfp.cli.progress`, the Ctrl-C / SIGTERM handling in
:mod:`poissonfp.interrupts`.
"""
from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any

import click

from poissonfp.case import CaseError
from poissonfp.interrupts import EXIT_SIGINT, EXIT_SIGTERM, caused_by_interrupt
from poissonfp.results import OutputError
from poissonfp.solvers.base import DivergenceError

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_REACHED",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "LOG_LEVELS",
    "OneLineErrors",
    "configure_logging",
    "guarded",
    "with_flags",
]

EXIT_FAILED = 1
EXIT_USAGE = 2
#: ``solve --strict``: the run ended without reaching its stopping criterion.
EXIT_NOT_REACHED = 3
EXIT_INTERRUPTED = EXIT_SIGINT     # 130: Ctrl-C
EXIT_TERMINATED = EXIT_SIGTERM     # 143: SIGTERM

LOG_LEVELS = ("debug", "info", "warning", "error")


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

    Invalid input (a case file or a flag) or an unusable output folder (checked before any work)
    exits with 2; a diverging solver or a failed write exits with 1; a Ctrl-C that reaches this far
    (nothing was computed yet) exits with 130 and one line.
    """

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except CaseError as err:
            click.echo(f"error: {err}", err=True)
            raise click.exceptions.Exit(EXIT_USAGE) from None
        except OutputError as err:
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
        except (KeyboardInterrupt, Exception) as err:
            if not caused_by_interrupt(err):  # a Ctrl-C inside a lazy import's class body arrives wrapped
                raise
            click.echo("interrupted before anything was computed: nothing written", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None

    return wrapper


def configure_logging(verbose: int = 0, level: str | None = None) -> None:
    """Show the library's log records (logger ``poissonfp`` and its children) on stderr.

    Warnings and errors are shown by default; ``verbose`` 1 adds info, 2 debug; ``level`` (one of
    :data:`LOG_LEVELS`) overrides both.
    """
    chosen = level.upper() if level else ("DEBUG" if verbose >= 2 else "INFO" if verbose == 1 else "WARNING")
    logger = logging.getLogger("poissonfp")
    logger.setLevel(chosen)
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)


class _StderrHandler(logging.StreamHandler):
    """A stream handler that always writes to the current ``sys.stderr`` (test runners swap it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass
