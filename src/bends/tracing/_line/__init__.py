"""MLPs and tied RNNs along segments:

* ``tracer``: the compiled float64 tracer (the algorithm and the tolerance policy in its
  docstring), one segment or many in one call, within the memory budget;
* ``exact``: the same trace in rational arithmetic (the oracle for small networks).

A faster 1-D kernel goes in ``tracing/_kernels``; its driver is ``_kernels/push.py``.
"""
