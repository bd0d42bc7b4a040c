"""The array backends of the multilevel hybrid: what :func:`~poissonfp.solvers.hybrids.hybrid_multilevel.run_hybrid`
asks of a backend (:class:`HybridBackend`), and the numpy one (:class:`NumpyBackend`: numba-compiled
smoothing, the box's rediscretised or the Galerkin hierarchy). The torch one,
:class:`~poissonfp.solvers.hybrids.torch_backend.TorchBackend`, runs the same orchestration on a device.

A backend builds the hierarchy and the coarsest-level solvers, prices a plain sweep for the fallback
decision, runs pure Jacobi when the decision picks it, and drives the cycles (full multigrid, then one
V-cycle per step, with the criterion measured on the fine grid); everything else (the decision, the
network, the bookkeeping of ``info``) is the orchestration's, written once.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from poissonfp.grid import Grid
from poissonfp.problem import Problem
from poissonfp.solvers.base import Monitor
from poissonfp.solvers.classical.jacobi import JacobiIteration, run_jacobi
from poissonfp.solvers.classical.jacobi_price import PRICE_SWEEPS, JacobiPrice, measure_price
from poissonfp.solvers.hierarchy.multilevel import DEFAULT_COARSEST_POINTS, ExactCoarse, Multilevel
from poissonfp.solvers.hierarchy.multilevel import warm_up as warm_up_multilevel

__all__ = ["PLAIN_SWEEPS", "Cycles", "HybridBackend", "JacobiRun", "NumpyBackend", "make_multilevel"]

#: (measure, step): ``measure()`` gives (residual norm, criterion value) of the fine iterate, ``step()`` runs
#: one V-cycle.
Cycles = tuple[Callable[[], tuple[float, float]], Callable[[], Any]]


class JacobiRun(Protocol):
    """Pure Jacobi on a backend, for the fallback decision."""

    def price(self, monitor: Monitor) -> JacobiPrice | None:
        """The price of Jacobi as it will run (None: the backend has only the plain-sweep price)."""

    def run(self, monitor: Monitor, batch: int) -> tuple[np.ndarray, str, int]:
        """Sweep until the criterion holds: (solution, stop reason, sweeps counted)."""


class HybridBackend(Protocol):
    """What the multilevel hybrid's orchestration needs from an array backend."""

    #: where it runs: ``"cpu"`` (numpy) or a torch device
    device: str

    def warm_up(self, ndim: int, with_space: bool, network: bool = True) -> None:
        """Compile (or load) the kernels before the clock starts (``network``: the network features' too)."""

    def hierarchy(self, problem: Problem, omega: float, sweeps: int, coarsest_points: int) -> Any:
        """The multilevel hierarchy (``grids``, ``levels``, ``fine``, ``coarse``, ``work``, ``hierarchy``)."""

    def exact_coarse(self) -> Any:
        """The coarsest-level solver of ``coarsest = "exact"``."""

    def space(self, hierarchy: Any, features: Any, rcond: float) -> Any:
        """The Galerkin space of ``features`` (columns on the coarsest grid) for the coarsest level."""

    def network_features(self, model: Any, grid: Grid) -> Any:
        """The network's features on ``grid``, in the backend's arrays."""

    def classical_features(self, features: np.ndarray) -> Any:
        """A classical basis (numpy columns) in the backend's arrays."""

    def plain_seconds(self, hierarchy: Any, problem: Problem, omega: float) -> float:
        """Seconds of a plain fine sweep (a lower bound of every Jacobi sweep's price); may add its sweeps
        to ``hierarchy.work``."""

    def restricted(self, hierarchy: Any, problem: Problem) -> tuple | None:
        """The decision's probe: the grids down to a coarse level and the right-hand side restricted there
        (None: the decision restricts anew)."""

    def jacobi(self, problem: Problem, hierarchy: Any, omega: float) -> JacobiRun:
        """Pure Jacobi from zero (or from the sweeps already priced)."""

    def solution(self, hierarchy: Any) -> np.ndarray:
        """The fine iterate as a numpy array (a view where the backend allows)."""

    def cycles(self, hierarchy: Any, problem: Problem, monitor: Monitor, lift: np.ndarray | None,
               restricted: bool) -> Cycles:
        """Run full multigrid (``restricted``: the right-hand side is already on every level) and return the
        functions that drive the V-cycles."""


#: Sweeps :meth:`NumpyBackend.plain_seconds` runs.
PLAIN_SWEEPS = 3


def make_multilevel(problem: Problem, coarse, omega: float | None = None, sweeps: int = 2,
                    coarsest_points: int | None = None):
    """The hierarchy for ``problem``'s operator, built once: the rediscretised box hierarchy
    (:class:`~poissonfp.solvers.hierarchy.multilevel.Multilevel`) on the constant-coefficient Dirichlet box, the
    Galerkin one (:class:`~poissonfp.solvers.hierarchy.multilevel_galerkin.GalerkinMultilevel`) elsewhere. Reuse it
    for any right-hand side: ``hierarchy.solve_rhs(rhs, tol)`` (or ``full_cycle(rhs)`` then ``cycle()``)."""
    points = coarsest_points or DEFAULT_COARSEST_POINTS[problem.grid.ndim]
    if problem.on_box:
        return Multilevel(problem.grid, coarse, omega, sweeps, sweeps, points)
    from poissonfp.solvers.hierarchy.multilevel_galerkin import GalerkinMultilevel

    return GalerkinMultilevel(problem.operator, coarse, omega, sweeps, sweeps, points)


class _NumpyJacobi:
    """Pure Jacobi that continues from the sweeps its pricing ran (:func:`measure_price`)."""

    def __init__(self, problem: Problem, omega: float) -> None:
        self.iteration = JacobiIteration(problem, omega)

    def price(self, monitor: Monitor) -> JacobiPrice:
        criterion = monitor.criterion
        return measure_price(self.iteration, monitor, criterion.reference(monitor.problem),
                             criterion.scale(monitor.problem))

    def run(self, monitor: Monitor, batch: int) -> tuple[np.ndarray, str, int]:
        done, reason = run_jacobi(self.iteration, monitor, monitor.criterion.max_iterations - PRICE_SWEEPS,
                                  sweeps_done=PRICE_SWEEPS, batch=batch)
        return self.iteration.solution.copy(), reason, done + PRICE_SWEEPS + PLAIN_SWEEPS


class NumpyBackend:
    """numpy arrays, numba-compiled sweeps and transfers; any operator (the Galerkin hierarchy off the box)."""

    device = "cpu"

    def warm_up(self, ndim: int, with_space: bool, network: bool = True) -> None:
        warm_up_multilevel(ndim)
        if with_space:
            from poissonfp.neural.galerkin import warm_up as warm_up_features

            warm_up_features(ndim, network)

    def hierarchy(self, problem: Problem, omega: float, sweeps: int, coarsest_points: int) -> Any:
        return make_multilevel(problem, None, omega, sweeps, coarsest_points)

    def exact_coarse(self) -> Any:
        return ExactCoarse()

    def space(self, hierarchy: Any, features: np.ndarray, rcond: float) -> Any:
        if hierarchy.hierarchy != "galerkin":
            from poissonfp.neural.galerkin import GalerkinSpace

            return GalerkinSpace(hierarchy.grids[-1], features, rcond)
        from poissonfp.solvers.hierarchy.multilevel_galerkin import MatrixGalerkinSpace

        return MatrixGalerkinSpace(hierarchy.levels[-1], features, rcond)

    def network_features(self, model: Any, grid: Grid) -> np.ndarray:
        return model.grid_features(grid)

    def classical_features(self, features: np.ndarray) -> np.ndarray:
        return features

    def plain_seconds(self, hierarchy: Any, problem: Problem, omega: float) -> float:
        """The faster of two timed plain sweeps (the cycles' kernel, no statistics) after an untimed one
        (which pays the page faults of fresh buffers); the fine level is left at zero."""
        level = hierarchy.fine
        level.zero()
        level.smooth(1, omega)
        best = math.inf
        for _ in range(PLAIN_SWEEPS - 1):
            start = time.perf_counter()
            level.smooth(1, omega)
            best = min(best, time.perf_counter() - start)
        hierarchy.work += PLAIN_SWEEPS
        return best

    def restricted(self, hierarchy: Any, problem: Problem) -> tuple | None:
        grids = hierarchy.grids
        hierarchy.restrict_rhs(problem.rhs)  # the decision's probe reads a coarse level's right-hand side
        probe = next(i for i, g in enumerate(grids) if max(g.shape) <= max(31, max(grids[-1].shape)))
        return grids[:probe + 1], hierarchy.levels[probe].rhs

    def jacobi(self, problem: Problem, hierarchy: Any, omega: float) -> JacobiRun:
        return _NumpyJacobi(problem, omega)

    def cycles(self, hierarchy: Any, problem: Problem, monitor: Monitor, lift: np.ndarray | None,
               restricted: bool) -> Cycles:
        criterion = monitor.criterion
        reference, scale = criterion.reference(problem), criterion.scale(problem)
        state = {"stats": hierarchy.full_cycle(None if restricted and lift is None else problem.rhs, reference, lift)}

        def measure() -> tuple[float, float]:
            residual, error_l2, error_max = hierarchy.measures(state["stats"], reference)
            return residual, criterion.from_norms(residual_norm=residual, error_max=error_max,
                                                  error_l2=error_l2, scale=scale)

        def step() -> None:
            state["stats"] = hierarchy.cycle(0, reference)

        return measure, step

    def solution(self, hierarchy: Any) -> np.ndarray:
        return hierarchy.fine.solution
