"""Maxima over windows in a graph trace (:mod:`bends.tracing.graph`): MaxPool and
AdaptiveMaxPool, the window of every output element, and knots where a window's leader is
overtaken."""

from __future__ import annotations

import itertools

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn

from bends.errors import BendsError
from bends.tracing._graph_knots import Knots, insert, scale


def windows(module, node: fx.Node, x_shape) -> torch.Tensor:
    """Indices (into one sample's flattened input) of each output element's window,
    shape (outputs, window), −1 where the window covers padding."""
    index = torch.arange(int(np.prod(x_shape)), dtype=torch.float64).reshape(x_shape)
    spatial = len(x_shape) - 1
    module = module or pool_module(node, spatial)

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


def pool_module(node: fx.Node, spatial: int) -> nn.Module:
    """The nn.MaxPoolNd that a functional max_pool node computes."""
    if "adaptive" in getattr(node.target, "__name__", ""):
        size = node.args[1] if len(node.args) > 1 else node.kwargs["output_size"]
        return (nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)[spatial - 1](size)
    names = ("kernel_size", "stride", "padding", "dilation", "ceil_mode")
    given = dict(zip(names, node.args[1:], strict=False)) | dict(node.kwargs)
    given.pop("return_indices", None)
    if not given.get("stride"):
        given["stride"] = None
    pool = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)[spatial - 1]
    return pool(**given)


def max_pool(graph, node, module, state: Knots, zero_tol: float) -> int:
    """A running maximum over windows: insert a knot wherever the leader of a window is
    overtaken inside an interval, until no interval changes hands."""
    x_name = node.args[0].name
    x_shape = tuple(state.values[x_name].shape[1:])
    module = module or pool_module(node, len(x_shape) - 1)
    members = windows(module, node, x_shape)
    valid, safe = members >= 0, members.clamp(min=0)
    merged = 0
    while True:
        v = state.values[x_name].reshape(len(state.t), -1)
        d = state.slopes[x_name].reshape(len(state.t) - 1, -1)
        left = torch.where(valid, v[:-1, safe], -torch.inf)  # (K − 1, outputs, window)
        slope = d[:, safe]
        tol = zero_tol * scale(v, [])
        tied = valid & (left >= left.max(dim=-1, keepdim=True).values - tol)
        # the leader: the largest at the interval's left end, ties to the steepest
        leader = torch.where(tied, slope, -torch.inf).argmax(dim=-1, keepdim=True)
        gap = left.gather(-1, leader) - left
        gain = slope - slope.gather(-1, leader)
        behind = valid & (gain > 0) & (gap > tol)
        catch = torch.where(behind, gap / torch.where(behind, gain, 1.0), torch.inf)
        first = catch.min(dim=-1).values  # (K − 1, outputs): t after t_i of the first overtaking
        length = (state.t[1:] - state.t[:-1])[:, None]
        inside = first < length
        if not inside.any():
            break
        interval, _ = inside.nonzero(as_tuple=True)
        before = len(state.t)
        merged += insert(state, [state.t[interval] + first[inside]])
        if len(state.t) == before:  # only crossings on existing knots: nothing changes hands
            break
    v = state.values[x_name].reshape(len(state.t), -1)
    d = state.slopes[x_name].reshape(len(state.t) - 1, -1)
    window = torch.where(valid, v[:, safe], -torch.inf)
    leader = ((window[1:] + window[:-1]) / 2).argmax(dim=-1)
    state.values[node.name] = module(state.values[x_name])
    out_shape = state.values[node.name].shape[1:]
    state.slopes[node.name] = (
        d[:, safe].gather(-1, leader[..., None])[..., 0].reshape(len(state.t) - 1, *out_shape)
    )
    state.branches.append(leader)
    return merged
