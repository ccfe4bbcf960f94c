r"""Exact 2-D partitions: a network's activation regions on a parallelogram of its input space.

:func:`trace_plane` takes an MLP or a tied RNN (its k steps are k layers sharing one W; the
network is homogeneous, so a plane through the origin meets every region there), a graph
network (:mod:`bends.tracing._graph.plane`), or, with ``exact=True``, computes the same
partition in fractions (:mod:`bends.tracing._plane.exact`). The result is a
:class:`~bends.tracing._results.partition.Partition`.

The parallelogram is :math:`P(s, u) = A + s\,(B - A) + u\,(C - A)`, :math:`s, u \in [0, 1]`.
The rule is the 1-D tracer's, one dimension up: inside every face of the partition made by
the layers before, each pre-activation of the next layer is affine, so its values at the
vertices are the whole truth, and along an edge it is affine between the edge's ends. The
tracer keeps vertices (plane coordinates, and the current layer's values there), faces
(convex polygons, counter-clockwise lists of vertex ids) and, layer by layer,

1. computes the layer's pre-activations at every vertex, :math:`z = W h + b`;
2. neuron by neuron, cuts every face whose vertices hold both strict signs of :math:`z_j`:
   each edge whose ends have strictly opposite signs gets a vertex at
   :math:`v = a + (b - a)\, z_a / (z_a - z_b)`, shared with the face on the other side of
   the edge (computed once per edge, so both faces agree on it), where every value of the
   layer is interpolated and :math:`z_j` is exactly 0; the face becomes the two polygons on
   either side of the chord;
3. applies ReLU at the vertices.

Each chord a cut draws is recorded with its neuron, so every edge of the result knows the
layer and neuron that made it.

Signs are read at vertices only, never at interpolated interior points: a vertex's values
are computed once, so neighbouring faces never disagree about a vertex. The tolerance policy
is the 1-D tracer's: a value within ``zero_tol`` times the size of its terms of 0 is 0, and
vertices closer than ``RESOLUTION`` in plane coordinates raise a ResolutionWarning.

Counts, never confused: ``faces`` are the activation regions (maximal sets on which every
neuron keeps its sign); ``pieces`` are faces merged across shared edges where the output's
affine map is the same; ``vertices`` and ``edges`` those of the subdivision, which satisfies
Euler's :math:`V - E + F = 1`.

A layer's cuts are one compiled pass over its faces (:mod:`bends.tracing._kernels.plane`),
each face cut only along the lines that cross it. Each face's affine map is solved from the
outputs at the widest triangle of its vertices (a face where the last layer is off gets
exactly the bias: gradient 0); two faces beside an edge are one piece when their gradients
agree to ``slope_rtol`` times the larger, plus ``zero_tol`` times the gradients' rounding
scale (the outputs' term sizes over the triangle's height); pieces are the connected
components (SciPy) of those joins. Memory per face is O(outputs), not O(neurons).

Example:
    >>> import numpy as np
    >>> from bends import MLP, trace_plane
    >>> net = MLP.from_layers([(np.eye(2), np.array([-0.5, -0.5])),
    ...                        (np.ones((1, 2)), np.zeros(1))])
    >>> partition = trace_plane(net, [0, 0], [1, 0], [0, 1])
    >>> partition.regions, partition.pieces, partition.vertices, partition.edges
    (4, 4, 9, 12)
"""

from __future__ import annotations

import numpy as np

from bends.nets import MLP, TiedRNN
from bends.tracing._plane.subdivision import Subdivision
from bends.tracing._results.partition import Partition


def trace_plane_mlp(
    net: MLP | TiedRNN, corners: np.ndarray, zero_tol: float, slope_rtol: float
) -> Partition:
    """The partition of the parallelogram ``corners`` (3, inputs) by ``net``'s layers (see the
    module docstring); arguments checked by :func:`~bends.tracing.trace_plane`."""
    built = Subdivision(lambda: f"tracing a plane of {net!r}")
    span = np.stack([corners[1] - corners[0], corners[2] - corners[0]], axis=1)  # (dim, 2)
    h = built.points[:4] @ span.T + corners[0]  # the input at the vertices
    for w, bias in net.hidden_layers():
        width = w.shape[0]
        # the previous layer's values are held beside the new ones while they are computed
        values = built.room(width, built.bytes_per_vertex(width, width), held=8.0 * h.shape[1])
        top = np.abs(h).max(axis=0)
        zero_at = zero_tol * (np.abs(w) @ top + np.abs(bias))
        rows = values[: built.count]
        np.matmul(h, w.T, out=rows)
        rows += bias
        del h, rows
        built.cut(values, zero_at, width)
        h = values[: built.count]
        np.maximum(h, 0.0, out=h)  # in place: the values become the next layer's input
        del values
    w, bias = net.readout()
    out = h @ w.T + bias
    size = h @ np.abs(w).T + np.abs(bias)  # the terms each output value sums (h ≥ 0)
    return built.finish(net, corners, out, size, zero_tol, slope_rtol)
