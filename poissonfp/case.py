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
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .case_checks import match_tolerance, read_problem
from .case_fields import (
    _checked_setting,
    _domain,
    _formula,
    _grid,
    _grid_size,
    _interior,
    _locate_setting,
    _name,
    _resolve_criterion,
    _seed,
    _settings,
    _sides,
)
from .case_schema import (
    MAX_COORDINATE,
    MAX_SEED,
    MIN_EXTENT,
    SETTINGS_TABLES,
    SIDE_NAMES,
    SIDE_TYPES,
    TOP_LEVEL,
    VARIABLES,
    CaseError,
    _check_keys,
    _string,
    _table,
)
from .expressions import Expression
from .settings import (
    HybridSettings,
    MultigridSettings,
    NetworkSettings,
    OperatorSettings,
    SolverSettings,
    TrainingSettings,
)

__all__ = [
    "MAX_CASE_BYTES",
    "MAX_COORDINATE",
    "MAX_SEED",
    "MIN_EXTENT",
    "SETTINGS_TABLES",
    "SIDE_NAMES",
    "SIDE_TYPES",
    "VARIABLES",
    "Case",
    "CaseError",
    "case_from_text",
    "load_case",
    "match_tolerance",
]


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
    _check_keys(path, None, data, TOP_LEVEL)
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
    source, boundary, exact = read_problem(path, problem, variables, lower, upper, coefficient, inside)
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
