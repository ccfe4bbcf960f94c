"""Tracing: a network's activation regions and affine pieces, exactly, along segments and on
planes. The public names are here (and in :mod:`bends`); the rooms below are private:

* ``_entry``: :func:`trace`, :func:`trace_segments`, :func:`trace_plane`, dispatching on the
  network's kind; ``_arguments``: every argument check of the three, side by side;
* ``_line/``: MLPs and tied RNNs along segments (compiled float64, rational);
* ``_plane/``: MLPs and tied RNNs on planes (float64, fractions);
* ``_graph/``: any piecewise-linear torch module, node by node (1-D, batched, exact, planar,
  lowered, the region walker);
* ``_kernels/``: all numba code;
* ``_results/``: :class:`Trace`, :class:`Traces`, :class:`Partition`;
* ``tolerance``: the float64 tolerance policy in five numbers.

Also here for the layers above: ``BATCH`` (segments per batch of the graph tracer),
:func:`checked_device` and :func:`estimated_bytes` (what a float64 trace needs at its peak).

Example:
    >>> from bends.constructions import sawtooth
    >>> trace(sawtooth(5)).pieces
    32
"""

from bends.tracing._arguments import checked_device, default_segment
from bends.tracing._entry import BATCH, trace, trace_box, trace_plane, trace_segments
from bends.tracing._line.tracer import estimated_bytes
from bends.tracing._results.complex import Complex
from bends.tracing._results.partition import Partition
from bends.tracing._results.trace import Trace
from bends.tracing._results.traces import Traces
from bends.tracing.tolerance import MERGE_GAP, RESOLUTION, SLOPE_RTOL, ZERO_TOL

__all__ = [
    "BATCH",
    "MERGE_GAP",
    "RESOLUTION",
    "SLOPE_RTOL",
    "ZERO_TOL",
    "Complex",
    "Partition",
    "Trace",
    "Traces",
    "checked_device",
    "default_segment",
    "estimated_bytes",
    "trace",
    "trace_box",
    "trace_plane",
    "trace_segments",
]
