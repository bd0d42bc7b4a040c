"""Reading an output set back (:func:`load_result`): the record, the arrays (one NPZ, or the parts a
distributed solve wrote per rank), and the problem rebuilt from the recorded case text; every unreadable or
inconsistent set raises :class:`ResultError`. :mod:`poissonfp.outputs` writes the sets."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from poissonfp.grid import Grid
from poissonfp.problem import Problem
from poissonfp.results import read_json
from poissonfp.solvers.base import HISTORY_KEYS, SolveResult

__all__ = ["ResultError", "load_result"]


class ResultError(ValueError):
    """An output set cannot be read back: a file missing or corrupted, a value of the wrong type, arrays
    that do not match the record, or a recorded case that no longer rebuilds the saved problem."""


def load_result(folder: str | Path) -> tuple[Problem, SolveResult]:
    """Read an output set written by ``poissonfp solve`` (or :func:`save_solve_outputs`).

    Returns the problem and the :class:`SolveResult` (solution, verdict, history, modes, info and final
    errors) as they were saved. The problem is rebuilt from the case text recorded in ``result.json``
    at the recorded grid size, so a domain inside the box, Neumann sides or a coefficient come back as
    they were solved (its right-hand side is checked against the saved one); a set written before the
    case text was recorded comes back as the box problem of its saved arrays.

    Raises:
        ResultError: for every unreadable or inconsistent set: ``result.json`` or ``solution.npz``
            missing, not a regular file, not JSON / not an NPZ archive, a value of the wrong type
            (``"converged": "false"``), arrays of the wrong shape, a case that does not rebuild.
    """
    folder = Path(folder)
    record = _read_record(folder / "result.json")
    if not (folder / "solution.npz").exists() and (folder / "parts.json").exists():
        from poissonfp.petsc_backend.saving import read_parts  # a large grid written per rank (--backend petsc)

        arrays = read_parts(folder)
    else:
        arrays = _read_arrays(folder / "solution.npz", tuple(record["grid_shape"]))
    problem = _rebuild_problem(folder, record, arrays)
    final = {key: record[key] for key in HISTORY_KEYS[3:]}
    info = dict(record["info"])
    info.setdefault("criterion", record["criterion"])
    info.setdefault("threshold", record["threshold"])
    result = SolveResult(record["method"], arrays["solution"], record["converged"], record["stop_reason"],
                         float(record["wall_time_s"]), record["iterations"], record["dnn_steps"],
                         record["history"], record["modes"], info, final, record["interrupted"])
    return problem, result


def _is_number(value: Any, optional: bool = False) -> bool:
    return (value is None and optional) or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


#: key of result.json -> (check, what it must be)
_RECORD_TYPES: dict[str, tuple[Any, str]] = {
    "case": (lambda v: isinstance(v, str), "a string"),
    "method": (lambda v: isinstance(v, str) and bool(v), "a method name"),
    "converged": (lambda v: isinstance(v, bool), "true or false"),
    "interrupted": (lambda v: isinstance(v, bool), "true or false"),
    "stop_reason": (lambda v: isinstance(v, str), "a string"),
    "wall_time_s": (lambda v: _is_number(v) and v >= 0, "a number >= 0"),
    "iterations": (_is_count, "an integer >= 0"),
    "dnn_steps": (_is_count, "an integer >= 0"),
    "grid_shape": (lambda v: isinstance(v, list) and 1 <= len(v) <= 3 and all(_is_count(n) and n > 0 for n in v),
                   "a list of 1 to 3 positive integers"),
    "lower": (lambda v: isinstance(v, list) and all(_is_number(x) for x in v), "a list of numbers"),
    "upper": (lambda v: isinstance(v, list) and all(_is_number(x) for x in v), "a list of numbers"),
    "criterion": (lambda v: v is None or isinstance(v, str), "a criterion name or null"),
    "threshold": (lambda v: _is_number(v, optional=True), "a number or null"),
    "history": (lambda v: isinstance(v, dict) and set(HISTORY_KEYS) <= set(v)
                and all(isinstance(x, list) and all(_is_number(y, optional=True) for y in x) for x in v.values())
                and len({len(x) for x in v.values()}) == 1, f"an object of equally long lists of numbers "
                f"with the keys {', '.join(HISTORY_KEYS)}"),
    "modes": (lambda v: isinstance(v, dict), "an object"),
    "info": (lambda v: isinstance(v, dict), "an object"),
    **{key: (lambda v: _is_number(v, optional=True), "a number or null") for key in HISTORY_KEYS[3:]},
}


def _read_record(path: Path) -> dict[str, Any]:
    """result.json, every value the loader uses of the right type."""
    try:
        record = read_json(path)
    except FileNotFoundError:
        raise ResultError(f"{path}: missing; expected the result.json of a poissonfp output set") from None
    except (ValueError, OSError, RecursionError) as err:
        raise ResultError(f"{path}: cannot be read as JSON ({err})") from None
    if not isinstance(record, dict):
        raise ResultError(f"{path}: expected a JSON object, got {type(record).__name__}")
    record.setdefault("dnn_steps", 0)
    record.setdefault("interrupted", False)
    record.setdefault("modes", {})
    record.setdefault("info", {})
    for key in ("criterion", "threshold", *HISTORY_KEYS[3:]):
        record.setdefault(key, None)
    for key, (check, what) in _RECORD_TYPES.items():
        if key not in record:
            raise ResultError(f"{path}: key {key!r} is missing")
        if not check(record[key]):
            raise ResultError(f"{path}: {key} must be {what}, got {json.dumps(record[key])[:60]}")
    if not len(record["lower"]) == len(record["upper"]) == len(record["grid_shape"]):
        raise ResultError(f"{path}: lower, upper and grid_shape must have the same length")
    if any(b <= a for a, b in zip(record["lower"], record["upper"])):
        raise ResultError(f"{path}: upper must exceed lower in every dimension")
    return record


#: The largest solution.npz read back (a 3D grid of 256^3 points and its companions fits).
MAX_NPZ_BYTES = 4 << 30


def _read_arrays(path: Path, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """solution.npz without pickles; the grid arrays of the recorded shape and finite-or-NaN floats."""
    import io

    from poissonfp.results import read_limited

    try:
        raw = read_limited(path, MAX_NPZ_BYTES)
    except FileNotFoundError:
        raise ResultError(f"{path}: missing; expected the solution.npz of a poissonfp output set") from None
    except (ValueError, OSError) as err:
        raise ResultError(f"{path}: cannot be read ({err})") from None
    try:
        data = np.load(io.BytesIO(raw), allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ResultError(f"{path}: not an NPZ archive (a single array)")
        with data:
            arrays = {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise ResultError(f"{path}: missing; expected the solution.npz of a poissonfp output set") from None
    except ResultError:
        raise
    except Exception as err:  # the bytes are the user's: zlib.error, tokenize errors of a damaged header,
        # NotImplementedError for a zip version, as well as the ValueError / BadZipFile of the usual damage
        raise ResultError(f"{path}: not a readable NPZ archive ({type(err).__name__}: {err})") from None
    for key in ("solution", "rhs"):
        if key not in arrays:
            raise ResultError(f"{path}: the array {key!r} is missing")
    for key in ("solution", "rhs", "source", "exact", "discrete_solution"):
        if key in arrays:
            value = arrays[key]
            if value.shape != shape or value.dtype.kind != "f":
                raise ResultError(f"{path}: {key} must be a float array of shape {shape} (result.json's "
                                  f"grid_shape), got {value.dtype} {value.shape}")
    return arrays


def _rebuild_problem(folder: Path, record: dict, arrays: dict[str, np.ndarray]) -> Problem:
    """The problem solved: from the recorded case text when there is one, else the box of the arrays."""
    text = record.get("case_text")
    if not text:
        grid = Grid(tuple(map(float, record["lower"])), tuple(map(float, record["upper"])),
                    tuple(record["grid_shape"]))
        return Problem(grid, arrays.get("source", arrays["rhs"]), arrays["rhs"], arrays.get("exact"),
                       record["case"], _functions(record.get("problem")))
    import dataclasses

    from poissonfp.case import CaseError, case_from_text
    from poissonfp.problem import build_problem

    sizes = record.get("grid_size")
    if not isinstance(text, str) or not isinstance(sizes, list) or not all(_is_count(n) and n > 0 for n in sizes):
        raise ResultError(f"{folder / 'result.json'}: case_text must be a string and grid_size a list of "
                          "positive integers")
    try:
        case = case_from_text(text, record.get("case_file") or folder / "result.json")
        problem = build_problem(dataclasses.replace(case, grid_size=tuple(sizes)))
    except (CaseError, ValueError, TypeError) as err:
        raise ResultError(f"{folder / 'result.json'}: the recorded case does not rebuild: {err}") from None
    rhs = arrays["rhs"]
    if problem.grid.shape != rhs.shape or not np.allclose(problem.rhs, rhs, rtol=1e-12, atol=0, equal_nan=True):
        raise ResultError(f"{folder / 'result.json'}: the recorded case does not reproduce the saved "
                          "right-hand side (edited case_text or solution.npz)")
    return problem


def _functions(expressions: dict | None) -> dict:
    """The recorded expressions parsed again (empty for sets written before they were recorded)."""
    if not expressions:
        return {}
    from poissonfp.expressions import parse_expression

    variables = tuple(expressions["variables"])
    return {name: parse_expression(text, variables) for name in ("source", "boundary", "exact")
            if (text := expressions.get(name)) is not None}
