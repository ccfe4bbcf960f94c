r"""The planar tracer on graph networks (:class:`bends.nets.graph.GraphNetwork`): the plane of
:mod:`bends.tracing._plane.mlp` pushed through any piecewise-linear torch module, node by node
(:mod:`bends.tracing._graph.cutting`: affine nodes run their op on the values at the vertices,
kink nodes cut every face first). Maxima over windows (max pooling) are not cut yet: a plane
through one is refused by name.

Example:
    >>> import torch
    >>> from bends.nets.graph import GraphNetwork
    >>> from bends.tracing import trace_plane
    >>> block = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.LeakyReLU(0.1))
    >>> with torch.no_grad():
    ...     _ = block[0].weight.copy_(torch.eye(2)), block[0].bias.zero_()
    >>> net = GraphNetwork.from_module(block, (2,))
    >>> trace_plane(net, [-1, -1], [1, -1], [-1, 1]).regions  # the four quadrants
    4
"""

from __future__ import annotations

import numpy as np

from bends.nets.graph import GraphNetwork
from bends.tracing._graph.cutting import pushed
from bends.tracing._plane.subdivision import Subdivision
from bends.tracing._results.partition import Partition


def trace_plane_graph(net: GraphNetwork, corners: np.ndarray, zero_tol: float,
                      slope_rtol: float) -> Partition:  # fmt: skip
    """The partition of the parallelogram ``corners`` (A, B, C: flattened inputs) for a graph
    network (see the module docstring)."""
    built = Subdivision(lambda: f"tracing a plane of {net!r}")
    span = np.stack([corners[1] - corners[0], corners[2] - corners[0]], axis=1)
    out, size = pushed(net, built, built.points[: built.count] @ span.T + corners[0],
                       zero_tol)  # fmt: skip
    return built.finish(net, corners, out, size, zero_tol, slope_rtol)
