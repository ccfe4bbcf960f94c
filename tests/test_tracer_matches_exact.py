"""The float64 tracer against exact rational arithmetic, on degenerate small networks."""

from __future__ import annotations

import itertools

import numpy as np
from conftest import assert_same_regions, mlps, segments, tied_rnns
from hypothesis import given, settings
from hypothesis import strategies as st

from bends import trace
from bends.tracing import SLOPE_RTOL, ZERO_TOL
from bends.tracing._line.tracer import float_trace


def assert_same_partition(net, start, end):
    """Both array layouts of the float tracer (rows per neuron, rows per knot) agree with
    exact arithmetic, and so does each layout's regions-only trace."""
    exact = trace(net, start, end, exact=True)
    fast = trace(net, start, end)
    for knot_rows in (False, True):
        ours = float_trace(net, exact.start, exact.end, ZERO_TOL, SLOPE_RTOL, knot_rows)
        assert ours.pieces == exact.pieces
        assert ours.regions == exact.regions
        np.testing.assert_allclose(ours.breakpoints, exact.breakpoints, rtol=0, atol=1e-12)
        for name in ("switches", "dead", "always_on"):
            for mine, theirs in zip(getattr(ours, name), getattr(exact, name), strict=True):
                np.testing.assert_array_equal(mine, theirs)
        only = float_trace(
            net, exact.start, exact.end, ZERO_TOL, SLOPE_RTOL, knot_rows, pieces=False
        )
        assert_same_regions(only, ours)
    return fast, exact


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_mlp_pieces_and_regions_match_exact_arithmetic(data):
    dim = data.draw(st.sampled_from([1, 2]))
    start, end = data.draw(segments(dim))
    net = data.draw(mlps(input_dims=(dim,), segment=(start, end)))
    assert_same_partition(net, start, end)


@settings(max_examples=150, deadline=None)
@given(net=tied_rnns())
def test_tied_rnn_pieces_and_regions_match_exact_arithmetic(net):
    fast, exact = assert_same_partition(net, None, None)
    scale = np.exp(fast.log_scale)
    np.testing.assert_allclose(fast.values * scale, exact.values, rtol=1e-9, atol=1e-9)


def test_duplicated_neurons_cross_at_one_knot():
    w = np.array([[1.0], [1.0], [1.0]])
    b = np.array([-0.5, -0.5, -0.25])
    from bends.nets import MLP

    net = MLP.from_layers([(w, b), (np.array([[1.0, -1.0, 1.0]]), np.zeros(1))])
    fast, _exact = assert_same_partition(net, [0.0], [1.0])
    # relu(x-.5) - relu(x-.5) cancels: only the bend at 1/4 is in the output.
    assert fast.regions == 3 and fast.pieces == 2
    np.testing.assert_array_equal(fast.breakpoints, [0.25])
    np.testing.assert_array_equal(fast.switches[0], [1, 1, 1])


def test_crossing_exactly_at_a_knot_and_zero_on_an_interval():
    from bends.nets import MLP

    # Layer 1 makes knots at 1/4 and 1/2; layer 2's first neuron is h1 - h2, which is
    # zero exactly at 1/4 then grows (a crossing on a knot), its second is identically zero
    # on [0, 1/4] (0 there, then negative).
    net = MLP.from_layers(
        [
            (np.array([[1.0], [1.0]]), np.array([-0.25, -0.5])),
            (np.array([[1.0, -1.0], [-1.0, 0.0]]), np.array([0.0, 0.0])),
            (np.array([[1.0, 1.0]]), np.zeros(1)),
        ]
    )
    fast, _exact = assert_same_partition(net, [0.0], [1.0])
    assert fast.dead[1].tolist() == [False, True]
    assert fast.snapped == 0


def test_cancellation_at_non_dyadic_knots_is_snapped_to_zero():
    from bends.nets import MLP

    # Layer 1 puts knots at 1/3 and 2/7 (not floats) and has neurons e = x - 1/4 and d = 7e.
    # Layer 2's first neuron d - 7e is identically zero, but interpolated at those knots it is
    # rounding noise of both signs; unsnapped, the noise "crosses zero" and invents a region.
    w1 = np.array([[3.0], [7.0], [1.0], [7.0]])
    b1 = np.array([-1.0, -2.0, -0.25, -1.75])
    w2 = np.array([[0.0, 0.0, -7.0, 1.0], [1.0, 1.0, 0.0, 0.0]])
    net = MLP.from_layers([(w1, b1), (w2, np.zeros(2)), (np.array([[1.0, 1.0]]), np.zeros(1))])
    fast, exact = assert_same_partition(net, [0.0], [1.0])
    assert fast.snapped > 0 and fast.dead[1].tolist() == [True, False]
    assert trace(net, [0.0], [1.0], zero_tol=0.0).regions == exact.regions + 1


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    widths=st.lists(st.integers(16, 40), min_size=1, max_size=3),
)
def test_both_layouts_trace_wide_degenerate_networks_alike(seed, widths):
    """Wide layers (rows per knot by default) with duplicated, dead and identically zero
    neurons: the two layouts agree, and the trace matches dense evaluation."""
    from bends.nets import MLP

    rng = np.random.default_rng(seed)
    layers = []
    for fan_in, fan_out in itertools.pairwise([1, *widths, 1]):
        w, b = rng.normal(size=(fan_out, fan_in)) / np.sqrt(fan_in), rng.normal(size=fan_out)
        if fan_out > 1:
            w[1], b[1] = w[0], b[0]  # duplicated: both cross at one knot
            w[2], b[2] = 0.0, -1.0  # dead
            w[3], b[3] = 0.0, 0.0  # identically zero
        layers.append((w, b))
    net = MLP.from_layers(layers)
    start, end = np.array([-3.0]), np.array([3.0])
    rows, knots = (float_trace(net, start, end, ZERO_TOL, SLOPE_RTOL, k) for k in (False, True))
    assert trace(net, start, end).regions == knots.regions
    assert (rows.pieces, rows.regions) == (knots.pieces, knots.regions)
    np.testing.assert_allclose(rows.knots, knots.knots, rtol=0, atol=1e-12)
    np.testing.assert_allclose(rows.values, knots.values, rtol=1e-9, atol=1e-9)
    for name in ("switches", "dead", "always_on"):
        for mine, theirs in zip(getattr(rows, name), getattr(knots, name), strict=True):
            np.testing.assert_array_equal(mine, theirs)
    for knot_rows, full in ((False, rows), (True, knots)):
        only = float_trace(net, start, end, ZERO_TOL, SLOPE_RTOL, knot_rows, pieces=False)
        assert_same_regions(only, full)
    t = np.linspace(0.0, 1.0, 2001)
    np.testing.assert_allclose(knots(t), net(knots.points(t)), rtol=1e-9, atol=1e-9)


def test_slopes_where_every_input_is_flat_are_exactly_zero():
    """Found by hypothesis: in a layer whose inputs are all flat on an interval, the column
    updates left rounding (−2.3e-15) in a slope that is exactly 0, which made one piece too
    many in the rows-per-knot layout."""
    from pathlib import Path

    from bends import load

    net = load(Path(__file__).parent / "fixtures" / "flat_inputs_residue.json")
    start, end = np.array([-4.0, 2.0]), np.array([-4.0, -1.0])
    exact = trace(net, start, end, exact=True)
    for knot_rows in (False, True):
        ours = float_trace(net, start, end, ZERO_TOL, SLOPE_RTOL, knot_rows)
        assert (ours.pieces, ours.regions) == (exact.pieces, exact.regions) == (6, 7)


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_each_outputs_pieces_match_exact_arithmetic(data):
    net = data.draw(mlps(input_dims=(1, 2)))
    start, end = np.zeros(net.input_dim), np.ones(net.input_dim)
    exact = trace(net, start, end, exact=True)
    for knot_rows in (False, True):
        ours = float_trace(net, exact.start, exact.end, ZERO_TOL, SLOPE_RTOL, knot_rows)
        assert ours.output_pieces().tolist() == exact.output_pieces().tolist()
        assert max(ours.output_pieces()) <= ours.pieces
