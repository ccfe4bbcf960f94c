r"""The graph tracer (:mod:`bends.tracing._graph.tracer`) in exact rational arithmetic: the
oracle the tests hold the float64 tracer to, for small graphs.

Every affine node is the exact affine map its float64 weights define: its linear part, read
off column by column from the node's bias-free op on unit vectors (each column is a single
product with 1, so it is exact), and its constant term, the node's output at zero inputs.
Values at the knots are Fractions; crossings, maxima changing hands and slopes are exact, so
pieces and regions are those of the network as stored, with no tolerance at all.

Example:
    >>> import torch
    >>> from bends.nets.graph import GraphNetwork
    >>> net = torch.nn.Sequential(torch.nn.Linear(1, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
    >>> with torch.no_grad():
    ...     _ = net[0].weight.copy_(torch.tensor([[1.0], [1.0]]))
    ...     _ = net[0].bias.copy_(torch.tensor([0.0, -0.5]))
    >>> tr = trace_graph_exact(GraphNetwork.from_module(net, (1,)), [0.0], [1.0])
    >>> tr.exact_knots
    (Fraction(0, 1), Fraction(1, 2), Fraction(1, 1))
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import torch
from torch import fx

from bends.errors import BendsError
from bends.nets.graph import GraphNetwork
from bends.nets.rules import (
    NodeKind,
    elementwise_kinks,
    linear_part,
    operation,
    pairwise_inputs,
    pool_module,
    resolve_args,
)
from bends.tracing._graph.pool import windows
from bends.tracing._graph.tracer import output_node
from bends.tracing._results.trace import Trace

#: Above this many features in one node the exact oracle would build huge matrices.
MAX_FEATURES = 4096

_exact = np.vectorize(Fraction, otypes=[object])


def trace_graph_exact(net: GraphNetwork, start, end) -> Trace:
    """Trace ``net`` from ``start`` to ``end`` in rational arithmetic (see the module)."""
    graph = net.module
    nodes = list(graph.graph.nodes)
    shapes = _shapes(net)
    a = _exact(np.asarray(start, dtype=np.float64).reshape(-1))
    b = _exact(np.asarray(end, dtype=np.float64).reshape(-1))
    t = [Fraction(0), Fraction(1)]
    values: dict[str, np.ndarray] = {}
    branches: list[np.ndarray] = []  # per kink: (K − 1, elements)
    switches, dead, always_on, output = [], [], [], None

    def insert(new) -> list[Fraction]:
        """Add the knots ``new``; the knots now."""
        nonlocal t
        new = sorted({x for x in new if t[0] < x < t[-1]} - set(t))
        if not new:
            return t
        grown = sorted(t + new)
        at = (
            np.searchsorted(np.array(t, dtype=object), np.array(grown, dtype=object), side="right")
            - 1
        )
        at = np.minimum(at, len(t) - 2)
        frac = np.array([(x - t[i]) / (t[i + 1] - t[i]) for x, i in zip(grown, at, strict=True)],
                        dtype=object)  # fmt: skip
        for name, v in values.items():
            values[name] = v[at] + (v[at + 1] - v[at]) * frac[:, None]
        parent = np.searchsorted(np.array(t, dtype=object), np.array(grown[:-1], dtype=object),
                                 side="right") - 1  # fmt: skip
        branches[:] = [br[parent] for br in branches]
        t = grown
        return t

    for node in nodes:
        kind = net.kinds[node.name]
        if kind is NodeKind.INPUT:
            values[node.name] = np.stack([a, b])
        elif kind is NodeKind.OUTPUT:
            output = output_node(nodes).name
        elif kind is NodeKind.AFFINE:
            values[node.name] = _affine(graph, node, values, shapes)
        elif kind.is_kink:
            branch = KINKS[kind](graph, node, values, shapes, t, insert)
            branches.append(branch)
            changes = (branch[1:] != branch[:-1]).sum(axis=0)
            switches.append(changes.astype(np.int64))
            constant = (branch == branch[0]).all(axis=0)
            dead.append(constant & (branch[0] == 0))
            always_on.append(constant & (branch[0] != 0))
    return _result(net, a, b, t, values[output], branches, switches, dead, always_on)


def _shapes(net: GraphNetwork) -> dict[str, tuple[int, ...]]:
    """Each node's value shape (one sample), from a float64 run on zeros."""
    shapes = {}

    class Recorder(fx.Interpreter):
        def run_node(self, node):
            out = super().run_node(node)
            if isinstance(out, torch.Tensor) and node.op != "get_attr":
                shapes[node.name] = tuple(out.shape[1:])
                if out[0].numel() > MAX_FEATURES:
                    raise BendsError(
                        f"`{node.name}` has {out[0].numel()} features: exact mode is for small "
                        "graphs"
                    )
            return out

    with torch.no_grad():
        Recorder(net.module).run(torch.zeros((1, *net.input_shape), dtype=torch.float64))
    return shapes


def _affine(graph, node: fx.Node, values, shapes) -> np.ndarray:
    """V_out = c + Σ_i V_i A_iᵀ, the exact affine map of the node's float64 op."""
    inputs = [n for n in node.all_input_nodes if n.name in shapes and n.op != "get_attr"]
    out_shape = shapes[node.name]
    zeros = {n.name: torch.zeros((1, *shapes[n.name]), dtype=torch.float64) for n in inputs}
    with torch.no_grad():
        constant = _exact(_call(graph, node, zeros, linear=False).reshape(-1).numpy())
        result = np.broadcast_to(constant, (len(values[inputs[0].name]), len(constant))).copy()
        for n in inputs:
            size = int(np.prod(shapes[n.name]))
            basis = dict(zeros)
            basis[n.name] = torch.eye(size, dtype=torch.float64).reshape(size, *shapes[n.name])
            others = {k: v.expand(size, *v.shape[1:]) for k, v in zeros.items() if k != n.name}
            basis.update(others)
            columns = _call(graph, node, basis, linear=True).reshape(size, -1).numpy()
            matrix = _exact(columns)  # (inputs, outputs)
            result = result + values[n.name].dot(matrix)
    del out_shape
    return result


def _call(graph, node: fx.Node, table: dict, linear: bool) -> torch.Tensor:
    """The node's op on the tensors of ``table`` (its linear part when ``linear``)."""
    args_v = resolve_args(graph, node.args, table)
    kwargs_v = resolve_args(graph, node.kwargs, table)
    if not linear:
        return operation(graph, node)(*args_v, **kwargs_v)
    args_d = resolve_args(graph, node.args, table, slopes=True)
    kwargs_d = resolve_args(graph, node.kwargs, table, slopes=True)
    return linear_part(graph, node, args_d, kwargs_d, args_v, kwargs_v)


def _crossings(x: np.ndarray, t, kinks) -> list[Fraction]:
    found = []
    for c in kinks:
        s = x - c
        for i, e in zip(*np.nonzero((s[:-1] * s[1:]) < 0), strict=True):
            found.append(t[i] + (t[i + 1] - t[i]) * s[i, e] / (s[i, e] - s[i + 1, e]))
    return found


def _elementwise(graph, node, values, shapes, t, insert) -> np.ndarray:
    name = node.args[0].name
    shape = shapes[name]
    kinks, slopes = elementwise_kinks(graph, node, torch.zeros((1, *shape)))
    kinks = [Fraction(float(c)) for c in kinks]
    insert(_crossings(values[name], t, kinks))
    x = values[name]
    mid = (x[1:] + x[:-1]) / 2
    branch = sum((mid > c).astype(np.int8) for c in kinks)
    at_knots = sum((x > c).astype(np.int8) for c in kinks)
    out = x.copy()
    identity = next(k for k, s in enumerate(slopes) if isinstance(s, float) and s == 1.0)
    for number, slope in enumerate(slopes):
        if number == identity:
            continue
        anchor = kinks[number] if number < identity else kinks[number - 1]
        per_element = np.broadcast_to(
            np.asarray(torch.as_tensor(slope, dtype=torch.float64).expand(1, *shape)).reshape(-1),
            (x.shape[1],),
        )
        exact_slope = _exact(per_element)
        mine = at_knots == number
        out = np.where(mine, exact_slope * (x - anchor) + anchor, out)
    values[node.name] = out
    return branch


def _pairwise(graph, node, values, shapes, t, insert) -> np.ndarray:
    first, second, larger = pairwise_inputs(node)
    insert(_crossings(values[first.name] - values[second.name], t, [Fraction(0)]))
    va, vb = values[first.name], values[second.name]
    difference = va - vb
    mid = (difference[1:] + difference[:-1]) / 2
    values[node.name] = np.maximum(va, vb) if larger else np.minimum(va, vb)
    return ((mid >= 0) if larger else (mid <= 0)).astype(np.int8)


def _max_pool(graph, node, values, shapes, t, insert) -> np.ndarray:
    name = node.args[0].name
    module = pool_module(graph, node, len(shapes[name]) - 1)
    members = windows(module, node, shapes[name]).numpy()
    while True:
        x = values[name]
        slopes = (x[1:] - x[:-1]) / np.array([t[i + 1] - t[i] for i in range(len(t) - 1)],
                                              dtype=object)[:, None]  # fmt: skip
        found = []
        for i in range(len(t) - 1):
            for window in members:
                window = window[window >= 0]
                left = [x[i, m] for m in window]
                top = max(left)
                leader = max((m for m, v in zip(window, left, strict=True) if v == top),
                             key=lambda m: slopes[i, m])  # fmt: skip
                catches = [(x[i, leader] - x[i, m]) / (slopes[i, m] - slopes[i, leader])
                           for m in window if slopes[i, m] > slopes[i, leader]]  # fmt: skip
                early = min((c for c in catches if 0 < c < t[i + 1] - t[i]), default=None)
                if early is not None:
                    found.append(t[i] + early)
        if not found:
            break
        t = insert(found)
    x = values[name]
    groups = [w[w >= 0] for w in members]
    values[node.name] = np.array([[max(row[m] for m in w) for w in groups] for row in x],
                                 dtype=object)  # fmt: skip
    mid = (x[1:] + x[:-1]) / 2
    return np.array([[max(w, key=lambda m: row[m]) for w in groups] for row in mid])


#: One handler per kind of nonlinearity: insert the node's crossings (exactly), compute its
#: values; its branch on each interval.
KINKS = {
    NodeKind.ELEMENTWISE: _elementwise,
    NodeKind.PAIRWISE_MAX: _pairwise,
    NodeKind.POOL_MAX: _max_pool,
}


def _result(net, a, b, t, out, branches, switches, dead, always_on) -> Trace:
    knots = np.array([float(x) for x in t])
    region_breaks = np.zeros(len(t), dtype=bool)
    for branch in branches:
        if len(branch) > 1:
            region_breaks[1:-1] |= (branch[1:] != branch[:-1]).any(axis=1)
    widths = np.array([t[i + 1] - t[i] for i in range(len(t) - 1)], dtype=object)[:, None]
    slopes = (out[1:] - out[:-1]) / widths
    piece_breaks = np.zeros(len(t), dtype=bool)
    output_breaks = np.zeros((len(t), slopes.shape[1]), dtype=bool)
    output_breaks[1:-1] = slopes[1:] != slopes[:-1]
    piece_breaks[1:-1] = output_breaks[1:-1].any(axis=1)
    return Trace(
        network=net,
        start=a.astype(np.float64),
        end=b.astype(np.float64),
        knots=knots,
        values=out.astype(np.float64),
        slopes=slopes.astype(np.float64),
        region_breaks=region_breaks,
        piece_breaks=piece_breaks,
        switches=switches,
        dead=dead,
        always_on=always_on,
        exact_knots=tuple(t),
        output_breaks=output_breaks,
    )
