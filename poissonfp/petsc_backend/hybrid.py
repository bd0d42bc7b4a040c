"""``--method hybrid`` on PETSc: PCMG's geometric hierarchy, ω-Jacobi smoothing, poissonfp's coarse solver.

The fine matrix's DMDA hierarchy (Galerkin coarse operators ``PᵀAP``) is smoothed on every level by
``smoothing_sweeps`` ω-Jacobi sweeps (Richardson + PCJACOBI, ω = ``smoothing_omega`` or ``2d/(2d+1)``,
as the one-process multilevel hybrid), and the outer iteration is the stationary V-cycle (Richardson),
as the one-process hybrid's cycles. The hierarchy is coarsened until the coarsest level has at most
``[hybrid] coarsest_points`` interior points per axis (15 in 2D, 7 in 3D), or as far as the ranks allow.

The coarsest level is solved through PCPYTHON by :class:`GatheredCoarse`: every rank gathers the whole
coarse residual (a few hundred to a few thousand vertices), solves the coarse system with the same
coarse solver as the one-process hybrid (:func:`poissonfp.solvers.hybrids.hybrid_multilevel.coarse_solver`: the
network's Galerkin space, then sweeps, repeated until the residual drops by ``coarsest_reduction``; or
``coarsest = "smoothing"`` / ``"exact"``) on the gathered coarse matrix, and keeps its own block of the
answer. Every rank computes the same coarse solution (same seeded network, same data), so nothing is
broadcast. With ``--model DIR`` (a trained operator model, :func:`poissonfp.learned.store.load_model`)
the model's output ``N(r)`` on the coarse grid's interior is the search direction instead of the
Galerkin space, stepped by the energy-optimal ``α = (d, r) / (d, A d)`` (the model approximates the
rediscretised coarse operator's inverse; the step makes it a descent step for ``PᵀAP`` too).

Not available here: training before the hand-over (``switch`` a number: the loss needs the whole fine
grid), the two-level cycle, and the pure-Jacobi fallback's decision (priced on one process).
"""
from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any, cast

import numpy as np

from poissonfp.grid import Grid

__all__ = ["GatheredCoarse", "ModelDirection", "check_hybrid", "hybrid_levels", "hybrid_options"]


def check_hybrid(case) -> None:
    """Refuse, as a CaseError, the hybrid settings the distributed hybrid lacks."""
    from poissonfp.case import CaseError

    hybrid = case.hybrid
    if hybrid.cycle != "multilevel":
        raise CaseError(case.path, "[hybrid] cycle", f"{hybrid.cycle} is not available on --backend petsc",
                        expected="multilevel")
    if isinstance(hybrid.switch, int) and hybrid.switch > 0:
        raise CaseError(case.path, "--switch", f"{hybrid.switch} (training before the hand-over) is not available "
                        "on --backend petsc: the loss needs the whole fine grid", expected="auto or 0")


def hybrid_levels(case, layout, levels_possible: int) -> int:
    """PCMG levels: coarsen until the coarsest level has at most ``coarsest_points`` interior points per
    axis (the one-process default per dimension when 0), or as far as ``levels_possible`` allows."""
    from poissonfp.solvers.hierarchy.multilevel import DEFAULT_COARSEST_POINTS

    points = case.hybrid.coarsest_points or DEFAULT_COARSEST_POINTS[layout.grid.ndim]
    sizes, levels = np.array(layout.vertices), 1
    while levels < levels_possible and np.max(sizes) - 2 > points:
        sizes, levels = (sizes - 1) // 2 + 1, levels + 1
    return levels


def smoothing_omega(case, ndim: int) -> float:
    return case.hybrid.smoothing_omega or 2.0 * ndim / (2.0 * ndim + 1.0)


def hybrid_options(case, levels: int, ndim: int) -> dict[str, Any]:
    """PETSc's options for the hybrid (defaults: the user's ``-ksp_*`` / ``-pc_*`` override them)."""
    return {"ksp_type": "richardson", "ksp_richardson_scale": 1.0, "ksp_norm_type": "unpreconditioned",
            "pc_type": "mg", "pc_mg_levels": levels, "pc_mg_galerkin": "both", "pc_mg_type": "multiplicative",
            "pc_mg_cycle_type": "v", "mg_levels_ksp_type": "richardson",
            "mg_levels_ksp_richardson_scale": smoothing_omega(case, ndim),
            "mg_levels_ksp_max_it": case.hybrid.smoothing_sweeps, "mg_levels_pc_type": "jacobi",
            "mg_coarse_ksp_type": "preonly", "mg_coarse_pc_type": "python"}


class _Clock:
    """What the coarse solver's set-up reads of a monitor: the seconds since it started."""

    def __init__(self) -> None:
        self._start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self._start


class ModelDirection:
    """A trained operator model as the coarse correction: ``α d`` with ``d = N(r)`` on the coarse grid's
    interior and ``α = (d, r) / (d, A d)`` (``A`` the coarse level's matrix); plugs in where
    :class:`~poissonfp.solvers.hierarchy.multilevel.CoarseIteration` takes a Galerkin space."""

    def __init__(self, model, level, interior: tuple[slice, ...]) -> None:
        self.model, self.level, self.interior = model, level, interior
        self.size = 1

    def correction(self, residual: np.ndarray) -> np.ndarray:
        r = np.asarray(residual).reshape(self.level.grid.shape)
        d = np.zeros(self.level.grid.shape)
        d[self.interior] = self.model.apply(r[self.interior][None])[0]
        ad = self.level.matrix @ d.ravel()
        curvature = float(d.ravel() @ ad)
        if not curvature > 0:
            return np.zeros_like(d)
        return (float(d.ravel() @ r.ravel()) / curvature) * d


class GatheredCoarse:
    """The PCPYTHON context of PCMG's coarsest level: gather, solve with poissonfp's coarse solver, scatter.

    Args:
        case: the case (its ``hybrid``, ``network``, ``training`` settings and ``seed``).
        layout: the fine :class:`~poissonfp.petsc_backend.layout.BoxLayout`.
        model: a loaded operator model, or None for the network's Galerkin space (or ``coarsest``'s choice).
        info: filled with what the set-up built (the coarse grid, the space's size, rank and condition).
    """

    def __init__(self, case, layout, model, info: dict) -> None:
        self.case, self.layout, self.model, self.info = case, layout, model, info
        self.passes = 0
        self.seconds = 0.0

    def setUp(self, pc: Any) -> None:  # petsc4py's name
        import scipy.sparse as sp
        from petsc4py import PETSc

        from poissonfp.solvers.hierarchy.multilevel_galerkin import MatrixLevel

        started = time.perf_counter()
        matrix = pc.getOperators()[0]
        da = pc.getDM()
        rows = matrix.getSize()[0]
        every = PETSc.IS().createStride(rows, 0, 1, comm=PETSc.COMM_SELF)
        whole = matrix.createSubMatrices(every)[0]
        indptr, indices, values = whole.getValuesCSR()
        natural = np.asarray(da.getAO().petsc2app(np.arange(rows, dtype=PETSc.IntType)), dtype=np.int64)
        order = np.argsort(natural)  # petsc index of each natural (C-ordered vertex) index
        csr = sp.csr_matrix((values, indices, indptr), shape=(rows, rows))[order][:, order].tocsr()
        shape = tuple(reversed(da.getSizes()))
        self.natural, self.shape = natural, shape
        self.start, self.stop = matrix.getOwnershipRange()
        self.scatter, self.gathered = PETSc.Scatter.toAll(matrix.createVecLeft())
        grid = self._vertex_grid(shape)
        inside = np.ones(shape, dtype=bool)
        self.level = MatrixLevel(grid, csr, inside)
        self.omega = smoothing_omega(self.case, grid.ndim)
        self.solver = self._coarse_solver(grid)
        self.info.update({"coarsest_vertices": list(shape), "coarsest_interior": [n - 2 for n in shape],
                          "coarse_setup_s": time.perf_counter() - started})
        whole.destroy()

    def _vertex_grid(self, shape: tuple[int, ...]) -> Grid:
        """The coarse vertex grid as a poissonfp Grid: its boundary vertices sit on the box's faces."""
        lower, upper = np.array(self.case.lower, float), np.array(self.case.upper, float)
        h = (upper - lower) / (np.array(shape) - 1)
        return Grid(tuple(lower - h), tuple(upper + h), shape)

    def _coarse_solver(self, grid: Grid) -> Any:
        from poissonfp.solvers.hierarchy.multilevel import CoarseIteration

        hybrid = self.case.hybrid
        if self.model is not None:
            interior = tuple(slice(1, n - 1) for n in grid.shape)
            self.info.update({"coarse": "operator model", "model": self.model.meta.get("folder"),
                              "model_grid": self.model.grid.describe()})
            return CoarseIteration(ModelDirection(self.model, self.level, interior), sweeps=4,
                                   reduction=hybrid.coarsest_reduction)
        from poissonfp.solvers.hybrids.hybrid_multilevel import coarse_solver

        fine = self.layout.grid
        functions = {"boundary": self.case.boundary, **({"inside": self.case.inside} if self.case.inside else {})}
        on_box = self.case.inside is None and self.case.coefficient is None and \
            all(kind == "dirichlet" for pair in self.case.side_types for kind in pair)
        proxy = SimpleNamespace(grid=fine, functions=functions, on_box=on_box)
        times: dict[str, float] = {}
        options = {"hybrid": hybrid, "network": self.case.network, "training": self.case.training,
                   "seed": self.case.seed, "device": "cpu", "switch": hybrid.switch}
        # the coarse set-up reads only the proxy's grid, functions and on_box, and the clock's elapsed()
        solver = coarse_solver(cast(Any, proxy), cast(Any, _Clock()), options, grid, self.info, times, self.level)
        self.info["coarse_times_s"] = times
        return solver

    def apply(self, pc: Any, x: Any, y: Any) -> None:
        from petsc4py import PETSc

        started = time.perf_counter()
        self.scatter.scatter(x, self.gathered, PETSc.InsertMode.INSERT, PETSc.ScatterMode.FORWARD)
        residual = np.empty(self.natural.size)
        residual[self.natural] = self.gathered.getArray(readonly=True)
        self.level.rhs[...] = residual.reshape(self.shape)
        before = self.solver.passes
        self.solver.solve(self.level, self.omega)
        self.passes += self.solver.passes - before
        solution = self.level.solution.reshape(-1)
        y.setArray(solution[self.natural[self.start:self.stop]])
        self.seconds += time.perf_counter() - started

    def summary(self) -> dict[str, Any]:
        return {"coarse_passes": self.passes, "coarse_solve_s": self.seconds}
