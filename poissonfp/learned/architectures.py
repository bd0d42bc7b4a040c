"""Operator-network architectures: a U-Net for 1D/2D/3D grids and a Fourier neural operator (FNO).

Both map a residual of shape ``(batch, 1, *grid.shape)`` to a correction of the same shape; convolutions
pad with zeros (the Dirichlet boundary). The U-Net is tied to no size but learns the scales of the grid it
was trained on; the FNO works on sine modes (odd extension of the input, so its output vanishes on the
box's boundary) and applies across grid sizes. Construction is seeded locally
(:func:`build_network`): the global torch generator is left as it was.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["ARCHITECTURES", "DEFAULTS", "UNet", "FNO", "build_network", "parameter_count"]

#: Architecture names (``--arch``).
ARCHITECTURES = ("unet", "fno")
#: Default settings per architecture: ~121k parameters for the 2D U-Net, ~200k for the 2D FNO.
DEFAULTS: dict[str, dict[str, int]] = {"unet": {"width": 8, "depth": 4}, "fno": {"width": 16, "modes": 8, "layers": 3}}
#: Whether a trained network may be applied to another grid size than its training grid.
ACROSS_SIZES = {"unet": False, "fno": True}

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
_MODE = {1: "linear", 2: "bilinear", 3: "trilinear"}


class _DoubleConv(nn.Sequential):
    def __init__(self, ndim: int, inputs: int, outputs: int) -> None:
        conv = _CONV[ndim]
        super().__init__(conv(inputs, outputs, 3, padding=1), nn.GELU(), conv(outputs, outputs, 3, padding=1),
                         nn.GELU())


class UNet(nn.Module):
    """A U-Net: ``depth`` levels with ``width * 2**level`` channels, average pooling down, linear
    interpolation up, skip connections by concatenation.

    Args:
        ndim: grid dimension (1, 2 or 3): the convolutions' dimension.
        width: channels of the finest level.
        depth: number of levels (the coarsest has ``width * 2**(depth - 1)`` channels).
    """

    def __init__(self, ndim: int, width: int = 8, depth: int = 4) -> None:
        super().__init__()
        if ndim not in _CONV or width < 1 or depth < 1:
            raise ValueError(f"U-Net needs ndim in 1..3, width >= 1, depth >= 1; got {ndim}, {width}, {depth}")
        self.ndim = ndim
        channels = [width * 2**level for level in range(depth)]
        self.down = nn.ModuleList(_DoubleConv(ndim, c_in, c_out) for c_in, c_out in zip([1] + channels[:-1], channels))
        self.up = nn.ModuleList(_DoubleConv(ndim, channels[i + 1] + channels[i], channels[i])
                                for i in reversed(range(depth - 1)))
        self.out = _CONV[ndim](channels[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for index, block in enumerate(self.down):
            if index:
                x = _POOL[self.ndim](x, 2)
            x = block(x)
            skips.append(x)
        skips.pop()
        for block in self.up:
            skip = skips.pop()
            x = F.interpolate(x, size=skip.shape[2:], mode=_MODE[self.ndim], align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        return self.out(x)


def _odd_extension(x: torch.Tensor, ndim: int) -> torch.Tensor:
    """Extend each of the last ``ndim`` axes (n points) antisymmetrically to period ``2 (n + 1)``."""
    for axis in range(x.ndim - ndim, x.ndim):
        zero = torch.zeros_like(x.narrow(axis, 0, 1))
        x = torch.cat([zero, x, zero, -torch.flip(x, dims=(axis,))], dim=axis)
    return x


class _SpectralConv(nn.Module):
    """Multiply the lowest ``modes`` Fourier modes per axis by learned complex matrices."""

    def __init__(self, ndim: int, channels: int, modes: int) -> None:
        super().__init__()
        self.ndim, self.modes = ndim, modes
        corners = 2 ** (ndim - 1)
        scale = 1.0 / (channels * channels)
        self.weight = nn.Parameter(scale * torch.randn(corners, channels, channels, *(modes,) * ndim, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = tuple(range(-self.ndim, 0))
        spectrum = torch.fft.rfftn(x, dim=dims)
        out = torch.zeros_like(spectrum)
        m = self.modes
        weight = torch.view_as_complex(self.weight)
        letters = "xyz"[: self.ndim]
        rule = f"bi{letters},io{letters}->bo{letters}"
        for corner in range(2 ** (self.ndim - 1)):
            index: list[Any] = [slice(None), slice(None)]
            for axis in range(self.ndim - 1):
                index.append(slice(-m, None) if (corner >> axis) & 1 else slice(0, m))
            index.append(slice(0, m))
            out[tuple(index)] = torch.einsum(rule, spectrum[tuple(index)], weight[corner])
        return torch.fft.irfftn(out, s=x.shape[-self.ndim:], dim=dims)


class FNO(nn.Module):
    """A Fourier neural operator on sine modes: lift, ``layers`` x (spectral conv + pointwise conv, GELU),
    project. The input is odd-extended (so every Fourier mode is a sine mode of the box) and the output
    cut back: it applies to any grid size; its reach is ``modes`` modes per axis.

    Args:
        ndim: grid dimension (1, 2 or 3).
        width: channels.
        modes: Fourier modes kept per axis (at most the grid's points + 1 on every axis it is applied to).
        layers: spectral layers.
    """

    def __init__(self, ndim: int, width: int = 16, modes: int = 8, layers: int = 3) -> None:
        super().__init__()
        if ndim not in _CONV or min(width, modes, layers) < 1:
            raise ValueError(f"FNO needs ndim in 1..3 and positive width, modes, layers; got {ndim}, {width}, "
                             f"{modes}, {layers}")
        conv = _CONV[ndim]
        self.ndim = ndim
        self.lift = conv(1, width, 1)
        self.spectral = nn.ModuleList(_SpectralConv(ndim, width, modes) for _ in range(layers))
        self.pointwise = nn.ModuleList(conv(width, width, 1) for _ in range(layers))
        self.project = nn.Sequential(conv(width, 2 * width, 1), nn.GELU(), conv(2 * width, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape[2:]
        x = self.lift(_odd_extension(x, self.ndim))
        for index, (spectral, pointwise) in enumerate(zip(self.spectral, self.pointwise)):
            x = spectral(x) + pointwise(x)
            if index < len(self.spectral) - 1:
                x = F.gelu(x)
        x = self.project(x)
        for axis, n in enumerate(shape):
            x = x.narrow(2 + axis, 1, n)
        return x


def build_network(arch: str, ndim: int, seed: int, dtype: torch.dtype = torch.float32, **settings: int) -> nn.Module:
    """A freshly initialised network of architecture ``arch`` (:data:`ARCHITECTURES`) in ``dtype``
    (float32 by default: 8x faster than float64 on a CPU; the solver absorbs its round-off).

    The initial weights depend on ``seed`` alone: torch's global generator is forked, not reseeded.

    Raises:
        ValueError: For an unknown architecture or setting.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; expected one of {', '.join(ARCHITECTURES)}")
    unknown = set(settings) - set(DEFAULTS[arch])
    if unknown:
        raise ValueError(f"unknown {arch} setting(s) {', '.join(sorted(unknown))}; expected "
                         f"{', '.join(DEFAULTS[arch])}")
    options = {**DEFAULTS[arch], **settings}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = UNet(ndim, **options) if arch == "unet" else FNO(ndim, **options)
    return network.to(dtype)


def parameter_count(network: nn.Module) -> int:
    """Trainable parameters of ``network``."""
    return sum(p.numel() for p in network.parameters() if p.requires_grad)
