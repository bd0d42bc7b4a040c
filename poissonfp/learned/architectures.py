"""Operator-network architectures: a U-Net for 1D/2D/3D grids, a Fourier neural operator (FNO) and, for
1D grids, a DeepONet.

All map a residual of shape ``(batch, 1, *grid.shape)`` to a correction of the same shape; convolutions
pad with zeros (the Dirichlet boundary). The U-Net is tied to no size but learns the scales of the grid it
was trained on; the FNO works on sine modes (odd extension of the input, so its output vanishes on the
box's boundary) and applies across grid sizes; the DeepONet (Lu, Jin, Pang, Zhang & Karniadakis,
arXiv:1910.03193; the network of HINTS, arXiv:2208.13273) reads the residual at the n points of its
training grid (its branch net's sensors) and expands the correction in ``basis`` functions of the
coordinate (its trunk net): it serves that grid only. Construction is seeded locally
(:func:`build_network`): the global torch generator is left as it was.
"""
from __future__ import annotations

import copy
import functools
import itertools
import time
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["ARCHITECTURES", "DEFAULTS", "DIMENSIONS", "FNO", "DeepONet", "InferenceUNet", "UNet", "build_network",
           "least_points", "parameter_count"]

#: Architecture names (``--arch``).
ARCHITECTURES = ("unet", "fno", "deeponet")
#: Default settings per architecture: ~121k parameters for the 2D U-Net, ~200k for the 2D FNO; the DeepONet's
#: ``points`` (its sensors) is the training grid's, filled in by :func:`build_network` from ``shape``. Its width 256
#: and 32 basis functions: at n = 255 (GRF, lr 1e-3) the held-out error on DST modes 3-8 was 0.068 after 3,000
#: steps, against 0.32 for width 128 / 64 functions after 5,000 and 0.99 for depth 4 (5,440 / 11,810 / 25,960
#: sweeps to residual 1e-10 on 1d_article's source).
DEFAULTS: dict[str, dict[str, int]] = {"unet": {"width": 8, "depth": 4}, "fno": {"width": 16, "modes": 8, "layers": 3},
                                       "deeponet": {"width": 256, "depth": 3, "basis": 32, "points": 0}}
#: Whether a trained network may be applied to another grid size than its training grid.
ACROSS_SIZES = {"unet": False, "fno": True, "deeponet": False}
#: Grid dimensions each architecture serves.
DIMENSIONS = {"unet": (1, 2, 3), "fno": (1, 2, 3), "deeponet": (1,)}


def least_points(arch: str, **settings: int) -> int:
    """The fewest grid points per axis ``arch`` (with ``settings`` over :data:`DEFAULTS`) runs on: a U-Net of
    depth d halves the grid d - 1 times (2^(d-1) points leave one at the bottom); an FNO's odd extension of n
    points has n + 2 Fourier modes per axis, of which it keeps ``modes``; the DeepONet reads any number."""
    options = {**DEFAULTS[arch], **settings}
    if arch == "unet":
        return 2 ** (options["depth"] - 1)
    if arch == "fno":
        return max(1, options["modes"] - 2)
    return 1

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
_MODE = {1: "linear", 2: "bilinear", 3: "trilinear"}
_CONV_F = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


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
        self.down = nn.ModuleList(_DoubleConv(ndim, c_in, c_out) for c_in, c_out in zip([1, *channels[:-1]], channels))
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


class InferenceUNet(nn.Module):
    """A trained :class:`UNet`'s forward pass for inference in 2D or 3D, channels last, the same function.

    Two costs of the module's own forward go. (1) Each 3x3 convolution runs on whichever of PyTorch's own
    dispatch and oneDNN (``torch.mkldnn_convolution``) is faster at its input's shape, timed once per input
    shape (:meth:`tune`: each layer's two ways interleaved, the minimum of :data:`TUNING_REPEATS`, so a load
    spike cannot pick the slower one). PyTorch sends a convolution of one right-hand side with fewer than
    20,480 input values to its unblocked im2col path; oneDNN is up to 3.7x faster on some of those (140 -> 38 µs
    for the first of the 63² U-Net, 1 -> 8 channels) and slower on the smallest levels (7², 3²), where its fixed
    cost of ~30 µs dominates. (2) The ~40 module calls (hooks, ``Sequential``) cost ~0.1 ms. Measured on the
    2D U-Net at 63², one thread, median of 300: 1.26 -> 0.98 ms per call, outputs equal to 2e-7 (float32).
    A batch of several right-hand sides (PyTorch sends those to oneDNN already; tuning every batch size a
    shrinking batch passes through would cost more than it saves), any dtype oneDNN does not run (float64), a
    network on a GPU and a build without oneDNN keep PyTorch's choice.

    The weights are those of ``unet`` (a channels-last copy: the caller's module is not changed).
    """

    #: Timings per way and layer when a new input shape is tuned.
    TUNING_REPEATS = 5

    def __init__(self, unet: UNet) -> None:
        super().__init__()
        if unet.ndim not in (2, 3):
            raise ValueError(f"the inference U-Net serves 2D and 3D grids, got {unet.ndim}D")
        layout = torch.channels_last if unet.ndim == 2 else torch.channels_last_3d
        network: Any = copy.deepcopy(unet)
        self.unet = network.to(memory_format=layout).eval()
        self.ndim = unet.ndim
        weight = next(self.unet.parameters())
        #: Whether oneDNN may run a convolution: float32 weights on the CPU (oneDNN has no CUDA kernels: on a
        #: GPU every convolution keeps PyTorch's dispatch, i.e. cuDNN).
        self.onednn = (torch.backends.mkldnn.is_available() and weight.dtype == torch.float32
                       and weight.device.type == "cpu")

        def convolutions(block: nn.Module) -> list[tuple]:
            """Per convolution its two ways: PyTorch's dispatch and oneDNN's."""
            layers: list[Any] = [m for m in block.children() if isinstance(m, nn.Conv1d | nn.Conv2d | nn.Conv3d)]
            return [self._ways(m.weight, m.bias, tuple(m.padding)) for m in layers]

        self._ones = (1,) * self.ndim

        self._down = [convolutions(block) for block in self.unet.down]
        self._up = [convolutions(block) for block in self.unet.up]
        #: Per input shape, per 3x3 convolution in forward order: True where oneDNN runs it.
        self.choices: dict[tuple[int, ...], list[bool]] = {}

    def _ways(self, weight: torch.Tensor, bias: torch.Tensor | None, padding: tuple[int, ...]):
        plain = functools.partial(_CONV_F[self.ndim], weight=weight, bias=bias, padding=padding)
        onednn = functools.partial(torch.mkldnn_convolution, weight=weight, bias=bias, padding=padding,
                                   stride=self._ones, dilation=self._ones, groups=1)
        return plain, onednn

    def tune(self, x: torch.Tensor) -> list[bool]:
        """Choose, for input shape ``x.shape``, the faster way of each 3x3 convolution (see the class)."""
        choices: list[bool] = []

        def timed(way, z: torch.Tensor) -> float:
            start = time.perf_counter()
            way(z)
            return time.perf_counter() - start

        def pick(z: torch.Tensor, ways) -> torch.Tensor:
            plain, onednn = ways
            best = [float("inf"), float("inf")]
            for _ in range(self.TUNING_REPEATS + 1):  # the first of each way untimed below: it allocates
                best = [min(best[0], timed(plain, z)), min(best[1], timed(onednn, z))]
            choices.append(best[1] < best[0])
            return (onednn if choices[-1] else plain)(z)

        with torch.inference_mode():
            self._run(x, pick)
        self.choices[tuple(x.shape)] = choices
        return choices

    def _run(self, x: torch.Tensor, convolve) -> torch.Tensor:
        skips = []
        for index, layers in enumerate(self._down):
            if index:
                x = _POOL[self.ndim](x, 2)
            for ways in layers:
                x = F.gelu(convolve(x, ways))
            skips.append(x)
        skips.pop()
        for layers in self._up:
            skip = skips.pop()
            x = torch.cat([F.interpolate(x, size=skip.shape[2:], mode=_MODE[self.ndim], align_corners=False), skip], dim=1)
            for ways in layers:
                x = F.gelu(convolve(x, ways))
        return self.unet.out(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.onednn or x.shape[0] > 1:  # batches: PyTorch's dispatch runs oneDNN already; no tuning
            return self._run(x, lambda z, ways: ways[0](z))
        choices = self.choices.get(tuple(x.shape)) or self.tune(x)
        order = iter(choices)
        return self._run(x, lambda z, ways: ways[next(order)](z))


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


def _mlp(sizes: list[int], activation: type[nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for index, (inputs, outputs) in enumerate(itertools.pairwise(sizes)):
        if index:
            layers.append(activation())
        layers.append(nn.Linear(inputs, outputs))
    return nn.Sequential(*layers)


class DeepONet(nn.Module):
    """An unstacked DeepONet on a 1D grid of ``points`` interior points:
    ``N(r)_i = Σ_k b_k(r) τ_k(t_i) + c``, the branch ``b`` an MLP (GELU) of the ``points`` values of ``r``,
    the trunk ``τ`` an MLP (tanh: smooth basis functions) of the point's coordinate ``t_i = i / (points + 1)``
    scaled to (0, 1).

    Args:
        ndim: grid dimension (must be 1).
        points: sensors of the branch net: the training grid's points (the network applies to that grid only).
        width: hidden units of every layer of both nets.
        depth: linear layers of each net (>= 2).
        basis: number of trunk functions (the rank of the learned map).
    """

    def __init__(self, ndim: int, points: int, width: int = 256, depth: int = 3, basis: int = 32) -> None:
        super().__init__()
        if ndim != 1:
            raise ValueError(f"the DeepONet serves 1D grids only (its branch net reads a line of sensors); got a "
                             f"{ndim}D grid: use unet or fno")
        if points < 1 or width < 1 or depth < 2 or basis < 1:
            raise ValueError(f"DeepONet needs points, width, basis >= 1 and depth >= 2; got {points}, {width}, "
                             f"{depth}, {basis}")
        self.points = points
        self.branch = _mlp([points] + [width] * (depth - 1) + [basis], nn.GELU)
        self.trunk = nn.Sequential(_mlp([1] + [width] * (depth - 1) + [basis], nn.Tanh), nn.Tanh())
        self.bias = nn.Parameter(torch.zeros(1))
        coordinates = torch.arange(1, points + 1, dtype=torch.float32) / (points + 1)
        self.register_buffer("coordinates", coordinates.unsqueeze(1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1:] != (1, self.points):
            raise ValueError(f"the DeepONet reads (batch, 1, {self.points}) residuals, got {tuple(x.shape)}")
        coefficients = self.branch(x[:, 0])
        basis = self.trunk(self.coordinates)
        return (coefficients @ basis.T + self.bias).unsqueeze(1)


def build_network(arch: str, ndim: int, seed: int, dtype: torch.dtype = torch.float32,
                  shape: tuple[int, ...] | None = None, **settings: int) -> nn.Module:
    """A freshly initialised network of architecture ``arch`` (:data:`ARCHITECTURES`) in ``dtype``
    (float32 by default: 8x faster than float64 on a CPU; the solver absorbs its round-off).

    ``shape`` is the training grid's (interior points per axis): the DeepONet's ``points`` setting is taken
    from it when not given. The initial weights depend on ``seed`` alone: torch's global generator is
    forked, not reseeded.

    Raises:
        ValueError: For an unknown architecture or setting, or a grid dimension the architecture does not
            serve (:data:`DIMENSIONS`).
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; expected one of {', '.join(ARCHITECTURES)}")
    unknown = set(settings) - set(DEFAULTS[arch])
    if unknown:
        raise ValueError(f"unknown {arch} setting(s) {', '.join(sorted(unknown))}; expected "
                         f"{', '.join(DEFAULTS[arch])}")
    options = {**DEFAULTS[arch], **settings}
    if arch == "deeponet" and not options["points"]:
        if shape is None or len(shape) != 1:
            raise ValueError(f"the DeepONet serves 1D grids only and needs the grid's points; got shape {shape}")
        options["points"] = shape[0]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network: nn.Module
        if arch == "unet":
            network = UNet(ndim, **options)
        elif arch == "fno":
            network = FNO(ndim, **options)
        else:
            network = DeepONet(ndim, **options)
    return network.to(dtype)


def parameter_count(network: nn.Module) -> int:
    """Trainable parameters of ``network``."""
    return sum(p.numel() for p in network.parameters() if p.requires_grad)
