"""One BLAS thread while an n-D trace runs. Its matrix products are small (a layer's weights
against the vertices, cells' maps), and OpenBLAS's threads, spinning between them, take the
cores that the compiled kernels' threads need: a 1,598-cell whole-plane trace took 16 ms
with them and 9 ms without, on 2 cores (threadpoolctl, the library scikit-learn uses)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

_controller = None  # made once, after NumPy has loaded its BLAS: finding it costs a scan


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS limited to one thread inside the block (restored after)."""
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    with _controller.limit(limits=1, user_api="blas"):
        yield
