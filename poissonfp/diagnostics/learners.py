"""Learners of the supervised experiments: the paper's network and the negative controls.

- ``"network"``: a fully connected network (:func:`poissonfp.networks.make_mlp`); ``first_layer_scale``
  multiplies its first layer's weights and biases. With ``sin`` and a scale of 30 the network loses its
  low-frequency bias (the control of ``fprinciple-1d``).
- ``"free-values"``: a table of one free value per training point, trained on the same loss with the same
  optimiser. It has no spectral bias: gradient descent on the mean squared error moves every value
  independently, so no frequency is preferred.
"""
from __future__ import annotations

import torch
from torch import nn

from poissonfp.networks import make_mlp

__all__ = ["LEARNERS", "FreeValues", "make_learner"]

LEARNERS = ("network", "free-values")


class FreeValues(nn.Module):
    """A table of values for a fixed set of inputs, starting at zero; ``forward`` ignores the inputs."""

    def __init__(self, points: int, outputs: int, dtype: torch.dtype) -> None:
        super().__init__()
        self.values = nn.Parameter(torch.zeros(points, outputs, dtype=dtype))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.shape[0] != self.values.shape[0]:
            raise ValueError(f"free values hold {self.values.shape[0]} points, got {inputs.shape[0]} inputs")
        return self.values


def make_learner(
    learner: str, inputs: int, points: int, widths, outputs: int, activation: str, dtype: torch.dtype, *,
    seed: int = 0, generator: torch.Generator | None = None, first_layer_scale: float = 1.0,
) -> nn.Module:
    """The learner named ``learner`` (one of :data:`LEARNERS`) for ``points`` training inputs."""
    if learner == "free-values":
        return FreeValues(points, outputs, dtype)
    if learner != "network":
        raise ValueError(f"learner must be one of {LEARNERS}, got {learner!r}")
    model = make_mlp(inputs, widths, outputs, activation, dtype, seed=seed, generator=generator)
    if first_layer_scale != 1.0:
        first = model[0]
        assert isinstance(first, nn.Linear)
        with torch.no_grad():
            first.weight.mul_(first_layer_scale)
            first.bias.mul_(first_layer_scale)
    return model
