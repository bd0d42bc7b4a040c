"""The case's grid as a PETSc DMDA, and the index bookkeeping between the two.

The DMDA holds every vertex of the box, boundary nodes included (``interior + 2`` per dimension): the
unknowns of poissonfp's computational grid (:func:`poissonfp.discrete_operator.computational_grid`:
the interior points plus the nodes of Neumann sides) and, around them, the Dirichlet boundary nodes,
which carry identity rows with a zero right-hand side (their values are folded into the neighbours'
rows, as on one process). Keeping the boundary nodes makes the vertex count ``2^k m + 1`` for the
usual ``2^k m - 1`` interior points, so that PCMG can coarsen the DMDA geometrically ``k`` times.

Axis order: poissonfp's arrays are C-ordered with the first axis slowest; PETSc's DMDA numbers x
fastest. The DMDA's x is poissonfp's last axis, so a rank's block, read as a C array of poissonfp's
axis order, is exactly the rank's part of a PETSc vector, and the DMDA's natural ordering is
poissonfp's C ordering of the vertex grid.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from poissonfp.discrete_operator import computational_grid
from poissonfp.grid import Grid

__all__ = ["Block", "BoxLayout"]


@dataclass(frozen=True)
class Block:
    """A box of vertex indices: ``start`` inclusive, ``stop`` exclusive, per poissonfp axis."""

    start: tuple[int, ...]
    stop: tuple[int, ...]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(b - a for a, b in zip(self.start, self.stop))

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


@dataclass(frozen=True)
class BoxLayout:
    """The vertex grid of a case and how poissonfp's computational grid sits in it.

    Attributes:
        grid: poissonfp's grid of unknowns (identical to the one-process problem's grid).
        vertices: vertex counts per poissonfp axis (``interior + 2``).
        offset: per axis, the vertex index of the grid's first point (0 on a Neumann lower side, else 1).
    """

    grid: Grid
    vertices: tuple[int, ...]
    offset: tuple[int, ...]

    @classmethod
    def of_case(cls, case) -> BoxLayout:
        """The layout of a loaded case (its size overrides already applied)."""
        interior = tuple(case.interior_shape())
        sides = case.side_types
        grid = computational_grid(tuple(case.lower), tuple(case.upper), interior, sides)
        offset = tuple(0 if low == "neumann" else 1 for low, _ in sides)
        return cls(grid, tuple(n + 2 for n in interior), offset)

    @property
    def size(self) -> int:
        """Rows of the distributed system (every vertex)."""
        return int(np.prod(self.vertices))

    def create_dmda(self, comm: Any) -> Any:
        """The DMDA of the vertex grid on ``comm`` (a PETSc communicator), star stencil of width 1."""
        from petsc4py import PETSc

        da = PETSc.DMDA().create(dim=self.grid.ndim, dof=1, sizes=tuple(reversed(self.vertices)),
                                 stencil_width=1, stencil_type=PETSc.DMDA.StencilType.STAR,
                                 boundary_type=(PETSc.DM.BoundaryType.NONE,) * self.grid.ndim, comm=comm)
        da.setUp()
        return da

    @staticmethod
    def owned(da: Any) -> Block:
        """The vertices this rank owns (poissonfp axis order)."""
        ranges = list(reversed(da.getRanges()))
        return Block(tuple(a for a, _ in ranges), tuple(b for _, b in ranges))

    @staticmethod
    def petsc_index(da: Any, vertex: tuple[np.ndarray, ...]) -> np.ndarray:
        """PETSc global indices of vertices (index arrays per poissonfp axis), by arithmetic on the DMDA's
        ownership ranges: each rank's box is numbered x fastest, the boxes in rank order, x's ranks fastest.
        Replaces the DMDA's AO, which holds the whole grid's numbering on every rank, growing with the global
        grid (measured at 255³ on 2 ranks: 158 MB per rank less after the assembly without it)."""
        from petsc4py import PETSc

        counts = [np.asarray(c, dtype=np.int64) for c in da.getOwnershipRanges()]  # per PETSc axis (x, y, z)
        coords = tuple(np.asarray(v, dtype=np.int64) for v in reversed(vertex))
        procs, starts, sizes = [], [], []
        for count, coord in zip(counts, coords):
            bounds = np.concatenate(([0], np.cumsum(count)))
            p = np.searchsorted(bounds, coord, side="right") - 1
            procs.append(p)
            starts.append(bounds[p])
            sizes.append(count[p])
        box = counts[0]  # the points each rank owns, in rank order (x's ranks fastest)
        for count in counts[1:]:
            box = np.multiply.outer(count, box)
        first = np.concatenate(([0], np.cumsum(box.ravel())))
        rank = np.zeros_like(procs[0])
        local = np.zeros_like(procs[0])
        for d in reversed(range(len(counts))):
            rank = rank * counts[d].size + procs[d]
            local = local * sizes[d] + (coords[d] - starts[d])
        return (first[rank] + local).astype(PETSc.IntType)

    def grid_part(self, block: Block) -> tuple[Block, Block]:
        """The part of ``block`` (vertex indices) that holds unknowns, as (vertex block, grid block)."""
        start = tuple(max(a, o) for a, o in zip(block.start, self.offset))
        stop = tuple(min(b, o + n) for b, o, n in zip(block.stop, self.offset, self.grid.shape))
        stop = tuple(max(a, b) for a, b in zip(start, stop))
        return Block(start, stop), Block(tuple(a - o for a, o in zip(start, self.offset)),
                                          tuple(b - o for b, o in zip(stop, self.offset)))

    def subgrid(self, block: Block) -> Grid:
        """The points of the grid block ``block`` (grid indices) as a Grid of their own."""
        h = self.grid.spacing
        lower = tuple(lo + step * a for lo, step, a in zip(self.grid.lower, h, block.start))
        upper = tuple(lo + step * (n + 1) for lo, step, n in zip(lower, h, block.shape))
        return Grid(lower, upper, block.shape)

    def multigrid_levels(self, da: Any, most: int = 12) -> int:
        """How many PCMG levels the DMDA allows: each coarsening maps ``M`` vertices to ``(M - 1)/2 + 1``,
        which needs ``M - 1`` even, and every rank must keep at least two vertices per axis."""
        procs = tuple(reversed(da.getProcSizes()))
        sizes, levels = np.array(self.vertices), 1
        while levels < most and np.all((sizes - 1) % 2 == 0):
            coarse = (sizes - 1) // 2 + 1
            if np.any(coarse < np.maximum(3, 2 * np.array(procs))):
                break
            sizes, levels = coarse, levels + 1
        return levels
