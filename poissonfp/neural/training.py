"""Full-batch training: Adam, then L-BFGS with a strong-Wolfe line search.

Deterministic: the network is initialised from an explicit ``torch.Generator`` (see
:func:`poissonfp.neural.model.build_model`) and training is full-batch, so it draws no random numbers and
touches no global random state. Every loss is checked: a non-finite loss or output, or a loss that grows
by more than :data:`BLOW_UP` times its initial scale, stops training with :class:`TrainingDivergence`
(a :class:`~poissonfp.solvers.base.DivergenceError`) whose message is one human line; nothing non-finite
leaves the trainer.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from poissonfp.solvers.base import DivergenceError

__all__ = ["BLOW_UP", "Trainer", "TrainingDivergence"]

logger = logging.getLogger(__name__)

#: Growth of the loss beyond its starting scale that counts as divergence.
BLOW_UP = 1e8


class TrainingDivergence(DivergenceError):
    """Training produced a non-finite or exploding loss."""


@dataclass
class Trainer:
    """Trains ``model`` on ``loss`` (a callable returning ``(loss tensor, grid values or None)``).

    Args:
        model: the network.
        loss: the loss callable (:func:`poissonfp.neural.losses.make_loss`).
        learning_rate: Adam's learning rate.
        history_size: L-BFGS memory.
        guard_every: every this many steps a quadrature loss is compared with the grid evaluation of the
            same network; when they disagree training continues on the grid loss (logged warning), so an
            optimiser cannot exploit the holes of an under-resolving quadrature.

    Attributes:
        steps: optimiser steps done (Adam and L-BFGS together).
        losses: ``(step, loss)`` pairs, one per step.
        time_s: seconds spent in optimiser steps.
    """

    model: torch.nn.Module
    loss: Any  # a loss callable (make_loss), with points, check and grid_loss where it has them
    learning_rate: float = 1e-3
    history_size: int = 50
    guard_every: int = 10
    steps: int = 0
    fallback_step: int | None = None
    losses: list = field(default_factory=list)
    time_s: float = 0.0
    _scale: float | None = None
    _adam: torch.optim.Optimizer | None = None
    _lbfgs: Any = None  # torch.optim.LBFGS once L-BFGS starts

    def _evaluate(self, optimiser: str) -> torch.Tensor:
        value, u = self.loss()
        number = float(value.detach())
        if not math.isfinite(number) or (u is not None and not bool(torch.isfinite(u).all())):
            raise TrainingDivergence(f"training diverged at {optimiser} step {self.steps + 1}: the loss is "
                                     f"{number} (learning rate {self.learning_rate:g} too large?)")
        if self._scale is None:
            self._scale = max(abs(number), 1e-300)
        elif number > BLOW_UP * self._scale:
            raise TrainingDivergence(f"training diverged at {optimiser} step {self.steps + 1}: the loss grew "
                                     f"to {number:.3g} from a scale of {self._scale:.3g} "
                                     f"(learning rate {self.learning_rate:g} too large?)")
        return value

    def adam(self, count: int, on_step: Callable[[int, float], bool] | None = None) -> bool:
        """Run up to ``count`` Adam steps; ``on_step(steps, loss)`` may return True to stop early.

        Returns True when stopped early by ``on_step``.
        """
        if self._adam is None:
            self._adam = torch.optim.Adam(self.model.parameters(), lr=self.learning_rate)
        for _ in range(count):
            start = time.perf_counter()
            self._adam.zero_grad(set_to_none=True)
            value = self._evaluate("Adam")
            value.backward()
            self._adam.step()
            self.time_s += time.perf_counter() - start
            if self._after_step(float(value.detach()), on_step):
                return True
        return False

    def lbfgs(self, count: int, on_step: Callable[[int, float], bool] | None = None) -> bool:
        """Run up to ``count`` L-BFGS iterations (strong Wolfe line search), as :meth:`adam`."""
        if self._lbfgs is None:
            self._lbfgs = torch.optim.LBFGS(self.model.parameters(), lr=1.0, max_iter=1, max_eval=25,
                                            history_size=self.history_size, tolerance_grad=0.0,
                                            tolerance_change=0.0, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            self._lbfgs.zero_grad(set_to_none=True)
            value = self._evaluate("L-BFGS")
            value.backward()
            return value

        for _ in range(count):
            start = time.perf_counter()
            value = self._lbfgs.step(closure)
            self.time_s += time.perf_counter() - start
            if self._after_step(float(value.detach()) if torch.is_tensor(value) else float(value), on_step):
                return True
        return False

    def _after_step(self, value: float, on_step) -> bool:
        self.steps += 1
        self.losses.append((self.steps, value))
        if self.guard_every and self.steps % self.guard_every == 0 and hasattr(self.loss, "check"):
            agree, quadrature, grid = self.loss.check()
            if not agree:
                logger.warning("step %d: the quadrature no longer resolves the network (loss %.6g vs %.6g on "
                               "the grid); training continues on the grid points", self.steps, quadrature, grid)
                self.loss = self.loss.grid_loss
                self.fallback_step = self.steps
                self._lbfgs = None
        return bool(on_step(self.steps, value)) if on_step is not None else False

    def loss_history(self, points: int = 200) -> dict[str, list]:
        """The loss history subsampled to about ``points`` entries (first and last kept)."""
        if not self.losses:
            return {"step": [], "loss": []}
        stride = max(1, len(self.losses) // points)
        chosen = self.losses[::stride]
        if chosen[-1] is not self.losses[-1]:
            chosen.append(self.losses[-1])
        return {"step": [s for s, _ in chosen], "loss": [v for _, v in chosen]}
