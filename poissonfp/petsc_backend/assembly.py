"""Each rank's rows of ``A u = b``, assembled from its own block of the grid.

No rank holds the whole grid. A rank evaluates the case's data (numpy callables of the coordinates)
on its own block, in slabs along the first axis, each slab widened by one layer of neighbours, and
assembles the slab with the one-process assembly (:func:`poissonfp.problem._assemble`, which calls
:func:`poissonfp.discrete_operator.assemble`) as if the widened slab were a grid of its own. The rows
of the slab's own points are then exactly the one-process rows: every neighbour a stencil reaches is
in the widened slab, and the distance to a curved boundary, the face coefficients and the Neumann
half cells depend only on the point and its neighbours. The rows of the widening layer (whose outer
neighbours look like a Dirichlet boundary to the slab) are thrown away. This holds whenever the
problem is not singular: Neumann data on every side (constants in the null space, the discrete flux
balance corrected over the whole grid) is refused by :func:`check_supported`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from poissonfp.petsc_backend.layout import Block, BoxLayout

__all__ = ["SLAB_POINTS", "LocalData", "assemble_local", "check_supported"]

#: Points per assembled slab (bounds the one-process assembly's temporaries to a few hundred MB).
SLAB_POINTS = 1 << 18


@dataclass
class LocalData:
    """One rank's data on its own vertex block (C arrays of the block's shape, poissonfp axis order).

    Attributes:
        block: the vertices this rank owns.
        rhs: ``b``; 0 at Dirichlet boundary nodes and outside the domain.
        source: f (0 at boundary nodes and outside the domain, as the one-process problem's).
        exact: the exact solution (0 where ``source`` is 0), or None when the case has none.
    """

    block: Block
    rhs: np.ndarray
    source: np.ndarray
    exact: np.ndarray | None


def check_supported(case) -> None:
    """Refuse, as a CaseError, what the distributed assembly does not handle: Neumann data on every side."""
    from poissonfp.case import CaseError

    if all(kind == "neumann" for pair in case.side_types for kind in pair):
        raise CaseError(case.path, "--backend", "petsc does not solve problems with Neumann data on every side "
                        "(a singular operator); use the default backend", expected="a Dirichlet side")


def assemble_local(case, layout: BoxLayout, da: Any, matrix: Any) -> LocalData:
    """Insert this rank's rows into ``matrix`` (from ``da.createMatrix()``; assembled by the caller) and
    return its data. Raises CaseError for data that is not finite or a coefficient that is not > 0."""
    block = layout.owned(da)
    rhs = np.zeros(block.shape)
    source = np.zeros(block.shape)
    exact = None if case.exact is None else np.zeros(block.shape)
    vpart, gpart = layout.grid_part(block)
    unknown = np.zeros(block.shape, dtype=bool)
    unknown[_slices(vpart, block.start)] = True
    boundary = np.flatnonzero(~unknown.ravel())
    _insert_identity(matrix, da, layout, block, boundary)
    if gpart.size:
        rows_per_slab = max(1, SLAB_POINTS // max(1, gpart.size // gpart.shape[0]))
        for first in range(gpart.start[0], gpart.stop[0], rows_per_slab):
            last = min(first + rows_per_slab, gpart.stop[0])
            own = Block((first, *gpart.start[1:]), (last, *gpart.stop[1:]))
            _assemble_slab(case, layout, da, matrix, block, own, rhs, source, exact)
    return LocalData(block, rhs, source, exact)


def _slices(part: Block, origin: tuple[int, ...]) -> tuple[slice, ...]:
    return tuple(slice(a - o, b - o) for a, b, o in zip(part.start, part.stop, origin))


def _petsc_index(da: Any, layout: BoxLayout, vertex: tuple[np.ndarray, ...]) -> np.ndarray:
    """PETSc global indices of vertices given as index arrays per poissonfp axis (no AO: see
    :meth:`BoxLayout.petsc_index`)."""
    return layout.petsc_index(da, vertex)


def _insert_identity(matrix: Any, da: Any, layout: BoxLayout, block: Block, local_rows: np.ndarray) -> None:
    """Identity rows for this rank's Dirichlet boundary nodes."""
    if not local_rows.size:
        return
    vertex = tuple(i + s for i, s in zip(np.unravel_index(local_rows, block.shape), block.start))
    rows = _petsc_index(da, layout, vertex)
    matrix.setValuesRCV(rows[:, None], rows[:, None], np.ones((rows.size, 1)))


def _assemble_slab(case, layout: BoxLayout, da: Any, matrix: Any, block: Block, own: Block, rhs: np.ndarray,
                   source: np.ndarray, exact: np.ndarray | None) -> None:
    """Assemble the grid block ``own`` (grid indices) on its widened slab; fill this rank's arrays."""
    from poissonfp.problem import _assemble, _check_finite

    grid = layout.grid
    wide = Block(tuple(max(a - 1, 0) for a in own.start), tuple(min(b + 1, n) for b, n in zip(own.stop, grid.shape)))
    slab = layout.subgrid(wide)
    coords = slab.coordinates()
    inner = _slices(own, wide.start)
    own_grid = layout.subgrid(own)
    f = np.broadcast_to(case.source.numpy(*coords), slab.shape).astype(float)
    inside = None if case.inside is None else case.inside.numpy(*coords) > 0
    own_inside = None if inside is None else np.broadcast_to(inside, slab.shape)[inner]
    _check_finite(case, own_grid, f[inner], "[problem] source", "", own_inside)
    target = _slices(Block(tuple(a + o for a, o in zip(own.start, layout.offset)),
                           tuple(b + o for b, o in zip(own.stop, layout.offset))), block.start)
    if inside is not None and not np.any(inside):
        _insert_identity(matrix, da, layout, block,
                         np.flatnonzero(_mark(block.shape, target).ravel()))
        return
    operator, b = _assemble(_slab_case(case, slab), slab, f)
    mask = operator.inside
    _check_finite(case, own_grid, b[inner], "[problem] boundary", "next to ")
    rhs[target] = b[inner]
    source[target] = np.where(mask, f, 0.0)[inner]
    if exact is not None:
        u = np.broadcast_to(case.exact.numpy(*own_grid.coordinates()), own_grid.shape).astype(float)
        _check_finite(case, own_grid, u, "[problem] exact", "", mask[inner])
        exact[target] = np.where(mask[inner], u, 0.0)
    rows_in_slab = np.ravel_multi_index(np.indices(own.shape).reshape(len(own.shape), -1)
                                        + np.array(own.start)[:, None] - np.array(wide.start)[:, None], wide.shape)
    part = operator.matrix[rows_in_slab].tocsr()
    part.sort_indices()
    counts = np.diff(part.indptr)
    width = int(counts.max()) if counts.size else 0
    columns = np.full((part.shape[0], width), -1, dtype=np.int64)
    values = np.zeros((part.shape[0], width))
    position = np.arange(part.indices.size) - np.repeat(part.indptr[:-1], counts)
    row_of = np.repeat(np.arange(part.shape[0]), counts)
    col_vertex = tuple(i + s + o for i, s, o in zip(np.unravel_index(part.indices, wide.shape), wide.start,
                                                     layout.offset))
    columns[row_of, position] = _petsc_index(da, layout, col_vertex)
    values[row_of, position] = part.data
    row_vertex = tuple(i.ravel() + s + o for i, s, o in zip(np.indices(own.shape), own.start, layout.offset))
    rows = _petsc_index(da, layout, row_vertex)
    from petsc4py import PETSc

    matrix.setValuesRCV(rows[:, None], columns.astype(PETSc.IntType), values)


class _SlabBoundary:
    """The case's Dirichlet data as the slab's assembly sees it: the exact solution on the slab's own
    boundary planes inside the box (they feed only the widening layer's rows, which are thrown away, and
    are no boundary of the domain), the case's ``boundary`` everywhere else. The one-process check that
    ``boundary`` equals ``exact`` where the data is used (:func:`poissonfp.problem._assemble`) then
    checks the domain's boundary points and not the slab's cut."""

    def __init__(self, case, slab) -> None:
        self.case, self.slab = case, slab

    def numpy(self, *coords: np.ndarray) -> np.ndarray:
        case, slab = self.case, self.slab
        shape = np.broadcast_shapes(*(np.shape(c) for c in coords))
        on_cut = np.zeros(shape, dtype=bool)
        for d, c in enumerate(coords):
            for plane, face in ((slab.lower[d], case.lower[d]), (slab.upper[d], case.upper[d])):
                if not np.isclose(plane, face, rtol=0, atol=1e-12):
                    on_cut |= np.isclose(c, plane, rtol=0, atol=1e-12)
        exact = np.broadcast_to(case.exact.numpy(*coords), shape)
        return np.where(on_cut, exact, np.broadcast_to(case.boundary.numpy(*coords), shape))


def _slab_case(case, slab):
    """``case`` with :class:`_SlabBoundary` as its Dirichlet data when the boundary is checked against exact."""
    if case.exact is None or case.boundary is case.exact:
        return case
    import dataclasses

    return dataclasses.replace(case, boundary=_SlabBoundary(case, slab))


def _mark(shape: tuple[int, ...], where: tuple[slice, ...]) -> np.ndarray:
    marked = np.zeros(shape, dtype=bool)
    marked[where] = True
    return marked
