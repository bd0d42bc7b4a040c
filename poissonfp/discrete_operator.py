"""The general discrete operator ``A`` of ``-∇·(k∇u) = f``: a grid, a mask of unknowns, a type per box
side and face coefficients, as one object.

Every grid point of the (possibly extended) box grid has a row. Points outside the domain get the
identity row and a zero right-hand side, so arrays keep the grid's shape everywhere and every solver
works on them unchanged. A point ``i`` inside has the conservative stencil (per dimension ``d``)

    (w_i / s_d) Σ_± k_± (u_i - u_±) / h_±   with   s_d = (h_- + h_+) / 2,

where ``h_±`` is the distance to the neighbour along ``±e_d``: ``h_d``, or ``θ h_d`` (0 < θ <= 1) where a
curved boundary cuts the segment (Shortley-Weller, second order), ``k_±`` is k at the segment's
midpoint, and a Dirichlet neighbour (a boundary point, or a grid point outside the domain) moves to
the right-hand side with its value g. A node on a Neumann side carries a half cell: there ``s_d =
h_in / 2``, the outward flux ``k g_N`` enters the right-hand side, and the row is weighted by
``w_i = 1/2`` per Neumann side it lies on, which keeps ``A`` symmetric on boxes (the finite-volume
form of the ghost-point closure). On the constant-coefficient Dirichlet box this is exactly the
(2d+1)-point Laplacian of :mod:`poissonfp.operators`, whose fast kernels and sine transform then apply.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from poissonfp.grid import Grid

if TYPE_CHECKING:
    import scipy.sparse as sp

__all__ = ["SIDES", "DiscreteOperator", "DomainError", "assemble", "box_operator", "computational_grid"]

Function = Callable[..., np.ndarray]
#: Side names per dimension: (lower, upper).
SIDES = (("left", "right"), ("bottom", "top"), ("front", "back"))
_BISECTIONS = 52


class DomainError(ValueError):
    """The domain, sides or coefficient do not define a solvable problem (no unknown, k <= 0, ...)."""


@dataclass(frozen=True, eq=False)
class DiscreteOperator:
    """``A`` on every point of ``grid`` (identity rows outside ``inside``).

    Attributes:
        grid: the grid of unknowns (it includes the nodes of Neumann sides).
        assembled: ``A`` as a CSR matrix (None on the box: :attr:`matrix` builds it when asked).
        inside: boolean mask of the unknowns, of ``grid.shape``.
        sides: per dimension, the (lower, upper) side types, ``"dirichlet"`` or ``"neumann"``.
        box: True for the constant-coefficient Dirichlet box (the (2d+1)-point Laplacian).
        why_not_box: what makes the operator general ("" on the box), for refusals and records.
        singular: True when no unknown has a Dirichlet neighbour (Neumann data on the whole boundary):
            ``A`` has the constants as null space and the solution of zero mean is meant.
    """

    grid: Grid
    assembled: sp.csr_matrix | None
    inside: np.ndarray
    sides: tuple[tuple[str, str], ...]
    box: bool
    why_not_box: str = ""
    singular: bool = False
    _factor: list = field(default_factory=list, repr=False)

    @cached_property
    def matrix(self) -> sp.csr_matrix:
        """``A`` as a CSR matrix on C-ordered vectors of ``grid.shape``."""
        if self.assembled is not None:
            return self.assembled
        from poissonfp.operators import laplacian_matrix

        return laplacian_matrix(self.grid, "csr")

    @cached_property
    def diagonal(self) -> np.ndarray:
        """The diagonal of ``A`` as an array of ``grid.shape``."""
        return np.asarray(self.matrix.diagonal()).reshape(self.grid.shape)

    def apply(self, u: np.ndarray) -> np.ndarray:
        """``A u`` for an array of ``grid.shape`` (the box uses the vectorised stencil)."""
        if self.box:
            from poissonfp.operators import apply_laplacian

            return apply_laplacian(self.grid, u)
        return (self.matrix @ np.asarray(u, dtype=float).ravel()).reshape(self.grid.shape)

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """``A^{-1} rhs`` to round-off: the sine transform on the box, else a cached sparse LU.

        With Neumann data on the whole boundary ``A`` is singular; the solution of zero mean over the
        unknowns is returned (``rhs`` must be compatible: :func:`assemble` made it so).
        """
        if self.box:
            from poissonfp.operators import solve_dst

            return solve_dst(self.grid, rhs)
        if not self._factor:
            import scipy.sparse.linalg

            self._factor.append(scipy.sparse.linalg.splu(self.system_matrix().tocsc()))
        b = np.asarray(rhs, dtype=float).ravel()
        if self.singular:
            b = np.append(b, 0.0)
        u = self._factor[0].solve(b)[: self.grid.size]
        return u.reshape(self.grid.shape)

    def project(self, u: np.ndarray) -> np.ndarray:
        """``u`` with its mean over the unknowns removed when the operator is singular (all Neumann)."""
        if not self.singular:
            return u
        return u - float(np.mean(u[self.inside]))

    def system_matrix(self) -> sp.spmatrix:
        """``A``, bordered by the zero-mean constraint (one more row and column) when it is singular
        (all Neumann): a non-singular matrix for a direct solve."""
        import scipy.sparse as sp

        if not self.singular:
            return self.matrix
        ones = sp.csr_matrix(self.inside.ravel().astype(float)[None, :])
        return sp.bmat([[self.matrix, ones.T], [ones, None]], format="csc")


def computational_grid(lower: tuple[float, ...], upper: tuple[float, ...], interior: tuple[int, ...],
                       sides: tuple[tuple[str, str], ...]) -> Grid:
    """The grid of unknowns: ``interior`` points of the box, plus the nodes on each Neumann side.

    A Neumann side's nodes become interior points of a box one spacing wider on that side.
    """
    box = Grid(tuple(lower), tuple(upper), tuple(interior))
    lo, hi, shape = list(box.lower), list(box.upper), list(box.shape)
    for d, (h, (low_type, high_type)) in enumerate(zip(box.spacing, sides)):
        for index, kind in ((0, low_type), (1, high_type)):
            if kind == "neumann":
                shape[d] += 1
                if index == 0:
                    lo[d] -= h
                else:
                    hi[d] += h
    return Grid(tuple(lo), tuple(hi), tuple(shape))


def box_operator(grid: Grid) -> DiscreteOperator:
    """The (2d+1)-point Laplacian of the Dirichlet box ``grid``."""
    return DiscreteOperator(grid, None, np.ones(grid.shape, dtype=bool),
                            (("dirichlet", "dirichlet"),) * grid.ndim, box=True)


def assemble(
    grid: Grid,
    source: np.ndarray,
    dirichlet: Function,
    *,
    inside: Function | None = None,
    coefficient: Function | None = None,
    sides: tuple[tuple[str, str], ...] | None = None,
    neumann: dict[tuple[int, int], Function] | None = None,
    check_compatibility: bool = True,
) -> tuple[DiscreteOperator, np.ndarray]:
    """Assemble ``A`` and the right-hand side ``b`` of ``-∇·(k∇u) = f``.

    Args:
        grid: the grid of unknowns (from :func:`computational_grid` when a side is Neumann).
        source: f at the grid's points.
        dirichlet: g(*coords), evaluated at Dirichlet boundary points.
        inside: EXPR(*coords); the domain is where it is > 0 (None: the whole box).
        coefficient: k(*coords) (None: k = 1).
        sides: per dimension the (lower, upper) side types (None: Dirichlet everywhere).
        neumann: ``(dimension, 0 lower | 1 upper)`` -> the outward normal derivative g_N(*coords).
        check_compatibility: refuse a singular problem whose discrete flux balance exceeds ``10 h²`` of
            its size (a coarse check; the case layer checks the continuous integrals precisely and then
            turns this off). Either way the O(h²) remainder is removed so that ``A u = b`` is consistent.

    Raises:
        DomainError: If no grid point is inside, or k is not > 0 at a point where the stencil uses
            it (the message names the point), or Neumann data on every side is incompatible.
    """
    sides = sides or (("dirichlet", "dirichlet"),) * grid.ndim
    neumann = neumann or {}
    shape, ndim, size = grid.shape, grid.ndim, grid.size
    axes = grid.axes
    if inside is None:
        mask = np.ones(size, dtype=bool)
    else:
        full = np.meshgrid(*axes, indexing="ij")
        mask = _evaluate(inside, np.stack([c.ravel() for c in full], axis=1)) > 0
        del full
    if not mask.any():
        raise DomainError("no grid point lies inside the domain (the expression is > 0 nowhere on the grid)")
    unknown = np.flatnonzero(mask)
    strides = [int(np.prod(shape[d + 1:])) for d in range(ndim)]
    position = [(unknown // strides[d]) % shape[d] for d in range(ndim)]  # of each unknown, per dimension

    def points_of(which: np.ndarray | slice) -> np.ndarray:
        """The coordinates of the unknowns ``which`` (an index or a slice of ``unknown``), one row each."""
        return np.stack([axes[d][position[d][which]] for d in range(ndim)], axis=1)

    on_face = [[position[d] == (0 if s == 0 else shape[d] - 1) if sides[d][s] == "neumann" else None
                for s in (0, 1)] for d in range(ndim)]  # per (dimension, side): the unknowns on a Neumann side
    faces = np.zeros(unknown.size, dtype=np.int64)  # the Neumann sides each unknown lies on (dimensions)
    for d in range(ndim):
        either = [face for face in on_face[d] if face is not None]
        if either:
            faces += np.logical_or.reduce(either)
    weight = np.zeros(size)
    weight[unknown] = 0.5 ** faces
    weight_u = weight[unknown]
    del faces
    k_of = _checked_coefficient(coefficient, np.zeros((0, ndim)))  # at a few gathered points (cut faces, sides)

    def k_on_grid(shifted: tuple[np.ndarray, ...]) -> np.ndarray:
        """k at the unknowns of the grid of axes ``shifted``, evaluated there once (broadcast), unchecked."""
        assert coefficient is not None
        with np.errstate(all="ignore"):  # points outside the domain are evaluated too, then dropped
            values = np.asarray(coefficient(*np.meshgrid(*shifted, indexing="ij", sparse=True)), dtype=float)
        return np.broadcast_to(values, shape).ravel()[unknown]

    def checked(values: np.ndarray, where: str, points: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """``values`` of k, refused (naming the first bad one's point, ``points(index)``) unless finite and > 0."""
        bad = np.flatnonzero(~(np.isfinite(values) & (values > 0)))
        if bad.size:
            at = ", ".join(f"{name}={v:.6g}" for name, v in zip("xyz", points(bad[:1])[0]))
            raise DomainError(f"k = {values[bad[0]]:.6g} at {at} ({where}); expected k > 0 everywhere")
        return values

    if coefficient is not None:  # every grid point first: the message names a grid point when one fails
        checked(k_on_grid(axes), "a grid point", points_of)
    rhs = np.where(mask, weight * np.asarray(source, dtype=float).ravel(), 0.0)
    # the matrix as bands, one column per neighbour offset in increasing order (-stride_0 .. -1, 0, 1 .. stride_0):
    # the columns of each row come out sorted, without duplicates, and the CSR arrays are built directly
    band_of = {(d, s): (d if s == 0 else 2 * ndim - d) for d in range(ndim) for s in (0, 1)}
    values = np.zeros((unknown.size, 2 * ndim + 1))
    present = np.zeros((unknown.size, 2 * ndim + 1), dtype=bool)
    diagonal = values[:, ndim]
    dirichlet_links = 0
    for d, h in enumerate(grid.spacing):
        step = np.zeros(ndim)
        step[d] = h
        dist, kind = {}, {}
        for s, sign in ((0, -1), (1, 1)):
            pos = position[d] + sign
            in_grid = (pos >= 0) & (pos < shape[d])
            is_unknown = in_grid & mask[np.clip(unknown + sign * strides[d], 0, size - 1)]
            face = on_face[d][s]
            cut = ~is_unknown if face is None else ~is_unknown & ~face
            theta = np.ones(unknown.size)
            if inside is not None and cut.any():  # a box side outside the domain counts as cut too
                theta[cut] = _crossing(inside, points_of(np.flatnonzero(cut)), sign * step)
            dist[s] = theta * h
            kind[s] = np.where(is_unknown, 0, 1) if face is None else np.where(face, 2, np.where(is_unknown, 0, 1))
        face0, face1 = kind[0] == 2, kind[1] == 2
        span = np.where(face0, dist[1] / 2, np.where(face1, dist[0] / 2, (dist[0] + dist[1]) / 2))
        for s, sign in ((0, -1), (1, 1)):
            live = kind[s] != 2
            if coefficient is not None:  # at the face midpoints: a grid shifted by ±h/2 along d, cut faces apart
                def midpoints(which: np.ndarray, d: int = d, sign: int = sign, length: np.ndarray = dist[s]
                              ) -> np.ndarray:
                    return points_of(which) + (sign * length[which] / 2)[:, None] * np.eye(ndim)[d]

                shifted = tuple(axis + (sign * h / 2) if e == d else axis for e, axis in enumerate(axes))
                k = k_on_grid(shifted)
                cut = np.flatnonzero(dist[s] != h)
                if cut.size:
                    k[cut] = _evaluate(coefficient, midpoints(cut))
                k = checked(k, "at a face midpoint", midpoints)
            else:
                k = np.ones(unknown.size)
            c = weight_u * k / (dist[s] * span)
            diagonal += np.where(live, c, 0.0)
            present[:, ndim] |= live
            link = kind[s] == 0
            band = band_of[(d, s)]
            values[link, band] = -c[link]
            present[link, band] = True
            wall = kind[s] == 1
            dirichlet_links += int(wall.sum())
            if wall.any():
                where = np.flatnonzero(wall)
                at = points_of(where) + (sign * dist[s][wall])[:, None] * np.eye(ndim)[d]
                np.add.at(rhs, unknown[where], c[wall] * _evaluate(dirichlet, at))
            ghost = kind[s] == 2
            if ghost.any():
                where = np.flatnonzero(ghost)
                g = _evaluate(neumann[(d, s)], points_of(where))
                kb = k_of(points_of(where), "on a Neumann side") if coefficient is not None else 1.0
                np.add.at(rhs, unknown[where], weight_u[ghost] * kb * g / span[ghost])
    matrix = _band_matrix(size, unknown, strides, values, present)
    reasons = [why for why, given in (("a domain inside the box", inside is not None),
                                      ("a variable coefficient", coefficient is not None),
                                      ("a Neumann side", any(t == "neumann" for p in sides for t in p)))
               if given]
    operator = DiscreteOperator(grid, matrix, mask.reshape(shape), tuple(sides), box=not reasons,
                                why_not_box=", ".join(reasons), singular=dirichlet_links == 0)
    b = rhs.reshape(shape)
    if operator.singular:
        b = _compatible(b, mask.reshape(shape), weight.reshape(shape), grid, check_compatibility)
    return operator, b


def _band_matrix(size: int, unknown: np.ndarray, strides: list[int], values: np.ndarray,
                 present: np.ndarray) -> sp.csr_matrix:
    """The CSR matrix whose rows ``unknown`` hold ``values[:, j]`` at the column ``row + offset_j`` where
    ``present`` (offsets ``-strides[0], .., -strides[-1], 0, strides[-1], .., strides[0]``) and every other row
    the identity's."""
    import scipy.sparse as sp

    offsets = np.array([-t for t in strides] + [0] + strides[::-1])
    counts = np.ones(size, dtype=np.int64)
    counts[unknown] = present.sum(axis=1)
    indptr = np.zeros(size + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    index_type: type[np.signedinteger] = np.int32 if max(size, int(indptr[-1])) < 2**31 else np.int64
    columns = np.add(unknown.astype(index_type)[:, None], offsets.astype(index_type)[None, :])[present]
    if unknown.size == size:  # every point an unknown: the unknowns' entries are the whole matrix
        full_indices, full_data = columns, values[present]
    else:  # identity rows in between: their one entry at each row's start, the unknowns' entries around them
        identity = np.ones(size, dtype=bool)
        identity[unknown] = False
        taken = np.zeros(int(indptr[-1]), dtype=bool)
        taken[indptr[:-1][identity]] = True
        full_indices = np.empty(int(indptr[-1]), dtype=index_type)
        full_data = np.ones(int(indptr[-1]))
        full_indices[taken] = np.flatnonzero(identity)
        full_indices[~taken] = columns
        full_data[~taken] = values[present]
    matrix = sp.csr_matrix((full_data, full_indices, indptr.astype(index_type)), shape=(size, size))
    matrix.has_sorted_indices = True
    return matrix


def _evaluate(function: Function, points: np.ndarray) -> np.ndarray:
    values = function(*(points[:, d] for d in range(points.shape[1])))
    return np.broadcast_to(np.asarray(values, dtype=float), (points.shape[0],)).copy()


def _crossing(inside: Function, start: np.ndarray, step: np.ndarray) -> np.ndarray:
    """θ in (0, 1] where EXPR(start + θ step) reaches 0 (bisection); exactly 1 where the neighbour lies on
    the boundary (grid-aligned sides) or inside the domain (a box side that bounds the domain)."""
    low, high = np.zeros(start.shape[0]), np.ones(start.shape[0])
    end = _evaluate(inside, start + step)
    exact = end >= 0
    for _ in range(_BISECTIONS):
        middle = (low + high) / 2
        positive = _evaluate(inside, start + middle[:, None] * step) > 0
        low, high = np.where(positive, middle, low), np.where(positive, high, middle)
    return np.where(exact, 1.0, high)


def _checked_coefficient(coefficient: Function | None, unknowns: np.ndarray) -> Callable[[np.ndarray, str], np.ndarray]:
    """k at given points, refusing a value that is not finite and > 0 (naming the point)."""
    def k_of(points: np.ndarray, where: str) -> np.ndarray:
        assert coefficient is not None
        values = _evaluate(coefficient, points)
        bad = np.flatnonzero(~(np.isfinite(values) & (values > 0)))
        if bad.size:
            at = ", ".join(f"{name}={v:.6g}" for name, v in zip("xyz", points[bad[0]]))
            raise DomainError(f"k = {values[bad[0]]:.6g} at {at} ({where}); expected k > 0 everywhere")
        return values

    if coefficient is not None:  # every grid point first: the message names a grid point when one fails
        k_of(unknowns, "a grid point")
    return k_of


def _compatible(b: np.ndarray, mask: np.ndarray, weight: np.ndarray, grid: Grid, check: bool) -> np.ndarray:
    """Check ``Σ b`` (the discrete ∫f + ∮g_N) against its size; remove the O(h²) remainder.

    The discrete flux balance of compatible data is zero up to the truncation error; data whose
    imbalance is a fixed fraction of its size is refused.
    """
    total, size = float(b[mask].sum()), float(np.abs(b[mask]).sum()) or 1.0
    tolerance = 10.0 * max(grid.spacing) ** 2 + 1e-10
    if check and abs(total) > tolerance * size:
        volume = grid.cell_volume
        raise DomainError(f"Neumann data on every side is incompatible: ∫f + ∮g_N = {total * volume:.6g} "
                          f"(expected 0 up to O(h²); sum of magnitudes {size * volume:.6g})")
    correction = total / float(weight[mask].sum())
    return np.where(mask, b - correction * weight, 0.0)
