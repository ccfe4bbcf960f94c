"""Maxima over windows in a graph trace (:mod:`bends.tracing._graph.tracer`): MaxPool and
AdaptiveMaxPool, the window of every output element, and knots where a window's leader is
overtaken."""

from __future__ import annotations

import itertools

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn

from bends.errors import BendsError
from bends.nets.rules import pool_module
from bends.tracing._graph.knots import Knots, insert


def windows(module: nn.Module, node: fx.Node, x_shape) -> torch.Tensor:
    """Indices (into one sample's flattened input) of each output element's window,
    shape (outputs, window), −1 where the window covers padding; ``module``: the node's
    pool (:func:`~bends.nets.rules.pool_module`)."""
    index = torch.arange(int(np.prod(x_shape)), dtype=torch.float64).reshape(x_shape)
    spatial = len(x_shape) - 1

    def per_dim(value) -> tuple:
        return (value,) * spatial if isinstance(value, int) or value is None else tuple(value)

    if isinstance(module, nn.modules.pooling._AdaptiveMaxPoolNd):
        sizes = [
            length if out is None else out
            for length, out in zip(x_shape[1:], per_dim(module.output_size), strict=True)
        ]
        spans = [[slice(i * length // out, -(-(i + 1) * length // out)) for i in range(out)]
                 for length, out in zip(x_shape[1:], sizes, strict=True)]  # fmt: skip
        members = [index[channel][cell].reshape(-1) for channel in range(x_shape[0])
                   for cell in itertools.product(*spans)]  # fmt: skip
        width = max(len(m) for m in members)
        return torch.stack([F.pad(m, (0, width - len(m)), value=-1.0) for m in members]).long()
    if module.ceil_mode:
        raise BendsError(f"`{node.target}`: MaxPool with ceil_mode=True is not supported yet")
    kernel, dilation = per_dim(module.kernel_size), per_dim(module.dilation)
    stride, padding = per_dim(module.stride or module.kernel_size), per_dim(module.padding)
    grid = F.pad(index[None], [p for pad in reversed(padding) for p in (pad, pad)], value=-1.0)[0]
    for dim in range(spatial):
        grid = grid.unfold(1 + dim, dilation[dim] * (kernel[dim] - 1) + 1, stride[dim])
    for dim in range(spatial):  # every dilation-th member of each span
        axis = 1 + spatial + dim
        grid = grid.index_select(axis, torch.arange(0, grid.shape[axis], dilation[dim]))
    return grid.reshape(int(np.prod(grid.shape[: 1 + spatial])), -1).long()


def max_pool(graph: fx.GraphModule, node: fx.Node, state: Knots, zero_tol: float) -> torch.Tensor:
    """A running maximum over windows: insert a knot wherever the leader of a window is
    overtaken inside an interval, until no interval changes hands; per segment, how many
    crossings were merged.

    A member overtakes inside an interval when it is behind the leader by more than the
    tolerance at the left end and ahead by more than it at the right end (values within it
    are level, as values within it of a kink are on it). A maximum of affine functions is
    convex: a member that is a maximum at both ends of an interval is one throughout, and no
    member can then be ahead of the leader by more than the tolerance at the right end. Only
    the intervals where no one member is largest at both ends are searched (the largest
    found by the pool itself, with its indices, where it is a MaxPool module). After an
    insertion only the intervals that begin at a new knot can change hands again."""
    x_name = node.args[0].name
    x_shape = tuple(state.values[x_name].shape[1:])
    module = pool_module(graph, node, len(x_shape) - 1)
    members = windows(module, node, x_shape).to(state.t.device)
    valid, flat = members >= 0, members.clamp(min=0).reshape(-1)
    padded = not bool(valid.all())

    def gathered(rows: torch.Tensor) -> torch.Tensor:  # (rows, outputs, window)
        out = rows.index_select(1, flat).reshape(len(rows), *members.shape)
        return torch.where(valid, out, -torch.inf) if padded else out

    def largest(rows: torch.Tensor) -> torch.Tensor:  # (rows, outputs): a maximal member
        if isinstance(module, _FIXED_POOLS):
            shaped = rows.reshape(len(rows), *x_shape)
            _, at = _POOL_FUNCTIONS[len(x_shape) - 2](
                shaped, module.kernel_size, module.stride, module.padding, module.dilation,
                return_indices=True)  # fmt: skip
            plane = int(np.prod(x_shape[1:]))  # indices count within each channel's plane
            offset = torch.arange(x_shape[0], device=rows.device) * plane
            return (at + offset.view(1, -1, *[1] * (at.dim() - 2))).reshape(len(rows), -1)
        best = gathered(rows).argmax(dim=-1, keepdim=True)
        return members.clamp(min=0)[None].expand(len(rows), -1, -1).gather(-1, best)[..., 0]

    merged = torch.zeros(state.count, dtype=torch.long, device=state.t.device)
    # interpolation never exceeds the ends, so each segment's scale stays what it is now
    tol = zero_tol * state.largest(state.values[x_name]).clamp(min=1e-300)
    at_knots = largest(state.values[x_name].reshape(len(state.t), -1))
    same = (at_knots[1:] == at_knots[:-1]).all(dim=-1)
    active = (state.inner & ~same).nonzero(as_tuple=True)[0]
    while len(active):
        v = state.values[x_name].reshape(len(state.t), -1)
        d = state.slopes[x_name].reshape(len(state.t) - 1, -1)
        left, slope = gathered(v.index_select(0, active)), gathered(d.index_select(0, active))
        near = tol[state.segment[active]].view(-1, 1, 1)
        tied = valid & (left >= left.max(dim=-1, keepdim=True).values - near)
        # the leader: the largest at the interval's left end, ties to the steepest
        leader = torch.where(tied, slope, -torch.inf).argmax(dim=-1, keepdim=True)
        gap = left.gather(-1, leader) - left
        gain = slope - slope.gather(-1, leader)
        right = gathered(v.index_select(0, active + 1))
        # ahead at both ends by more than the tolerance, as a sign change must be strict:
        # one that only draws level at a knot overtakes there, not inside
        ahead = right - right.gather(-1, leader) > near
        behind = valid & (gain > 0) & (gap > near) & ahead
        catch = torch.where(behind, gap / torch.where(behind, gain, 1.0), torch.inf)
        first = catch.min(dim=-1).values  # (active, outputs): t after t_i of the first overtaking
        length = (state.t[active + 1] - state.t[active])[:, None]
        inside = first < length
        if not inside.any():
            break
        row, _ = inside.nonzero(as_tuple=True)
        interval = active[row]
        merged += insert(state, [(interval, state.t[interval] + first[inside])])
        active = state.added
    v = state.values[x_name].reshape(len(state.t), -1)
    d = state.slopes[x_name].reshape(len(state.t) - 1, -1)
    leader = largest((v[1:] + v[:-1]) / 2)  # (K − 1, outputs): the input each one follows
    state.values[node.name] = module(state.values[x_name])
    out_shape = state.values[node.name].shape[1:]
    state.slopes[node.name] = d.gather(1, leader).reshape(len(state.t) - 1, *out_shape)
    state.kinked(leader)
    return merged


# Pools whose windows F.max_poolNd finds itself (with the index of each window's maximum).
_FIXED_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)
_POOL_FUNCTIONS = (F.max_pool1d, F.max_pool2d, F.max_pool3d)
