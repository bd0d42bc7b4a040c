"""The boundary-exact network ``u_θ(x) = G(x) + B(x) N_θ(x)``.

- ``G`` is the transfinite (Coons) interpolation of the Dirichlet data: built from ``g``'s values on the
  box's faces alone, ``G = (I - Π_d (I - P_d)) g`` with ``P_d`` linear interpolation between the two faces
  normal to axis ``d``. It equals ``g`` on the boundary and never looks inside the box, so a case whose
  boundary data default to its exact solution does not hand the network the answer (for problems
  without a boundary expression ``G = 0``; on the grid the boundary values then still enter through the
  folded right-hand side, see :mod:`poissonfp.neural.losses`).
- ``B(x) = Π_d (x_d - a_d)(b_d - x_d) / ((b_d - a_d) / 2)^2`` vanishes on the boundary and is 1 at the
  centre of the box.
- ``N_θ`` is a seeded fully connected network (:func:`poissonfp.networks.make_mlp`) of the coordinates
  mapped to ``[-1, 1]^d``; the first layer's weights and biases are multiplied by ``scale`` at
  initialisation, which sets the frequencies the hidden features resolve (``tanh(s (w.x + b))``).

Parameters are float64 by default; ``device="cuda"`` puts the network on the GPU.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numpy as np
import torch
from numba import njit
from torch import nn

from poissonfp.grid import Grid
from poissonfp.networks import make_mlp
from poissonfp.threads import single_threaded  # re-exported: torch is loaded here, so it is limited too

__all__ = ["BoundaryNet", "build_model", "layer_features", "resolve_device", "seeded_features", "seeded_layers",
           "single_threaded", "transfinite_lift"]

_DTYPES = {"float64": torch.float64, "float32": torch.float32}


def resolve_device(device: str | None) -> torch.device:
    """``"cpu"`` or ``"cuda"`` (the latter only when torch sees a GPU; otherwise a ValueError)."""
    device = device or "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but torch sees no CUDA device")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    return torch.device(device)


class BoundaryNet(nn.Module):
    """``u(x) = G(x) + B(x) N(x)`` on the box ``[lower, upper]``.

    Args:
        lower, upper: the box.
        body: the network ``N`` (a ``nn.Sequential`` ending in a ``nn.Linear`` with one output).
        lifting: ``G`` as a torch function of the coordinate columns (``lifting(x, y)``), or None for 0.
        domain: for a domain inside the box, its ``inside`` expression (an
            :class:`~poissonfp.expressions.Expression`): ``B`` is then multiplied by ``max(EXPR, 0)``, so
            that it vanishes on the domain's boundary and outside.
    """

    body: nn.Sequential
    lower: torch.Tensor  # buffers
    upper: torch.Tensor

    def __init__(self, lower, upper, body: nn.Sequential, lifting: Callable | None = None, domain=None) -> None:
        super().__init__()
        self.body = body
        self.domain = domain
        dtype = cast(nn.Linear, body[-1]).weight.dtype
        device = cast(nn.Linear, body[-1]).weight.device
        self.register_buffer("lower", torch.as_tensor(lower, dtype=dtype, device=device))
        self.register_buffer("upper", torch.as_tensor(upper, dtype=dtype, device=device))
        self.lifting = lifting

    @property
    def dtype(self) -> torch.dtype:
        return self.output_layer.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.output_layer.weight.device

    @property
    def output_layer(self) -> nn.Linear:
        return cast(nn.Linear, self.body[-1])

    @property
    def width(self) -> int:
        """Number of hidden features feeding the output layer."""
        return self.output_layer.weight.shape[1]

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """Map the box onto ``[-1, 1]^d``."""
        return 2.0 * (x - self.lower) / (self.upper - self.lower) - 1.0

    def bubble(self, x: torch.Tensor) -> torch.Tensor:
        """``B(x)``, shape ``(n, 1)``: zero on the boundary, one at the centre."""
        t = self.normalise(x)
        box = torch.prod((1.0 - t) * (1.0 + t), dim=1, keepdim=True)
        if self.domain is None:
            return box
        return box * torch.clamp(self.domain.torch(*x.T), min=0.0).reshape(-1, 1).to(x.dtype)

    def lift(self, x: torch.Tensor) -> torch.Tensor:
        """``G(x)``, shape ``(n, 1)``."""
        if self.lifting is None:
            return torch.zeros(x.shape[0], 1, dtype=x.dtype, device=x.device)
        return self.lifting(*x.T).reshape(-1, 1).to(x.dtype)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """The last hidden layer's activations, shape ``(n, width)``."""
        return self.body[:-1](self.normalise(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The Galerkin features ``[B h_1, .., B h_m, B]`` (the last one carries the output bias)."""
        b = self.bubble(x)
        return torch.cat([b * self.hidden(x), b], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``u(x)``, shape ``(n, 1)``."""
        return self.lift(x) + self.bubble(x) * self.body(self.normalise(x))

    def set_output(self, coefficients: np.ndarray) -> None:
        """Set the output layer from Galerkin coefficients ``[c_1 .. c_m, c_bias]``."""
        c = torch.as_tensor(np.asarray(coefficients), dtype=self.dtype, device=self.device)
        with torch.no_grad():
            self.output_layer.weight.copy_(c[:-1].reshape(1, -1))
            self.output_layer.bias.copy_(c[-1:].reshape(1))

    def grid_points(self, grid: Grid) -> torch.Tensor:
        """The interior grid points as a ``(size, ndim)`` tensor on the network's device (C order)."""
        return torch.as_tensor(grid.points(), dtype=self.dtype, device=self.device)

    @torch.no_grad()
    def grid_values(self, grid: Grid, points: torch.Tensor | None = None) -> np.ndarray:
        """``u`` at the interior grid points as a float64 numpy array of ``grid.shape``."""
        points = self.grid_points(grid) if points is None else points
        return self(points).reshape(grid.shape).to("cpu", torch.float64).numpy()

    @torch.no_grad()
    def grid_features(self, grid: Grid, points: torch.Tensor | None = None) -> np.ndarray:
        """The features at the grid points, float64 numpy ``(size, width + 1)``, C-ordered rows.

        On the CPU with a float64 network and a ``tanh``/``sin``/``relu`` body they are evaluated in numpy
        from the network's weights, in place (same values to round-off, several times faster than torch's
        float64 kernels); otherwise by the torch forward pass (moved back to the CPU as float64).
        """
        points = self.grid_points(grid) if points is None else points
        if self.device.type == "cpu" and self.dtype == torch.float64 and _numpy_body(self.body) is not None:
            return _numpy_features(self, points.numpy(), grid)
        return np.ascontiguousarray(self.features(points).to("cpu", torch.float64).numpy())


_NUMPY_ACTIVATIONS: dict[str, Callable[..., Any]] = {"Tanh": np.tanh, "Sine": np.sin, "ReLU": lambda a, out: np.maximum(a, 0.0, out=out)}


def _numpy_body(body: nn.Sequential):
    layers = list(body)[:-1]
    if not layers or any(not isinstance(layer, nn.Linear) for layer in layers[0::2]):
        return None
    if any(type(layer).__name__ not in _NUMPY_ACTIVATIONS for layer in layers[1::2]):
        return None
    return layers


def _numpy_features(model: BoundaryNet, x: np.ndarray, grid: Grid | None = None) -> np.ndarray:
    layers = _numpy_body(model.body)
    arrays = [(layers[i].weight.detach().numpy(), layers[i].bias.detach().numpy()) for i in range(0, len(layers), 2)]
    names = [type(layer).__name__ for layer in layers[1::2]]
    return layer_features(model.lower.numpy(), model.upper.numpy(), arrays, names, model.domain, x, grid)


def layer_features(lower: np.ndarray, upper: np.ndarray, layers: list[tuple[np.ndarray, np.ndarray]],
                   activations: list[str], domain, x: np.ndarray, grid: Grid | None = None) -> np.ndarray:
    """The Galerkin features ``[B h_1, .., B h_m, B]`` at the points ``x`` (rows), evaluated in numpy from the
    hidden layers' ``(weight, bias)`` arrays and their activations' torch class names (``Tanh``, ``Sine``,
    ``ReLU``): :meth:`BoundaryNet.grid_features`'s CPU path, shared with :func:`seeded_features`."""
    t = 2.0 * (x - lower) / (upper - lower) - 1.0
    weight, bias = layers[0]
    single = len(layers) == 1
    if grid is not None and activations[0] == "Tanh" and grid.ndim > 1:
        out = _tanh_ridge_features(grid, lower, upper, weight, bias, extra=single)
    else:
        out = None
    if out is None:
        out = np.empty((t.shape[0], weight.shape[0] + (1 if single else 0)))
        z = out[:, : weight.shape[0]]
        np.matmul(t, weight.T, out=z)
        z += bias
        _NUMPY_ACTIVATIONS[activations[0]](z, out=z)
    a = out
    for i in range(1, len(layers)):
        weight, bias = layers[i]
        last = i + 1 >= len(layers)
        nxt = np.empty((a.shape[0], weight.shape[0] + (1 if last else 0)))
        z = nxt[:, : weight.shape[0]]
        np.matmul(a[:, : weight.shape[1]], weight.T, out=z)
        z += bias
        _NUMPY_ACTIVATIONS[activations[i]](z, out=z)
        a = nxt
    bubble = np.prod((1.0 - t) * (1.0 + t), axis=1)
    if domain is not None:
        bubble = bubble * np.maximum(domain.numpy(*x.T), 0.0)
    a[:, -1] = 1.0
    a *= bubble[:, None]
    return a


#: Largest |pre-activation part| for which the tanh addition formula is used (cancellation stays < 1e-8).
_RIDGE_LIMIT = 8.0


def _tanh_ridge_features(grid: Grid, lower: np.ndarray, upper: np.ndarray, weight: np.ndarray, bias: np.ndarray,
                         extra: bool) -> np.ndarray | None:
    """``tanh(w . t + b)`` on a tensor grid from 1D tanh values and the addition formula
    ``tanh(a + c) = (tanh a + tanh c) / (1 + tanh a tanh c)``: one multiply-add and a division per entry
    instead of a ``tanh`` (several times faster). Returns None when a 1D part is large enough that the
    formula would cancel (then the caller evaluates ``tanh`` directly)."""
    parts = []
    for d, axis in enumerate(grid.axes):
        t = 2.0 * (axis - lower[d]) / (upper[d] - lower[d]) - 1.0
        part = np.outer(t, weight[:, d])
        if d == grid.ndim - 1:
            part += bias
        if np.max(np.abs(part)) > _RIDGE_LIMIT:
            return None
        parts.append(np.tanh(part))
    m = weight.shape[0]
    out = np.empty((grid.size, m + (1 if extra else 0)))
    if grid.ndim == 2:
        _ridge_2d(parts[0], parts[1], out.reshape(grid.shape[0], grid.shape[1], -1))
    else:
        _ridge_3d(parts[0], parts[1], parts[2], out.reshape(grid.shape[0], grid.shape[1], grid.shape[2], -1))
    return out


@njit(cache=True)
def _ridge_2d(t0, t1, out):  # pragma: no cover - compiled
    n0, m = t0.shape
    n1 = t1.shape[0]
    for i in range(n0):
        for k in range(n1):
            for j in range(m):
                a = t0[i, j]
                c = t1[k, j]
                out[i, k, j] = (a + c) / (1.0 + a * c)


@njit(cache=True)
def _ridge_3d(t0, t1, t2, out):  # pragma: no cover - compiled
    n0, m = t0.shape
    n1 = t1.shape[0]
    n2 = t2.shape[0]
    for i in range(n0):
        for k in range(n1):
            for l in range(n2):
                for j in range(m):
                    c = (t1[k, j] + t2[l, j]) / (1.0 + t1[k, j] * t2[l, j])
                    a = t0[i, j]
                    out[i, k, l, j] = (a + c) / (1.0 + a * c)


def build_model(problem, network=None, seed: int = 0, device: str | None = None) -> BoundaryNet:
    """The boundary-exact network for ``problem`` from :class:`~poissonfp.settings.NetworkSettings`.

    Seeded with an explicit ``torch.Generator`` (no global random state): equal seeds give equal networks.
    """
    from poissonfp.settings import NetworkSettings

    network = network or NetworkSettings()
    grid = problem.grid
    dtype = _DTYPES[network.dtype]
    generator = torch.Generator().manual_seed(int(seed))
    body = make_mlp(grid.ndim, network.widths, 1, network.activation, dtype=dtype, generator=generator)
    with torch.no_grad():
        first = cast(nn.Linear, body[0])
        first.weight.mul_(network.scale)
        first.bias.mul_(network.scale)
    body = body.to(resolve_device(device or network.device))
    boundary = problem.functions.get("boundary") if problem.functions else None
    if not problem.on_box:  # the box's transfinite lift is not the domain's: the discrete loss carries g
        domain = problem.functions.get("inside") if problem.functions else None
        return BoundaryNet(grid.lower, grid.upper, body, None, domain)
    lifting = None if boundary is None or _is_zero(boundary, grid.ndim) else \
        transfinite_lift(boundary.torch, grid.lower, grid.upper)
    return BoundaryNet(grid.lower, grid.upper, body, lifting)


#: The activations :func:`seeded_features` evaluates in numpy (settings name -> torch class name).
_SEEDED_ACTIVATIONS = {"tanh": "Tanh", "sin": "Sine", "relu": "ReLU"}


def seeded_layers(network, seed: int = 0, ndim: int = 2) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """The hidden layers' ``(weight, bias)`` of :func:`build_model`'s network as float64 numpy arrays, drawn
    without building torch modules: the same generator, the same draws in the same order as
    :func:`~poissonfp.networks.make_mlp` (``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, weight then bias, layer by
    layer; the output layer's draws come last and are not needed), the first layer times ``scale``: bitwise the
    untrained network's parameters (``tests/test_neural.py::test_seeded_features_are_the_networks``). None
    where the numpy features do not apply (float32, an activation without a numpy form, a device other than the
    CPU): the caller builds the network then."""
    import itertools
    import math

    if network.dtype != "float64" or network.activation not in _SEEDED_ACTIVATIONS or (network.device or "cpu") != "cpu":
        return None
    if not network.widths:
        return None
    generator = torch.Generator().manual_seed(int(seed))
    sizes = [int(ndim), *map(int, network.widths)]
    layers = []
    with torch.no_grad():
        for index, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
            bound = 1.0 / math.sqrt(fan_in)
            weight = torch.empty((fan_out, fan_in), dtype=torch.float64).uniform_(-bound, bound, generator=generator)
            bias = torch.empty(fan_out, dtype=torch.float64).uniform_(-bound, bound, generator=generator)
            if index == 0:
                weight.mul_(network.scale)
                bias.mul_(network.scale)
            layers.append((weight.numpy(), bias.numpy()))
    return layers


def seeded_features(problem, network, layers: list[tuple[np.ndarray, np.ndarray]], grid: Grid) -> np.ndarray:
    """``build_model(problem, network, seed).grid_features(grid)`` from :func:`seeded_layers`' arrays, without
    the torch modules (the untrained network's features: the same values, bitwise). The network's box is
    ``problem.grid``'s, whichever grid (a coarse level's) the features are evaluated on."""
    domain = None
    if not problem.on_box and problem.functions:
        domain = problem.functions.get("inside")
    box = problem.grid
    lower, upper = np.asarray(box.lower, dtype=np.float64), np.asarray(box.upper, dtype=np.float64)
    activations = [_SEEDED_ACTIVATIONS[network.activation]] * len(layers)
    return layer_features(lower, upper, layers, activations, domain, grid.points(), grid)


def transfinite_lift(boundary: Callable, lower, upper) -> Callable:
    """The transfinite interpolation of ``boundary`` (a function of coordinate columns) on the box.

    ``G = Σ_{S ≠ ∅} (-1)^{|S|+1} P_S g`` over the sets ``S`` of axes, where ``P_S`` interpolates linearly
    between the faces of every axis in ``S``: only values of ``g`` on the boundary are used.
    """
    import itertools

    ndim = len(lower)

    def lift(*columns: torch.Tensor) -> torch.Tensor:
        total = torch.zeros_like(columns[0])
        for size in range(1, ndim + 1):
            for axes in itertools.combinations(range(ndim), size):
                sign = 1.0 if size % 2 else -1.0
                for corner in itertools.product((0, 1), repeat=size):
                    coords, weight = list(columns), torch.ones_like(columns[0])
                    for axis, side in zip(axes, corner):
                        t = (columns[axis] - lower[axis]) / (upper[axis] - lower[axis])
                        weight = weight * (t if side else 1.0 - t)
                        coords[axis] = torch.full_like(columns[axis], upper[axis] if side else lower[axis])
                    total = total + sign * weight * torch.broadcast_to(boundary(*coords), columns[0].shape)
        return total

    return lift


def _is_zero(expression, ndim: int) -> bool:
    return bool(getattr(expression, "is_constant", False)
                and float(np.ravel(expression.numpy(*[np.zeros(1)] * ndim))[0]) == 0.0)
