"""Residual MLPs lowered to one compiled program trace exactly like exact rational
arithmetic and like the node-by-node graph tracer; graphs that are not residual MLPs are
left to the graph tracer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from bends import BendsError, trace
from bends.nets.graph import GraphNetwork
from bends.tracing._entry import graph_trace
from bends.tracing._graph.lowering import lower
from bends.tracing.tolerance import RESOLUTION, SLOPE_RTOL, ZERO_TOL


class Block(nn.Module):
    def __init__(self, width: int, slope: float) -> None:
        super().__init__()
        self.inner, self.act, self.outer = (
            nn.Linear(width, width),
            nn.LeakyReLU(slope),
            nn.Linear(width, width),
        )

    def forward(self, x):
        return x + self.outer(self.act(self.inner(x)))


class FunctionalBlock(nn.Module):
    """The same block written with functions: F.linear on its own weights, torch.relu."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(width, width) / width**0.5)
        self.bias = nn.Parameter(torch.randn(width) / 4)

    def forward(self, x):
        return torch.add(x, torch.relu(F.linear(x, self.weight, self.bias)))


@st.composite
def residual_mlps(draw):
    torch.manual_seed(draw(st.integers(0, 2**31 - 1)))
    width = draw(st.integers(2, 6))
    slope = draw(st.sampled_from([0.0, 0.1, 0.5, -0.3]))
    layers = [nn.Linear(2, width), nn.LeakyReLU(slope) if slope else nn.ReLU()]
    for _ in range(draw(st.integers(1, 3))):
        layers.append(draw(st.sampled_from([lambda: Block(width, slope),
                                            lambda: FunctionalBlock(width)]))())  # fmt: skip
        if draw(st.booleans()):
            layers.append(nn.Identity())
    layers += [nn.LeakyReLU(0.2), nn.Linear(width, draw(st.integers(1, 2)))]
    model = nn.Sequential(*layers).double().eval()
    degenerate = draw(st.sampled_from(["none", "zeros and twins", "dyadic"]))
    with torch.no_grad():
        if degenerate == "zeros and twins":  # a dead neuron and two that cross together
            model[0].weight[1], model[0].bias[1] = model[0].weight[0], model[0].bias[0]
            model[0].weight[-1] = 0.0
        elif degenerate == "dyadic":  # crossings exactly on knots, neurons crossing together
            grid = torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0], dtype=torch.float64)
            for parameter in model.parameters():
                picks = draw(st.lists(st.integers(0, 4), min_size=parameter.numel(),
                                      max_size=parameter.numel()))  # fmt: skip
                parameter.copy_(grid[picks].reshape(parameter.shape))
    return model


def assert_same_pieces_to_float64(lowered, exact) -> None:
    """The float trace breaks pieces where exact arithmetic does, except where the exact
    slopes differ by less than float64 can tell (their float64 roundings agree to the merge
    tolerance: hypothesis found float weights whose exact slopes differ in the 17th digit)."""
    slopes = np.asarray(exact.slopes, dtype=np.float64)
    scale = RESOLUTION * max(np.abs(slopes).max(), np.abs(exact.values).max())
    for p in np.flatnonzero(lowered.piece_breaks != exact.piece_breaks):
        change = np.abs(slopes[p] - slopes[p - 1])
        size = np.maximum(np.abs(slopes[p]), np.abs(slopes[p - 1]))
        assert np.all(change <= np.maximum(SLOPE_RTOL * size, scale)), (p, slopes)


@settings(max_examples=60, deadline=None)
@given(model=residual_mlps(), seed=st.integers(0, 2**32 - 1), dyadic_ends=st.booleans())
def test_lowered_traces_equal_exact_arithmetic_and_the_graph_tracer(model, seed, dyadic_ends):
    net = GraphNetwork.from_module(model, (2,))
    assert lower(net) is not None
    rng = np.random.default_rng(seed)
    start, end = (rng.integers(-4, 5, size=(2, 2)) / 2) if dyadic_ends else rng.normal(size=(2, 2))
    if np.array_equal(start, end):
        end = start + 1.0
    lowered = trace(net, start, end)
    exact = trace(net, start, end, exact=True)
    by_node = graph_trace(net, start, end, False, ZERO_TOL, SLOPE_RTOL, True, lowered=False)
    # exact knots closer than float64 resolves (hypothesis: a crossing 8.5e-18 inside the
    # segment's start, which float64 puts on it) cannot be asked of the float trace
    if np.diff(np.array(exact.knots, dtype=np.float64)).min() >= RESOLUTION:
        assert lowered.regions == exact.regions
        np.testing.assert_allclose(lowered.knots, exact.knots, rtol=0, atol=1e-12)
        assert_same_pieces_to_float64(lowered, exact)
    assert (lowered.pieces, lowered.regions) == (by_node.pieces, by_node.regions)
    assert [s.tolist() for s in lowered.switches] == [s.tolist() for s in by_node.switches]
    assert [d.tolist() for d in lowered.dead] == [d.tolist() for d in by_node.dead]
    points = start + lowered.knots[:, None] * (end - start)
    with torch.no_grad():
        expected = model(torch.tensor(points)).numpy()
    np.testing.assert_allclose(lowered.values, expected, rtol=1e-12, atol=1e-12)
    assert trace(net, start, end, pieces=False).regions == lowered.regions


def test_graphs_that_are_not_residual_mlps_are_left_to_the_graph_tracer():
    conv = nn.Sequential(nn.Conv1d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 1))
    hardtanh = nn.Sequential(nn.Linear(2, 3), nn.Hardtanh(), nn.Linear(3, 1))
    assert lower(GraphNetwork.from_module(conv.double(), (1, 6))) is None
    assert lower(GraphNetwork.from_module(hardtanh.double(), (2,))) is None
    assert trace(hardtanh, [0.0, 0.0], [1.0, 1.0]).regions >= 1


def test_a_lowered_trace_over_the_memory_budget_is_refused(monkeypatch):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 64), nn.LeakyReLU(0.1), Block(64, 0.1),
                          nn.Linear(64, 1)).double()  # fmt: skip
    monkeypatch.setenv("BENDS_MEMORY_BUDGET", "40K")
    with pytest.raises(BendsError, match="BENDS_MEMORY_BUDGET"):
        trace(model, [-50.0, -50.0], [50.0, 50.0])


def test_graph_networks_are_plotted_kink_by_kink(tmp_path):
    from typer.testing import CliRunner

    from bends.cli import app

    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(2, 8), nn.LeakyReLU(0.1), Block(8, 0.1), nn.Linear(8, 1))
    program = torch.export.export(model.double(), (torch.zeros(1, 2, dtype=torch.float64),))
    torch.export.save(program, tmp_path / "net.pt2")
    command = ["plot", str(tmp_path / "net.pt2"), "--from", "-1,0", "--to", "1,1", "--layers"]
    result = CliRunner().invoke(app, [*command, "-o", str(tmp_path / "l.png")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "l.png").stat().st_size > 10_000
