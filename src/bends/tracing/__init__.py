"""Tracing: a network's activation regions and affine pieces, exactly, along segments and on
planes. The public names are here (and in :mod:`bends`); the rooms below are private:

* ``entry``: :func:`trace`, :func:`trace_segments`, :func:`trace_plane`, dispatching on the
  network's kind; ``arguments``: every argument check of the three, side by side;
* ``line/``: MLPs and tied RNNs along segments (compiled float64, rational);
* ``plane/``: MLPs and tied RNNs on planes (float64, fractions);
* ``graph/``: any piecewise-linear torch module, node by node (1-D, batched, exact, planar,
  lowered, the region walker);
* ``kernels/``: all numba code;
* ``results/``: :class:`Trace`, :class:`Traces`, :class:`Partition`;
* ``tolerance``: the float64 tolerance policy in five numbers.

Example:
    >>> from bends.constructions import sawtooth
    >>> trace(sawtooth(5)).pieces
    32
"""

from bends.tracing.arguments import default_segment
from bends.tracing.entry import trace, trace_plane, trace_segments
from bends.tracing.results.partition import Partition
from bends.tracing.results.trace import Trace
from bends.tracing.results.traces import Traces
from bends.tracing.tolerance import MERGE_GAP, RESOLUTION, SLOPE_RTOL, ZERO_TOL

__all__ = [
    "MERGE_GAP",
    "RESOLUTION",
    "SLOPE_RTOL",
    "ZERO_TOL",
    "Partition",
    "Trace",
    "Traces",
    "default_segment",
    "trace",
    "trace_plane",
    "trace_segments",
]
