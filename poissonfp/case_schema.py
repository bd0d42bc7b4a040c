"""The case file's schema: its tables and keys, their limits, the error every check raises, and the
generic checks of keys and tables (:mod:`poissonfp.case` reads a file with them)."""
from __future__ import annotations

import difflib
import os
from typing import Any

from .settings import (
    HybridSettings,
    MultigridSettings,
    NetworkSettings,
    OperatorSettings,
    SolverSettings,
    TrainingSettings,
)

__all__ = [
    "MAX_COORDINATE",
    "MAX_SEED",
    "MIN_EXTENT",
    "SETTINGS_TABLES",
    "SIDE_NAMES",
    "SIDE_TYPES",
    "TOP_LEVEL",
    "VARIABLES",
    "CaseError",
]

VARIABLES = ("x", "y", "z")
#: Largest seed (torch generators take 64-bit seeds).
MAX_SEED = 2**63 - 1
#: Largest accepted |coordinate| of the box, and smallest side: the grid spacing h and 1/h² stay finite.
MAX_COORDINATE = 1e6
MIN_EXTENT = 1e-6
SETTINGS_TABLES = {"solver": SolverSettings, "network": NetworkSettings, "training": TrainingSettings,
                   "hybrid": HybridSettings, "multigrid": MultigridSettings,
                   "operator": OperatorSettings}
TOP_LEVEL = ("name", "description", "seed", "domain", "grid", "problem", "boundary", *SETTINGS_TABLES)
#: Box sides per dimension (lower, upper), the names of ``[boundary.<side>]`` tables.
SIDE_NAMES = (("left", "right"), ("bottom", "top"), ("front", "back"))
SIDE_TYPES = ("dirichlet", "neumann")



class CaseError(Exception):
    """A case file (or an override of it) is invalid.

    Attributes:
        path: The case file.
        key: Where the problem is, e.g. ``"[grid] points"`` or ``"--method"``; None for the whole file.
        expected: What would have been accepted, when that can be said.
    """

    def __init__(self, path: str | os.PathLike, key: str | None, message: str, expected: str | None = None):
        self.path, self.key, self.message, self.expected = path, key, message, expected
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path}: {self.key}: " if self.key else f"{self.path}: "
        return " ".join((where + self.message).split())


def _show(value: Any) -> str:
    """A value as it would be written in TOML, shortened to one line."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, dict):
        text = "a table"
    elif isinstance(value, (list, tuple)):
        text = "[" + ", ".join(_show(v) for v in value) + "]"
    elif isinstance(value, str):
        text = '"' + value.replace('"', '\\"') + '"'
    else:
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _expected(path: Any, key: str, expected: str, got: Any) -> CaseError:
    return CaseError(path, key, f"expected {expected}, got {_show(got)}", expected=expected)


def _key(table: str | None, name: str) -> str:
    return f"[{table}] {name}" if table else name


def _check_keys(path: Any, table: str | None, data: dict, allowed: tuple[str, ...]) -> None:
    for name, value in data.items():
        if name in allowed:
            continue
        what = "table" if table is None and isinstance(value, dict) else "key"
        close = difflib.get_close_matches(name, allowed, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        label = f"[{name}]" if what == "table" else _key(table, name)
        raise CaseError(path, label, f"unknown {what}{hint}; allowed: {', '.join(allowed)}",
                        expected=", ".join(allowed))


def _table(path: Any, data: dict, name: str, allowed: tuple[str, ...], required: bool = False) -> dict:
    if name not in data:
        if required:
            raise CaseError(path, f"[{name}]", f"missing table; expected a [{name}] table with "
                            f"{' / '.join(allowed)}", expected=f"a [{name}] table")
        return {}
    if not isinstance(data[name], dict):
        raise _expected(path, name, f"a table [{name}]", data[name])
    _check_keys(path, name, data[name], allowed)
    return data[name]


def _string(path: Any, key: str, value: Any, allow_empty: bool) -> str:
    if not isinstance(value, str) or not (allow_empty or value.strip()):
        raise _expected(path, key, "a string" if allow_empty else "a non-empty string", value)
    return value
