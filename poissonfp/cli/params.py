"""Parameter types of the command line: named choices and comma-separated lists, one parser for all.

Both list their allowed values in ``--help`` and complete them in the shell; an unknown value is one line
that names the option, the value and what is allowed.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click
from click.shell_completion import CompletionItem

__all__ = ["CommaList", "NamedChoice", "integer_range", "non_negative_integer", "switch_point"]


class NamedChoice(click.Choice):
    """``click.Choice`` whose error says what the value is (``unknown method 'gauss'; expected one of ...``)."""

    def __init__(self, choices: Sequence[str], what: str) -> None:
        super().__init__(list(choices))
        self.what = what

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value in self.choices:
            return value
        self.fail(f"unknown {self.what} {value!r}; expected one of {', '.join(map(str, self.choices))}", param, ctx)


class CommaList(click.ParamType):
    """A comma-separated list (``jacobi,hybrid``) converted to a tuple.

    Args:
        what: What one item is, for messages (``"method"``).
        choices: The allowed items (listed in ``--help`` and completed), or None for any.
        item: Converts one item (``ValueError`` for a bad one); the identity by default.
        expected: What the list accepts, for messages when ``choices`` is None.
        distinct: Refuse repeated items.
        ranges: Accept integer ranges ``START:STOP:STEP`` (``STOP`` included, ``STEP`` 1 when left out) as
            items, expanded before conversion (``0:10:5`` is ``0,5,10``).
    """

    name = "list"

    def __init__(self, what: str, choices: Sequence[str] | None = None, item: Callable[[str], Any] | None = None,
                 expected: str = "", distinct: bool = False, ranges: bool = False) -> None:
        self.what, self.choices, self.item, self.distinct = what, tuple(choices or ()), item, distinct
        self.ranges = ranges
        self.expected = expected or f"a comma-separated list of {', '.join(self.choices)}"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return f"{'|'.join(self.choices)},..." if self.choices else f"{self.what.upper()},..."

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple:
        if isinstance(value, tuple):
            return value
        items = [part.strip() for part in str(value).split(",") if part.strip()]
        if self.ranges:
            try:
                items = [item for part in items for item in integer_range(part)]
            except ValueError:
                self.fail(f"expected {self.expected}, got {value!r}", param, ctx)
        if not items:
            self.fail(f"no {self.what} given; expected {self.expected}", param, ctx)
        unknown = [part for part in items if self.choices and part not in self.choices]
        if unknown:
            self.fail(f"unknown {self.what} {unknown[0]!r}; expected {self.expected}", param, ctx)
        if self.distinct and len(set(items)) != len(items):
            self.fail(f"repeated {self.what} in {value!r}; expected distinct items", param, ctx)
        if self.item is None:
            return tuple(items)
        try:
            return tuple(self.item(part) for part in items)
        except ValueError:
            self.fail(f"expected {self.expected}, got {value!r}", param, ctx)

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        done, _, last = incomplete.rpartition(",")
        prefix = f"{done}," if done else ""
        return [CompletionItem(prefix + choice) for choice in self.choices if choice.startswith(last)]


def integer_range(text: str) -> list[str]:
    """``START:STOP[:STEP]`` as the list of its integers (``STOP`` included), any other text as itself.

    >>> integer_range("0:10:5"), integer_range("3:5"), integer_range("auto")
    (['0', '5', '10'], ['3', '4', '5'], ['auto'])

    Raises:
        ValueError: for a range whose bounds are not non-negative integers, whose step is not positive, or
            whose stop lies below its start.
    """
    if ":" not in text:
        return [text]
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise ValueError(text)
    start, stop, step = (non_negative_integer(part.strip()) for part in ([*parts, "1"])[:3])
    if step < 1 or stop < start:
        raise ValueError(text)
    return [str(m) for m in range(start, stop + 1, step)]


def switch_point(text: str) -> int | str:
    """A hybrid switch point: ``auto`` or a non-negative integer in ASCII digits (``ValueError`` otherwise;
    the check is :func:`poissonfp.settings.check_switch`)."""
    from poissonfp.settings import check_switch

    return check_switch(text)


def non_negative_integer(text: str) -> int:
    """A non-negative integer in ASCII digits (``"²".isdigit()`` is True, ``int("²")`` fails)."""
    if not (text.isascii() and text.isdigit()):
        raise ValueError(text)
    return int(text)
