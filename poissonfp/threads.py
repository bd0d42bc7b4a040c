"""One thread for BLAS (and torch, where it is loaded) inside a block: :func:`single_threaded`.

Torch-free: a solve whose coarse space is classical limits BLAS without importing torch (1-3 s).
"""
from __future__ import annotations

import functools
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["single_threaded"]


@contextmanager
def single_threaded(needs_torch: bool = False) -> Iterator[None]:
    """Run BLAS, and torch when it is loaded (``needs_torch``: load it first), on one thread inside the
    block, restoring both afterwards.

    The neural solvers work on small dense kernels; on a shared 2-core machine a second intra-op thread
    that gets descheduled turns every kernel into a wait (measured: ``tanh`` of 999x100 values 0.5 ms on
    one thread, 17-30 ms on two while another process ran; OpenBLAS likewise 80x slower). One thread is
    also bitwise reproducible. A block that builds a network must say so (``needs_torch``) or be entered
    with torch already imported: torch imported inside the block would keep its own thread count.
    """
    if needs_torch:
        import torch  # noqa: F401  (loaded before its thread count is set)
    torch_module: Any = sys.modules.get("torch")
    previous = torch_module.get_num_threads() if torch_module is not None else None
    if torch_module is not None:
        torch_module.set_num_threads(1)
    try:
        with _blas_controller(torch_module is not None).limit(limits=1, user_api="blas"):
            yield
    finally:
        if torch_module is not None:
            torch_module.set_num_threads(previous)


@functools.cache
def _blas_controller(with_torch: bool) -> Any:
    """threadpoolctl's view of the loaded BLAS libraries, found once per process (per whether torch was
    loaded, which brings libraries of its own): a new ``threadpool_limits`` scans every loaded library again
    (1.4 ms per call, twice per hybrid solve)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()
