"""One network call of the operator iteration: :meth:`~poissonfp.learned.store.OperatorModel.apply`'s map
(each residual divided by its root-mean-square, the network, rescaled by ``rms * scale``, masked) under
``torch.inference_mode`` with the input tensor allocated once for the largest batch and written in place.
The network runs in its own precision (float32, as trained: the correction is rescaled by the energy-optimal
α anyway). A U-Net in 2D or 3D runs as :class:`~poissonfp.learned.architectures.InferenceUNet`: channels last,
each 3x3 convolution on PyTorch's dispatch or oneDNN, whichever was faster at its shape, no module calls
(0.99 instead of 1.27 ms per 63² call, one thread; the plain layout took 1.81 ms).

Objects that only offer ``apply`` (the exact-coarse control, test doubles, a model on another device) are
called through it. Every call's wall time is recorded in ``seconds``.
"""
from __future__ import annotations

import time

import numpy as np

__all__ = ["NetworkCall"]


class NetworkCall:
    """``N(r)`` for batches ``(m, *shape)``, ``m <= capacity``."""

    def __init__(self, model, shape: tuple[int, ...], capacity: int) -> None:
        from poissonfp.learned.store import OperatorModel

        self.model, self.shape = model, tuple(shape)
        self.seconds: list[float] = []
        self.fast = isinstance(model, OperatorModel) and model.device == "cpu" and tuple(model.grid.shape) == self.shape
        if self.fast:
            import torch

            dtype = next(model.network.parameters()).dtype
            self.network = model.inference_network()
            self.input = torch.zeros((capacity, 1, *self.shape), dtype=dtype)
            if self.network is not model.network:  # channels last: the input in that layout too
                layout = torch.channels_last if len(self.shape) == 2 else torch.channels_last_3d
                self.input = self.input.contiguous(memory_format=layout)
            self.values = self.input.numpy()[:, 0]
            self.output = np.zeros((capacity, *self.shape))
            self.scale = float(model.meta["scale"])
            self.outside = ~np.asarray(model.inside, dtype=bool)
            self.masked = bool(self.outside.any())

    def __call__(self, residuals: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        if not self.fast:
            out = np.asarray(self.model.apply(residuals))
        else:
            import torch

            m = residuals.shape[0]
            rms = np.sqrt(np.einsum("ij,ij->i", residuals.reshape(m, -1), residuals.reshape(m, -1)) / residuals[0].size)
            safe = np.where(rms > 0, rms, 1.0).reshape((-1,) + (1,) * len(self.shape))
            np.divide(residuals, safe, out=self.values[:m], casting="same_kind")
            with torch.inference_mode():
                y = self.network(self.input[:m])
            out = self.output[:m]
            np.multiply(y.numpy()[:, 0], safe * self.scale, out=out)
            out[rms == 0] = 0.0
            if self.masked:
                out[:, self.outside] = 0.0
        self.seconds.append(time.perf_counter() - start)
        if self.fast:
            self.model.call_seconds.append(self.seconds[-1])  # what model.apply records (seconds_per_call)
        return out

    def warm_up(self, rows: int) -> None:
        """Two untimed calls on ``rows`` rows (torch's first calls at a shape allocate and pick kernels)."""
        for _ in range(2):
            self.probe(rows)

    def probe(self, rows: int) -> float:
        """Seconds of one call on ``rows`` rows of ones, not recorded as a call of the solve."""
        self(np.ones((rows, *self.shape)))
        seconds = self.seconds.pop()
        if self.fast:
            self.model.call_seconds.pop()
        return seconds

    def median_seconds(self) -> float | None:
        """Median seconds of the calls made (None before the first)."""
        return float(np.median(self.seconds)) if self.seconds else None
