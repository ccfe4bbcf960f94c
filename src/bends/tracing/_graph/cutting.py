r"""Graph networks (:class:`bends.nets.graph.GraphNetwork`) pushed through a cell complex, node by
node: what the planar tracer (:mod:`bends.tracing._graph.plane`, on a
:class:`~bends.tracing._plane.subdivision.Subdivision`) and the n-D tracer
(:mod:`bends.tracing._graph.box`, on the box tracer's cutting) share.

Every node keeps its values at the vertices, a batch (V, …). An **affine** node (Linear,
convolutions, BatchNorm in eval mode, average pooling, sums, reshapes) runs its own op on that
batch: inside a cell it is affine, so its values at the vertices are the whole truth. A
**kink** node first cuts every cell along every zero set where its input crosses a kink (a
ReLU or LeakyReLU at 0, Hardtanh/ReLU6/clamp at both bounds, ``torch.maximum`` of two
tensors where they are equal), with every live node's values interpolated at the new
vertices, then runs its op. A cell's pattern has one column per such line: which side of it
the cell lies on. The tolerance policy is the 1-D graph tracer's: a value within
``zero_tol`` times its node's largest magnitude of a kink is on it. Maxima over windows (max
pooling) are not cut yet: a plane or box through one is refused by name.

The complex (``built``) needs ``count`` (its vertices), ``room(width, per_vertex, held)`` (an
array for the values at the vertices, refused when over the memory budget),
``bytes_per_vertex(width, lines)`` and ``cut(values, zero_at, lines) -> values`` (cut along the
zero sets of the first ``lines`` columns, every column interpolated at the new vertices).
"""

from __future__ import annotations

import numpy as np
import torch

from bends.budget import check_memory
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


def pushed(net: GraphNetwork, built, inputs: np.ndarray,
           zero_tol: float) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The outputs (V, outputs) of ``net`` at the vertices of ``built`` once every kink node has
    cut it (see the module docstring), and the sizes of the terms each sums (V, outputs): the
    outputs' largest magnitude (a graph's term sizes are not tracked); ``inputs``
    (V, input size): its vertices in input space, before any cut."""
    graph = net.module
    values: dict[str, torch.Tensor] = {}
    per_vertex = _sizes(net)
    with torch.no_grad():
        for node, kind in visit(graph, net.kinds, values):
            if kind is NodeKind.INPUT:
                values[node.name] = torch.from_numpy(np.ascontiguousarray(inputs, float)).reshape(
                    -1, *net.input_shape)  # fmt: skip
            elif kind is NodeKind.AFFINE:
                # the node's values beside those held: refused before they are made
                held = sum(v.numel() for v in values.values())
                needed = 8.0 * (held + built.count * per_vertex.get(node.name, 0))
                check_memory(needed, built.what, at_least=True)
                values[node.name] = apply(graph, node, resolve_args(graph, node.args, values),
                                          values)  # fmt: skip
            else:
                KINKS[kind](graph, node, values, built, zero_tol)
    out = np.ascontiguousarray(
        values[output_node(list(graph.graph.nodes)).name].reshape(built.count, -1).numpy()
    )
    return out, np.ascontiguousarray(np.broadcast_to(np.abs(out).max(axis=0), out.shape))


def _sizes(net: GraphNetwork) -> dict[str, int]:
    """Each node's values per vertex (elements), from one input pushed through the graph by
    torch.fx's shape propagation; empty where that does not run (the checks then see only
    what is held)."""
    from torch.fx.passes.shape_prop import ShapeProp

    try:
        with torch.no_grad():
            ShapeProp(net.module).propagate(torch.zeros(1, *net.input_shape, dtype=torch.float64))
    except Exception:  # a graph fx cannot run op by op: sizes unknown
        return {}
    return {node.name: int(np.prod(meta.shape[1:])) for node in net.module.graph.nodes
            if hasattr(meta := node.meta.get("tensor_meta"), "shape")}  # fmt: skip


def _elementwise(graph, node, values, built, zero_tol: float) -> None:
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


def _pairwise(graph, node, values, built, zero_tol: float) -> None:
    """Cut along the line where the two inputs are equal, then take their maximum (minimum)."""
    first, second, larger = pairwise_inputs(node)
    _cut(values, built, values[first.name] - values[second.name], [0.0], zero_tol)
    a, b = values[first.name], values[second.name]
    values[node.name] = torch.maximum(a, b) if larger else torch.minimum(a, b)


def _pool(graph, node, values, built, zero_tol: float) -> None:
    raise BendsError(
        f"planes and boxes through `{node.name}` (a maximum over windows) are not traced yet; "
        "trace segments through it with bends count"
    )


#: One handler per kind of nonlinearity: cut the faces, then compute the node's values.
KINKS = {
    NodeKind.ELEMENTWISE: _elementwise,
    NodeKind.PAIRWISE_MAX: _pairwise,
    NodeKind.POOL_MAX: _pool,
}


def _cut(values, built, x: torch.Tensor, kinks, zero_tol: float) -> list[np.ndarray]:
    """Cut every cell along every zero set where an element of ``x`` crosses a kink, with every
    live value (``values``) interpolated at the new vertices; per kink, which vertices (now)
    lie on its zero sets."""
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
    stacked = built.cut(stacked, np.concatenate([np.full(lines, tol), np.zeros(total - lines)]),
                        lines)  # fmt: skip
    count = built.count
    kept = stacked[:count, lines:].copy()  # the live values alone, not the kink columns
    at = 0
    for name, size in zip(live, sizes, strict=True):  # views of that one copy
        block = kept[:, at : at + size]
        values[name] = torch.from_numpy(block).reshape(count, *values[name].shape[1:])
        at += size
    on_kink = [stacked[:count, k * flat.shape[1] : (k + 1) * flat.shape[1]] == 0.0
               for k in range(len(kinks))]  # fmt: skip
    del stacked
    return on_kink
