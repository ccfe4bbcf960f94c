"""Every graph tracer handles every kind of node (bends.nets.rules.NodeKind): for each kind,
tiny modules with one node of that kind, traced by the 1-D graph tracer (equal to exact
rational arithmetic), the exact tracer (equal to torch's forward pass, affine between its
knots), the planar tracer (Euler's formula, and every segment inside the plane crossing as
many faces as the 1-D tracer finds regions on it; maxima over windows refused by name), the
n-D tracer (Euler's relation, volumes, each cell's map the network's) and the region walker
(the 1-D tracer's region boundaries); node_kind classifies every node of every module the
tests build."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import ACTIVATIONS, conv_pool_stack, small_graphs
from hypothesis import given, settings
from hypothesis import strategies as st
from test_plane import _faces_crossed
from torch import nn

import bends
from bends.nets.graph import GraphNetwork, kind
from bends.nets.rules import KINK_KINDS, NodeKind, node_kind
from bends.tracing._graph import cutting, exact, tracer, walker
from bends.tracing._graph.plane import trace_plane_graph
from bends.tracing._graph.tracer import trace_graph
from bends.tracing._graph.walker import walk
from bends.tracing.tolerance import SLOPE_RTOL, ZERO_TOL


class Between(nn.Module):
    """Linear → ``op`` → Linear on 2 inputs: ``op`` a function or a tensor method."""

    def __init__(self, op) -> None:
        super().__init__()
        self.inner, self.op, self.outer = nn.Linear(2, 6), op, nn.Linear(6, 2)

    def forward(self, x):
        return self.outer(self.op(self.inner(x)))


class Pairwise(nn.Module):
    """The maximum (or minimum) of two Linear layers' outputs."""

    def __init__(self, pick) -> None:
        super().__init__()
        self.a, self.b, self.pick = nn.Linear(2, 4), nn.Linear(2, 4), pick
        self.head = nn.Linear(4, 1)

    def forward(self, x):
        return self.head(self.pick(self.a(x), self.b(x)))


class Pooled(nn.Module):
    """Linear → a functional max pool over the 8 features as one channel → Linear."""

    def __init__(self, pool, outputs: int) -> None:
        super().__init__()
        self.inner, self.pool, self.head = nn.Linear(2, 8), pool, nn.Linear(outputs, 1)

    def forward(self, x):
        return self.head(self.pool(self.inner(x).unsqueeze(1)).flatten(1))


def _sequential(act: nn.Module, width: int = 6) -> nn.Module:
    return nn.Sequential(nn.Linear(2, width), act, nn.Linear(width, 2))


def _max_pool_1d() -> nn.Module:
    return nn.Sequential(nn.Linear(2, 8), nn.Unflatten(1, (1, 8)), nn.MaxPool1d(2), nn.Flatten(),
                         nn.Linear(4, 1))  # fmt: skip


def _conv_max_pool() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(8, 1))  # fmt: skip


def _strided_max_pool(h):
    return F.max_pool1d(h, 3, stride=2, padding=1)


ELEMENTWISE, PAIRWISE, POOL = NodeKind.ELEMENTWISE, NodeKind.PAIRWISE_MAX, NodeKind.POOL_MAX
#: name → (module, input shape, the kind of its nonlinearity)
CASES = {
    "ReLU": (lambda: _sequential(nn.ReLU()), (2,), ELEMENTWISE),
    "LeakyReLU": (lambda: _sequential(nn.LeakyReLU(0.2)), (2,), ELEMENTWISE),
    "PReLU": (lambda: _sequential(nn.PReLU(6, 0.3)), (2,), ELEMENTWISE),
    "ReLU6": (lambda: _sequential(nn.ReLU6()), (2,), ELEMENTWISE),
    "Hardtanh": (lambda: _sequential(nn.Hardtanh(-0.5, 1.0)), (2,), ELEMENTWISE),
    "torch.relu": (lambda: Between(torch.relu), (2,), ELEMENTWISE),
    "F.leaky_relu": (lambda: Between(lambda h: F.leaky_relu(h, 0.1)), (2,), ELEMENTWISE),
    "F.relu6": (lambda: Between(F.relu6), (2,), ELEMENTWISE),
    "F.hardtanh": (lambda: Between(lambda h: F.hardtanh(h, -1.0, 0.5)), (2,), ELEMENTWISE),
    "abs": (lambda: Between(torch.abs), (2,), ELEMENTWISE),
    ".clamp": (lambda: Between(lambda h: h.clamp(-0.5, 0.75)), (2,), ELEMENTWISE),
    "torch.clamp(min)": (lambda: Between(lambda h: torch.clamp(h, min=-0.25)), (2,), ELEMENTWISE),
    ".relu": (lambda: Between(lambda h: h.relu()), (2,), ELEMENTWISE),
    "torch.maximum": (lambda: Pairwise(torch.maximum), (2,), PAIRWISE),
    "torch.min": (lambda: Pairwise(torch.min), (2,), PAIRWISE),
    "MaxPool1d": (_max_pool_1d, (2,), POOL),
    "F.max_pool1d": (lambda: Pooled(_strided_max_pool, 4), (2,), POOL),
    "F.adaptive_max_pool1d": (lambda: Pooled(lambda h: F.adaptive_max_pool1d(h, 3), 3), (2,), POOL),
    "Conv2d-MaxPool2d": (_conv_max_pool, (1, 4, 4), POOL),
}


def _case(name: str, seed: int = 0):
    """The case's graph network (normal weights, seeded) and a segment through it. A ReLU
    layer follows the case's module, so a node's slopes matter to the regions (where that
    ReLU changes branch) as well as its values."""
    build, shape, _ = CASES[name]
    torch.manual_seed(seed)
    module = build()
    outputs = module(torch.zeros(1, *shape)).shape[1]
    module = nn.Sequential(module, nn.Linear(outputs, 3), nn.ReLU(), nn.Linear(3, 1))
    for parameter in module.parameters():
        nn.init.normal_(parameter)
    with torch.no_grad():  # large enough that ReLU6, Hardtanh and clamp reach both kinks
        next(module.parameters()).mul_(3.0)
    net = GraphNetwork.from_module(module.double().eval(), shape)
    start, end = np.random.default_rng(seed).normal(size=(2, *shape))
    return net, -6.0 * start, 6.0 * end  # long enough to cross every case's kinks


def _check_graph_tracer(net, start, end):
    fast, exact_trace = trace_graph(net, start, end), bends.trace(net, start, end, exact=True)
    assert (fast.pieces, fast.regions) == (exact_trace.pieces, exact_trace.regions)
    np.testing.assert_allclose(fast.knots, exact_trace.knots, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast.values, exact_trace.values, rtol=1e-12, atol=1e-12)


def _check_exact_tracer(net, start, end):
    tr = bends.trace(net, start, end, exact=True)
    assert tr.regions > 1, "the case's nonlinearity should change branch on its segment"
    shape = (-1, *net.input_shape)
    with torch.no_grad():
        at_knots = net.module(torch.tensor(tr.points().reshape(shape)))
        np.testing.assert_allclose(tr.values, at_knots.reshape(len(tr.knots), -1), rtol=1e-12,
                                   atol=1e-12)  # fmt: skip
        for f in (0.25, 0.5, 0.75):  # affine between the knots
            q = tr.knots[:-1] + f * np.diff(tr.knots)
            dense = net.module(torch.tensor(tr.points(q).reshape(shape))).reshape(len(q), -1)
            np.testing.assert_allclose(tr(q), dense, rtol=1e-9, atol=1e-9)


def _check_plane_tracer(net, start, end):
    rng = np.random.default_rng(1)
    corners = np.array([start.ravel(), end.ravel(), rng.normal(size=start.size) * 2])
    if NodeKind.POOL_MAX in net.kinds.values():
        with pytest.raises(bends.BendsError, match="maximum over windows"):
            trace_plane_graph(net, corners, ZERO_TOL, SLOPE_RTOL)
        return
    partition = trace_plane_graph(net, corners, ZERO_TOL, SLOPE_RTOL)
    assert partition.vertices - partition.edges + partition.regions == 1
    assert abs(partition.areas().sum() - 1) < 1e-12
    assert partition.regions > 1
    for _ in range(4):
        s0, u0, s1, u1 = rng.uniform(0.05, 0.95, size=4)
        a, b = partition.to_input(np.array([[s0, u0], [s1, u1]]))
        regions = trace_graph(net, a.reshape(net.input_shape), b.reshape(net.input_shape)).regions
        assert regions == _faces_crossed(partition, np.array([s0, u0]), np.array([s1, u1]))


def _check_box_tracer(net, start, end):
    """A slice through the segment and random points (3-D, or the whole input space where it
    is smaller): Euler's relation, volumes that fill the unit cube of box coordinates, each
    cell's map equal to the network inside it."""
    rng = np.random.default_rng(1)
    more = rng.normal(size=(min(3, start.size) - 1, start.size)) * 2
    corners = np.array([start.ravel(), end.ravel(), *more])
    if NodeKind.POOL_MAX in net.kinds.values():
        with pytest.raises(bends.BendsError, match="maximum over windows"):
            bends.trace_box(net, corners=corners)
        return
    cells = bends.trace_box(net, corners=corners)
    assert sum((-1) ** k * f for k, f in enumerate(cells.f_vector())) == 1
    assert abs(cells.volumes().sum() - 1) < 1e-9
    assert cells.regions > 1
    centres = np.array([cells.points[ids].mean(axis=0) for ids in cells.cells()])
    inputs = torch.tensor(cells.to_input(centres).reshape(len(centres), *net.input_shape))
    dense = net.module(inputs).detach().numpy().reshape(len(centres), -1)
    got = np.einsum("cod,cd->co", cells.gradients, centres) + cells.intercepts
    np.testing.assert_allclose(got, dense, rtol=1e-8, atol=1e-8)


def _check_walker(net, start, end):
    walked = walk(net, start, end)
    np.testing.assert_allclose(walked, trace_graph(net, start, end).region_boundaries, atol=1e-9)


TRACERS = {
    "graph": _check_graph_tracer,
    "exact": _check_exact_tracer,
    "plane": _check_plane_tracer,
    "box": _check_box_tracer,
    "walker": _check_walker,
}


@pytest.mark.parametrize("tracer_name", TRACERS)
@pytest.mark.parametrize("case", CASES)
def test_every_tracer_handles_every_kind(case, tracer_name):
    net, start, end = _case(case)
    TRACERS[tracer_name](net, start, end)


@pytest.mark.parametrize("module", [tracer, exact, cutting, walker])
def test_every_tracer_has_one_handler_per_kind_of_nonlinearity(module):
    assert set(module.KINKS) == set(KINK_KINDS)


@pytest.mark.parametrize("case", CASES)
def test_node_kind_classifies_each_case(case):
    net, _, _ = _case(case)
    nodes = list(net.module.graph.nodes)
    assert list(net.kinds) == [n.name for n in nodes]
    for node in nodes:
        assert node_kind(net.module, node) is net.kinds[node.name]
        assert kind(net.module, node) == net.kinds[node.name].role
    kinks = [k for k in net.kinds.values() if k.is_kink]
    assert kinks == [CASES[case][2], NodeKind.ELEMENTWISE]  # the case's, then its tail's ReLU
    assert net.kinks() == 2
    assert net.kinds[nodes[0].name] is NodeKind.INPUT
    assert net.kinds[nodes[-1].name] is NodeKind.OUTPUT
    assert set(net.kinds.values()) - set(KINK_KINDS) <= {
        NodeKind.INPUT, NodeKind.OUTPUT, NodeKind.AFFINE, NodeKind.CONSTANT}  # fmt: skip


def _assert_every_node_has_a_kind(net: GraphNetwork) -> None:
    for node in net.module.graph.nodes:
        assert isinstance(node_kind(net.module, node), NodeKind)
        assert node_kind(net.module, node) is net.kinds[node.name]


@settings(max_examples=30, deadline=None)
@given(model=small_graphs())
def test_every_node_of_the_test_graphs_has_a_kind(model):
    net = GraphNetwork.from_module(model, (2,))
    _assert_every_node_has_a_kind(net)
    assert net.kinks() >= 4  # four activations, and Branches add a ReLU each


@given(seed=st.integers(0, 2**31 - 1), dyadic=st.booleans())
@settings(max_examples=5, deadline=None)
def test_every_node_of_the_conv_pool_stacks_has_a_kind(seed, dyadic):
    net = GraphNetwork.from_module(conv_pool_stack(seed, channels=2, dyadic=dyadic), (1, 4, 4))
    _assert_every_node_has_a_kind(net)
    kinks = [k for k in net.kinds.values() if k.is_kink]
    assert kinks == [NodeKind.ELEMENTWISE, NodeKind.POOL_MAX] * 2


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_the_tests_activations_are_kinks(activation):
    net = GraphNetwork.from_module(_sequential(activation(), width=4), (2,))
    kinks = [k for k in net.kinds.values() if k.is_kink]
    assert len(kinks) == 1 and kinks[0] in (NodeKind.ELEMENTWISE, NodeKind.PAIRWISE_MAX)


@pytest.mark.parametrize(
    ("module", "message"),
    [
        (_sequential(nn.GELU()), "`1` is GELU: not piecewise linear"),
        (Between(lambda h: h * h), "multiplies two tensors"),
        (Between(lambda h: h.exp()), "tensor method exp"),
        (Between(lambda h: h / h), "divides by a tensor"),
        (Between(lambda h: h.div(h + 1.0)), "divides by a tensor"),  # was taken as affine
    ],
)
def test_a_node_of_no_kind_is_named(module, message):
    with pytest.raises(bends.BendsError, match=message):
        GraphNetwork.from_module(module, (2,))


def test_a_copy_is_affine_and_traced_like_no_copy():
    """torch.clone (what .pt2 programs' clone and contiguous become) is the identity."""
    torch.manual_seed(0)
    copied = Between(lambda h: torch.relu(torch.clone(h)))
    plain = Between(torch.relu)
    plain.load_state_dict(copied.state_dict())
    start, end = np.array([-2.0, 1.0]), np.array([2.0, -1.0])
    ours, theirs = (bends.trace(m.double(), start, end) for m in (copied, plain))
    assert (ours.regions, ours.pieces) == (theirs.regions, theirs.pieces)
    np.testing.assert_array_equal(ours.knots, theirs.knots)
