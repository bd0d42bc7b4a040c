"""Seeded fully connected networks, with no global torch state.

Layers are created without touching torch's global random generator (``torch.nn.utils.skip_init``) and
initialised from an explicit ``torch.Generator``:

- ``init="uniform"`` (default, like PyTorch's ``nn.Linear``): weights and biases ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``;
- ``init="xavier"``: Glorot-uniform weights ``U(-a, a)``, ``a = gain * sqrt(6 / (fan_in + fan_out))``
  with the activation's gain (``torch.nn.init.calculate_gain``), zero biases.
"""
from __future__ import annotations

import itertools
import math

import torch
from torch import nn

__all__ = ["ACTIVATIONS", "Sine", "make_mlp"]


class Sine(nn.Module):
    """Elementwise ``sin``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(x)


ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "sin": Sine,
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "softplus": nn.Softplus,
}

_GAINS = {"tanh": "tanh", "relu": "relu", "sin": "linear", "gelu": "relu", "softplus": "relu"}


def _initialise(layer: nn.Linear, init: str, activation: str, generator: torch.Generator) -> None:
    _fan_out, fan_in = layer.weight.shape
    with torch.no_grad():
        if init == "uniform":
            bound = 1.0 / math.sqrt(fan_in)
            nn.init.uniform_(layer.weight, -bound, bound, generator=generator)
            nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
        elif init == "xavier":
            gain = nn.init.calculate_gain(_GAINS[activation])  # type: ignore[arg-type]  # the keys are torch's names
            nn.init.xavier_uniform_(layer.weight, gain=gain, generator=generator)
            nn.init.zeros_(layer.bias)
        else:
            raise ValueError(f"init must be 'uniform' or 'xavier', got {init!r}")


def make_mlp(
    input_dim: int,
    widths: tuple[int, ...] | list[int],
    output_dim: int = 1,
    activation: str = "tanh",
    dtype: torch.dtype = torch.float64,
    seed: int = 0,
    generator: torch.Generator | None = None,
    init: str = "uniform",
) -> nn.Sequential:
    """Build ``Linear -> act -> ... -> Linear`` with hidden ``widths`` and a linear output layer.

    Args:
        input_dim: number of input features.
        widths: hidden layer widths (may be empty: a linear model).
        output_dim: number of outputs.
        activation: one of ``tanh, sin, relu, gelu, softplus``.
        dtype: parameter dtype.
        seed: seeds a fresh CPU generator when ``generator`` is not given.
        generator: explicit generator (consumed in layer order); overrides ``seed``.
        init: ``"uniform"`` or ``"xavier"`` (see the module docstring).

    >>> net = make_mlp(2, [8, 8], output_dim=3, seed=1)
    >>> net(torch.zeros(5, 2, dtype=torch.float64)).shape
    torch.Size([5, 3])
    >>> bool(torch.equal(net[0].weight, make_mlp(2, [8, 8], output_dim=3, seed=1)[0].weight))
    True
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose from {sorted(ACTIVATIONS)}")
    if generator is None:
        generator = torch.Generator().manual_seed(int(seed))
    sizes = [int(input_dim), *map(int, widths), int(output_dim)]
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        linear = nn.utils.skip_init(nn.Linear, fan_in, fan_out, dtype=dtype)
        _initialise(linear, init, activation, generator)
        layers.append(linear)
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)
