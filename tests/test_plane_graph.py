"""Planes of graph networks (bends.tracing._graph.plane): the same partition as the MLP
tracer where a module is an MLP, Euler's formula, and every segment inside the plane crossing
as many faces as the 1-D graph tracer finds regions on it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_plane import _faces_crossed
from torch import nn

from bends import BendsError, from_torch, trace
from bends.nets.graph import GraphNetwork
from bends.tracing import trace_plane

CORNERS = ([-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0])


def _seeded(module: nn.Module, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    for parameter in module.parameters():
        nn.init.normal_(parameter)
    return module.double().eval()


@pytest.mark.parametrize("seed", range(4))
def test_a_sequential_mlp_read_as_a_graph_has_the_mlps_plane(seed):
    module = _seeded(nn.Sequential(nn.Linear(2, 6), nn.ReLU(), nn.Linear(6, 5), nn.ReLU(),
                                   nn.Linear(5, 2)), seed)  # fmt: skip
    graph = trace_plane(GraphNetwork.from_module(module, (2,)), *CORNERS)
    mlp = trace_plane(from_torch(module), *CORNERS)
    assert (graph.regions, graph.pieces, graph.vertices, graph.edges) == (
        mlp.regions, mlp.pieces, mlp.vertices, mlp.edges)  # fmt: skip
    assert graph.layer_sizes == mlp.layer_sizes == (6, 5)


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(2, 4)
        self.mix = nn.Linear(4, 2)
        self.head = nn.Linear(2, 3)

    def forward(self, x):
        h = x + self.mix(nn.functional.leaky_relu(self.inner(x), 0.2))
        return self.head(torch.clamp(h, -0.5, 0.5))


class Tiny(nn.Module):
    """A conv net on 1 × 4 × 4 images: conv, BatchNorm, ReLU6, average pool, linear."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.norm = nn.BatchNorm2d(2)
        self.pool = nn.AvgPool2d(2)
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        return self.head(self.pool(nn.functional.relu6(self.norm(self.conv(x)))).flatten(1))


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("build, shape", [(Residual, (2,)), (Tiny, (1, 4, 4))])
def test_graph_planes_hold_euler_and_agree_with_the_1d_graph_tracer(build, shape, seed):
    module = _seeded(build(), seed)
    if isinstance(module, Tiny):
        module.norm.running_var.uniform_(0.5, 2.0)
    net = GraphNetwork.from_module(module, shape)
    rng = np.random.default_rng(seed)
    corners = [rng.normal(size=int(np.prod(shape))) * 2 for _ in range(3)]
    partition = trace_plane(net, *corners)
    assert partition.vertices - partition.edges + partition.regions == 1
    assert abs(partition.areas().sum() - 1) < 1e-12
    assert partition.regions > 4 and partition.pieces <= partition.regions
    for _ in range(5):
        s0, u0, s1, u1 = rng.uniform(0.05, 0.95, size=4)
        start, end = partition.to_input(np.array([[s0, u0], [s1, u1]]))
        tr = trace(net, start.reshape(shape), end.reshape(shape))
        assert tr.regions == _faces_crossed(partition, np.array([s0, u0]), np.array([s1, u1]))
    # the output's affine map on each face reproduces the module at the face's centre
    centres = np.array([partition.points[f].mean(axis=0) for f in partition.polygons])
    mapped = partition.intercepts + np.einsum("fok,fk->fo", partition.gradients, centres)
    inputs = torch.from_numpy(partition.to_input(centres)).reshape(-1, *shape)
    with torch.no_grad():
        assert np.allclose(mapped, module(inputs).numpy(), atol=1e-9)


def test_max_pooling_planes_are_refused_by_name():
    module = nn.Sequential(nn.Linear(2, 4), nn.Unflatten(1, (1, 4)), nn.MaxPool1d(2),
                           nn.Flatten(), nn.Linear(2, 1)).double()  # fmt: skip
    with pytest.raises(BendsError, match="maximum over windows"):
        trace_plane(GraphNetwork.from_module(module, (2,)), *CORNERS)
    with pytest.raises(BendsError, match="exact planes"):
        trace_plane(GraphNetwork.from_module(module, (2,)), *CORNERS, exact=True)
