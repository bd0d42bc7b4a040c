"""The tables of a case file, one reader each: name, seed, ``[domain]``, ``[grid]``, ``[boundary.<side>]``
and the settings tables; every reader raises a :class:`~poissonfp.case_schema.CaseError` naming its key."""
from __future__ import annotations

import dataclasses
import difflib
import math
import re
from typing import Any

import numpy as np

from .case_checks import check_match, sample_points
from .case_schema import (
    MAX_COORDINATE,
    MAX_SEED,
    MIN_EXTENT,
    SETTINGS_TABLES,
    SIDE_NAMES,
    SIDE_TYPES,
    CaseError,
    _check_keys,
    _expected,
    _show,
    _table,
)
from .expressions import Expression, ExpressionError, parse_expression
from .settings import SettingError, SolverSettings, check_setting, default_criterion

#: A case name becomes a folder name (results/<name>/): a plain file-name stem.
_NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,99}")


def _name(path: Any, value: Any) -> str:
    if not isinstance(value, str) or not _NAME_PATTERN.fullmatch(value) or value.endswith("."):
        raise _expected(path, "name", "a plain file-name stem (letters, digits, _ . + -; no folders; at most "
                        "100 characters), used as the output folder results/<name>/", value)
    return value


def _seed(path: Any, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise _expected(path, key, "an integer in [0, 2**63 - 1]", value)
    return value


def _domain(path: Any, table: dict) -> tuple[tuple[float, ...], tuple[float, ...]]:
    bounds = []
    for name in ("lower", "upper"):
        if name not in table:
            raise CaseError(path, f"[domain] {name}", "missing; expected a list of 1 to 3 numbers",
                            expected="a list of 1 to 3 numbers")
        value = table[name]
        items = value if isinstance(value, list) else [value]
        if not 1 <= len(items) <= 3 or not all(_is_number(v) and abs(v) <= MAX_COORDINATE for v in items):
            raise _expected(path, f"[domain] {name}", f"a list of 1 to 3 numbers in [-{MAX_COORDINATE:.0e}, "
                            f"{MAX_COORDINATE:.0e}]", value)
        bounds.append(tuple(float(v) for v in items))
    lower, upper = bounds
    if len(upper) != len(lower):
        raise _expected(path, "[domain] upper", f"a list of {len(lower)} numbers like lower", table["upper"])
    if any(b - a < MIN_EXTENT for a, b in zip(lower, upper)):
        raise _expected(path, "[domain] upper", f"values greater than lower = {_show(lower)} by at least "
                        f"{MIN_EXTENT:.0e} in every dimension", table["upper"])
    return lower, upper


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _grid(path: Any, table: dict, dim: int) -> tuple[str, tuple[int, ...]]:
    given = [unit for unit in ("points", "intervals") if unit in table]
    if len(given) != 1:
        message = "give either points or intervals, not both" if given else \
            "missing; expected points = N (interior points) or intervals = N"
        raise CaseError(path, "[grid] points", message, expected="points or intervals")
    unit = given[0]
    return unit, _grid_size(path, f"[grid] {unit}", table[unit], dim, unit, lists=True)


def _grid_size(path: Any, key: str, value: Any, dim: int, unit: str, lists: bool) -> tuple[int, ...]:
    smallest = 1 if unit == "points" else 2
    one = "a positive integer" if smallest == 1 else "an integer >= 2"
    many = f"a list of {dim} positive integers" if smallest == 1 else f"a list of {dim} integers >= 2"
    items = value if lists and isinstance(value, list) and len(value) == dim else [value] * dim
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= smallest for v in items):
        raise _expected(path, key, f"{one} or {many}" if lists else f"{one} ({unit})", value)
    return tuple(items)


def _interior(unit: str, sizes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(sizes) if unit == "points" else tuple(n - 1 for n in sizes)


def _formula(path: Any, key: str, table: dict, name: str, variables: tuple[str, ...]) -> Expression | None:
    if name not in table:
        return None
    try:
        return parse_expression(table[name], variables)
    except ExpressionError as err:
        raise CaseError(path, key, str(err), expected="a formula") from None


def _sides(path: Any, data: dict, variables: tuple[str, ...],
           exact: Expression | None) -> dict[tuple[int, int], tuple[str, Expression | None]]:
    """``[boundary.<side>]`` tables -> (dimension, 0 lower | 1 upper) -> (type, value or None)."""
    names = {name: (d, s) for d, pair in enumerate(SIDE_NAMES[: len(variables)]) for s, name in enumerate(pair)}
    table = data.get("boundary", {})
    if not isinstance(table, dict):
        raise _expected(path, "boundary", "tables [boundary.<side>]", table)
    for name in table:
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise CaseError(path, f"[boundary.{name}]", f"unknown side{hint} for {len(variables)} dimensions; "
                            f"allowed: {', '.join(names)}", expected=", ".join(names))
    sides: dict[tuple[int, int], tuple[str, Expression | None]] = {}
    for name, entry in table.items():
        key = f"[boundary.{name}]"
        if not isinstance(entry, dict):
            raise _expected(path, key, f"a table {key} with type and value", entry)
        _check_keys(path, f"boundary.{name}", entry, ("type", "value"))
        kind = entry.get("type", "dirichlet")
        if kind not in SIDE_TYPES:
            raise _expected(path, f"{key} type", "'dirichlet' or 'neumann'", kind)
        d, s = names[name]
        value = _formula(path, f"{key} value", entry, "value", variables)
        if value is not None and exact is not None:
            wanted = exact if kind == "dirichlet" else exact.normal_derivative(d, 1 if s == 1 else -1)
            side = _side_samples(path, data, d, s, len(variables))
            check_match(path, f"{key} value", value, wanted, side, variables,
                         "the exact solution on the side" if kind == "dirichlet" else
                         "the exact solution's outward normal derivative on the side")
        if value is None and kind == "neumann" and exact is not None:
            value = exact.normal_derivative(d, 1 if s == 1 else -1)
        sides[(d, s)] = (kind, value if value is not None or kind == "dirichlet" else
                         parse_expression("0", variables))
    return sides


def _side_samples(path: Any, data: dict, d: int, s: int, dim: int) -> list[np.ndarray]:
    """The sample lattice of the box restricted to side ``(d, s)``."""
    lower, upper = _domain(path, data["domain"])
    samples = sample_points(lower, upper)
    on_side = np.isclose(samples[d], upper[d] if s else lower[d])
    return [c[on_side] for c in samples]


def _settings(path: Any, table: str, data: dict) -> Any:
    cls = SETTINGS_TABLES[table]
    names = tuple(f.name for f in dataclasses.fields(cls))
    values = _table(path, data, table, names)
    return cls(**{name: _checked_setting(path, f"[{table}] {name}", cls, name, v) for name, v in values.items()})


def _checked_setting(path: Any, key: str, cls: type, name: str, value: Any) -> Any:
    try:
        return check_setting(cls, name, value)
    except SettingError as err:
        raise _expected(path, key, err.expected, value) from None


def _locate_setting(path: Any, name: str, flag: str) -> tuple[str, str]:
    if "." in name:
        table, _, key = name.partition(".")
        found = [table] if table in SETTINGS_TABLES and key in _field_names(table) else []
    else:
        key, found = name, [table for table in SETTINGS_TABLES if name in _field_names(table)]
    if len(found) == 1:
        return found[0], key
    every = [f for table in SETTINGS_TABLES for f in _field_names(table)]
    if found:
        raise CaseError(path, flag, f"is ambiguous; use one of {', '.join(t + '.' + key for t in found)}")
    close = difflib.get_close_matches(key, every, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise CaseError(path, flag, f"unknown setting{hint}; allowed: seed, size, {', '.join(every)}")


def _field_names(table: str) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(SETTINGS_TABLES[table]))


def _resolve_criterion(path: Any, key: str, solver: SolverSettings, exact: Expression | None) -> SolverSettings:
    if solver.criterion is None:
        return dataclasses.replace(solver, criterion=default_criterion(exact is not None))
    if solver.criterion == "discretization" and exact is None:
        raise _expected(path, key, "'residual' or 'discrete' (the case has no exact solution)", solver.criterion)
    return solver
