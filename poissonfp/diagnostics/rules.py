"""Validation rules of experiment settings, declared in each field's metadata and checked before any work.

A settings dataclass declares a field with :func:`setting`, e.g. ``epochs: int = setting(3000, max=10**6)``.
Defaults by type: an ``int`` must be >= 1, a ``float`` finite and > 0, a ``tuple`` non-empty with each element
checked by the same rule, a ``str`` one of ``choices`` when given. Metadata keys: ``min`` / ``max``
(inclusive), ``above`` / ``below`` (exclusive), ``choices``. A settings class may add a method
``check() -> str | None`` for rules that join several fields (it returns the message of a violation).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

from poissonfp.settings import SettingError

__all__ = ["DTYPES", "check_settings", "setting"]

#: Floating-point types the experiments support (float16 lacks the precision the spectra need).
DTYPES = ("float32", "float64")


def setting(default: Any, **rules: Any) -> Any:
    """A dataclass field with ``default`` and validation ``rules`` (see the module docstring)."""
    return dataclasses.field(default=default, metadata=rules)


def _violation(value: Any, rules: dict[str, Any]) -> str | None:
    """What ``value`` breaks, as the expectation to print, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, tuple):
        if not value:
            return "a non-empty comma-separated list"
        return next((v for v in (_violation(item, rules) for item in value) if v), None)
    if isinstance(value, str):
        choices = rules.get("choices")
        return f"one of {', '.join(choices)}" if choices and value not in choices else None
    bounds = []
    if isinstance(value, int):
        bounds.append(("min", rules.get("min", 1)))
    elif not math.isfinite(value):
        return "a finite number"
    elif "min" in rules:
        bounds.append(("min", rules["min"]))
    elif "above" not in rules:
        bounds.append(("above", 0))
    bounds += [(key, rules[key]) for key in ("above", "below", "max") if key in rules]
    words = {"min": ">=", "max": "<=", "above": ">", "below": "<"}
    holds = {"min": lambda b: value >= b, "max": lambda b: value <= b, "above": lambda b: value > b,
             "below": lambda b: value < b}
    if all(holds[key](bound) for key, bound in bounds):
        return None
    kind = "an integer" if isinstance(value, int) else "a number"
    return f"{kind} " + " and ".join(f"{words[key]} {bound}" for key, bound in bounds)


def check_settings(experiment: str, settings: Any) -> None:
    """Raise :class:`~poissonfp.settings.SettingError` naming ``experiment.key``, the expectation and the value, for the first
    field of ``settings`` that breaks its rules."""
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        expected = _violation(value, dict(f.metadata))
        if expected:
            raise SettingError(f"{experiment}.{f.name}", expected, value)
    check = getattr(settings, "check", None)
    message = check() if check is not None else None
    if message:
        raise SettingError(experiment, "settings that fit together", settings, f"settings of {experiment}: {message}")
