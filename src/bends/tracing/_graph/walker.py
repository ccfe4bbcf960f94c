r"""The region walker: the brute-force way to find the regions along a segment.

Tools that count regions near data walk: at a point :math:`x(t)` they run one forward pass
that fixes every kink's branch for the region the segment enters just after t (a value on a
kink goes to the side its slope :math:`d/dt` is heading), read off each kink input's value
and slope, and step to the nearest t' > t where one of them reaches a kink (an elementwise
kink c: :math:`x + s\,\dot x = c`; a maximum: where another input of a window overtakes its
leader). One forward pass per region, one region after another.

It shares nothing with the tracer but the affine layers' arithmetic, so the tests use it as
an independent reference for :func:`~bends.tracing._entry.trace_segments`, and
``benchmarks/local_complexity.py`` as the baseline a batched trace is measured against.

Example:
    >>> import torch
    >>> from bends.nets.graph import GraphNetwork
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = GraphNetwork.from_module(torch.nn.Sequential(torch.nn.Linear(1, 8),
    ...     torch.nn.ReLU(), torch.nn.Linear(8, 1)), (1,))
    >>> from bends import trace
    >>> len(walk(net, [-3.0], [3.0])) + 1 == trace(net, [-3.0], [3.0]).regions
    True
"""

from __future__ import annotations

import numpy as np
import torch
from torch import fx

from bends.nets.graph import GraphNetwork
from bends.nets.rules import (
    NodeKind,
    affine,
    branch_slopes,
    elementwise_kinks,
    elementwise_value,
    pairwise_inputs,
    pool_module,
)
from bends.tracing._graph.pool import windows
from bends.tracing._graph.tracer import visit

#: Values within this fraction of their node's scale of a kink are on it (then the slope
#: decides the side); crossings less than ``STEP`` (in t) ahead are where the walk stands
#: already (rounding moved them off it), not new regions.
ON_KINK = 1e-9
STEP = 1e-12


class _Point:
    """A point of the segment: every node's value there and its slope d/dt."""

    def __init__(self) -> None:
        self.values: dict = {}
        self.slopes: dict = {}


def walk(net: GraphNetwork, start, end) -> np.ndarray:
    """The region boundaries (t in (0, 1)) along ``start`` → ``end``, one forward pass per
    region (see the module docstring)."""
    a = torch.as_tensor(np.asarray(start, dtype=np.float64)).reshape(1, *net.input_shape)
    b = torch.as_tensor(np.asarray(end, dtype=np.float64)).reshape(1, *net.input_shape)
    boundaries, t = [], 0.0
    with torch.no_grad():
        while True:
            step = _next_boundary(net, a + t * (b - a), b - a)
            t = t + step
            if t >= 1.0:
                return np.array(boundaries)
            boundaries.append(t)


def _next_boundary(net: GraphNetwork, x: torch.Tensor, direction: torch.Tensor) -> float:
    """How far (in t) the region entered at ``x`` along ``direction`` extends."""
    graph, point = net.module, _Point()
    nearest = np.inf
    for node, kind in visit(graph, net.kinds, point.values, point.slopes):
        if kind is NodeKind.INPUT:
            point.values[node.name], point.slopes[node.name] = x, direction
        elif kind is NodeKind.AFFINE:
            affine(graph, node, point.values, point.slopes)
        else:
            nearest = min(nearest, KINKS[kind](graph, node, point))
    return nearest


def _elementwise(graph: fx.GraphModule, node: fx.Node, point: _Point) -> float:
    """The node's value and slope on the region ahead; how far until its input reaches a
    kink (inf if never)."""
    name = node.args[0].name
    x, dx = point.values[name], point.slopes[name]
    kinks, slopes = elementwise_kinks(graph, node, x)
    on = ON_KINK * max(float(x.abs().max()), *[abs(c) for c in kinks], 1e-300)
    branch, ahead = torch.zeros_like(x, dtype=torch.long), np.inf
    for c in kinks:
        gap = x - c
        level = gap.abs() <= on
        # on the kink (within rounding of it, on either side), the side it is heading to
        branch += torch.where(level, dx > 0, gap > 0).long()
        heading = (~level) & (gap * dx < 0)
        if heading.any():
            steps = -gap[heading] / dx[heading]
            if (steps > STEP).any():
                ahead = min(ahead, float(steps[steps > STEP].min()))
    point.values[node.name] = elementwise_value(graph, node, x, point.values)
    point.slopes[node.name] = branch_slopes(slopes, branch, dx)
    return ahead


def _leaders(values: torch.Tensor, slopes: torch.Tensor, valid: torch.Tensor) -> tuple:
    """Each window's leader ahead (the largest value, ties to the steepest) and how far
    until another member overtakes it. values, slopes: (windows, members)."""
    values = torch.where(valid, values, -torch.inf)
    on = ON_KINK * max(float(values[valid].abs().max()), 1e-300)
    tied = valid & (values >= values.max(dim=-1, keepdim=True).values - on)
    leader = torch.where(tied, slopes, -torch.inf).argmax(dim=-1, keepdim=True)
    gap = values.gather(-1, leader) - values
    gain = slopes - slopes.gather(-1, leader)
    behind = valid & (gain > 0) & (gap > on)
    steps = gap[behind] / gain[behind]
    ahead = float(steps[steps > STEP].min()) if (steps > STEP).any() else np.inf
    return leader[..., 0], ahead


def _window_maximum(graph: fx.GraphModule, node: fx.Node, point: _Point) -> float:
    """A maximum over windows: each window's leader ahead; how far until one is overtaken."""
    name = node.args[0].name
    x, dx = point.values[name], point.slopes[name]
    module = pool_module(graph, node, x.dim() - 2)
    members = windows(module, node, tuple(x.shape[1:]))
    valid, safe = members >= 0, members.clamp(min=0)
    leader, ahead = _leaders(x.reshape(-1)[safe], dx.reshape(-1)[safe], valid)
    point.values[node.name] = module(x)
    chosen = dx.reshape(-1)[safe].gather(-1, leader[:, None])[:, 0]
    point.slopes[node.name] = chosen.reshape(point.values[node.name].shape)
    return ahead


def _two_way(graph: fx.GraphModule, node: fx.Node, point: _Point) -> float:
    """The maximum (minimum) of two tensors: the leader ahead; how far until it changes."""
    first_node, second_node, larger = pairwise_inputs(node)
    first, second, sign = first_node.name, second_node.name, 1.0 if larger else -1.0
    pair = torch.stack([point.values[first], point.values[second]], dim=-1).reshape(-1, 2)
    rates = torch.stack([point.slopes[first], point.slopes[second]], dim=-1).reshape(-1, 2)
    leader, ahead = _leaders(sign * pair, sign * rates, torch.ones_like(pair, dtype=torch.bool))
    shape = point.values[first].shape
    point.values[node.name] = pair.gather(-1, leader[:, None]).reshape(shape)
    point.slopes[node.name] = rates.gather(-1, leader[:, None]).reshape(shape)
    return ahead


#: One handler per kind of nonlinearity: its value and slope on the region ahead; how far
#: (in t) until that region ends.
KINKS = {
    NodeKind.ELEMENTWISE: _elementwise,
    NodeKind.PAIRWISE_MAX: _two_way,
    NodeKind.POOL_MAX: _window_maximum,
}
