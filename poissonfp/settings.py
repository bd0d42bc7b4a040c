"""Settings of the solvers, the network, its training and the hybrid: frozen dataclasses with defaults.

Pure data: nothing here imports a solver. Every field is declared with :func:`setting`, which records
the allowed string values and numeric bounds; the annotated type (``int``, ``float``, ``bool``, ``str``,
``tuple[int, ...]``, unions such as ``int | str``) does the rest. Adding a field is one line, and the
case loader validates it without further code. Values are checked when a settings object is built:

>>> SolverSettings(method="jacobi", omega=0.8).omega
0.8
>>> SolverSettings(method="gauss")
Traceback (most recent call last):
...
poissonfp.settings.SettingError: method: expected one of 'jacobi', 'dnn', 'hybrid', 'article', 'operator', 'multigrid', 'dst', 'direct', got 'gauss'
"""
from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from poissonfp.methods import COARSE_SPACES, DEVICES, METHODS

__all__ = [
    "CRITERIA",
    "CRITERION_METRICS",
    "METHODS",
    "HybridSettings",
    "MultigridSettings",
    "NetworkSettings",
    "OperatorSettings",
    "SettingError",
    "SolverSettings",
    "TrainingSettings",
    "check_setting",
    "check_switch",
    "default_criterion",
    "describe_setting",
    "setting",
]

#: Each stopping criterion and the history key (metric) it reads: the one table of criterion -> metric.
CRITERION_METRICS = {
    "residual": "rel_residual",
    "discretization": "error_vs_exact_inf",
    "discrete": "error_vs_discrete_rel_l2",
}
CRITERIA = tuple(CRITERION_METRICS)


def default_criterion(has_exact: bool) -> str:
    """The criterion a case gets when it names none: ``"discretization"`` with an exact solution, else
    ``"residual"``."""
    return "discretization" if has_exact else "residual"



class SettingError(ValueError):
    """A setting has a value of the wrong type or outside its allowed values, or does not exist: the one
    settings error of the package (solver, network, training and hybrid settings, and the experiments'
    settings of :mod:`poissonfp.diagnostics`).

    Attributes:
        name: The setting, e.g. ``omega`` or ``parity.epochs``.
        expected: What the setting accepts, e.g. ``"a positive number"``.
        value: The rejected value.
        message: The whole text, where the fault is no single value (settings that do not fit together);
            default ``"NAME: expected EXPECTED, got VALUE"``.
    """

    def __init__(self, name: str, expected: str, value: Any, message: str | None = None) -> None:
        self.name, self.expected, self.value = name, expected, value
        super().__init__(message or f"{name}: expected {expected}, got {value!r}")


def setting(default: Any, *, choices: tuple[str, ...] = (), minimum: float | None = None,
            above: float | None = None, maximum: float | None = None) -> Any:
    """Declare a settings field: its default, allowed strings and bounds (``minimum <= v``, ``above < v``,
    ``v <= maximum``; for tuples the bounds apply to every entry)."""
    bounds = {"choices": choices, "minimum": minimum, "above": above, "maximum": maximum}
    return field(default=default, metadata=bounds)


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    """``typing.get_type_hints(cls)`` once per class: it compiles every string annotation on each call (0.1 ms
    of every hybrid solve's ``check_switch``)."""
    return typing.get_type_hints(cls)


class _Invalid(Exception):
    pass


def check_setting(cls: type, name: str, value: Any) -> Any:
    """Return ``value`` converted to the type of field ``name`` of the settings class ``cls``.

    TOML integers are accepted for floats, lists for tuples; booleans are never numbers.

    Raises:
        SettingError: If the value does not fit the field's type, choices or bounds.
        KeyError: If ``cls`` has no field ``name``.
    """
    spec = {f.name: f for f in dataclasses.fields(cls)}[name]
    annotation = _type_hints(cls)[name]
    try:
        return _coerce(annotation, value, spec.metadata)
    except _Invalid:
        raise SettingError(name, describe_setting(cls, name), value) from None


def describe_setting(cls: type, name: str) -> str:
    """What field ``name`` of ``cls`` accepts, in words, e.g. ``"a number in (0, 1]"``."""
    spec = {f.name: f for f in dataclasses.fields(cls)}[name]
    return _describe(_type_hints(cls)[name], spec.metadata)


def _coerce(annotation: Any, value: Any, meta: typing.Mapping) -> Any:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        for option in args:
            try:
                return _coerce(option, value, meta)
            except _Invalid:
                continue
        raise _Invalid
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or not value:
            raise _Invalid
        return tuple(_coerce(args[0], item, meta) for item in value)
    if annotation is type(None):
        if value is None:
            return None
        raise _Invalid
    if annotation is bool:
        if type(value) is bool:
            return value
        raise _Invalid
    if annotation is str:
        if not isinstance(value, str) or (meta.get("choices") and value not in meta["choices"]):
            raise _Invalid
        return value
    if annotation in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float) if annotation is float else int):
            raise _Invalid
        if not math.isfinite(value) or not _in_bounds(value, meta):
            raise _Invalid
        return annotation(value)
    raise TypeError(f"settings fields of type {annotation!r} are not supported")


def _in_bounds(value: float, meta: typing.Mapping) -> bool:
    minimum, above, maximum = meta.get("minimum"), meta.get("above"), meta.get("maximum")
    return ((minimum is None or value >= minimum) and (above is None or value > above)
            and (maximum is None or value <= maximum))


def _describe(annotation: Any, meta: typing.Mapping) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a, meta) for a in args if a is not type(None))
    if origin is tuple:
        return f"a non-empty list of {_describe(args[0], meta).split(' ', 1)[1]}s"
    if annotation is bool:
        return "true or false"
    if annotation is str:
        choices = meta.get("choices")
        if not choices:
            return "a string"
        return repr(choices[0]) if len(choices) == 1 else "one of " + ", ".join(repr(c) for c in choices)
    noun = "integer" if annotation is int else "number"
    minimum, above, maximum = meta.get("minimum"), meta.get("above"), meta.get("maximum")
    if maximum is None and above is None and minimum in (0, 1) and (minimum == 0 or noun == "integer"):
        return f"a {'non-negative' if minimum == 0 else 'positive'} {noun}"
    if maximum is None and minimum is None and above == 0:
        return f"a positive {noun}"
    low = f"({above}" if above is not None else (f"[{minimum}" if minimum is not None else "(-inf")
    high = f"{maximum}]" if maximum is not None else "inf)"
    return f"a{'n' if noun == 'integer' else ''} {noun} in {low}, {high}"


class _Settings:
    """Validates and converts every field after construction (``SettingError`` on a bad value)."""

    def __post_init__(self) -> None:
        for spec in dataclasses.fields(self):  # type: ignore[arg-type]  # subclasses are dataclasses
            value = check_setting(type(self), spec.name, getattr(self, spec.name))
            object.__setattr__(self, spec.name, value)


@dataclass(frozen=True)
class SolverSettings(_Settings):
    """How the discrete system is solved and when to stop.

    ``criterion=None`` means ``"discretization"`` when an exact solution is known, else ``"residual"``;
    a loaded case always holds a concrete criterion. ``tol`` serves the residual / discrete criteria,
    ``omega`` is the weight of weighted Jacobi, ``check_every=0`` lets the solver choose how often
    it evaluates the stopping criterion.
    """

    method: str = setting("jacobi", choices=METHODS)
    criterion: str | None = setting(None, choices=CRITERIA)
    tol: float = setting(1e-8, above=0)
    max_iterations: int = setting(5_000_000, minimum=1)
    omega: float = setting(1.0, above=0, maximum=1)
    check_every: int = setting(0, minimum=0)


@dataclass(frozen=True)
class NetworkSettings(_Settings):
    """The fully connected network: hidden widths, activation, floating-point type and device.

    ``scale`` multiplies the first layer's initial weights and biases (inputs are mapped to [-1, 1]^d):
    it sets the frequencies the hidden features resolve, hence the modes a Galerkin output layer captures.
    """

    widths: tuple[int, ...] = setting((64, 64), minimum=1)
    activation: str = setting("tanh", choices=("tanh", "sin", "relu", "gelu", "softplus"))
    dtype: str = setting("float64", choices=("float32", "float64"))
    device: str = setting("cpu", choices=DEVICES)
    scale: float = setting(1.0, above=0)


@dataclass(frozen=True)
class TrainingSettings(_Settings):
    """Training of the network: loss, collocation points, Adam then L-BFGS, Galerkin output layer.

    ``points="grid"`` evaluates the loss on the grid points with the discrete operator; ``"quadrature"``
    uses ``quadrature_order`` Gauss points per cell and dimension (guarded: falls back to the grid when it
    does not resolve the network). ``galerkin`` solves the output layer exactly (before and after
    training); ``rcond`` truncates near-dependent features in that solve.
    """

    loss: str = setting("ritz", choices=("ritz", "pinn"))
    points: str = setting("grid", choices=("grid", "quadrature"))
    quadrature_order: int = setting(2, minimum=1)
    adam_steps: int = setting(200, minimum=0)
    learning_rate: float = setting(1e-3, above=0)
    lbfgs_steps: int = setting(0, minimum=0)
    galerkin: bool = setting(True)
    rcond: float = setting(1e-12, above=0, maximum=1)


@dataclass(frozen=True)
class HybridSettings(_Settings):
    """DNN-Jacobi hybrid.

    ``cycle = "multilevel"`` (default): a hierarchy of ω-Jacobi-smoothed grids (``smoothing_sweeps`` before
    and after each coarse correction) whose coarsest level (at most ``coarsest_points`` per axis; 0: 15 in
    2D, 7 in 3D, 31 in 1D) is solved by ``coarsest``: ``"space"`` (the network's Galerkin space, then
    sweeps, repeated until its residual drops by ``coarsest_reduction``), ``"smoothing"`` (the same without
    the space: the control) or ``"exact"`` (sparse LU). With ``fallback`` and ``switch = "auto"`` the hybrid
    first predicts pure Jacobi's sweeps from the right-hand side and runs pure Jacobi when they cost less
    than the cycles and the network's set-up (the decision is recorded).

    ``cycle = "two-level"``: train M steps, then two-level cycles {ν Jacobi sweeps, Galerkin correction}.

    ``switch`` is the number M of training steps before handing over, or ``"auto"`` (switch once the
    lowest ``low_modes`` modes per dimension have converged: their estimated relative error is below
    ``low_tol`` or changes by less than ``plateau`` per step, or doubling the training no longer divides it
    by ``min_gain``: training that stops paying hands over the best iterate seen). ``corrections`` caps the correction
    cycles (0: one network guess, then plain Jacobi); ``sweeps_per_correction=0`` is automatic;
    ``smoothing_omega`` weights the cycles' sweeps (0: the method's own choice, the smoothing-optimal
    2d/(2d+1) for multilevel, 1 for two-level, which measured fewer sweeps on 1d_article and 2d_square,
    whose error after the Galerkin solve sits in the middle of the spectrum, where ω = 1 damps fastest); corrections stop once a
    cycle reduces the true residual by less than the factor ``stall``, and plain Jacobi (the case's ω)
    finishes. ``coarse`` picks the coarse space: the network's features (``"network"``), or as many
    functions of a classical smooth basis (``"polynomial"``: bubble x Legendre, ``"sine"``: lowest sine
    modes; :mod:`poissonfp.neural.bases`), untrained, to measure what the network contributes.
    """

    switch: int | str = setting("auto", choices=("auto",), minimum=0)
    cycle: str = setting("multilevel", choices=("multilevel", "two-level"))
    coarsest: str = setting("space", choices=("space", "smoothing", "exact"))
    coarsest_points: int = setting(0, minimum=0)
    coarsest_reduction: float = setting(0.05, above=0, maximum=1)
    smoothing_sweeps: int = setting(2, minimum=1)
    fallback: bool = setting(True)
    corrections: int = setting(1000, minimum=0)
    sweeps_per_correction: int = setting(0, minimum=0)
    smoothing_omega: float = setting(0.0, minimum=0, maximum=1)
    stall: float = setting(0.99, above=0, maximum=1)
    low_modes: int = setting(4, minimum=1)
    low_tol: float = setting(1e-3, above=0)
    plateau: float = setting(1e-3, above=0)
    min_gain: float = setting(2.0, minimum=1)
    coarse: str = setting("network", choices=COARSE_SPACES)


@dataclass(frozen=True)
class MultigridSettings(_Settings):
    """PyAMG's options for ``multigrid``: ``kind`` ``"rs"`` (Ruge-Stueben, the default) or ``"sa"`` (smoothed
    aggregation); ``accel`` ``"none"`` (plain V-cycles) or a Krylov method the cycles precondition (``"cg"``
    for symmetric A, ``"gmres"``, ``"bicgstab"``). With a Krylov method an iteration is one Krylov step."""

    kind: str = setting("rs", choices=("rs", "sa"))
    accel: str = setting("none", choices=("none", "cg", "gmres", "bicgstab"))


def check_switch(value: Any) -> int | str:
    """The hybrid's switch point M, checked as ``[hybrid] switch`` is: the one check that the case, the
    command-line flags (``--switch 30``: ASCII digits become an integer) and the solvers share.

    >>> check_switch("30"), check_switch("auto"), check_switch(0)
    (30, 'auto', 0)

    Raises:
        SettingError: anything but ``"auto"`` or a non-negative integer (booleans and ``"²"`` included).
    """
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    return check_setting(HybridSettings, "switch", value)


@dataclass(frozen=True)
class OperatorSettings(_Settings):
    """The operator iteration (``method = "operator"``, :mod:`poissonfp.solvers.hybrids.operator`).

    ``model`` is the folder of a network trained by ``poissonfp train`` (relative paths from the working
    directory; ``--model`` overrides it); ``sweeps`` the ω-Jacobi sweeps between network calls; ``accel``
    ``"none"`` (corrections with the energy-optimal step) or ``"fcg"`` (flexible CG preconditioned by them);
    ``trigger`` ``"stall"`` (call the network when the sweeps stall) or ``"always"`` (after every block);
    ``coarse_sweeps`` the sweeps around the call at the model's own level (unset: 40 when that level is coarser
    than the problem's grid, 3 when it is the problem's own); ``cycle_sweeps`` the sweeps before
    and after each finer level's coarse correction in the V-cycle; ``call_price`` a call's price in
    sweep-equivalents for the trigger and the safeguard (unset: measured, so the calls a solve makes vary with
    the machine's load; a number makes them repeatable). The choices and defaults are those of
    :func:`poissonfp.solvers.hybrids.operator.solve_operator` (a test keeps them equal).
    """

    model: str = setting("")
    sweeps: int = setting(10, minimum=1)
    accel: str = setting("none", choices=("none", "fcg"))
    trigger: str = setting("stall", choices=("stall", "always"))
    coarse_sweeps: int | None = setting(None, minimum=0)
    cycle_sweeps: int = setting(8, minimum=0)
    call_price: float | None = setting(None, minimum=0)
