"""The formulas of a case checked against each other on a lattice of sample points of the closed box:
finite, an explicit source equal to -∇·(k∇u) of the exact solution, boundary values equal to it."""
from __future__ import annotations

from typing import Any

import numpy as np

from .case_schema import CaseError
from .expressions import Expression, ExpressionError, parse_expression

__all__ = ["check_match", "match_tolerance", "read_problem", "sample_points"]

_SAMPLES_PER_DIMENSION = 5
_MATCH_TOLERANCE = 1e-8


def read_problem(path: Any, table: dict, variables: tuple[str, ...], lower: tuple, upper: tuple,
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
    samples = sample_points(lower, upper)
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
        check_match(path, "[problem] boundary", boundary, exact, [s[mask] for s in samples], variables,
                     "the exact solution on the boundary")
    return source, boundary, exact


def _derived_source(path: Any, exact: Expression | None, coefficient: Expression | None) -> Expression:
    assert exact is not None  # checked by the caller: no source requires an exact solution
    try:
        return exact.negative_divergence(coefficient)
    except ExpressionError as err:
        raise CaseError(path, "[problem] exact", f"{err}", expected="a twice differentiable formula") from None


def sample_points(lower: tuple, upper: tuple) -> list[np.ndarray]:
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
    check_match(path, "[problem] source", source, derived, [s[finite] for s in samples], variables,
                 f"{what} of [problem] exact")


def check_match(path: Any, key: str, given: Expression, reference: Expression, samples: list, variables,
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
