r"""The planar tracer on graph networks (:class:`bends.nets.graph.GraphNetwork`): the plane of
:mod:`bends.tracing.plane.mlp` pushed through any piecewise-linear torch module, node by node.

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
    >>> trace_plane(net, [-1, -1], [1, -1], [-1, 1]).faces  # the four quadrants
    4
"""

from __future__ import annotations

import numpy as np
import torch

from bends.errors import BendsError
from bends.nets.graph import MAX_MODULES, MAX_POOL_FUNCTIONS, GraphNetwork
from bends.tracing.graph.knots import scale
from bends.tracing.graph.tracer import _args, _elementwise, _method, output_node, visit
from bends.tracing.plane.subdivision import Subdivision
from bends.tracing.results.partition import Partition


def trace_plane_graph(net: GraphNetwork, corners: np.ndarray, zero_tol: float,
                      slope_rtol: float) -> Partition:  # fmt: skip
    """The partition of the parallelogram ``corners`` (A, B, C: flattened inputs) for a graph
    network (see the module docstring)."""
    graph = net.module
    built = Subdivision(lambda: f"tracing a plane of {net!r}")
    span = np.stack([corners[1] - corners[0], corners[2] - corners[0]], axis=1)
    values: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for node, role in visit(graph, values):
            if role == "input":
                inputs = built.points[: built.count] @ span.T + corners[0]
                values[node.name] = torch.from_numpy(inputs).reshape(-1, *net.input_shape)
            elif role == "kink":
                _kink(graph, node, values, built, zero_tol)
            else:
                values[node.name] = _call(graph, node, values, _args(graph, node.args, values))
    out = values[output_node(list(graph.graph.nodes)).name].reshape(built.count, -1).numpy()
    # the gradients' rounding scale: the outputs' largest magnitude (a graph's term sizes
    # are not tracked)
    size = np.broadcast_to(np.abs(out).max(axis=0), out.shape)
    return built.finish(net, corners, out, size, zero_tol, slope_rtol)


def _call(graph, node, values, args):
    """The node's own op on ``args`` (its inputs' values at the vertices)."""
    kwargs = _args(graph, node.kwargs, values)
    if node.op == "call_module":
        return graph.get_submodule(node.target)(*args, **kwargs)
    call = node.target if node.op == "call_function" else _method(node.target)
    return call(*args, **kwargs)


def _kink(graph, node, values, built: Subdivision, zero_tol: float) -> None:
    """Cut along the node's kink lines, then compute its values."""
    module = graph.get_submodule(node.target) if node.op == "call_module" else None
    if isinstance(module, MAX_MODULES) or node.target in MAX_POOL_FUNCTIONS:
        raise BendsError(
            f"planes through `{node.name}` (a maximum over windows) are not traced yet; "
            "trace segments through it with bends count"
        )
    pairwise = node.target in (torch.maximum, torch.minimum, torch.max, torch.min)
    if pairwise:
        first, second = node.args[0], node.args[1] if len(node.args) > 1 else None
        if not hasattr(second, "name"):
            raise BendsError(f"`{node.name}`: only the maximum of two tensors is supported")
        x = values[first.name] - values[second.name]
        kinks = [0.0]
    else:
        x = values[node.args[0].name]
        kinks = _elementwise(graph, node, module, x)[0]
    shape = x.shape[1:]
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
    if pairwise:
        a, b = values[node.args[0].name], values[node.args[1].name]
        larger = node.target in (torch.maximum, torch.max)
        values[node.name] = torch.maximum(a, b) if larger else torch.minimum(a, b)
        return
    x = values[node.args[0].name].reshape(count, -1).clone()
    for c, on in zip(kinks, on_kink, strict=True):  # a vertex on a kink line is on the kink
        x[torch.from_numpy(on)] = c
    args = (x.reshape(count, *shape), *_args(graph, node.args[1:], values))
    values[node.name] = _call(graph, node, values, args)
