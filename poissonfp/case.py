"""Case files: TOML -> a frozen, validated :class:`Case`. Every error names the file and the key.

A case poses -∇·(k∇u) = f (k = 1 by default: -Δu = f) in the box ``[lower, upper]`` or a domain inside
it, with u = g on its boundary or a Neumann condition on sides of the box::

    name = "2d_square"            # optional, default: the file name without .toml; a plain file-name stem
                                  # (it names the output folder results/<name>/)
    description = "..."           # optional
    seed = 0                      # optional integer in [0, 2**63 - 1], default 0

    [domain]
    lower = [0.0, 0.0]            # the dimension is len(lower): 1, 2 or 3; coordinates x, y, z;
                                  # |coordinates| <= 1e6, every side at least 1e-6 long
    upper = [1.0, 1.0]
    inside = "..."                # optional: the domain is where this formula is > 0 (default: the box)

    [grid]
    points = [256, 256]           # interior points per dimension (an integer applies to every dimension)
    # intervals = [1000]          # OR intervals per dimension (interior points = intervals - 1)

    [problem]
    exact = "sin(pi*x)*sin(pi*y)" # optional exact solution u
    source = "..."                # f; optional when exact is given (then f = -Δu, derived symbolically)
    boundary = "..."              # g; optional: default the exact solution if given, else 0
    coefficient = "..."           # optional k > 0: -∇·(k∇u) = f (default k = 1)

    [boundary.left]               # optional, per side: left right / bottom top / front back
    type = "neumann"              # or "dirichlet" (the default)
    value = "..."                 # Neumann: the outward normal derivative (default: from exact, else 0);
                                  # Dirichlet: g on this side (default: [problem] boundary)

    [solver]                      # fields of poissonfp.settings.SolverSettings
    [network]                     # ... NetworkSettings
    [training]                    # ... TrainingSettings
    [hybrid]                      # ... HybridSettings
    [multigrid]                   # ... MultigridSettings (kind = "rs" | "sa", accel = "none" | "cg" | ...)
    [operator]                    # ... OperatorSettings (model = "MODEL_DIR", sweeps, accel)

Formulas use numbers, ``+ - * / **``, ``pi``, ``e`` and sin, cos, tan, exp, log, sqrt, tanh, sinh,
cosh, abs, atan2, min, max; they are parsed by :mod:`poissonfp.expressions`, never executed. The loader checks that f,
g and u are finite on a lattice of sample points of the closed box, that a given source equals -Δ of a
given exact solution and that a given boundary equals it on the boundary. ``[solver] criterion``
defaults to ``"discretization"`` when an exact solution is known, else to ``"residual"``.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .expressions import Expression, ExpressionError, parse_expression
from .settings import (HybridSettings, MultigridSettings, NetworkSettings, OperatorSettings, SettingError, SolverSettings,
                       TrainingSettings, check_setting, default_criterion)

__all__ = ["Case", "CaseError", "load_case", "case_from_text", "VARIABLES", "MAX_SEED", "MAX_COORDINATE", "MIN_EXTENT"]

VARIABLES = ("x", "y", "z")
#: Largest seed (torch generators take 64-bit seeds).
MAX_SEED = 2**63 - 1
#: Largest accepted |coordinate| of the box, and smallest side: the grid spacing h and 1/h² stay finite.
MAX_COORDINATE = 1e6
MIN_EXTENT = 1e-6
#: A case name becomes a folder name (results/<name>/): a plain file-name stem.
_NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,99}")
SETTINGS_TABLES = {"solver": SolverSettings, "network": NetworkSettings, "training": TrainingSettings,
                   "hybrid": HybridSettings, "multigrid": MultigridSettings,
                   "operator": OperatorSettings}
_TOP_LEVEL = ("name", "description", "seed", "domain", "grid", "problem", "boundary", *SETTINGS_TABLES)
#: Box sides per dimension (lower, upper), the names of ``[boundary.<side>]`` tables.
SIDE_NAMES = (("left", "right"), ("bottom", "top"), ("front", "back"))
SIDE_TYPES = ("dirichlet", "neumann")
_SAMPLES_PER_DIMENSION = 5
_MATCH_TOLERANCE = 1e-8


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


@dataclass(frozen=True)
class Case:
    """A validated case: the box, the grid size, f, g and maybe u, and the settings."""

    path: Path
    name: str
    description: str
    seed: int
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    grid_unit: str
    grid_size: tuple[int, ...]
    source: Expression
    boundary: Expression
    exact: Expression | None
    solver: SolverSettings = field(default_factory=SolverSettings)
    network: NetworkSettings = field(default_factory=NetworkSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    hybrid: HybridSettings = field(default_factory=HybridSettings)
    multigrid: MultigridSettings = field(default_factory=MultigridSettings)
    operator: OperatorSettings = field(default_factory=OperatorSettings)
    inside: Expression | None = None
    coefficient: Expression | None = None
    sides: dict[tuple[int, int], tuple[str, Expression | None]] = field(default_factory=dict)
    #: the TOML text the case was read from (recorded in result.json, so a saved set rebuilds its problem)
    text: str = field(default="", repr=False, compare=False)

    @property
    def side_types(self) -> tuple[tuple[str, str], ...]:
        """Per dimension the (lower, upper) side types, ``"dirichlet"`` or ``"neumann"``."""
        return tuple(tuple(self.sides.get((d, s), ("dirichlet", None))[0] for s in (0, 1))  # type: ignore[misc]
                     for d in range(self.dim))

    @property
    def dim(self) -> int:
        return len(self.lower)

    @property
    def variables(self) -> tuple[str, ...]:
        return VARIABLES[: self.dim]

    def interior_shape(self, size: int | None = None) -> tuple[int, ...]:
        """Interior points per dimension; ``size`` overrides every dimension in the case's own unit.

        Raises:
            CaseError: If ``size`` is not valid for the unit or the grid would not fit in memory.
        """
        if size is None:
            return _interior(self.grid_unit, self.grid_size)
        from poissonfp.feasibility import check_memory

        sizes = _grid_size(self.path, "size", size, self.dim, self.grid_unit, lists=False)
        check_memory(dataclasses.replace(self, grid_size=sizes), keys={"grid": "size"})
        return _interior(self.grid_unit, sizes)

    def with_overrides(self, **overrides: Any) -> Case:
        """A copy with command-line overrides applied and validated; None values are ignored.

        Keys are ``seed``, ``size`` (every dimension, in the case's grid unit) or any settings field
        (``method``, ``tol``, ``criterion``, ``switch``, ...); ``table.field`` picks a field explicitly.

        Raises:
            CaseError: Naming the keyword, e.g. ``method``, if a value is not valid.
        """
        from poissonfp.feasibility import check_device, check_memory

        changes: dict[str, Any] = {}
        updates: dict[str, dict[str, Any]] = {table: {} for table in SETTINGS_TABLES}
        for name, value in overrides.items():
            if value is None:
                continue
            if name == "seed":
                changes["seed"] = _seed(self.path, name, value)
            elif name == "size":
                changes["grid_size"] = _grid_size(self.path, name, value, self.dim, self.grid_unit, lists=False)
            else:
                table, key = _locate_setting(self.path, name, name)
                updates[table][key] = _checked_setting(self.path, name, SETTINGS_TABLES[table], key, value)
        for table, values in updates.items():
            if values:
                changes[table] = dataclasses.replace(getattr(self, table), **values)
        if "solver" in changes:
            changes["solver"] = _resolve_criterion(self.path, "criterion", changes["solver"], self.exact)
        case = dataclasses.replace(self, **changes)
        given = {"grid": "size", "widths": "widths", "quadrature_order": "quadrature_order"}
        check_memory(case, keys={driver: key for driver, key in given.items() if key in overrides})
        if overrides.get("device") is not None:
            check_device(case, key="device")
        return case


def load_case(path: str | os.PathLike) -> Case:
    """Read and validate a case file, given by path or as the name of a shipped case (``"2d_square"``).

    Raises:
        CaseError: With a one-line message naming the file and the key.
    """
    from poissonfp.catalog import find_case

    path = find_case(path)
    return case_from_text(_read_text(path), path)


def case_from_text(text: str, path: str | os.PathLike = "case.toml") -> Case:
    """Validate a case given as TOML text; ``path`` names it in error messages (as
    :func:`load_case`, which reads the file and calls this).

    Raises:
        CaseError: With a one-line message naming ``path`` and the key.
    """
    from poissonfp.feasibility import check_memory

    data = _parse_toml(path, text)
    _check_keys(path, None, data, _TOP_LEVEL)
    name = _name(path, data.get("name", Path(path).stem))
    description = _string(path, "description", data.get("description", ""), allow_empty=True)
    seed = _seed(path, "seed", data.get("seed", 0))
    domain = _table(path, data, "domain", ("lower", "upper", "inside"), required=True)
    lower, upper = _domain(path, domain)
    variables = VARIABLES[: len(lower)]
    inside = _formula(path, "[domain] inside", domain, "inside", variables)
    unit, sizes = _grid(path, _table(path, data, "grid", ("points", "intervals"), required=True), len(lower))
    problem = _table(path, data, "problem", ("exact", "source", "boundary", "coefficient"), required=True)
    coefficient = _formula(path, "[problem] coefficient", problem, "coefficient", variables)
    source, boundary, exact = _problem(path, problem, variables, lower, upper, coefficient, inside)
    sides = _sides(path, data, variables, exact)
    settings = {table: _settings(path, table, data) for table in SETTINGS_TABLES}
    settings["solver"] = _resolve_criterion(path, "[solver] criterion", settings["solver"], exact)
    case = Case(path=Path(path), name=name, description=description, seed=seed, lower=lower, upper=upper,
                grid_unit=unit, grid_size=sizes, source=source, boundary=boundary, exact=exact, **settings,
                inside=inside, coefficient=coefficient, sides=sides, text=text)
    check_memory(case)
    return case


#: The largest case file read (a case is a few hundred bytes; /dev/zero would fill the memory).
MAX_CASE_BYTES = 1 << 20


def _read_text(path: str | os.PathLike) -> str:
    """The text of a case file: a regular file of at most :data:`MAX_CASE_BYTES`, UTF-8."""
    from poissonfp.results import read_limited

    try:
        raw = read_limited(path, MAX_CASE_BYTES)
    except FileNotFoundError:
        raise CaseError(path, None, "no such case file") from None
    except ValueError as err:
        raise CaseError(path, None, f"{err}; expected a TOML case file") from None
    except OSError as err:
        raise CaseError(path, None, f"cannot read the file: {err.strerror or err}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CaseError(path, None, "is not UTF-8 text; expected a TOML case file") from None


def _parse_toml(path: str | os.PathLike, text: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise CaseError(path, None, f"TOML syntax error: {err}") from None
    except RecursionError:
        raise CaseError(path, None, "TOML nested too deeply to read; expected a case file") from None


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
            _check_match(path, f"{key} value", value, wanted, side, variables,
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
    samples = _sample_points(lower, upper)
    on_side = np.isclose(samples[d], upper[d] if s else lower[d])
    return [c[on_side] for c in samples]


def _problem(path: Any, table: dict, variables: tuple[str, ...], lower: tuple, upper: tuple,
             coefficient: Expression | None = None, inside: Expression | None = None):
    parsed = {}
    for name in ("exact", "source", "boundary"):
        if name in table:
            try:
                parsed[name] = parse_expression(table[name], variables)
            except ExpressionError as err:
                raise CaseError(path, f"[problem] {name}", str(err), expected="a formula") from None
    exact = parsed.get("exact")
    if "source" not in parsed and exact is None:
        raise CaseError(path, "[problem] source", "missing; expected a source f, or an exact solution u "
                        "(then f = -Δu is derived)", expected="a formula")
    samples = _sample_points(lower, upper)
    if exact is not None:
        _check_finite(path, "[problem] exact", exact, samples, variables, "")
    source = parsed["source"] if "source" in parsed else _derived_source(path, exact, coefficient)
    _check_finite(path, "[problem] source" if "source" in parsed else "[problem] exact", source, samples,
                  variables, "" if "source" in parsed else "-Δu ")
    boundary = parsed.get("boundary") or exact or parse_expression("0", variables)
    _check_finite(path, "[problem] boundary", boundary, samples, variables, "")
    if exact is not None and "source" in parsed:
        _check_source_matches(path, exact, source, samples, variables, coefficient)
    if exact is not None and "boundary" in parsed and inside is None:
        on_boundary = [np.isclose(s, a) | np.isclose(s, b) for s, a, b in zip(samples, lower, upper)]
        mask = np.logical_or.reduce(on_boundary)
        _check_match(path, "[problem] boundary", boundary, exact, [s[mask] for s in samples], variables,
                     "the exact solution on the boundary")
    return source, boundary, exact


def _derived_source(path: Any, exact: Expression | None, coefficient: Expression | None) -> Expression:
    assert exact is not None  # checked by the caller: no source requires an exact solution
    try:
        return exact.negative_divergence(coefficient)
    except ExpressionError as err:
        raise CaseError(path, "[problem] exact", f"{err}", expected="a twice differentiable formula") from None


def _sample_points(lower: tuple, upper: tuple) -> list[np.ndarray]:
    axes = [np.linspace(a, b, _SAMPLES_PER_DIMENSION) for a, b in zip(lower, upper)]
    return [c.ravel() for c in np.meshgrid(*axes, indexing="ij")]


def _where(samples: list[np.ndarray], variables: tuple[str, ...], index: int) -> str:
    return ", ".join(f"{v}={s[index]:.6g}" for v, s in zip(variables, samples))


def _check_finite(path: Any, key: str, expr: Expression, samples: list, variables: tuple, what: str) -> None:
    bad = np.flatnonzero(~np.isfinite(expr.numpy(*samples)))
    if bad.size:
        raise CaseError(path, key, f"{what}evaluates to a non-finite value at {_where(samples, variables, bad[0])}",
                        expected="a formula finite on the closed box")


def _check_source_matches(path: Any, exact: Expression, source: Expression, samples: list, variables,
                          coefficient: Expression | None = None) -> None:
    try:
        derived = exact.negative_divergence(coefficient)
    except ExpressionError:
        return  # -Δu is not an ordinary function; the explicit source stands
    finite = np.isfinite(derived.numpy(*samples))  # a singular exact solution (the L-shape's corner)
    what = "-Δ" if coefficient is None else "-∇·(k∇u)"
    _check_match(path, "[problem] source", source, derived, [s[finite] for s in samples], variables,
                 f"{what} of [problem] exact")


def _check_match(path: Any, key: str, given: Expression, reference: Expression, samples: list, variables,
                 what: str) -> None:
    values, wanted = given.numpy(*samples), reference.numpy(*samples)
    scale = max(1.0, float(np.max(np.abs(wanted), initial=0.0)))
    worst = int(np.argmax(np.abs(values - wanted))) if values.size else 0
    if values.size and abs(values[worst] - wanted[worst]) > _MATCH_TOLERANCE * scale:
        raise CaseError(path, key, f"does not equal {what}: at {_where(samples, variables, worst)} it is "
                        f"{values[worst]:.10g}, expected {wanted[worst]:.10g}", expected=what)


def match_tolerance() -> float:
    """The relative tolerance within which a given formula must equal the one it restates (boundary
    values against the exact solution, an explicit source against -Δu)."""
    return _MATCH_TOLERANCE


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
