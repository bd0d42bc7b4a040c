"""Claims, experiment results, the experiment registry and settings handling.

An experiment is a module exposing ``EXPERIMENT = Experiment(...)``: a frozen settings dataclass whose
defaults are the paper's settings, the overrides that make the ``--quick`` preset, a ``run`` function
``(settings, seed, on_progress) -> ExperimentResult`` and a ``figures`` function
``ExperimentResult -> {name: Figure}``. Registering one is a single entry in :data:`EXPERIMENTS`.
"""
from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

__all__ = [
    "Claim",
    "Observation",
    "ExperimentResult",
    "Experiment",
    "EXPERIMENTS",
    "SettingsError",
    "load_experiment",
    "make_settings",
    "parse_override",
]

#: ``on_progress(done, total)`` in the experiment's own units (epochs, runs ...).
ProgressCallback = Callable[[float, float], None]

#: name -> ``"module:attribute"`` of its :class:`Experiment`; dict order is the run order.
EXPERIMENTS: dict[str, str] = {
    "fprinciple-1d": "poissonfp.diagnostics.fprinciple_1d:EXPERIMENT",
    "parity": "poissonfp.diagnostics.parity:EXPERIMENT",
    "digits": "poissonfp.diagnostics.digits:EXPERIMENT",
    "poisson-1d": "poissonfp.diagnostics.poisson_1d:EXPERIMENT",
}


class SettingsError(ValueError):
    """An unknown experiment, an unknown setting or a value of the wrong type."""


@dataclass(frozen=True)
class Claim:
    """A statement of the paper checked in one run; ``measured`` holds the numbers behind the verdict."""

    experiment: str
    claim: str
    passed: bool
    measured: dict[str, Any]
    seed: int


@dataclass(frozen=True)
class Observation:
    """A measured fact reported without a verdict (e.g. where the paper's effect depends on a setting)."""

    experiment: str
    observation: str
    measured: dict[str, Any]
    seed: int


@dataclass
class ExperimentResult:
    """What one experiment measured with one seed. ``records`` holds the arrays the figures need."""

    experiment: str
    seed: int
    settings: dict[str, Any]
    claims: list[Claim] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    records: dict[str, Any] = field(default_factory=dict)
    runtime_s: float = 0.0

    def claim(self, claim: str, passed: bool, **measured: Any) -> None:
        """Record a checked claim."""
        self.claims.append(Claim(self.experiment, claim, bool(passed), measured, self.seed))

    def observe(self, observation: str, **measured: Any) -> None:
        """Record an observation."""
        self.observations.append(Observation(self.experiment, observation, measured, self.seed))


@dataclass(frozen=True)
class Experiment:
    """A registered F-Principle experiment."""

    name: str
    description: str
    settings_type: type
    quick: Mapping[str, Any]
    run: Callable[[Any, int, ProgressCallback | None], ExperimentResult]
    figures: Callable[[ExperimentResult], dict[str, Any]]


def load_experiment(name: str) -> Experiment:
    """Import and return the registered experiment ``name``."""
    if name not in EXPERIMENTS:
        raise SettingsError(f"unknown experiment {name!r}; choose from {', '.join(EXPERIMENTS)}")
    module_name, attribute = EXPERIMENTS[name].split(":")
    return getattr(importlib.import_module(module_name), attribute)


def _coerce(value: Any, default: Any, key: str) -> Any:
    """Convert ``value`` (a string from the command line or a Python value) to the type of ``default``."""
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                return value.lower() in ("true", "1", "yes")
            return bool(value)
        if isinstance(default, tuple):
            items = [v for v in value.split(",") if v.strip()] if isinstance(value, str) else list(value)
            element = default[0] if default else ""
            return tuple(_coerce(v.strip() if isinstance(v, str) else v, element, key) for v in items)
        if isinstance(default, int):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if isinstance(default, float):
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise SettingsError(f"setting {key!r} expects {type(default).__name__}, got {value!r}") from None


def make_settings(experiment: Experiment, quick: bool = False, overrides: Mapping[str, Any] | None = None) -> Any:
    """Full settings (the defaults), with the quick preset and then ``overrides`` applied.

    Raises:
        SettingsError: for a key the settings do not have or a value that does not convert.
    """
    defaults = experiment.settings_type()
    known = {f.name for f in dataclasses.fields(defaults)}
    changes: dict[str, Any] = dict(experiment.quick) if quick else {}
    for key, value in (overrides or {}).items():
        if key not in known:
            raise SettingsError(f"{experiment.name} has no setting {key!r}; known: {', '.join(sorted(known))}")
        changes[key] = _coerce(value, getattr(defaults, key), f"{experiment.name}.{key}")
    return dataclasses.replace(defaults, **changes)


def parse_override(text: str) -> tuple[str, str, str]:
    """Split ``"experiment.key=value"`` into its three parts.

    >>> parse_override("parity.epochs=500")
    ('parity', 'epochs', '500')
    """
    target, sep, value = text.partition("=")
    experiment, dot, key = target.strip().partition(".")
    if not sep or not dot or not experiment or not key:
        raise SettingsError(f"expected EXPERIMENT.KEY=VALUE, got {text!r}")
    return experiment, key.strip(), value.strip()


def first_step_below(steps, errors, threshold: float) -> list[int | None]:
    """Per column of ``errors`` (records x peaks): the first step with error below ``threshold``, or None.

    >>> import numpy as np
    >>> first_step_below(np.array([0, 10, 20]), np.array([[0.5, 0.5], [0.05, 0.5], [0.01, 0.09]]), 0.1)
    [10, 20]
    """
    import numpy as np

    below = np.asarray(errors) < threshold
    return [int(steps[np.argmax(column)]) if column.any() else None for column in below.T]
