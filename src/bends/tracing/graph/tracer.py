r"""Exact 1-D tracing of a graph network (:class:`bends.nets.graph.GraphNetwork`).

The same rule as for MLPs (:mod:`bends.tracing.line.tracer`): along :math:`x(t) = a + t(b - a)`
every node's value is affine in t between consecutive knots, so its values at the knots are
the whole truth. Nodes are visited in the graph's order; every node keeps its values V at the
knots (K, …) and its slopes D = dV/dt on the intervals (K − 1, …):

* an **affine** node computes V by running its own module or function on the knots as a batch,
  and D by running its linear part (no bias, no constants) on the slopes;
* a **kink** node first inserts a knot wherever its input strictly crosses a kink inside an
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
import operator
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn

from bends.errors import BendsError
from bends.nets.graph import (
    AFFINE_FUNCTIONS,
    AFFINE_METHODS,
    MAX_MODULES,
    MAX_POOL_FUNCTIONS,
    PARAMETRIC_FUNCTIONS,
    GraphNetwork,
    batch_norm,
    kind,
)
from bends.tracing.graph.knots import Knots, insert, snapped
from bends.tracing.graph.pool import max_pool
from bends.tracing.results.trace import Trace
from bends.tracing.results.traces import Traces, output_breaks, warn_unresolved
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
    (:class:`~bends.tracing.graph.knots.Knots`), every node runs once on all of them, and
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
    merged = torch.zeros(count, dtype=torch.long, device=device)
    switches, dead, always_on = [], [], []
    with torch.no_grad():
        for node, role in visit(graph, state.values, state.slopes):
            if role == "input":
                knots = torch.stack(ends_of, dim=1).reshape(per * count, *a.shape[1:])
                state.values[node.name] = knots
                steps = torch.zeros_like(knots[1:])
                for k in range(per - 1):  # the outer intervals between segments stay flat
                    steps[k::per] = b - a
                state.slopes[node.name] = steps
            elif role == "kink":
                merged += _kink(graph, node, state, zero_tol)
                for stats, table in zip(_kink_statistics(state), (switches, dead, always_on),
                                        strict=True):  # fmt: skip
                    table.append(stats)
            else:
                _affine(graph, node, state)
    output = output_node(list(graph.graph.nodes)).name
    return _results(net, a, b, state, output, switches, dead, always_on, merged, slope_rtol,
                    pieces)  # fmt: skip


def _on_device(net: GraphNetwork, device: torch.device) -> fx.GraphModule:
    """The network's graph in float64 on ``device``, copied once per network and device."""
    copies = _ON_DEVICE.setdefault(net, {})
    if str(device) not in copies:
        copies[str(device)] = copy.deepcopy(net.module).to(device)
    return copies[str(device)]


# Graph networks are immutable: each is copied to a device once, on its first trace there.
_ON_DEVICE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _kink_statistics(state: Knots) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The last kink node's switches (how often each element changes branch inside a
    segment), dead and always-on elements (on one branch, the first resp. another, on the
    whole segment), each (segments, elements)."""
    branch = state.branches[-1]
    count, elements = state.count, branch.shape[1]
    inner = state.inner
    interior = inner[1:] & inner[:-1]  # knots with both neighbouring intervals in one segment
    knot, element = ((branch[1:] != branch[:-1]) & interior[:, None]).nonzero(as_tuple=True)
    which = state.segment[knot + 1] * elements + element
    switches = torch.bincount(which, minlength=count * elements).reshape(count, elements)
    first = branch[state.firsts]  # a segment's first interval: the branch it starts on
    constant = switches == 0
    return (switches.cpu().numpy(), (constant & (first == 0)).cpu().numpy(),
            (constant & (first != 0)).cpu().numpy())  # fmt: skip


def visit(graph: fx.GraphModule, *tables: dict):
    """The graph's input, kink and affine nodes in order, as (node, role); sizes and
    attributes are skipped (read when used, see _resolve). After each node, the entries of
    ``tables`` (name → values) that no later node reads are dropped (the output's kept)."""
    nodes = list(graph.graph.nodes)
    output = output_node(nodes).name
    last_use = _last_uses(graph, nodes)
    for index, node in enumerate(nodes):
        role = kind(graph, node)
        if role == "output":
            return
        if role == "other":
            continue
        yield node, role
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


def _last_uses(graph: fx.GraphModule, nodes: list[fx.Node]) -> dict[str, int]:
    """After which node each node's values can be dropped: its last reader's index, where a
    size or attribute read counts as read where its own result is used."""
    index = {n.name: i for i, n in enumerate(nodes)}
    last: dict[str, int] = {}
    for node in reversed(nodes):
        uses = [last[u.name] if kind(graph, u) == "other" else index[u.name] for u in node.users]
        last[node.name] = max(uses, default=-1)
    return last


def _resolve(graph: fx.GraphModule, node: fx.Node, table: dict[str, Any], slopes: bool) -> Any:
    """A node's entry in ``table``; sizes and attributes are read now, from what they read."""
    if node.name in table:
        return table[node.name]
    if node.op == "get_attr":
        value = graph
        for part in node.target.split("."):  # a dotted path: submodule.parameter
            value = getattr(value, part)
        return torch.zeros_like(value) if slopes and isinstance(value, torch.Tensor) else value
    if node.op == "call_method" and node.target in ("size", "dim"):
        tensor = _resolve(graph, node.args[0], table, slopes)
        return getattr(tensor, node.target)(*node.args[1:], **node.kwargs)
    raise BendsError(f"`{node.name}` is needed but was not computed")  # pragma: no cover


def _args(graph: fx.GraphModule, args: Any, table: dict[str, Any], slopes: bool = False) -> Any:
    """``args`` with every graph node replaced by its entry in ``table`` (values or slopes)."""
    return fx.node.map_arg(args, lambda n: _resolve(graph, n, table, slopes))


def _affine(graph: fx.GraphModule, node: fx.Node, state: Knots) -> None:
    """Values by the node's own op on the knots; slopes by its linear part on the slopes."""
    args_v, kwargs_v = (
        _args(graph, node.args, state.values),
        _args(graph, node.kwargs, state.values),
    )
    args_d = _args(graph, node.args, state.slopes, slopes=True)
    kwargs_d = _args(graph, node.kwargs, state.slopes, slopes=True)
    if node.op == "call_module":
        module = graph.get_submodule(node.target)
        state.values[node.name] = module(*args_v, **kwargs_v)
        state.slopes[node.name] = _linear_module(module, *args_d)
        return
    call = node.target if node.op == "call_function" else _method(node.target)
    state.values[node.name] = call(*args_v, **kwargs_v)
    if call in PARAMETRIC_FUNCTIONS:
        state.slopes[node.name] = linear_part(call, args_d[0], args_v[1:], kwargs_v)
    elif call in AFFINE_FUNCTIONS or node.target in AFFINE_METHODS:
        state.slopes[node.name] = _linear_affine(call, node, args_d, args_v)
    else:
        state.slopes[node.name] = call(*args_d, **kwargs_d)


def linear_part(call, d: torch.Tensor, weights: tuple, kwargs: dict) -> torch.Tensor:
    """The slopes through F.linear / F.convNd / batch_norm: the weights, no bias."""
    if call is F.linear:
        return F.linear(d, weights[0])
    if call is batch_norm:
        weight, _, _, var = weights[:4]
        eps = weights[6] if len(weights) > 6 else kwargs.get("eps", 1e-5)
        scale = 1.0 / torch.sqrt(var + eps)
        if weight is not None:
            scale = scale * weight
        return d * scale.view(1, -1, *([1] * (d.dim() - 2)))
    rest = {k: v for k, v in kwargs.items() if k != "bias"}
    return call(d, weights[0], None, *weights[2:], **rest)


def _method(name: str) -> Callable[..., Any]:
    return lambda tensor, *args, **kwargs: getattr(tensor, name)(*args, **kwargs)


def _linear_module(module: nn.Module, d: torch.Tensor) -> torch.Tensor:
    """The linear part of an affine module applied to slopes ``d``."""
    if isinstance(module, nn.Linear):
        return F.linear(d, module.weight)
    if isinstance(module, nn.modules.conv._ConvNd):
        saved, module.bias = module.bias, None
        try:
            return module(d)
        finally:
            module.bias = saved
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        scale = 1.0 / torch.sqrt(module.running_var + module.eps)
        if module.weight is not None:
            scale = scale * module.weight
        return d * scale.view(1, -1, *([1] * (d.dim() - 2)))
    return module(d)  # pools, reshapes, identities: linear, no constant


def _linear_affine(call, node: fx.Node, slopes: tuple, values: tuple) -> torch.Tensor:
    """Slopes of x ± c, c − x, c·x, x / c (c constant: a number or a buffer) and of sums of
    tensors."""
    tensors = [isinstance(a, fx.Node) and a.op != "get_attr" for a in node.args]
    constants = [v if not t else s for v, s, t in zip(values, slopes, tensors, strict=False)]
    first, second = slopes[0], slopes[1] if len(slopes) > 1 else None
    if call in (operator.add, torch.add, operator.sub, torch.sub) or node.target in (
        "add", "sub", "__add__", "__sub__"
    ):  # fmt: skip
        negate = call in (operator.sub, torch.sub) or node.target in ("sub", "__sub__")
        if all(tensors[:2]):
            return first - second if negate else first + second
        if tensors[0]:
            return first
        return -second if negate else second
    # multiplication or division by a constant: the constant (its value) scales the slope
    if call in (operator.truediv, torch.div) or node.target in ("div", "__truediv__"):
        return first / constants[1]
    return first * constants[1] if tensors[0] else constants[0] * second


def _kink(graph: fx.GraphModule, node: fx.Node, state: Knots, zero_tol: float) -> torch.Tensor:
    """Insert the node's crossings, then compute its values, slopes and branches; per
    segment, how many crossings were merged."""
    module = graph.get_submodule(node.target) if node.op == "call_module" else None
    target = node.target
    if isinstance(module, MAX_MODULES) or target in MAX_POOL_FUNCTIONS:
        return max_pool(graph, node, module, state, zero_tol)
    if target in (torch.maximum, torch.minimum, torch.max, torch.min):
        return _pairwise(node, state, zero_tol)
    x_name = node.args[0].name
    kinks, slopes = _elementwise(graph, node, module, state.values[x_name])
    merged = _insert_crossings(state, x_name, kinks, zero_tol)
    x = state.values[x_name]
    x = snapped(x, kinks, state.tolerance(x, kinks, zero_tol))
    mid = (x[1:] + x[:-1]) / 2
    branch = sum((mid > c).to(torch.int8) for c in kinks)
    args_v = (x, *_args(graph, node.args[1:], state.values))
    kwargs_v = _args(graph, node.kwargs, state.values)
    call = (
        module
        if module is not None
        else (target if node.op == "call_function" else _method(target))
    )
    state.values[node.name] = call(*args_v, **kwargs_v)
    slope = torch.zeros_like(state.slopes[x_name])
    for number, s in enumerate(slopes):
        slope = torch.where(branch == number, s * state.slopes[x_name], slope)
    state.slopes[node.name] = slope
    state.branches.append(branch.reshape(len(branch), -1))
    return merged


def _elementwise(graph, node, module, x) -> tuple[list[float], list[Any]]:
    """The kinks c_1 < … of an elementwise node and its slope on each branch."""
    target, kwargs = node.target, node.kwargs
    args = [a for a in node.args[1:] if not isinstance(a, fx.Node)]
    if isinstance(module, nn.ReLU) or target in (torch.relu, F.relu, "relu"):
        return [0.0], [0.0, 1.0]
    if isinstance(module, nn.LeakyReLU) or target is F.leaky_relu:
        slope = (
            module.negative_slope
            if module is not None
            else (args or [kwargs.get("negative_slope", 0.01)])[0]
        )
        return [0.0], [slope, 1.0]
    if isinstance(module, nn.PReLU):
        weight = module.weight.detach()
        shape = [1] * x.dim()
        if x.dim() > 1 and weight.numel() > 1:
            shape[1] = -1
        return [0.0], [weight.view(shape), 1.0]
    if target in (torch.abs, "abs"):
        return [0.0], [-1.0, 1.0]
    if isinstance(module, nn.Hardtanh):  # ReLU6 is Hardtanh(0, 6)
        return [module.min_val, module.max_val], [0.0, 1.0, 0.0]
    if target in (F.relu6,):
        return [0.0, 6.0], [0.0, 1.0, 0.0]
    if target is F.hardtanh:
        low = (args or [kwargs.get("min_val", -1.0)])[0]
        high = (args[1:] or [kwargs.get("max_val", 1.0)])[0]
        return [low, high], [0.0, 1.0, 0.0]
    # clamp(x, min, max): either bound may be absent
    low = (args or [kwargs.get("min")])[0]
    high = (args[1:] or [kwargs.get("max")])[0]
    if isinstance(low, fx.Node) or isinstance(high, fx.Node):
        raise BendsError(f"`{node.name}` clamps to a tensor: give constant bounds")
    kinks = [c for c in (low, high) if c is not None]
    slopes = ([0.0] if low is not None else []) + [1.0] + ([0.0] if high is not None else [])
    return [float(c) for c in kinks], slopes


def _insert_crossings(state: Knots, name: str, kinks, zero_tol: float) -> torch.Tensor:
    """Knots where the value ``name`` strictly crosses one of ``kinks`` inside an interval
    (of a segment: never between two); per segment, how many crossings were merged."""
    x = state.values[name]
    x = snapped(x, kinks, state.tolerance(x, kinks, zero_tol)).reshape(len(state.t), -1)
    found = []
    for c in kinks:
        s = x - c
        crossing = ((s[:-1] * s[1:]) < 0) & state.inner[:, None]
        if crossing.any():
            interval, element = crossing.nonzero(as_tuple=True)
            frac = s[interval, element] / (s[interval, element] - s[interval + 1, element])
            t0, t1 = state.t[interval], state.t[interval + 1]
            found.append((interval, t0 + (t1 - t0) * frac))
    return insert(state, found)


def _pairwise(node: fx.Node, state: Knots, zero_tol: float) -> torch.Tensor:
    """torch.maximum / minimum of two tensors: the winner changes where their difference
    changes sign."""
    first, second = node.args[0], node.args[1] if len(node.args) > 1 else None
    if not isinstance(second, fx.Node):
        raise BendsError(f"`{node.name}`: only the maximum of two tensors is supported")
    key = f"{node.name}:difference"
    state.values[key] = state.values[first.name] - state.values[second.name]
    state.slopes[key] = state.slopes[first.name] - state.slopes[second.name]
    merged = _insert_crossings(state, key, [0.0], zero_tol)
    difference = state.values.pop(key)
    difference = snapped(difference, [0.0], state.tolerance(difference, [0.0], zero_tol))
    state.slopes.pop(key)
    mid = (difference[1:] + difference[:-1]) / 2
    larger = node.target in (torch.maximum, torch.max)
    first_wins = mid >= 0 if larger else mid <= 0
    va, vb = state.values[first.name], state.values[second.name]
    state.values[node.name] = torch.maximum(va, vb) if larger else torch.minimum(va, vb)
    state.slopes[node.name] = torch.where(first_wins, state.slopes[first.name],
                                          state.slopes[second.name])  # fmt: skip
    state.branches.append(first_wins.to(torch.int8).reshape(len(mid), -1))
    return merged


def _results(net, a, b, state: Knots, output, switches, dead, always_on, merged, slope_rtol,
             pieces) -> Traces:  # fmt: skip
    t, inner, count = state.t, state.inner, state.count
    values = state.values[output].reshape(len(t), -1).cpu().numpy()
    slopes = state.slopes[output].reshape(len(t) - 1, -1)[inner].cpu().numpy()
    interior = inner[1:] & inner[:-1]
    region_breaks = torch.zeros(len(t), dtype=torch.bool, device=t.device)
    for branch in state.branches:
        region_breaks[1:-1] |= (branch[1:] != branch[:-1]).any(dim=-1) & interior
    region_breaks = region_breaks.cpu().numpy()
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
        merged=merged.cpu().numpy(),
    )


def graph_trace_result(
    net, a, b, knots, values, slopes, region_breaks, switches, dead, always_on, merged,
    slope_rtol,
) -> Trace:  # fmt: skip
    """The Trace of a graph network along one segment from its knots, the output's values
    (knots, outputs) and slopes (intervals, outputs) and the region breaks; pieces by
    :func:`~bends.tracing.results.traces.output_breaks`. ``slopes`` None: regions only."""
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
