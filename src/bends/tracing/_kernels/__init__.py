"""The compiled (numba) kernels, all in this room, so numba's cache caveat covers one folder:
numba re-compiles a kernel when its own file changes, not when a kernel it calls in another
file does; after editing one, delete ``_kernels/__pycache__`` before measuring or testing.

* ``shared``: what both 1-D layouts share: merging crossings into knots, small loops;
* ``neuron_rows``: the rows-per-neuron layout (narrow, deep networks: sawtooths, tied RNNs);
* ``knot_rows``: the rows-per-knot layout (wide networks);
* ``push``: the driver: layer after layer, then the readout's pieces; packed networks;
* ``program``: a lowered residual MLP's driver, on the rows-per-knot kernels;
* ``plane``: the planar tracer's cuts, edges' lines, argmax cells.
"""
