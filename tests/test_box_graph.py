"""n-D complexes of graph networks (bends.tracing._graph.box): an MLP read as a graph against
the independent exact splitter (tests/_box_oracle.py) and the MLP tracer, a conv net's slice
against its dense MLP's, 2-D slices against the planar graph tracer, and on residual and
branching graphs with every kink type: Euler's relation and each cell's map equal to the
network inside the cell."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import torch
from conftest import small_graphs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_box import _oracle, box_networks, euler
from torch import nn

from bends import MLP, BendsError, ResolutionWarning, to_torch, trace_box, trace_plane
from bends.nets.graph import GraphNetwork


def _graph(net: MLP) -> GraphNetwork:
    return GraphNetwork.from_module(to_torch(net), (net.input_dim,))


def _counts(cells) -> tuple:
    return cells.regions, cells.pieces, cells.vertices, cells.edges


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=box_networks(dims=(3,), max_width=4, max_depth=2))
def test_an_mlp_read_as_a_graph_equals_the_exact_splitter(net):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResolutionWarning)
        cells = trace_box(_graph(net), -np.ones(3), np.ones(3))
    if not cells.resolved:
        return
    want = _oracle(net, 3)
    assert _counts(cells) == (want["regions"], want["pieces"], len(want["vertices"]),
                              len(want["edges"]))  # fmt: skip
    assert cells.f_vector() == want["f_vector"]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=box_networks(dims=(3, 4), max_width=5, max_depth=3), simplex=st.booleans())
def test_an_mlp_read_as_a_graph_has_the_mlps_complex(net, simplex):
    d = net.input_dim
    corners = np.vstack([-np.ones(d), -np.ones(d) + 2 * np.eye(d)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResolutionWarning)
        graph = trace_box(_graph(net), corners=corners, simplex=simplex)
        mlp = trace_box(net, corners=corners, simplex=simplex)
    if graph.resolved and mlp.resolved:
        assert _counts(graph) == _counts(mlp)
        assert graph.layer_regions == mlp.layer_regions
        assert graph.layer_widths == mlp.layer_widths


def _dense(module: nn.Module, shape: tuple) -> tuple[np.ndarray, np.ndarray, tuple]:
    """An affine module as a matrix and offset on flattened inputs, and its output shape."""
    with torch.no_grad():
        n = int(np.prod(shape))
        zero = module(torch.zeros(1, *shape, dtype=torch.float64))
        basis = module(torch.eye(n, dtype=torch.float64).reshape(n, *shape))
    return (basis - zero).reshape(n, -1).T.numpy(), zero.reshape(-1).numpy(), zero.shape[1:]


def _as_mlp(cnn: nn.Sequential, shape: tuple) -> MLP:
    """A Sequential of affine modules and ReLUs as the MLP of its dense matrices."""
    layers, affine = [], []
    for module in [*cnn, nn.ReLU()]:
        if isinstance(module, nn.ReLU):
            w, b, shape = _dense(nn.Sequential(*affine), shape)
            layers.append((w, b))
            affine = []
        else:
            affine.append(module)
    return MLP.from_layers(layers)


@pytest.mark.parametrize(("seed", "d", "scale"), [(0, 3, 0.1), (1, 3, 0.3), (2, 4, 0.1)])
def test_a_conv_net_slice_equals_its_dense_mlps(seed, d, scale):
    """Conv (padded, strided), BatchNorm in eval, average pooling, between d + 1 images."""
    torch.manual_seed(seed)
    cnn = nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.Conv2d(3, 3, 3, stride=2),
        nn.ReLU(), nn.AvgPool2d(3), nn.Flatten(), nn.Linear(3, 2),
    ).double().eval()  # fmt: skip
    with torch.no_grad():
        cnn[1].running_mean.uniform_(-0.5, 0.5)
        cnn[1].running_var.uniform_(0.5, 2.0)
    corners = scale * np.random.default_rng(seed).normal(size=(d + 1, 1, 8, 8))
    graph = trace_box(GraphNetwork.from_module(cnn, (1, 8, 8)), corners=corners)
    mlp = trace_box(_as_mlp(cnn, (1, 8, 8)), corners=corners.reshape(d + 1, -1))
    assert graph.resolved and mlp.resolved
    assert _counts(graph) == _counts(mlp)
    assert graph.regions >= 50  # the slice crosses many of the conv neurons' zero sets
    assert graph.layer_regions == mlp.layer_regions


CORNERS = np.array([[-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=small_graphs())
def test_graph_planes_equal_the_planar_graph_tracer(model):
    """Residual blocks and branches with every kink type (LeakyReLU, PReLU, ReLU6, Hardtanh,
    |x|, maximum, clamp), degenerate and dyadic weights."""
    net = GraphNetwork.from_module(model, (2,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResolutionWarning)
        cells = trace_box(net, corners=CORNERS)
        plane = trace_plane(net, *CORNERS)
    if cells.resolved and plane.resolved:
        assert _counts(cells) == (plane.regions, plane.pieces, plane.vertices, plane.edges)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=small_graphs(), seed=st.integers(0, 2**16))
def test_graph_boxes_hold_euler_and_each_cells_map_is_the_networks(model, seed):
    """A 3-D slice (through a random linear map onto the graph's 2 inputs, so zero sets meet
    in every way): Euler's relation, and each cell's affine map equals the network at the
    cell's centroid."""
    torch.manual_seed(seed)
    front = nn.Linear(3, 2).double()
    full = nn.Sequential(front, model).eval()
    net = GraphNetwork.from_module(full, (3,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResolutionWarning)
        cells = trace_box(net, -np.ones(3), np.ones(3))
    assert euler(cells) == 1
    assert cells.pieces <= cells.regions
    centres = np.array([cells.points[ids].mean(axis=0) for ids in cells.cells()])
    with torch.no_grad():
        want = full(torch.from_numpy(cells.to_input(centres))).numpy()
    got = np.einsum("cod,cd->co", cells.gradients, centres) + cells.intercepts
    scale = 1.0 + np.abs(want).max()
    assert np.abs(got - want).max() <= 1e-9 * scale


def test_the_absolute_value_as_a_graph_equals_its_two_relu_mlp():
    """relu(a) + relu(−a) in a module's forward (not a Sequential): the MLP with both."""

    class Folded(nn.Module):
        def __init__(self):
            super().__init__()
            self.first, self.last = nn.Linear(3, 4), nn.Linear(4, 1)

        def forward(self, x):
            return self.last(torch.relu(self.first(x)) + torch.relu(-self.first(x)))

    torch.manual_seed(0)
    folded = Folded().double()
    w, b = folded.first.weight.detach().numpy(), folded.first.bias.detach().numpy()
    v, c = folded.last.weight.detach().numpy(), folded.last.bias.detach().numpy()
    mlp = MLP.from_layers([(np.vstack([w, -w]), np.concatenate([b, -b])),
                           (np.hstack([v, v]), c)])  # fmt: skip
    graph = trace_box(folded, -np.ones(3), np.ones(3))
    assert _counts(graph) == _counts(trace_box(mlp, -np.ones(3), np.ones(3)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"whole": True}, "whole=True and exact=True are for MLPs"),
     ({"low": -np.ones(2), "high": np.ones(2), "exact": True}, "exact=True are for MLPs")],
)  # fmt: skip
def test_whole_space_and_fractions_are_refused_for_graphs(kwargs, message):
    model = nn.Sequential(nn.Linear(2, 3), nn.LeakyReLU(0.1), nn.Linear(3, 1)).double()
    with pytest.raises(BendsError, match=message):
        trace_box(GraphNetwork.from_module(model, (2,)), **kwargs)


def test_max_pooling_in_a_box_is_refused_by_name():
    cnn = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(8, 1)).double()  # fmt: skip
    corners = np.random.default_rng(0).normal(size=(4, 1, 4, 4))
    with pytest.raises(BendsError, match=r"boxes through .*a maximum over windows"):
        trace_box(GraphNetwork.from_module(cnn, (1, 4, 4)), corners=corners)


def test_bends_count_box_reads_an_exported_graph(tmp_path):
    """``bends count model.pt2 --box`` (a residual block, exported with torch.export) gives
    what trace_box gives on the module."""
    import json

    from typer.testing import CliRunner

    from bends.cli import app

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner, self.outer = nn.Linear(3, 6), nn.Linear(6, 3)

        def forward(self, x):
            return (x + self.outer(nn.functional.leaky_relu(self.inner(x), 0.2))).clamp(-1, 1)

    torch.manual_seed(0)
    block = Block().eval()
    torch.export.save(torch.export.export(block, (torch.zeros(1, 3),)), tmp_path / "block.pt2")
    result = CliRunner().invoke(app, ["count", str(tmp_path / "block.pt2"), "--box",
                                      "-2,-2,-2;2,2,2", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    counted = json.loads(result.stdout)
    direct = trace_box(block, -2 * np.ones(3), 2 * np.ones(3))
    assert (counted["regions"], counted["pieces"], counted["vertices"], counted["edges"]) == (
        _counts(direct))  # fmt: skip
    assert direct.regions > 10


@pytest.mark.parametrize("budget", ["64K", "148K", "300K", "400K"])
def test_a_graph_trace_near_the_budget_is_refused_never_cut_short(monkeypatch, budget):
    """Review reproducer: a cut that stopped between the budget less the values held outside
    it and the budget returned a partial complex (207 of 804 regions) without a word."""
    rng = np.random.default_rng(0)
    pairs = list(itertools.pairwise([3, 12, 12, 1]))
    net = MLP(tuple(rng.normal(size=(b, a)) for a, b in pairs),
              tuple(0.5 * rng.normal(size=b) for _, b in pairs))  # fmt: skip
    graph = _graph(net)
    want = trace_box(graph, -np.ones(3), np.ones(3)).regions
    monkeypatch.setenv("BENDS_MEMORY_BUDGET", budget)
    try:
        assert trace_box(graph, -np.ones(3), np.ones(3)).regions == want
    except BendsError as err:
        assert "memory" in str(err)
