"""trace_segments: many segments in one batch give, segment for segment, exactly what the
one-segment tracers give (knots, breaks, per-neuron statistics), on degenerate graphs, CNNs
with pooling, MLPs; bad batches get one clear error."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import conv_pool_stack, mlps, small_graphs
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from bends.errors import BendsError
from bends.nets import TiedRNN
from bends.nets.graph import GraphNetwork
from bends.tracing import trace, trace_segments
from bends.tracing._graph.tracer import trace_graph


def _same_trace(one, other) -> None:
    """The same breaks and statistics; the same numbers up to rounding (a matrix product's
    last bits depend on how many rows it multiplies at once)."""
    np.testing.assert_allclose(one.knots, other.knots, rtol=0, atol=1e-13)
    np.testing.assert_array_equal(one.region_breaks, other.region_breaks)
    np.testing.assert_array_equal(one.piece_breaks, other.piece_breaks)
    np.testing.assert_allclose(one.values, other.values, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(one.slopes, other.slopes, rtol=1e-12, atol=1e-13)
    ours, others = (t.switches + t.dead + t.always_on for t in (one, other))
    for mine, theirs in zip(ours, others, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    assert one.merged == other.merged


@st.composite
def segments(draw, shape: tuple[int, ...]):
    """2–6 segments: Gaussian or dyadic ends, repeated segments, shared and reversed ends."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    count = draw(st.integers(2, 6))
    dyadic = draw(st.booleans())
    ends = rng.integers(-4, 5, size=(count, 2, *shape)) / 2 if dyadic else rng.normal(
        size=(count, 2, *shape))  # fmt: skip
    if draw(st.booleans()):  # the same segment twice, and one reversed
        ends[1] = ends[0]
        ends[-1] = ends[0][::-1]
    if draw(st.booleans()):  # chained: each segment starts where the one before ended
        ends[1:, 0] = ends[:-1, 1]
    same = (ends[:, 0] == ends[:, 1]).reshape(count, -1).all(axis=1)
    ends[same, 1] += 1.0
    return ends[:, 0], ends[:, 1]


@settings(max_examples=40, deadline=None)
@given(model=small_graphs(), data=st.data(), batch=st.integers(1, 4))
def test_a_batch_of_segments_equals_tracing_each_alone(model, data, batch):
    starts, ends = data.draw(segments((2,)))
    net = GraphNetwork.from_module(model, (2,))
    traces = trace_segments(net, starts, ends, batch=batch)
    assert len(traces) == len(starts)
    for s, (a, b) in enumerate(zip(starts, ends, strict=True)):
        _same_trace(traces[s], trace_graph(net, a, b))
        assert traces.regions[s] == traces[s].regions
        assert traces.pieces[s] == trace(model, a, b).pieces  # the lowered, compiled tracer


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), dyadic=st.booleans(), data=st.data())
def test_a_batch_through_convolutions_and_pooling_equals_each_alone(seed, dyadic, data):
    cnn = conv_pool_stack(seed, channels=3, dyadic=dyadic)
    if dyadic:
        with torch.no_grad():
            cnn[0].weight[1] = cnn[0].weight[0]  # duplicated channels tie in every pool window
            cnn[0].bias[1] = cnn[0].bias[0]
    starts, ends = data.draw(segments((1, 4, 4)))
    net = GraphNetwork.from_module(cnn, (1, 4, 4))
    traces = trace_segments(net, starts, ends)
    for s, (a, b) in enumerate(zip(starts, ends, strict=True)):
        _same_trace(traces[s], trace_graph(net, a, b))
    exact = trace(cnn, starts[0], ends[0], exact=True)
    assert (traces.pieces[0], traces.regions[0]) == (exact.pieces, exact.regions)


@settings(max_examples=30, deadline=None)
@given(net=mlps(), data=st.data())
def test_mlps_in_a_batch_equal_the_compiled_tracer_and_on_a_device_the_graph_tracer(net, data):
    starts, ends = data.draw(segments((net.input_dim,)))
    traces = trace_segments(net, starts, ends)
    on_device = trace_segments(net, starts, ends, device="cpu")
    for s, (a, b) in enumerate(zip(starts, ends, strict=True)):
        alone = trace(net, a, b)
        np.testing.assert_array_equal(traces[s].knots, alone.knots)
        assert (traces.pieces[s], traces.regions[s]) == (alone.pieces, alone.regions)
        assert (on_device.pieces[s], on_device.regions[s]) == (alone.pieces, alone.regions)
        np.testing.assert_allclose(on_device[s].knots, alone.knots, rtol=0, atol=1e-12)


def test_tied_rnns_in_a_batch_equal_the_compiled_tracer():
    rnn = TiedRNN(np.random.default_rng(3).normal(size=(4, 4)), steps=12, output=0)
    starts, ends = np.random.default_rng(4).normal(size=(2, 5, 4))
    traces = trace_segments(rnn, starts, ends)
    for s, (a, b) in enumerate(zip(starts, ends, strict=True)):
        alone = trace(rnn, a, b)
        np.testing.assert_array_equal(traces[s].knots, alone.knots)
        assert (traces.pieces[s], traces.regions[s]) == (alone.pieces, alone.regions)
        assert traces.log_scale[s] == alone.log_scale


def test_regions_only_and_per_layer_crossings():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 6), nn.ReLU(), nn.Linear(6, 5), nn.LeakyReLU(0.1),
                          nn.Linear(5, 2))  # fmt: skip
    rng = np.random.default_rng(0)
    starts, ends = rng.normal(size=(2, 8, 3)) * 3
    full = trace_segments(model, starts, ends, device="cpu")
    regions = trace_segments(model, starts, ends, device="cpu", pieces=False)
    np.testing.assert_array_equal(regions.regions, full.regions)
    with pytest.raises(BendsError, match="regions only"):
        regions.pieces  # noqa: B018
    crossings = full.crossings_per_layer()
    assert crossings.shape == (8, 2)
    # every region boundary is some neuron's switch (generic weights: one at a time)
    np.testing.assert_array_equal(crossings.sum(axis=1), full.regions - 1)


@pytest.mark.parametrize(
    ("starts", "ends", "message"),
    [
        (np.zeros((2, 3)), np.zeros((3, 3)), "differ in shape"),
        (np.zeros((2, 3)), np.ones((2, 3)) * np.array([[1], [0]]), "segment 1 starts where"),
        (np.zeros((2, 4)), np.ones((2, 4)), "4 coordinates but the network takes 3"),
        (np.zeros(3), np.ones(3), "one point per segment"),
        (np.zeros((1, 3)), np.full((1, 3), np.nan), "NaN"),
        ([["a", 1, 2]], [[1, 2, 3]], "array of numbers"),
    ],
)
def test_bad_batches_are_named(starts, ends, message):
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    with pytest.raises(BendsError, match=message):
        trace_segments(net, starts, ends)


@settings(max_examples=10, deadline=None)
@given(model=small_graphs(), data=st.data())
def test_exact_segments_are_each_segments_exact_trace(model, data):
    """``exact=True`` in a batch: every segment is its own rational trace."""
    net = GraphNetwork.from_module(model, (2,))
    starts, ends = data.draw(segments((2,)))
    exact = trace_segments(net, starts, ends, exact=True)
    assert len(exact) == len(starts) and exact.starts.shape == starts.shape
    for s, (a, b) in enumerate(zip(starts, ends, strict=True)):
        one = trace(net, a, b, exact=True)
        np.testing.assert_array_equal(exact[s].knots, one.knots)
        assert (exact[s].regions, exact[s].pieces) == (one.regions, one.pieces)


def test_exact_segments_refuse_a_gpu():
    with pytest.raises(BendsError, match="CPU"):
        trace_segments(TiedRNN(np.eye(2), steps=1, output=0), [[0.0, 1.0]], [[1.0, 1.0]],
                       exact=True, device="meta")  # fmt: skip


def test_trace_on_a_device_is_the_one_segment_batch():
    """trace(..., device=) takes the torch-graph path of trace_segments; on the CPU it counts
    what the compiled tracer and the graph tracer count."""
    cnn = conv_pool_stack(seed=3, channels=2, dyadic=False)
    a, b = np.random.default_rng(3).normal(size=(2, 1, 4, 4))
    on_cpu, here = trace(cnn, a, b, device="cpu"), trace(cnn, a, b)
    assert (on_cpu.regions, on_cpu.pieces) == (here.regions, here.pieces)
    rnn = TiedRNN(np.random.default_rng(0).normal(size=(3, 3)), steps=4, output=0)
    assert trace(rnn, device="cpu").regions == trace(rnn).regions
    with pytest.raises(BendsError, match="CPU"):
        trace(rnn, exact=True, device="cpu")
    if not torch.cuda.is_available():
        with pytest.raises(BendsError, match="no CUDA GPU"):
            trace(rnn, device="cuda")
