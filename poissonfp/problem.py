"""The discrete Poisson problem ``A u = b`` on a grid, built from a case or from plain functions."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from poissonfp.discrete_operator import DiscreteOperator, DomainError, assemble, box_operator, computational_grid
from poissonfp.grid import Grid
from poissonfp.operators import fold_boundary

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
        general: the operator when it is not the constant-coefficient Dirichlet box's Laplacian (a
            domain inside the box, Neumann sides or a variable coefficient); None on the box.
    """

    grid: Grid
    source: np.ndarray
    rhs: np.ndarray
    exact: np.ndarray | None = None
    name: str = "problem"
    functions: dict = field(default_factory=dict)
    general: DiscreteOperator | None = None

    def __repr__(self) -> str:
        exact = "known" if self.exact is not None else "unknown"
        functions = f", functions: {', '.join(self.functions)}" if self.functions else ""
        return f"Problem({self.name!r}, grid {self.grid.describe()} ({self.grid.size:,} unknowns), exact {exact}{functions})"

    @cached_property
    def operator(self) -> DiscreteOperator:
        """``A``: :attr:`general`, or the box's (2d+1)-point Laplacian."""
        return self.general if self.general is not None else box_operator(self.grid)

    @property
    def on_box(self) -> bool:
        """True for the constant-coefficient Dirichlet box (the sine transform diagonalises ``A``)."""
        return self.general is None or self.general.box

    @cached_property
    def discrete_solution(self) -> np.ndarray:
        """The exact solution of ``A u = b``, round-off accurate: the fast sine transform on the box; off
        the box a sparse LU up to :data:`LU_LIMIT` unknowns, above it the Galerkin hierarchy's own cycles
        to a normwise backward error of 1e-14
        (:func:`~poissonfp.solvers.hierarchy.multilevel_galerkin.reference_solution`; of zero mean when every side
        is Neumann). The LU's fill grew to 5.6 GB and more than 7 minutes at 63³; the cycles take 1.7 s
        there and 9.9 s at 127³, and agree with the LU to 1e-11 (relative, max norm) where both run.
        Should the cycles stall, AMG-accelerated GMRES, then the LU, take over."""
        operator = self.operator
        if operator.box or self.grid.size <= LU_LIMIT:
            return operator.solve(self.rhs)
        from poissonfp.solvers.hierarchy.multilevel_galerkin import reference_solution

        solved = reference_solution(operator, self.rhs)
        if solved is not None:
            return solved[0]
        return operator.project(_iterative_solution(operator, self.rhs))

    @cached_property
    def discretization_error_inf(self) -> float | None:
        """``||u_h - u_exact||_inf``: the best any solver of ``A u = b`` can do, or None."""
        if self.exact is None:
            return None
        return float(np.max(np.abs(self.operator.project(self.discrete_solution) - self.exact)))

    @classmethod
    def from_functions(
        cls,
        grid: Grid,
        source: Function,
        boundary: Function | None = None,
        exact: Function | None = None,
        name: str = "problem",
    ) -> Problem:
        """Build a problem from numpy callables of the coordinates (``f(x, y)`` etc.)."""
        coords = grid.coordinates()
        boundary = boundary or (lambda *c: np.zeros(np.broadcast_shapes(*(a.shape for a in c))))
        f = np.broadcast_to(source(*coords), grid.shape).astype(float)
        u = None if exact is None else np.broadcast_to(exact(*coords), grid.shape).astype(float)
        return cls(grid, f, fold_boundary(grid, f, boundary), u, name)


#: Unknowns of a problem off the box above which its discrete solution is iterated, not factorised (the
#: hierarchy's cycles beat the LU from 127² on: 0.013 against 0.029 s on 2d_contrast, 0.036 against 0.056 s
#: with Neumann sides; 15³: 0.08 s of LU).
LU_LIMIT = 20_000


def _iterative_solution(operator: DiscreteOperator, rhs: np.ndarray) -> np.ndarray:
    """The fallback: ``A^{-1} rhs`` by Ruge-Stueben AMG preconditioning GMRES, to a relative residual of 1e-13 (the
    sparse LU where that is not reached)."""
    import pyamg
    from threadpoolctl import threadpool_limits

    from poissonfp.solvers.base import norm2

    matrix, b = operator.matrix.tocsr(), np.asarray(rhs, dtype=float).ravel()
    with threadpool_limits(1):
        u = pyamg.ruge_stuben_solver(matrix).solve(b, tol=1e-13, accel="gmres", maxiter=100)
    if not norm2(b - matrix @ u) <= 1e-12 * (norm2(b) or 1.0):
        return operator.solve(rhs)
    return u.reshape(operator.grid.shape)


def build_problem(case, size: int | None = None) -> Problem:
    """The discrete problem of a loaded :class:`~poissonfp.case.Case`.

    Args:
        case: a validated case.
        size: grid size per dimension in the case's own unit (points or intervals); None keeps the case's.

    Raises:
        CaseError: If f, u or g is not finite at a grid point (the case's sample lattice missed it),
            naming the key and the point; if the domain has no grid point inside, k is not > 0 at a
            point, or Neumann data on every side is incompatible.
    """
    general = case.inside is not None or case.coefficient is not None or bool(case.sides)
    interior = tuple(case.interior_shape(size))
    if general:
        grid = computational_grid(tuple(case.lower), tuple(case.upper), interior, case.side_types)
    else:
        grid = Grid(tuple(case.lower), tuple(case.upper), interior)
    coords = grid.coordinates()
    f = np.broadcast_to(case.source.numpy(*coords), grid.shape).astype(float)
    derived = case.exact is not None and case.source.text == _derived_text(case)
    what = "-Δu " if case.coefficient is None else "-∇·(k∇u) "
    inside = None if case.inside is None else case.inside.numpy(*coords) > 0
    _check_finite(case, grid, f, "[problem] exact" if derived else "[problem] source", what if derived else "",
                  inside)
    u = None if case.exact is None else np.broadcast_to(case.exact.numpy(*coords), grid.shape).astype(float)
    if u is not None:
        _check_finite(case, grid, u, "[problem] exact", "", inside)
    functions = {"source": case.source, "boundary": case.boundary}
    if case.exact is not None:
        functions["exact"] = case.exact
    if not general:
        rhs = fold_boundary(grid, f, case.boundary.numpy)
        _check_finite(case, grid, rhs, "[problem] boundary", "next to ")
        return Problem(grid, f, rhs, u, case.name, functions)
    operator, rhs = _assemble(case, grid, f)
    _check_finite(case, grid, rhs, "[problem] boundary", "next to ")
    mask = operator.inside
    f = np.where(mask, f, 0.0)
    if u is not None:
        u = operator.project(np.where(mask, u, 0.0))
    for name, value in (("inside", case.inside), ("coefficient", case.coefficient)):
        if value is not None:
            functions[name] = value
    return Problem(grid, f, rhs, u, case.name, functions, general=operator)


def _derived_text(case) -> str | None:
    """The text of -∇·(k∇u) for the case's exact solution; None when that is not an ordinary function
    (``abs``, ``min``, ``max`` give delta functions: the case then gives its source explicitly)."""
    from poissonfp.expressions import ExpressionError

    try:
        return case.exact.negative_divergence(case.coefficient).text
    except ExpressionError:
        return None


def _assemble(case, grid: Grid, f: np.ndarray) -> tuple[DiscreteOperator, np.ndarray]:
    """The general operator of a case and its right-hand side; bad geometry or data -> CaseError."""
    from poissonfp.case import SIDE_NAMES, CaseError

    side_values = {key: value for key, (kind, value) in case.sides.items() if kind == "dirichlet" and value}
    evaluated: list[tuple[tuple[np.ndarray, ...], np.ndarray]] = []

    def dirichlet(*coords: np.ndarray) -> np.ndarray:
        values = np.array(np.broadcast_to(case.boundary.numpy(*coords), np.broadcast_shapes(*(c.shape for c in coords))))
        for (d, s), value in side_values.items():
            on_side = np.isclose(coords[d], case.upper[d] if s else case.lower[d], rtol=0, atol=1e-12)
            values = np.where(on_side, value.numpy(*coords), values)
        evaluated.append((coords, values))
        return values

    neumann = {key: value.numpy for key, (kind, value) in case.sides.items() if kind == "neumann"}
    everywhere = len(neumann) == 2 * grid.ndim and case.inside is None
    if everywhere:
        _check_flux_balance(case)
    try:
        assembled = assemble(grid, f, dirichlet, inside=None if case.inside is None else case.inside.numpy,
                             coefficient=None if case.coefficient is None else case.coefficient.numpy,
                             sides=case.side_types, neumann=neumann, check_compatibility=not everywhere)
        if case.exact is not None and case.boundary is not case.exact:
            _check_boundary_matches(case, evaluated)
        return assembled
    except DomainError as err:
        message = str(err)
        if message.startswith("k ="):
            key = "[problem] coefficient"
        elif message.startswith("Neumann"):
            names = ", ".join(SIDE_NAMES[d][s] for d, s in sorted(neumann))
            key, message = "[boundary]", f"{message} (sides {names})"
        else:
            key = "[domain] inside"
        raise CaseError(case.path, key, message) from None


def _check_boundary_matches(case, evaluated: list[tuple[tuple[np.ndarray, ...], np.ndarray]]) -> None:
    """Refuse a ``boundary`` that differs from ``exact`` at the points where the Dirichlet data is used (the
    domain's boundary points, off the box as on it), with the tolerance the side values are checked with."""
    from poissonfp.case import CaseError, match_tolerance

    for coords, values in evaluated:
        if values.size == 0:
            continue
        wanted = np.broadcast_to(case.exact.numpy(*coords), values.shape)
        scale = max(1.0, float(np.max(np.abs(wanted), initial=0.0)))
        gap = np.abs(values - wanted)
        worst = int(np.argmax(np.where(np.isfinite(gap), gap, np.inf)))
        if not gap.flat[worst] <= match_tolerance() * scale:
            point = np.unravel_index(worst, values.shape)
            where = ", ".join(f"{name}={np.broadcast_to(c, values.shape)[point]:.6g}"
                              for name, c in zip(case.variables, coords))
            raise CaseError(case.path, "[problem] boundary", f"does not equal the exact solution on the domain's "
                            f"boundary: at {where} it is {values[point]:.10g}, expected {wanted[point]:.10g}",
                            expected="the exact solution on the boundary")


#: Relative mismatch of ∫f + ∮k g_N (against ∫|f| + ∮|k g_N|) above which all-Neumann data is refused.
FLUX_BALANCE_RTOL = 1e-6


def _check_flux_balance(case) -> None:
    """Refuse Neumann data on every side whose flux balance ∫f + ∮k g_N is not 0 (composite Gauss-Legendre
    on the box and its sides: 512 points per dimension in 1D/2D, 64 in 3D)."""
    from poissonfp.case import SIDE_NAMES, CaseError

    dim = case.dim
    panels, order = (64, 8) if dim < 3 else (8, 8)
    nodes, weights = np.polynomial.legendre.leggauss(order)

    def rule(a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
        edges = np.linspace(a, b, panels + 1)
        half = np.diff(edges)[:, None] / 2
        return ((edges[:-1, None] + half * (nodes + 1)).ravel(), (half * weights).ravel())

    rules = [rule(a, b) for a, b in zip(case.lower, case.upper)]

    def integrate(function, fixed: dict[int, float]) -> tuple[float, float]:
        axes = [np.array([fixed[d]]) if d in fixed else rules[d][0] for d in range(dim)]
        w: Any = 1.0
        for d in range(dim):
            if d not in fixed:
                shape = [1] * dim
                shape[d] = -1
                w = w * rules[d][1].reshape(shape)
        values = np.broadcast_to(function(*np.meshgrid(*axes, indexing="ij", sparse=True)),
                                 tuple(len(a) for a in axes))
        return float(np.sum(w * values)), float(np.sum(w * np.abs(values)))

    total, size = integrate(case.source.numpy, {})
    k = case.coefficient.numpy if case.coefficient is not None else (lambda *c: 1.0)
    for (d, s), (_, value) in case.sides.items():
        flux, magnitude = integrate(lambda *c, g=value: np.asarray(k(*c)) * g.numpy(*c),
                                    {d: case.upper[d] if s else case.lower[d]})
        total, size = total + flux, size + magnitude
    if abs(total) > FLUX_BALANCE_RTOL * max(size, 1e-300):
        names = ", ".join(name for pair in SIDE_NAMES[:dim] for name in pair)
        raise CaseError(case.path, "[boundary]", f"Neumann data on every side ({names}) is incompatible: "
                        f"∫f + ∮k ∂u/∂n = {total:.6g}, expected 0 (sum of magnitudes {size:.6g})",
                        expected="data with ∫f + ∮k g_N = 0")


def _check_finite(case, grid: Grid, values: np.ndarray, key: str, what: str,
                  inside: np.ndarray | None = None) -> None:
    """Refuse data that is infinite or NaN at a grid point (inside the domain, when one is given): bad
    input, not a solver's divergence."""
    bad = np.flatnonzero(~np.isfinite(values) & (True if inside is None else inside))
    if bad.size:
        from poissonfp.case import CaseError

        index = np.unravel_index(bad[0], grid.shape)
        where = ", ".join(f"{name}={axis[i]:.6g}" for name, axis, i in zip(case.variables, grid.axes, index))
        raise CaseError(case.path, key, f"{what}is not finite at the interior grid point {where} "
                        f"({bad.size:,} of {values.size:,} points)", expected="a formula finite on the grid")
