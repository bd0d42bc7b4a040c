"""Claims, experiment results, the experiment registry and settings handling.

An experiment is a module exposing ``EXPERIMENT = Experiment(...)``: a frozen settings dataclass whose
defaults are the full settings, the overrides that make the ``--quick`` preset (sizes and lengths only,
never a threshold), the overrides that make its negative ``--control``, the paper's settings beside ours,
a ``run`` function ``(settings, seed, on_progress) -> ExperimentResult`` and a ``figures`` function
``ExperimentResult -> {name: Figure}``. Registering one is a single entry in :data:`EXPERIMENTS`.

Every checked claim has a ``kind``: ``"evidence"`` (it would fail if the paper were wrong; the shipped
controls make it fail) or ``"sanity"`` (an identity or a theorem; a failure means a bug), and a ``rule``
that states how its verdict is decided.
"""
from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from poissonfp.settings import SettingError

__all__ = [
    "EXPERIMENTS",
    "KINDS",
    "Claim",
    "Experiment",
    "ExperimentResult",
    "Observation",
    "PaperSetting",
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
    "operator": "poissonfp.diagnostics.operator:EXPERIMENT",
}

#: Claim kinds: evidence can fail if the paper is wrong; sanity fails only through a bug.
KINDS = ("evidence", "sanity")


@dataclass(frozen=True)
class Claim:
    """A statement of the paper checked in one run; ``measured`` holds the numbers behind the verdict."""

    experiment: str
    claim: str
    passed: bool
    measured: dict[str, Any]
    seed: int
    kind: str = "evidence"
    rule: str = ""


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

    def claim(self, claim: str, passed: bool, *, kind: str = "evidence", rule: str, **measured: Any) -> None:
        """Record a checked claim of ``kind`` (see :data:`KINDS`) decided by ``rule``."""
        if kind not in KINDS:
            raise ValueError(f"claim kind must be one of {KINDS}, got {kind!r}")
        self.claims.append(Claim(self.experiment, claim, bool(passed), measured, self.seed, kind, rule))

    def observe(self, observation: str, **measured: Any) -> None:
        """Record an observation."""
        self.observations.append(Observation(self.experiment, observation, measured, self.seed))


@dataclass(frozen=True)
class PaperSetting:
    """One row of the settings table: the paper's value, where it was read (``source``: the paper or its
    authors' code, by URL or repository and path; "not verified" where neither was found), the setting
    keys of ours, and how and why they differ (empty only where ours is the same)."""

    label: str
    paper: str
    keys: tuple[str, ...]
    deviation: str = ""
    source: str = ""


@dataclass(frozen=True)
class Experiment:
    """A registered F-Principle experiment."""

    name: str
    description: str
    settings_type: type
    quick: Mapping[str, Any]
    run: Callable[[Any, int, ProgressCallback | None], ExperimentResult]
    figures: Callable[[ExperimentResult], dict[str, Any]]
    control: Mapping[str, Any] = field(default_factory=dict)
    control_description: str = ""
    paper: tuple[PaperSetting, ...] = ()


def load_experiment(name: str) -> Experiment:
    """Import and return the registered experiment ``name``."""
    if name not in EXPERIMENTS:
        raise SettingError("experiment", f"one of {', '.join(EXPERIMENTS)}", name)
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
    except (TypeError, ValueError, OverflowError):
        raise SettingError(key, type(default).__name__, value) from None


def make_settings(
    experiment: Experiment,
    quick: bool = False,
    overrides: Mapping[str, Any] | None = None,
    control: bool = False,
) -> Any:
    """Full settings (the defaults), with the quick preset, the control preset and ``overrides`` applied.

    Every value is checked against the rules in its field's metadata (:func:`poissonfp.diagnostics.rules.
    check_settings`) before anything runs.

    Raises:
        SettingError: for a key the settings do not have, a value that does not convert or is out of range.
    """
    from poissonfp.diagnostics.rules import check_settings

    defaults = experiment.settings_type()
    known = {f.name for f in dataclasses.fields(defaults)}
    changes: dict[str, Any] = dict(experiment.quick) if quick else {}
    if control:
        changes.update(experiment.control)
    for key, value in (overrides or {}).items():
        if key not in known:
            raise SettingError(f"{experiment.name}.{key}", f"one of {', '.join(sorted(known))}", key,
                               f"{experiment.name} has no setting {key!r}; known: {', '.join(sorted(known))}")
        changes[key] = _coerce(value, getattr(defaults, key), f"{experiment.name}.{key}")
    settings = dataclasses.replace(defaults, **changes)
    check_settings(experiment.name, settings)
    return settings


def parse_override(text: str) -> tuple[str, str, str]:
    """Split ``"experiment.key=value"`` into its three parts.

    >>> parse_override("parity.epochs=500")
    ('parity', 'epochs', '500')
    """
    target, sep, value = text.partition("=")
    experiment, dot, key = target.strip().partition(".")
    if not sep or not dot or not experiment or not key:
        raise SettingError("--set", "EXPERIMENT.KEY=VALUE", text)
    return experiment, key.strip(), value.strip()
