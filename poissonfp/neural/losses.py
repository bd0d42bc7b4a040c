"""Training losses of the boundary-exact network: Deep Ritz energy (default) and PINN residual.

Two ways to evaluate them:

- ``points="grid"`` (default, :class:`GridLoss`): on the interior grid points, with the discrete
  operator ``A = -Δ_h`` applied to the network's grid values (no autograd derivatives in x). The Ritz
  loss is the discrete energy ``h^d (½ uᵀAu - bᵀu)`` whose minimiser is exactly the discrete solution
  ``u_h`` that Jacobi converges to, so the network and Jacobi aim at the same target; for smooth ``u``
  with zero boundary values it equals ``½∫|∇u|² - ∫fu`` up to O(h²). The PINN loss is
  ``½ h^d ||b - Au||²``, which weights mode k by ``λ_k²`` instead of ``λ_k`` (it leaves more low-mode
  error: SCIENCE.md §2).
- ``points="quadrature"`` (:class:`QuadratureLoss`): tensor Gauss-Legendre points in every grid cell,
  continuous derivatives by autograd, ``f`` from the case's source expression. A quadrature that does
  not resolve the network can be exploited by the optimiser (L-BFGS then diverges), so the loss is
  guarded: :meth:`QuadratureLoss.check` compares it with the grid evaluation of the same network and
  :func:`make_loss` falls back to the grid loss with a logged warning when they disagree.
"""
from __future__ import annotations

import logging
import math

import numpy as np
import torch

from poissonfp.problem import Problem

__all__ = ["QUADRATURE_RTOL", "GridLoss", "QuadratureLoss", "laplacian_torch", "make_loss"]

logger = logging.getLogger(__name__)

#: Largest relative disagreement between the quadrature and the grid evaluation of a loss that is accepted.
QUADRATURE_RTOL = 0.05


def laplacian_torch(u: torch.Tensor, spacing) -> torch.Tensor:
    """``A u = -Δ_h u`` for interior values ``u`` (zero boundary), differentiable."""
    padded = torch.nn.functional.pad(u, (1, 1) * u.dim())
    out = torch.zeros_like(u)
    inner = [slice(1, -1)] * u.dim()
    for d, h in enumerate(spacing):
        lo, hi = list(inner), list(inner)
        lo[d], hi[d] = slice(0, -2), slice(2, None)
        out = out + (2.0 * u - padded[tuple(lo)] - padded[tuple(hi)]) / h**2
    return out


class GridLoss:
    """Ritz energy or PINN residual of the network on the interior grid points (see module docstring).

    Calling it returns ``(loss, grid values)``; the grid values are the network's output there.
    """

    points = "grid"

    def __init__(self, problem: Problem, model, kind: str = "ritz") -> None:
        if kind not in ("ritz", "pinn"):
            raise ValueError(f"loss must be 'ritz' or 'pinn', got {kind!r}")
        self.problem, self.model, self.kind = problem, model, kind
        grid = problem.grid
        self.x = model.grid_points(grid)
        self.rhs = torch.as_tensor(problem.rhs, dtype=model.dtype, device=model.device)
        self.volume = grid.cell_volume
        self.spacing = grid.spacing
        self.matrix = None if problem.on_box else _sparse_torch(problem, kind, model)

    def energy_of_values(self, u: torch.Tensor) -> torch.Tensor:
        """The loss of grid values ``u`` (shape ``grid.shape``)."""
        if self.matrix is None:
            au = laplacian_torch(u, self.spacing)
        else:
            au = torch.sparse.mm(self.matrix, u.reshape(-1, 1)).reshape(u.shape)
        if self.kind == "ritz":
            return self.volume * (0.5 * torch.sum(u * au) - torch.sum(self.rhs * u))
        r = self.rhs - au
        return 0.5 * self.volume * torch.sum(r * r)

    def __call__(self) -> tuple[torch.Tensor, torch.Tensor]:
        u = self.model(self.x).reshape(self.problem.grid.shape)
        return self.energy_of_values(u), u


class QuadratureLoss:
    """Continuous Ritz energy ``Σ_q w_q (½|∇u|² - f u)`` or PINN residual ``½ Σ_q w_q (Δu + f)²`` on
    ``order``-point Gauss-Legendre rules in every grid cell (including the cells touching the boundary).

    Needs the case's source expression (``problem.functions["source"]``). Returns ``(loss, None)``.
    """

    points = "quadrature"

    def __init__(self, problem: Problem, model, kind: str = "ritz", order: int = 2) -> None:
        source = (problem.functions or {}).get("source")
        if source is None:
            raise ValueError("quadrature points need the source as an expression (a problem built from a case)")
        grid = problem.grid
        nodes, weights = np.polynomial.legendre.leggauss(order)
        axes, axis_weights = [], []
        for a, h, n in zip(grid.lower, grid.spacing, grid.shape):
            left = a + h * np.arange(n + 1)
            axes.append((left[:, None] + h * (nodes[None, :] + 1) / 2).ravel())
            axis_weights.append(np.tile(weights * h / 2, n + 1))
        mesh = np.meshgrid(*axes, indexing="ij")
        w = np.ones(1)
        for aw in axis_weights:
            w = np.multiply.outer(w, aw)
        self.problem, self.model, self.kind = problem, model, kind
        self.x = torch.as_tensor(np.stack([m.ravel() for m in mesh], 1), dtype=model.dtype, device=model.device)
        self.weights = torch.as_tensor(w.ravel(), dtype=model.dtype, device=model.device)
        self.f = torch.as_tensor(source.numpy(*mesh).ravel(), dtype=model.dtype, device=model.device)
        self.grid_loss = GridLoss(problem, model, kind)
        self.boundary_constant = _boundary_energy(problem) if kind == "ritz" else 0.0

    def __call__(self) -> tuple[torch.Tensor, None]:
        x = self.x.detach().requires_grad_(True)
        u = self.model(x)[:, 0]
        (grad,) = torch.autograd.grad(u.sum(), x, create_graph=True)
        if self.kind == "ritz":
            density = 0.5 * torch.sum(grad * grad, dim=1) - self.f * u
            return torch.sum(self.weights * density), None
        laplacian = torch.zeros_like(u)
        for d in range(x.shape[1]):
            (second,) = torch.autograd.grad(grad[:, d].sum(), x, create_graph=True)
            laplacian = laplacian + second[:, d]
        r = laplacian + self.f
        return 0.5 * torch.sum(self.weights * r * r), None

    def check(self) -> tuple[bool, float, float]:
        """Whether the quadrature and the grid evaluation of the current network agree.

        Returns ``(agree, quadrature value, grid value)``; the grid Ritz value includes the energy of
        the boundary edges, so both estimate the same continuous energy.
        """
        with torch.enable_grad():
            quadrature = float(self()[0].detach())
        with torch.no_grad():
            grid = float(self.grid_loss()[0]) + self.boundary_constant
        if self.kind == "pinn":
            quadrature, grid = math.sqrt(max(quadrature, 0.0)), math.sqrt(max(grid, 0.0))
        scale = max(abs(quadrature), abs(grid), 1e-300)
        agree = math.isfinite(quadrature) and abs(quadrature - grid) <= QUADRATURE_RTOL * scale
        return agree, quadrature, grid


def _sparse_torch(problem: Problem, kind: str, model) -> torch.Tensor:
    """The general operator as a sparse torch matrix; the Ritz energy needs it symmetric.

    Raises:
        CaseError: keyed ``[training] loss`` for ``ritz`` when ``A`` is not symmetric (Shortley-Weller).
    """
    matrix = problem.operator.matrix.tocoo()
    asymmetry = abs(matrix - matrix.T).max() if matrix.nnz else 0.0
    if kind == "ritz" and asymmetry > 1e-12 * abs(matrix).max():
        from poissonfp.case import CaseError

        raise CaseError(problem.name, "[training] loss", "ritz needs a symmetric A, and the Shortley-Weller "
                        "stencil of a curved boundary is not; use loss = 'pinn'", expected="pinn")
    indices = torch.as_tensor(np.vstack([matrix.row, matrix.col]), dtype=torch.int64)
    values = torch.as_tensor(matrix.data, dtype=model.dtype)
    return torch.sparse_coo_tensor(indices, values, matrix.shape, check_invariants=True).coalesce().to(model.device)


def _boundary_energy(problem: Problem) -> float:
    """``½ h^d Σ g_j² / h_d²`` over the boundary neighbours of interior points: the constant that turns
    the folded discrete energy into the energy of all grid edges."""
    boundary = (problem.functions or {}).get("boundary")
    if boundary is None:
        return 0.0
    grid, total = problem.grid, 0.0
    for d, h in enumerate(grid.spacing):
        for face in (grid.lower[d], grid.upper[d]):
            coords = list(grid.axes)
            coords[d] = np.array([face])
            g = boundary.numpy(*np.meshgrid(*coords, indexing="ij", sparse=True))
            total += float(np.sum(np.broadcast_to(g, tuple(len(c) for c in coords)) ** 2)) / h**2
    return 0.5 * grid.cell_volume * total


def make_loss(problem: Problem, model, kind: str = "ritz", points: str = "grid", order: int = 2):
    """The loss for ``kind`` (``"ritz"``/``"pinn"``) on ``points`` (``"grid"``/``"quadrature"``).

    A quadrature loss that disagrees with the grid evaluation of the initial network (or that cannot be
    built) is replaced by the grid loss, with a logged warning.
    """
    if points == "grid":
        return GridLoss(problem, model, kind)
    if points == "quadrature" and not problem.on_box:
        logger.warning("the quadrature loss integrates over the box; off the box the grid points are used")
        return GridLoss(problem, model, kind)
    if points != "quadrature":
        raise ValueError(f"points must be 'grid' or 'quadrature', got {points!r}")
    try:
        loss = QuadratureLoss(problem, model, kind, order)
    except ValueError as error:
        logger.warning("quadrature loss unavailable (%s); using the grid points", error)
        return GridLoss(problem, model, kind)
    agree, quadrature, grid = loss.check()
    if not agree:
        logger.warning("the %d-point quadrature does not resolve the network (loss %.6g vs %.6g on the grid); "
                       "using the grid points", order, quadrature, grid)
        return GridLoss(problem, model, kind)
    return loss
