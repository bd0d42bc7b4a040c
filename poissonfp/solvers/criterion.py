"""When a solve has reached its goal: :class:`StoppingCriterion` (its metric, reference, scale and value, the
one place a criterion is evaluated, from an iterate or from a sweep kernel's norms) and :func:`norm2`, the
2-norm that neither underflows nor overflows."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from poissonfp.settings import CRITERIA, CRITERION_METRICS

if TYPE_CHECKING:
    from poissonfp.problem import Problem

__all__ = ["StoppingCriterion", "norm2"]


def norm2(values: np.ndarray) -> float:
    """The Euclidean norm of ``values`` without underflow or overflow: the entries are divided by their
    largest magnitude before squaring (``np.linalg.norm`` squares them as they are, so a vector of size
    1e-200 has norm 0 and one of size 1e300 norm inf). NaN when an entry is NaN, inf when one is inf.

    >>> norm2(np.array([3e-200, 4e-200])), norm2(np.array([3e300, 4e300]))
    (5e-200, 5e+300)
    """
    values = np.asarray(values)
    if values.size == 0:
        return 0.0
    largest = float(np.max(np.abs(values)))
    if largest == 0.0 or not math.isfinite(largest):
        return largest if not np.isnan(values).any() else math.nan
    return largest * float(np.linalg.norm(values / largest))


def _relative(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, the denominator taken as 1 where it is 0."""
    return numerator / (denominator or 1.0)


@dataclass(frozen=True)
class StoppingCriterion:
    """When a solve has reached its goal.

    Args:
        kind: ``"residual"`` (``||b - Au|| / ||b|| <= tol``), ``"discretization"``
            (``||u - u_exact||_inf <= 1.5 ||u_h - u_exact||_inf``) or ``"discrete"``
            (``||u - u_h|| / ||u_h|| <= tol``).
        tol: tolerance of the residual and discrete criteria.
        max_iterations: sweeps (or cycles) after which an iterative solver gives up.
        factor: the multiple of the discretization error accepted by ``"discretization"``.
    """

    kind: str = "residual"
    tol: float = 1e-8
    max_iterations: int = 5_000_000
    factor: float = 1.5

    def __post_init__(self) -> None:
        if self.kind not in CRITERIA:
            raise ValueError(f"unknown stopping criterion {self.kind!r}; expected one of {', '.join(CRITERIA)}")
        uses_tol = self.kind != "discretization"  # which ignores tol: 0 is accepted there
        for name, value, low in (("tol", self.tol, 0.0), ("factor", self.factor, 1.0)):
            number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            strict = name == "tol" and uses_tol
            if not number or value < low or (strict and value == low):
                relation = ">" if strict else ">="
                raise ValueError(f"{name} must be a finite number {relation} {low:g} for the {self.kind} "
                                 f"criterion, got {value!r}")
        if isinstance(self.max_iterations, bool) or not isinstance(self.max_iterations, int) \
                or self.max_iterations < 1:
            raise ValueError(f"max_iterations must be a positive integer, got {self.max_iterations!r}")

    def threshold(self, problem: Problem) -> float:
        """The value the criterion's metric must reach on ``problem``."""
        if self.kind == "discretization":
            error = problem.discretization_error_inf
            if error is None:
                raise ValueError("the discretization criterion needs an exact solution")
            return self.factor * error
        return self.tol

    @property
    def metric(self) -> str:
        """The history key the criterion reads."""
        return CRITERION_METRICS[self.kind]

    def reference(self, problem: Problem) -> np.ndarray | None:
        """The array the metric measures the iterate against (C-contiguous, for the sweep kernels):
        the exact solution (``"discretization"``), the discrete solution (``"discrete"``) or None."""
        if self.kind == "discretization":
            return np.ascontiguousarray(problem.exact)
        if self.kind == "discrete":
            return np.ascontiguousarray(problem.discrete_solution)
        return None

    def scale(self, problem: Problem) -> float:
        """The norm the metric divides by: ``||b||`` (residual), ``||u_h||`` (discrete) or 1 (discretization,
        an absolute max-norm); 1 where that norm is zero."""
        if self.kind == "residual":
            return norm2(problem.rhs) or 1.0
        if self.kind == "discrete":
            return norm2(problem.discrete_solution) or 1.0
        return 1.0

    def from_norms(self, *, residual_norm: float, error_max: float, error_l2: float, scale: float) -> float:
        """The metric from the norms a sweep kernel returns: ``||b - Au||_2``, ``max|u - reference|`` and
        ``||u - reference||_2`` (only the one the criterion reads needs to be meaningful)."""
        if self.kind == "discretization":
            return float(error_max)
        return float(residual_norm if self.kind == "residual" else error_l2) / scale

    def from_sweep(self, stats: dict[str, float], scale: float) -> float:
        """The metric from a sweep's statistics (keys ``residual_norm``, ``error_max``, ``error_sq``
        and optionally ``unit``: the squared error is of the iterate divided by ``unit``)."""
        return self.from_norms(residual_norm=stats["residual_norm"], error_max=stats["error_max"],
                               error_l2=math.sqrt(stats["error_sq"]) * stats.get("unit", 1.0), scale=scale)

    def evaluate(self, problem: Problem, u: np.ndarray, reference: np.ndarray | None = None,
                 scale: float | None = None) -> float:
        """The metric of iterate ``u``, computed directly (``reference`` and ``scale`` may be passed in
        when already at hand)."""
        scale = self.scale(problem) if scale is None else scale
        if self.kind == "residual":
            norm = norm2(problem.rhs - problem.operator.apply(u))
            return self.from_norms(residual_norm=norm, error_max=math.nan, error_l2=math.nan, scale=scale)
        u = problem.operator.project(u)  # all-Neumann problems: compare the solution of zero mean
        diff = u - (self.reference(problem) if reference is None else reference)
        return self.from_norms(residual_norm=math.nan, error_max=float(np.max(np.abs(diff))),
                               error_l2=norm2(diff), scale=scale)

    def describe(self, problem: Problem) -> str:
        return f"{self.metric} <= {self.threshold(problem):.3e}"
