"""What every Jacobi iteration shares (the stencil kernels of :mod:`~poissonfp.solvers.classical.jacobi`, the CSR
kernel of :mod:`~poissonfp.solvers.classical.csr_jacobi`, the torch sweeps of :mod:`~poissonfp.solvers.hybrids.torch_solvers`):
the rescaled ping-pong buffers and the schedule of criterion checks and kernel calls."""
from __future__ import annotations

import math

import numpy as np

__all__ = ["KERNEL_CALL_S", "BufferedIterate", "check_batch", "next_batch", "working_unit"]


def working_unit(rhs: np.ndarray) -> float:
    """The power of two a Jacobi iteration divides its data by: 1 for a right-hand side whose largest
    entry lies within 2^±400, else that entry rounded to a power of two. The compiled sweeps sum squared
    residuals; on data of size 1e-200 they would underflow to 0 (a "converged" first sweep) and on 1e300
    overflow. Dividing by a power of two is exact, so results are the same bits either way."""
    largest = float(np.max(np.abs(rhs))) if rhs.size else 0.0
    if largest == 0.0 or not math.isfinite(largest) or 2.0**-400 <= largest <= 2.0**400:
        return 1.0
    return math.ldexp(1.0, math.frexp(largest)[1])


class BufferedIterate:
    """Two buffers and a sweep counter (incremented by the compiled kernel after each sweep) whose parity
    names the buffer holding the current iterate; subclasses say which part of a buffer is the grid
    (:meth:`_view`). The buffers hold the iterate divided by :attr:`_unit` (see :func:`working_unit`)."""

    _buffers: list[np.ndarray]
    _done: np.ndarray
    _unit: float = 1.0

    def _view(self, buffer: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    @property
    def sweeps(self) -> int:
        """Sweeps run so far."""
        return int(self._done[0])

    @property
    def solution(self) -> np.ndarray:
        """The current iterate (a view of the grid's shape; a copy when the data is rescaled)."""
        view = self._view(self._buffers[self.sweeps % 2])
        return view if self._unit == 1.0 else view * self._unit

    def set(self, u: np.ndarray) -> None:
        """Overwrite the current iterate."""
        self._view(self._buffers[self.sweeps % 2])[...] = u if self._unit == 1.0 else np.asarray(u) / self._unit

    def _scaled_stats(self, residual_norm: float, error_sq: float, error_max: float) -> dict[str, float]:
        """A sweep's statistics in the problem's units (``error_sq`` stays of the rescaled iterate)."""
        return {"residual_norm": residual_norm * self._unit, "error_sq": error_sq,
                "error_max": error_max * self._unit, "unit": self._unit}

    def _scaled_reference(self, reference: np.ndarray | None) -> np.ndarray | None:
        if reference is None or self._unit == 1.0:
            return reference
        return np.ascontiguousarray(reference / self._unit)


def check_batch(grid_size: int, sweeps_done: int, batch: int = 0) -> int:
    """Sweeps between two checks of the stopping criterion after ``sweeps_done`` sweeps.

    At least ``batch`` (or, when 0, enough sweeps to amortise a kernel call: 64, more on tiny grids),
    and ``sweeps_done // 512`` later on, so a run overshoots its criterion by at most 0.2%.
    """
    base = batch or max(64, math.ceil(2**18 / grid_size))
    return max(base, sweeps_done // 512)


def next_batch(grid_size: int, sweeps_done: int, batch: int = 0) -> int:
    """The batch :func:`run_jacobi` runs next: :func:`check_batch`, and while ``batch`` is automatic
    (0) also at most ``max(1, sweeps_done // 8)``, so a solve that needs few sweeps reports close to
    the sweeps it needed (at most 12.5% more), not a whole first batch (2**18 sweeps on one unknown)."""
    count = check_batch(grid_size, sweeps_done, batch)
    return count if batch else min(count, max(1, sweeps_done // 8))


#: Longest kernel call in seconds: bounds how late a Ctrl-C is seen whatever ``check_every`` is.
KERNEL_CALL_S = 0.05
