"""The float64 tracer against exact rational arithmetic, on degenerate small networks."""

from __future__ import annotations

import numpy as np
from conftest import mlps, segments, tied_rnns
from hypothesis import given, settings
from hypothesis import strategies as st

from bends import trace


def assert_same_partition(net, start, end):
    fast = trace(net, start, end)
    exact = trace(net, start, end, exact=True)
    assert fast.pieces == exact.pieces
    assert fast.regions == exact.regions
    np.testing.assert_allclose(fast.breakpoints, exact.breakpoints, rtol=0, atol=1e-12)
    for ours, theirs in zip(fast.crossings, exact.crossings, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    for ours, theirs in zip(fast.dead, exact.dead, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    for ours, theirs in zip(fast.always_on, exact.always_on, strict=True):
        np.testing.assert_array_equal(ours, theirs)
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
    np.testing.assert_array_equal(fast.crossings[0], [1, 1, 1])


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
