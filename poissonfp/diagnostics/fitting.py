"""One supervised full-batch training loop, shared by every F-Principle experiment.

Epoch ``e`` means "after ``e`` Adam steps": the callback sees the network's outputs on the training
inputs at epochs ``0`` (initialisation) to ``epochs`` (trained), from the forward pass that the next step
uses anyway, so recording costs no extra evaluation.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

__all__ = ["FitHistory", "fit_full_batch"]

logger = logging.getLogger(__name__)

#: ``on_epoch(epoch, outputs)`` with ``outputs`` the training-set predictions as a numpy array.
EpochCallback = Callable[[int, np.ndarray], None]
#: ``on_progress(epochs_done, epochs_total)``.
ProgressCallback = Callable[[int, int], None]


@dataclass
class FitHistory:
    """Loss per epoch (``epochs + 1`` values, index = epoch) and wall time of the loop."""

    loss: list[float] = field(default_factory=list)
    wall_time_s: float = 0.0


def fit_full_batch(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    *,
    epochs: int,
    learning_rate: float,
    record_every: int = 1,
    on_epoch: EpochCallback | None = None,
    on_progress: ProgressCallback | None = None,
    progress_every: int = 50,
) -> FitHistory:
    """Train ``model`` on ``(inputs, targets)`` with Adam and the mean squared error, full batch.

    Args:
        model: the network (trained in place).
        inputs: shape ``(n, d)``.
        targets: shape ``(n, m)``, same dtype as the model.
        epochs: number of Adam steps.
        learning_rate: Adam step size.
        record_every: call ``on_epoch`` at epochs divisible by this (and always at the last one).
        on_epoch: receives ``(epoch, outputs)`` with outputs of shape ``(n, m)``.
        on_progress: receives ``(epochs_done, epochs)`` every ``progress_every`` epochs and at the end.
        progress_every: progress reporting interval in epochs.

    Returns:
        the loss history.
    """
    optimiser = torch.optim.Adam(model.parameters(), lr=learning_rate)
    history = FitHistory()
    start = time.perf_counter()
    for epoch in range(epochs + 1):
        outputs = model(inputs)
        loss = torch.mean((outputs - targets) ** 2)
        history.loss.append(float(loss.detach()))
        if on_epoch is not None and (epoch % record_every == 0 or epoch == epochs):
            on_epoch(epoch, outputs.detach().cpu().numpy())
        if on_progress is not None and (epoch % progress_every == 0 or epoch == epochs):
            on_progress(epoch, epochs)
        if epoch == epochs:
            break
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    history.wall_time_s = time.perf_counter() - start
    logger.debug("trained %d epochs in %.2f s, final loss %.3e", epochs, history.wall_time_s, history.loss[-1])
    return history
