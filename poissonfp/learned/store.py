"""Trained operator networks as objects (:class:`OperatorModel`) and as folders (:func:`save_model`,
:func:`load_model`).

A model folder holds ``weights.pt`` (the network's state and the domain mask of its grid), ``model.json``
(provenance: case, operator fingerprint, grid, family, seed, steps, architecture, training time, held-out
error overall and per frequency band, the interrupted flag) and, after an interrupted training,
``checkpoint.pt`` (optimizer state for ``poissonfp train --resume``). ``model.json`` is written last: a
folder without it is not a model.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..discrete_operator import DiscreteOperator
from ..grid import Grid

__all__ = [
    "CHECKPOINT_FILE",
    "MODEL_FILE",
    "WEIGHTS_FILE",
    "ModelError",
    "OperatorModel",
    "load_checkpoint",
    "load_model",
    "operator_fingerprint",
    "save_model",
]

MODEL_FILE, WEIGHTS_FILE, CHECKPOINT_FILE = "model.json", "weights.pt", "checkpoint.pt"
_REQUIRED = ("format", "arch", "settings", "grid", "fingerprint", "scale", "case")
FORMAT = "poissonfp-operator-model/1"


class ModelError(ValueError):
    """A model folder or model cannot be used (missing, corrupt, or made for another operator)."""


def operator_fingerprint(operator: DiscreteOperator) -> str:
    """SHA-256 (16 hex digits) of a discrete operator: grid box and shape, mask, side types, matrix values."""
    digest = hashlib.sha256()
    grid = operator.grid
    digest.update(repr((grid.lower, grid.upper, grid.shape, operator.sides, operator.singular)).encode())
    digest.update(np.ascontiguousarray(operator.inside, dtype=bool).tobytes())
    matrix = operator.matrix.tocsr()
    matrix.sort_indices()
    for array in (matrix.indptr, matrix.indices, np.round(matrix.data, 10)):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


class OperatorModel:
    """A network approximating ``r -> A⁻¹ r`` on one grid.

    ``apply`` normalises each residual by its root-mean-square (the map is linear), calls the network once
    for the whole batch and rescales: ``N(r) = rms(r) * scale * net(r / rms(r))`` masked to the domain.

    Attributes:
        network: the torch module.
        meta: the provenance of ``model.json`` (``grid``, ``arch``, ``fingerprint``, ``scale``, ...).
        inside: the domain mask of the training grid.
        device: where the network runs (``"cpu"`` or ``"cuda"``).
        call_seconds: measured wall time of every :meth:`apply` (seconds).
        checkpoint: optimizer state of an interrupted training (None otherwise).
    """

    def __init__(self, network, meta: dict[str, Any], inside: np.ndarray, device: str = "cpu",
                 checkpoint: dict | None = None) -> None:
        self.network = network.to(device).eval()
        self.meta = meta
        self.inside = np.asarray(inside, dtype=bool)
        self.device = device
        self.call_seconds: list[float] = []
        self.checkpoint = checkpoint
        self._inference: tuple[tuple, Any] | None = None  # (the weights' versions, the channels-last copy)

    @property
    def grid(self) -> Grid:
        g = self.meta["grid"]
        return Grid(tuple(g["lower"]), tuple(g["upper"]), tuple(g["shape"]))

    @property
    def across_sizes(self) -> bool:
        """Whether the architecture applies to other grid sizes than its training grid (FNO)."""
        from .architectures import ACROSS_SIZES

        return ACROSS_SIZES[self.meta["arch"]]

    @property
    def seconds_per_call(self) -> float | None:
        """Median measured seconds per :meth:`apply` (None before the first call)."""
        return float(np.median(self.call_seconds)) if self.call_seconds else None

    def apply(self, residuals: np.ndarray, inside: np.ndarray | None = None) -> np.ndarray:
        """``≈ A⁻¹ r`` for residuals of shape ``(K, *shape)`` or ``shape``, in one network call.

        ``shape`` is the model's grid shape (or any shape for an architecture that applies across sizes);
        ``inside`` (default: the model's mask when the shapes agree) zeroes the output outside the domain.
        """
        import torch

        start = time.perf_counter()
        r = np.asarray(residuals, dtype=float)
        ndim = self.grid.ndim
        single = r.ndim == ndim
        batch = r[None] if single else r
        if batch.ndim != ndim + 1 or (not self.across_sizes and batch.shape[1:] != self.grid.shape):
            raise ModelError(f"the model expects residuals of shape (K, {', '.join(map(str, self.grid.shape))}), "
                             f"got {r.shape}")
        if inside is None and batch.shape[1:] == self.grid.shape:
            inside = self.inside
        rms = np.sqrt(np.mean(batch.reshape(batch.shape[0], -1) ** 2, axis=1))
        safe = np.where(rms > 0, rms, 1.0).reshape((-1,) + (1,) * ndim)
        dtype = next(self.network.parameters()).dtype
        with torch.no_grad():
            x = torch.as_tensor(batch / safe, dtype=dtype, device=self.device).unsqueeze(1)
            y = self.network(x)[:, 0].to("cpu", torch.float64).numpy()
        out = y * safe * float(self.meta["scale"])
        out[rms == 0] = 0.0
        if inside is not None:
            out[:, ~inside] = 0.0
        self.call_seconds.append(time.perf_counter() - start)
        return out[0] if single else out

    def inference_network(self):
        """The network for inference: a U-Net in 2D or 3D as an
        :class:`~poissonfp.learned.architectures.InferenceUNet` (a channels-last copy, each 3x3 convolution on
        the faster of PyTorch's dispatch and oneDNN at its shape, no module calls; the same function), made once and again only when the weights
        changed (their in-place versions); any other network as it is."""
        from .architectures import InferenceUNet, UNet

        if self.grid.ndim not in (2, 3) or not isinstance(self.network, UNet):
            return self.network
        versions = tuple(p._version for p in self.network.parameters())
        if self._inference is None or self._inference[0] != versions:
            self._inference = (versions, InferenceUNet(self.network))
        return self._inference[1]

    def warm_up(self, batch: int = 1, shape: tuple[int, ...] | None = None) -> None:
        """One untimed call (torch's first call allocates and dispatches: ~100x a later one)."""
        self.apply(np.ones((batch, *(shape or self.grid.shape))))
        self.call_seconds.pop()

    def check_operator(self, fingerprint: str) -> None:
        """Refuse (ModelError) an operator whose fingerprint differs from the training operator's."""
        if fingerprint != self.meta["fingerprint"]:
            raise ModelError(f"model {self.meta.get('folder', '')!s}: trained for operator {self.meta['fingerprint']} "
                             f"(case {self.meta['case']!r}, grid {self.grid.describe()}), not this one ({fingerprint})")


def save_model(model: OperatorModel, folder: str | Path) -> Path:
    """Write ``model`` into ``folder`` (staged: the old content stays until the new set is complete)."""
    import torch

    from ..results import staged_folder, write_json

    folder = Path(folder)
    with staged_folder(folder, first_out=MODEL_FILE, last_in=MODEL_FILE,
                       owned=(WEIGHTS_FILE, CHECKPOINT_FILE)) as staging:
        state = {"network": {k: v.cpu() for k, v in model.network.state_dict().items()},
                 "inside": torch.as_tensor(model.inside)}
        torch.save(state, staging / WEIGHTS_FILE)
        if model.checkpoint is not None:
            torch.save(model.checkpoint, staging / CHECKPOINT_FILE)
        write_json(staging / MODEL_FILE, {k: v for k, v in model.meta.items() if k != "folder"})
    return folder


def _read_meta(folder: Path) -> dict[str, Any]:
    path = folder / MODEL_FILE
    if not folder.is_dir():
        raise ModelError(f"model folder {folder}: not found (expected a folder made by `poissonfp train`)")
    if not path.is_file():
        raise ModelError(f"model folder {folder}: no {MODEL_FILE} (expected a folder made by `poissonfp train`)")
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise ModelError(f"model folder {folder}: {MODEL_FILE} is not readable JSON ({err})") from None
    missing = [key for key in _REQUIRED if not isinstance(meta, dict) or key not in meta]
    if missing or meta.get("format") != FORMAT:
        raise ModelError(f"model folder {folder}: {MODEL_FILE} lacks {', '.join(missing) or 'format ' + FORMAT} "
                         f"(expected a {FORMAT} record)")
    return meta


def load_model(path: str | os.PathLike, *, device: str = "cpu") -> OperatorModel:
    """The model saved in folder ``path``, its network on ``device``.

    Raises:
        ModelError: One line naming the folder and what was expected (missing folder or file, unreadable
            JSON or weights, weights that do not fit the recorded architecture).
    """
    import torch

    from .architectures import build_network

    folder = Path(path)
    meta = _read_meta(folder)
    try:
        state = torch.load(folder / WEIGHTS_FILE, map_location="cpu", weights_only=True)
        network = build_network(meta["arch"], len(meta["grid"]["shape"]), seed=0,
                                shape=tuple(meta["grid"]["shape"]), **meta["settings"])
        network.load_state_dict(state["network"])
        inside = state["inside"].numpy().astype(bool)
    except FileNotFoundError:
        raise ModelError(f"model folder {folder}: no {WEIGHTS_FILE} (expected the network's weights)") from None
    except Exception as err:  # torch raises many kinds for a corrupt file
        text = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ModelError(f"model folder {folder}: {WEIGHTS_FILE} does not hold weights of the recorded "
                         f"{meta['arch']} ({text[:120]})") from None
    if inside.shape != tuple(meta["grid"]["shape"]):
        raise ModelError(f"model folder {folder}: {WEIGHTS_FILE} holds a mask of shape {inside.shape}, "
                         f"expected {tuple(meta['grid']['shape'])}")
    meta["folder"] = str(folder)
    return OperatorModel(network, meta, inside, device=device)


def load_checkpoint(path: str | Path) -> dict | None:
    """The training checkpoint of an interrupted model folder (None when it has none)."""
    import torch

    file = Path(path) / CHECKPOINT_FILE
    if not file.is_file():
        return None
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ModelError(f"model folder {path}: {CHECKPOINT_FILE} is not a readable checkpoint ({err})") from None
