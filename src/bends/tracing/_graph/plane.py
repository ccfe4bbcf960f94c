r"""The planar tracer on graph networks (:class:`bends.nets.graph.GraphNetwork`): the plane of
:mod:`bends.tracing._plane.mlp` pushed through any piecewise-linear torch module, node by node.

Every node keeps its values at the vertices, a batch (V, …). An **affine** node (Linear,
convolutions, BatchNorm in eval mode, average pooling, sums, reshapes) runs its own op on that
batch: inside a face it is affine, so its values at the vertices are the whole truth. A
**kink** node first cuts every face along every line where its input crosses a kink (a ReLU
or LeakyReLU at 0, Hardtanh/ReLU6/clamp at both bounds, ``torch.maximum`` of two tensors
where they are equal), with every live node's values interpolated at the new vertices, then
runs its op. A face's pattern has one column per line: which side of it the face lies on.
The tolerance policy is the 1-D graph tracer's: a value within ``zero_tol`` times its node's
largest magnitude of a kink is on it. Maxima over windows (max pooling) are not cut yet: a
plane through one is refused by name.

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
import torch

from bends.errors import BendsError
from bends.nets.graph import GraphNetwork
from bends.nets.rules import (
    NodeKind,
    apply,
    elementwise_kinks,
    elementwise_value,
    pairwise_inputs,
    resolve_args,
)
from bends.tracing._graph.knots import scale
from bends.tracing._graph.tracer import output_node, visit
from bends.tracing._plane.subdivision import Subdivision
from bends.tracing._results.partition import Partition


def trace_plane_graph(net: GraphNetwork, corners: np.ndarray, zero_tol: float,
                      slope_rtol: float) -> Partition:  # fmt: skip
    """The partition of the parallelogram ``corners`` (A, B, C: flattened inputs) for a graph
    network (see the module docstring)."""
    graph = net.module
    built = Subdivision(lambda: f"tracing a plane of {net!r}")
    span = np.stack([corners[1] - corners[0], corners[2] - corners[0]], axis=1)
    values: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for node, kind in visit(graph, net.kinds, values):
            if kind is NodeKind.INPUT:
                inputs = built.points[: built.count] @ span.T + corners[0]
                values[node.name] = torch.from_numpy(inputs).reshape(-1, *net.input_shape)
            elif kind is NodeKind.AFFINE:
                values[node.name] = apply(graph, node, resolve_args(graph, node.args, values),
                                          values)  # fmt: skip
            else:
                KINKS[kind](graph, node, values, built, zero_tol)
    out = values[output_node(list(graph.graph.nodes)).name].reshape(built.count, -1).numpy()
    # the gradients' rounding scale: the outputs' largest magnitude (a graph's term sizes
    # are not tracked)
    size = np.broadcast_to(np.abs(out).max(axis=0), out.shape)
    return built.finish(net, corners, out, size, zero_tol, slope_rtol)


def _elementwise(graph, node, values, built: Subdivision, zero_tol: float) -> None:
    """Cut along the lines where the input crosses a kink, then run the node on the input
    with vertices on a kink line set onto the kink."""
    x = values[node.args[0].name]
    shape = x.shape[1:]
    kinks = elementwise_kinks(graph, node, x)[0]
    on_kink = _cut(values, built, x, kinks, zero_tol)
    count = built.count
    x = values[node.args[0].name].reshape(count, -1).clone()
    for c, on in zip(kinks, on_kink, strict=True):  # a vertex on a kink line is on the kink
        x[torch.from_numpy(on)] = c
    values[node.name] = elementwise_value(graph, node, x.reshape(count, *shape), values)


def _pairwise(graph, node, values, built: Subdivision, zero_tol: float) -> None:
    """Cut along the line where the two inputs are equal, then take their maximum (minimum)."""
    first, second, larger = pairwise_inputs(node)
    _cut(values, built, values[first.name] - values[second.name], [0.0], zero_tol)
    a, b = values[first.name], values[second.name]
    values[node.name] = torch.maximum(a, b) if larger else torch.minimum(a, b)


def _pool(graph, node, values, built: Subdivision, zero_tol: float) -> None:
    raise BendsError(
        f"planes through `{node.name}` (a maximum over windows) are not traced yet; "
        "trace segments through it with bends count"
    )


#: One handler per kind of nonlinearity: cut the faces, then compute the node's values.
KINKS = {
    NodeKind.ELEMENTWISE: _elementwise,
    NodeKind.PAIRWISE_MAX: _pairwise,
    NodeKind.POOL_MAX: _pool,
}


def _cut(values, built: Subdivision, x: torch.Tensor, kinks, zero_tol: float) -> list[np.ndarray]:
    """Cut every face along every line where an element of ``x`` crosses a kink, with every
    live value (``values``) interpolated at the new vertices; per kink, which vertices (now)
    lie on its lines."""
    flat = x.reshape(len(x), -1).numpy()
    tol = zero_tol * scale(x, kinks)
    lines = flat.shape[1] * len(kinks)
    live = list(values)
    sizes = [int(np.prod(values[n].shape[1:])) for n in live]
    total = lines + sum(sizes)
    # the layer's lines and every live value, interpolated at the new vertices
    stacked = built.room(total, built.bytes_per_vertex(total, lines), held=8.0 * sum(sizes))
    count = built.count
    for k, c in enumerate(kinks):
        stacked[:count, k * flat.shape[1] : (k + 1) * flat.shape[1]] = flat - c
    at = lines
    for name, size in zip(live, sizes, strict=True):
        stacked[:count, at : at + size] = values[name].reshape(count, -1).numpy()
        at += size
    built.cut(stacked, np.concatenate([np.full(lines, tol), np.zeros(total - lines)]), lines)
    count, at = built.count, lines
    for name, size in zip(live, sizes, strict=True):
        block = np.ascontiguousarray(stacked[:count, at : at + size])
        values[name] = torch.from_numpy(block).reshape(count, *values[name].shape[1:])
        at += size
    on_kink = [stacked[:count, k * flat.shape[1] : (k + 1) * flat.shape[1]] == 0.0
               for k in range(len(kinks))]  # fmt: skip
    del stacked
    return on_kink
