"""MLPs and tied RNNs on planes (2-D slices of input space):

* ``mlp``: the planar tracer (the algorithm in its docstring), layer by layer;
* ``subdivision``: a planar subdivision cut layer by layer, and its assembly into a Partition
  (shared with the graph room's planar tracer);
* ``exact``: the planar tracer in fractions.

A new planar statistic goes on :class:`~bends.tracing.Partition` (``_results/partition.py``).
"""
