"""The discrete Poisson problem ``A u = b`` on a grid, built from a case or from plain functions."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

import numpy as np

from poissonfp.grid import Grid
from poissonfp.operators import fold_boundary, solve_dst

__all__ = ["Problem", "build_problem"]

Function = Callable[..., np.ndarray]


@dataclass(frozen=True, eq=False)
class Problem:
    """-Δu = f on ``grid``'s box, u = g on its boundary, discretised as ``A u = rhs``.

    Attributes:
        grid: the interior grid.
        source: f at the interior points.
        rhs: ``b``, f with the boundary values folded in.
        exact: the exact solution u at the interior points, if known.
        name: a label (the case name).
        functions: the continuous data as callables of coordinates (``"source"``, ``"boundary"``,
            optionally ``"exact"``), each with ``.numpy`` and ``.torch`` evaluators when built from a
            case; the neural solver evaluates them off the grid.
    """

    grid: Grid
    source: np.ndarray
    rhs: np.ndarray
    exact: np.ndarray | None = None
    name: str = "problem"
    functions: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        exact = "known" if self.exact is not None else "unknown"
        functions = f", functions: {', '.join(self.functions)}" if self.functions else ""
        return f"Problem({self.name!r}, grid {self.grid.describe()} ({self.grid.size:,} unknowns), exact {exact}{functions})"

    @cached_property
    def discrete_solution(self) -> np.ndarray:
        """The exact solution of ``A u = b`` (fast sine transform; round-off accurate)."""
        return solve_dst(self.grid, self.rhs)

    @cached_property
    def discretization_error_inf(self) -> float | None:
        """``||u_h - u_exact||_inf``: the best any solver of ``A u = b`` can do, or None."""
        if self.exact is None:
            return None
        return float(np.max(np.abs(self.discrete_solution - self.exact)))

    @classmethod
    def from_functions(
        cls,
        grid: Grid,
        source: Function,
        boundary: Function | None = None,
        exact: Function | None = None,
        name: str = "problem",
    ) -> "Problem":
        """Build a problem from numpy callables of the coordinates (``f(x, y)`` etc.)."""
        coords = grid.coordinates()
        boundary = boundary or (lambda *c: np.zeros(np.broadcast_shapes(*(a.shape for a in c))))
        f = np.broadcast_to(source(*coords), grid.shape).astype(float)
        u = None if exact is None else np.broadcast_to(exact(*coords), grid.shape).astype(float)
        return cls(grid, f, fold_boundary(grid, f, boundary), u, name)


def build_problem(case, size: int | None = None) -> Problem:
    """The discrete problem of a loaded :class:`~poissonfp.case.Case`.

    Args:
        case: a validated case.
        size: grid size per dimension in the case's own unit (points or intervals); None keeps the case's.

    Raises:
        CaseError: If f, u or g is not finite at a grid point (the case's sample lattice missed it),
            naming the key and the point.
    """
    grid = Grid(tuple(case.lower), tuple(case.upper), tuple(case.interior_shape(size)))
    coords = grid.coordinates()
    f = np.broadcast_to(case.source.numpy(*coords), grid.shape).astype(float)
    derived = case.exact is not None and case.source is case.exact.negative_laplacian()
    _check_finite(case, grid, f, "[problem] exact" if derived else "[problem] source", "-Δu " if derived else "")
    u = None if case.exact is None else np.broadcast_to(case.exact.numpy(*coords), grid.shape).astype(float)
    if u is not None:
        _check_finite(case, grid, u, "[problem] exact", "")
    functions = {"source": case.source, "boundary": case.boundary}
    if case.exact is not None:
        functions["exact"] = case.exact
    rhs = fold_boundary(grid, f, case.boundary.numpy)
    _check_finite(case, grid, rhs, "[problem] boundary", "next to ")
    return Problem(grid, f, rhs, u, case.name, functions)


def _check_finite(case, grid: Grid, values: np.ndarray, key: str, what: str) -> None:
    """Refuse data that is infinite or NaN at a grid point: bad input, not a solver's divergence."""
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        from poissonfp.case import CaseError

        index = np.unravel_index(bad[0], grid.shape)
        where = ", ".join(f"{name}={axis[i]:.6g}" for name, axis, i in zip(case.variables, grid.axes, index))
        raise CaseError(case.path, key, f"{what}is not finite at the interior grid point {where} "
                        f"({bad.size:,} of {values.size:,} points)", expected="a formula finite on the grid")
