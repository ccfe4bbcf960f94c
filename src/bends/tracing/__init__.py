"""Exact 1-D tracing of a network along a segment: :func:`trace` and its result :class:`Trace`.

Modules: ``tracer`` (the algorithm and :func:`trace`), ``result`` (:class:`Trace`),
``segment`` (default and checked segments), ``tolerance`` (the float64 policy), ``exact``
(the rational-arithmetic oracle); the compiled kernels are private (``_push``, ``_neuron_rows``,
``_knot_rows``, ``_shared_kernels``).

Example:
    >>> from bends.constructions import sawtooth
    >>> trace(sawtooth(5)).pieces
    32
"""

from bends.tracing.result import Trace
from bends.tracing.segment import default_segment
from bends.tracing.tolerance import MERGE_GAP, RESOLUTION, SLOPE_RTOL, ZERO_TOL
from bends.tracing.tracer import trace

__all__ = ["MERGE_GAP", "RESOLUTION", "SLOPE_RTOL", "ZERO_TOL", "Trace", "default_segment", "trace"]
