"""What the tracers return, re-exported by :mod:`bends.tracing`:

* ``trace``: :class:`~bends.tracing.Trace`, one segment (knots, values, slopes, regions,
  pieces, per-neuron statistics);
* ``traces``: :class:`~bends.tracing.Traces`, many segments as one set of arrays;
* ``partition``: :class:`~bends.tracing.Partition`, a plane's regions, pieces, edges, areas.
"""
