r"""Exact 1-D tracing of a graph network (:class:`bends.nets.graph.GraphNetwork`).

The same rule as for MLPs (:mod:`bends.tracing._line.tracer`): along :math:`x(t) = a + t(b - a)`
every node's value is affine in t between consecutive knots, so its values at the knots are
the whole truth. Nodes are visited in the graph's order, each handled by its kind
(:class:`~bends.nets.rules.NodeKind`, with the rules of :mod:`bends.nets.rules`); every node
keeps its values V at the knots (K, …) and its slopes D = dV/dt on the intervals (K − 1, …):

* an **affine** node computes V by running its own module or function on the knots as a batch,
  and D by running its linear part (no bias, no constants) on the slopes;
* a **kink** node (one handler per kind in :data:`KINKS`: elementwise, pairwise maximum,
  maximum over windows) first inserts a knot wherever its input strictly crosses a kink inside an
  interval (an elementwise kink c: where x − c changes sign; a maximum: where the leader of a
  window is overtaken, found by repeated insertion until no interval changes hands), at
  :math:`t^* = t_i + (t_{i+1} - t_i)\, s_i / (s_i - s_{i+1})`; every stored value is then
  interpolated at the new knots (exact: all are affine between the old ones) and every slope
  inherited. On each interval the node's input now stays on one branch (read off at the
  interval's midpoint), which gives its slope.

``regions`` are the maximal intervals on which every nonlinearity stays on one branch (ReLU on
or off, the side of a LeakyReLU, the segment of a Hardtanh/ReLU6/clamp, which input wins each
maximum); ``pieces`` the maximal intervals on which the output is affine. The tolerance policy
is the MLP tracer's: a value within ``zero_tol`` times its node's largest magnitude of a kink is
on it, crossings at most ``MERGE_GAP`` apart are one knot, slopes equal within ``slope_rtol``.

Example:
    >>> import torch
    >>> from bends.nets.graph import GraphNetwork
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.LeakyReLU(0.2),
    ...                           torch.nn.Linear(8, 1))
    >>> tr = trace_graph(GraphNetwork.from_module(net, (1,)), [-3.0], [3.0])
    >>> tr.pieces == tr.regions
    True
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Callable, Mapping
from typing import NamedTuple

import numpy as np
import torch
from torch import fx

from bends.budget import check_memory, memory_budget
from bends.errors import BendsError
from bends.nets.graph import GraphNetwork
from bends.nets.rules import (
    NodeKind,
    affine,
    branch_slopes,
    elementwise_kinks,
    elementwise_value,
    pairwise_inputs,
)
from bends.tracing._graph.knots import Crowded, Knots, insert, snapped
from bends.tracing._graph.pool import max_pool
from bends.tracing._results.trace import Trace
from bends.tracing._results.traces import Traces, output_breaks, warn_unresolved
from bends.tracing.tolerance import SLOPE_RTOL, ZERO_TOL


def trace_graph(
    net: GraphNetwork,
    start,
    end,
    zero_tol: float = ZERO_TOL,
    slope_rtol: float = SLOPE_RTOL,
) -> Trace:
    """Trace ``net`` along the segment from ``start`` to ``end`` (see the module docstring)."""
    starts = np.asarray(start, dtype=np.float64).reshape(1, *net.input_shape)
    ends = np.asarray(end, dtype=np.float64).reshape(1, *net.input_shape)
    return trace_graph_segments(net, starts, ends, zero_tol, slope_rtol)[0]


def trace_graph_segments(
    net: GraphNetwork,
    starts,
    ends,
    zero_tol: float = ZERO_TOL,
    slope_rtol: float = SLOPE_RTOL,
    pieces: bool = True,
    device=None,
    centres=None,
) -> Traces:
    """Trace ``net`` along many segments at once, ``starts[s]`` to ``ends[s]`` (arrays of
    shape (segments, *input_shape)): their knots lie end to end in one batch
    (:class:`~bends.tracing._graph.knots.Knots`), every node runs once on all of them, and
    each segment's trace equals its own :func:`trace_graph`. ``device``: a torch device to
    run on (the network is copied there; default CPU). ``centres``: each segment's midpoint,
    given exactly, becomes a knot (what happens *at* a sample, e.g. max-pool windows tied
    there, is then read off at a knot instead of found as crossings that rounding spreads
    around it)."""
    device = torch.device("cpu") if device is None else torch.device(device)
    a = torch.as_tensor(np.asarray(starts, dtype=np.float64), device=device)
    b = torch.as_tensor(np.asarray(ends, dtype=np.float64), device=device)
    count = len(a)
    graph = net.module if device.type == "cpu" else _on_device(net, device)
    state = Knots.ends(count, device, centred=centres is not None)
    ends_of = [a, b]
    if centres is not None:
        ends_of.insert(1, torch.as_tensor(np.asarray(centres, dtype=np.float64), device=device))
    per = len(ends_of)
    input_node = next(n for n in graph.graph.nodes if n.op == "placeholder")
    knots = torch.stack(ends_of, dim=1).reshape(per * count, *a.shape[1:])
    state.values[input_node.name] = knots
    steps = torch.zeros_like(knots[1:])
    for k in range(per - 1):  # the outer intervals between segments stay flat
        steps[k::per] = b - a
    state.slopes[input_node.name] = steps
    run = _Run(graph, net, zero_tol, _knot_bytes(net))
    with torch.no_grad():
        state = _push(run, list(graph.graph.nodes).index(input_node) + 1, state)
    output = output_node(list(graph.graph.nodes)).name
    return _results(net, a, b, state, output, slope_rtol, pieces)


class _Run(NamedTuple):
    """What every part of one trace shares: the graph, its network, the tolerance and the
    bytes each knot needs at each node (:func:`_knot_bytes`)."""

    graph: fx.GraphModule
    net: GraphNetwork
    zero_tol: float
    knot_bytes: list[float]


def _push(run: _Run, start: int, state: Knots) -> Knots:
    """Run the graph's nodes from index ``start`` on ``state``'s knots; where the knots a
    node would hold outgrow the memory budget, cut them in two at a knot, run the rest of the
    graph on each half in turn and join them (the same knots, values, breaks and statistics
    as one run, as every node acts on each interval alone)."""
    budget = memory_budget()
    limit = min(budget, PART_BYTES)
    for index, node, kind in visit(run.graph, run.net.kinds, state.values, state.slopes,
                                   start=start):  # fmt: skip
        need = len(state.t) * run.knot_bytes[index]
        if need > limit and len(state.t) >= 3:
            return _in_parts(run, index, state)
        check_memory(need, lambda: f"tracing {run.net!r} through `{node.name}`")  # noqa: B023
        if kind is NodeKind.AFFINE:
            affine(run.graph, node, state.values, state.slopes)
            continue
        state.most = max(3, int(limit // run.knot_bytes[index]))
        try:
            state.merged += KINKS[kind](run.graph, node, state, run.zero_tol)
        except Crowded as crowd:  # too many crossings to add at once: cut at some of them
            for name in [k for k in state.values if k.startswith(f"{node.name}:")]:
                del state.values[name], state.slopes[name]  # the node's own scratch
            crowd.cut(state)
            return _in_parts(run, index, state)
        state.most = None
    return state


#: The most a part of a trace holds at a node (bytes): beyond the memory budget's bound, parts
#: of this size run fastest (a quarter-width VGG-11 segment: 25 s in parts of 128–256 MB,
#: 45 s in parts of 4 GB), their tensors nearer the caches.
PART_BYTES = 256 * 2**20


def _in_parts(run: _Run, index: int, state: Knots) -> Knots:
    """The rest of the graph, from node ``index``, run on the two halves of ``state`` in
    turn (:meth:`Knots.split`) and joined."""
    first, second = state.split()
    first = _push(run, index, first)
    second = _push(run, index, second)
    joined = Knots.joined(first, second)
    joined.statistics[:0] = state.statistics
    joined.merged += state.merged
    return joined


def _knot_bytes(net: GraphNetwork) -> list[float]:
    """Per node (by index in the graph), the bytes one knot needs while the node runs: the
    values and slopes every live node holds, the node's own output and its temporaries (a
    kink's input copies, crossings and masks, and the knots its crossings add), from one
    float64 run of the graph; cached per network."""
    if net in _KNOT_BYTES:
        return _KNOT_BYTES[net]
    graph, sizes = net.module, {}

    class Recorder(fx.Interpreter):
        def run_node(self, node):
            out = super().run_node(node)
            if isinstance(out, torch.Tensor) and node.op != "get_attr":
                sizes[node.name] = out.shape[1:].numel()
            return out

    with torch.no_grad():
        Recorder(graph).run(torch.zeros((1, *net.input_shape), dtype=torch.float64))
    nodes = list(graph.graph.nodes)
    last_use = _last_uses(net.kinds, nodes)
    found = []
    for index, node in enumerate(nodes):
        live = sum(sizes.get(n.name, 0) for n in nodes[:index] if last_use[n.name] >= index)
        inputs = sum(sizes.get(n.name, 0) for n in node.all_input_nodes)
        own = sizes.get(node.name, 0)
        temporaries = 6 * inputs + 2 * own if net.kinds[node.name].is_kink else own
        grow = 2 if net.kinds[node.name].is_kink else 1  # a kink's crossings add knots
        found.append(8.0 * grow * (2 * (live + own) + temporaries))
    _KNOT_BYTES[net] = found
    return found


#: Bytes per knot at each node of a network (graph networks are immutable).
_KNOT_BYTES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _on_device(net: GraphNetwork, device: torch.device) -> fx.GraphModule:
    """The network's graph in float64 on ``device``, copied once per network and device."""
    copies = _ON_DEVICE.setdefault(net, {})
    if str(device) not in copies:
        copies[str(device)] = copy.deepcopy(net.module).to(device)
    return copies[str(device)]


# Graph networks are immutable: each is copied to a device once, on its first trace there.
_ON_DEVICE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def visit(graph: fx.GraphModule, kinds: Mapping[str, NodeKind], *tables: dict,
          start: int | None = None):  # fmt: skip
    """The graph's input, affine and kink nodes in order, as (node, kind) (``kinds``: the
    network's :attr:`~bends.nets.graph.GraphNetwork.kinds`); constants are skipped (read
    when used, see :func:`~bends.nets.rules.resolve`). After each node, the entries of
    ``tables`` (name → values) that no later node reads are dropped (the output's kept).
    ``start``: begin at the node of this index, and yield (index, node, kind)."""
    nodes = list(graph.graph.nodes)
    output = output_node(nodes).name
    last_use = _last_uses(kinds, nodes)
    for index, node in enumerate(nodes):
        kind = kinds[node.name]
        if kind is NodeKind.OUTPUT:
            return
        if kind is NodeKind.CONSTANT or index < (start or 0):
            continue
        yield (node, kind) if start is None else (index, node, kind)
        for name in [n for n in tables[0] if n != output and last_use[n] <= index]:
            for table in tables:
                del table[name]


def output_node(nodes: list[fx.Node]) -> fx.Node:
    """The node whose value the graph returns (an exported graph returns a 1-tuple)."""
    result = next(n for n in nodes if n.op == "output").args[0]
    if isinstance(result, tuple | list):
        if len(result) != 1:
            raise BendsError("the module must return one tensor")
        result = result[0]
    return result


def _last_uses(kinds: Mapping[str, NodeKind], nodes: list[fx.Node]) -> dict[str, int]:
    """After which node each node's values can be dropped: its last reader's index, where a
    size or attribute read counts as read where its own result is used."""
    index = {n.name: i for i, n in enumerate(nodes)}
    last: dict[str, int] = {}
    for node in reversed(nodes):
        constant = NodeKind.CONSTANT
        uses = [last[u.name] if kinds[u.name] is constant else index[u.name] for u in node.users]
        last[node.name] = max(uses, default=-1)
    return last


def _elementwise(graph: fx.GraphModule, node: fx.Node, state: Knots,
                zero_tol: float) -> torch.Tensor:  # fmt: skip
    """An elementwise node: knots where its input crosses a kink, then its values, its slope
    on each interval's branch and its branches; per segment, how many crossings were
    merged."""
    x_name = node.args[0].name
    kinks, slopes = elementwise_kinks(graph, node, state.values[x_name])
    merged = _insert_crossings(state, x_name, kinks, zero_tol)
    x = state.values[x_name]
    x = snapped(x, kinks, state.tolerance(x, kinks, zero_tol))
    twice_mid = x[1:] + x[:-1]  # the midpoint, doubled: compared with 2c, exactly
    branch = sum((twice_mid > 2 * c).to(torch.int8) for c in kinks)
    state.values[node.name] = elementwise_value(graph, node, x, state.values)
    state.slopes[node.name] = branch_slopes(slopes, branch, state.slopes[x_name])
    state.kinked(branch)
    return merged


def _insert_crossings(state: Knots, name: str, kinks, zero_tol: float) -> torch.Tensor:
    """Knots where the value ``name`` strictly crosses one of ``kinks`` inside an interval
    (of a segment: never between two); per segment, how many crossings were merged."""
    x = state.values[name]
    x = snapped(x, kinks, state.tolerance(x, kinks, zero_tol)).reshape(len(state.t), -1)
    found = []
    outer = (~state.inner).nonzero(as_tuple=True)[0]  # between segments: never crossed
    for c in kinks:
        s = x if c == 0 else x - c
        crossing = (s[:-1] * s[1:]) < 0
        crossing[outer] = False
        if crossing.any():
            interval, element = crossing.nonzero(as_tuple=True)
            frac = s[interval, element] / (s[interval, element] - s[interval + 1, element])
            t0, t1 = state.t[interval], state.t[interval + 1]
            found.append((interval, t0 + (t1 - t0) * frac))
    return insert(state, found)


def _pairwise(graph: fx.GraphModule, node: fx.Node, state: Knots,
              zero_tol: float) -> torch.Tensor:  # fmt: skip
    """torch.maximum / minimum of two tensors: the winner changes where their difference
    changes sign."""
    first, second, larger = pairwise_inputs(node)
    key = f"{node.name}:difference"
    state.values[key] = state.values[first.name] - state.values[second.name]
    state.slopes[key] = state.slopes[first.name] - state.slopes[second.name]
    merged = _insert_crossings(state, key, [0.0], zero_tol)
    difference = state.values.pop(key)
    difference = snapped(difference, [0.0], state.tolerance(difference, [0.0], zero_tol))
    state.slopes.pop(key)
    mid = (difference[1:] + difference[:-1]) / 2
    first_wins = mid >= 0 if larger else mid <= 0
    va, vb = state.values[first.name], state.values[second.name]
    state.values[node.name] = torch.maximum(va, vb) if larger else torch.minimum(va, vb)
    state.slopes[node.name] = torch.where(first_wins, state.slopes[first.name],
                                          state.slopes[second.name])  # fmt: skip
    state.kinked(first_wins.to(torch.int8))
    return merged


#: One handler per kind of nonlinearity: insert the node's crossings, then compute its
#: values, slopes and branches; per segment, how many crossings were merged.
KINKS: dict[NodeKind, Callable[[fx.GraphModule, fx.Node, Knots, float], torch.Tensor]] = {
    NodeKind.ELEMENTWISE: _elementwise,
    NodeKind.PAIRWISE_MAX: _pairwise,
    NodeKind.POOL_MAX: max_pool,
}


def _results(net, a, b, state: Knots, output, slope_rtol, pieces) -> Traces:
    t, inner, count = state.t, state.inner, state.count
    values = state.values[output].reshape(len(t), -1).cpu().numpy()
    slopes = state.slopes[output].reshape(len(t) - 1, -1)[inner].cpu().numpy()
    region_breaks = state.breaks.cpu().numpy()
    switches, dead, always_on = [], [], []
    for kink in state.statistics:
        constant = kink.switches == 0
        switches.append(kink.switches.cpu().numpy())
        dead.append((constant & (kink.first == 0)).cpu().numpy())
        always_on.append((constant & (kink.first != 0)).cpu().numpy())
    offsets = np.zeros(count + 1, dtype=np.int64)
    offsets[1:] = torch.bincount(state.segment, minlength=count).cumsum(0).cpu().numpy()
    knots = t.cpu().numpy()
    breaks = output_breaks(offsets, values, slopes, region_breaks, slope_rtol) if pieces else None
    warn_unresolved(knots, offsets, stacklevel=4)
    return Traces(
        network=net,
        starts=a.reshape(count, -1).cpu().numpy(),
        ends=b.reshape(count, -1).cpu().numpy(),
        offsets=offsets,
        knots=knots,
        values=values,
        slopes=slopes if pieces else None,
        region_breaks=region_breaks,
        piece_breaks=None if breaks is None else breaks.any(axis=1),
        output_breaks=breaks,
        switches=switches,
        dead=dead,
        always_on=always_on,
        log_scale=np.zeros(count),
        snapped=np.zeros(count, dtype=np.int64),
        merged=state.merged.cpu().numpy(),
    )


def graph_trace_result(
    net, a, b, knots, values, slopes, region_breaks, switches, dead, always_on, merged,
    slope_rtol,
) -> Trace:  # fmt: skip
    """The Trace of a graph network along one segment from its knots, the output's values
    (knots, outputs) and slopes (intervals, outputs) and the region breaks; pieces by
    :func:`~bends.tracing._results.traces.output_breaks`. ``slopes`` None: regions only."""
    offsets = np.array([0, len(knots)])
    if slopes is None:
        piece_breaks = breaks = None
    else:
        breaks = output_breaks(offsets, values, slopes, region_breaks, slope_rtol)
        piece_breaks = breaks.any(axis=1)
    warn_unresolved(knots, offsets, stacklevel=4)
    return Trace(
        network=net,
        start=a,
        end=b,
        knots=knots,
        values=values,
        slopes=slopes,
        region_breaks=region_breaks,
        piece_breaks=piece_breaks,
        switches=switches,
        dead=dead,
        always_on=always_on,
        merged=merged,
        output_breaks=breaks,
    )
