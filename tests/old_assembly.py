"""The general operator's assembly as it was before the vectorised one (commit 5bd90ae), kept as the oracle of
tests/test_assembly.py: the new assembly must give the same matrix, right-hand side and mask."""
from __future__ import annotations

import numpy as np

from poissonfp.discrete_operator import (
    DiscreteOperator,
    DomainError,
    Function,
    _checked_coefficient,
    _compatible,
    _crossing,
    _evaluate,
)
from poissonfp.grid import Grid


def old_assemble(
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
    import scipy.sparse as sp

    dirichlet_links = 0
    sides = sides or (("dirichlet", "dirichlet"),) * grid.ndim
    neumann = neumann or {}
    points = grid.points()
    shape, ndim = grid.shape, grid.ndim
    mask = np.ones(grid.size, dtype=bool) if inside is None else _evaluate(inside, points) > 0
    if not mask.any():
        raise DomainError("no grid point lies inside the domain (the expression is > 0 nowhere on the grid)")
    index = np.array(np.unravel_index(np.arange(grid.size), shape)).T  # (size, ndim)
    on_face = np.zeros((grid.size, ndim, 2), dtype=bool)
    for d in range(ndim):
        for s in (0, 1):
            if sides[d][s] == "neumann":
                on_face[:, d, s] = index[:, d] == (0 if s == 0 else shape[d] - 1)
    weight = np.where(mask, 0.5 ** on_face.any(axis=2).sum(axis=1), 0.0)
    k_of = _checked_coefficient(coefficient, points[mask])
    rows, cols, vals = [np.flatnonzero(~mask)], [np.flatnonzero(~mask)], [np.ones(int((~mask).sum()))]
    rhs = np.where(mask, weight * np.asarray(source, dtype=float).ravel(), 0.0)
    unknown = np.flatnonzero(mask)
    for d, h in enumerate(grid.spacing):
        step = np.zeros(ndim)
        step[d] = h
        dist, kind, target = {}, {}, {}
        for s, sign in ((0, -1), (1, 1)):
            pos = index[unknown, d] + sign
            in_grid = (pos >= 0) & (pos < shape[d])
            neighbour = np.where(in_grid, unknown + sign * int(np.prod(shape[d + 1:])), -1)
            theta = np.ones(unknown.size)
            is_unknown = in_grid & mask[np.clip(neighbour, 0, grid.size - 1)]
            cut = ~is_unknown & ~on_face[unknown, d, s]
            if inside is not None and cut.any():  # a box side outside the domain counts as cut too
                theta[cut] = _crossing(inside, points[unknown[cut]], sign * step)
            dist[s] = theta * h
            kind[s] = np.where(on_face[unknown, d, s], 2, np.where(is_unknown, 0, 1))  # 0 unknown 1 dirichlet 2 ghost
            target[s] = neighbour
        face = {s: kind[s] == 2 for s in (0, 1)}
        span = np.where(face[0], dist[1] / 2, np.where(face[1], dist[0] / 2, (dist[0] + dist[1]) / 2))
        for s, sign in ((0, -1), (1, 1)):
            here = points[unknown]
            live = kind[s] != 2
            mid = here + (sign * dist[s] / 2)[:, None] * np.eye(ndim)[d]
            k = k_of(mid, "at a face midpoint") if coefficient is not None else np.ones(unknown.size)
            c = weight[unknown] * k / (dist[s] * span)
            rows.append(unknown[live])
            cols.append(unknown[live])
            vals.append(c[live])
            link = kind[s] == 0
            rows.append(unknown[link])
            cols.append(target[s][link])
            vals.append(-c[link])
            wall = kind[s] == 1
            dirichlet_links += int(wall.sum())
            if wall.any():
                at = here[wall] + (sign * dist[s][wall])[:, None] * np.eye(ndim)[d]
                np.add.at(rhs, unknown[wall], c[wall] * _evaluate(dirichlet, at))
            ghost = kind[s] == 2
            if ghost.any():
                g = _evaluate(neumann[(d, s)], here[ghost])
                kb = k_of(here[ghost], "on a Neumann side") if coefficient is not None else 1.0
                np.add.at(rhs, unknown[ghost], weight[unknown[ghost]] * kb * g / span[ghost])
    matrix = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                           shape=(grid.size, grid.size))
    matrix.sum_duplicates()
    reasons = [why for why, present in (("a domain inside the box", inside is not None),
                                        ("a variable coefficient", coefficient is not None),
                                        ("a Neumann side", any(t == "neumann" for p in sides for t in p)))
               if present]
    operator = DiscreteOperator(grid, matrix, mask.reshape(shape), tuple(sides), box=not reasons,
                                why_not_box=", ".join(reasons), singular=dirichlet_links == 0)
    b = rhs.reshape(shape)
    if operator.singular:
        b = _compatible(b, mask.reshape(shape), weight.reshape(shape), grid, check_compatibility)
    return operator, b

