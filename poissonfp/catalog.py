"""The shipped cases: find a case file by name or by path, and list the cases poissonfp ships.

The case files live in the repository's ``cases/`` folder; the package reaches them as its data
folder ``poissonfp/cases`` (a link to ``cases/`` in the source tree, real files in a wheel), read with
:mod:`importlib.resources`, so a name such as ``2d_square`` works from any folder after
``pip install .`` as well as in an editable install or a clone.

>>> find_case("2d_square").name
'2d_square.toml'
>>> "1d_article" in shipped_cases()
True
"""
from __future__ import annotations

import difflib
import os
import tomllib
from importlib import resources
from pathlib import Path

from poissonfp.case_schema import CaseError

__all__ = ["case_summary", "find_case", "shipped_cases"]

_SUFFIX = ".toml"


def shipped_cases() -> dict[str, Path]:
    """Every shipped case: name (the file name without ``.toml``) -> file, sorted by name."""
    folder = resources.files("poissonfp") / "cases"
    if not folder.is_dir():
        return {}
    files = [Path(str(entry)) for entry in folder.iterdir() if entry.name.endswith(_SUFFIX)]
    return {path.name[: -len(_SUFFIX)]: path for path in sorted(files, key=lambda p: p.name)}


def find_case(name_or_path: str | os.PathLike) -> Path:
    """The case file that ``name_or_path`` means: an existing file, else a shipped case of that name.

    A bare name (``2d_square`` or ``2d_square.toml``, no folder) that is not a file in the current
    folder picks the shipped case; a path names a file. A path into a folder named ``cases`` that does
    not exist here (``cases/2d_square.toml``, as the README writes it, run from another folder after
    ``pip install .``) falls back to the shipped case of that file name.

    Raises:
        CaseError: If there is no such file and no shipped case of that name (the message lists them).
    """
    path = Path(name_or_path)
    if path.exists() or (path.parent != Path(".") and path.parent.name != "cases"):
        return path
    cases = shipped_cases()
    if path.parent != Path("."):
        stem = path.name[: -len(_SUFFIX)] if path.name.endswith(_SUFFIX) else None
        return cases.get(stem, path) if stem else path
    name = path.name[: -len(_SUFFIX)] if path.name.endswith(_SUFFIX) else path.name
    if name in cases:
        return cases[name]
    close = difflib.get_close_matches(name, cases, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise CaseError(path, None, f"no such case file, and no shipped case of that name{hint}; "
                    f"shipped cases: {', '.join(cases) or 'none'}", expected="a case file or a shipped case name")


def case_summary(path: str | os.PathLike, width: int = 100) -> str:
    """The first sentence of a case file's ``description``, on one line of at most ``width`` characters.

    Reads the TOML only (no formula is parsed); a file that cannot be read gives a short note instead.
    """
    try:
        description = tomllib.loads(Path(path).read_text(encoding="utf-8")).get("description", "")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return "(unreadable case file)"
    if not isinstance(description, str) or not description.strip():
        return "(no description)"
    text = " ".join(description.split())
    first = text.split(". ")[0].rstrip(".") + "."
    return first if len(first) <= width else first[: width - 3].rstrip() + "..."
