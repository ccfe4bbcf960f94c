"""Tied RNNs: equal to their unrolled MLP, invariant under scaling, no overflow at k = 1000."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_same_regions, tied_rnns
from hypothesis import example, given, settings

from bends import TiedRNN, trace
from bends.tracing import SLOPE_RTOL, ZERO_TOL, default_segment
from bends.tracing._line.tracer import float_trace


@settings(max_examples=100, deadline=None)
@given(net=tied_rnns(max_steps=6))
@example(  # an output that cancels to 1.7e-18 in the dense forward pass and to 0 in the trace
    net=TiedRNN(np.array([[-0.25, 1.5, -3.0, 1.5], [-3.0, -3.0, -3.0, 0.25],
                          [-3.0, -3.0, -3.0, -3.0], [0.25, 0.0, -3.0, -0.5]]), steps=6, output=0)
)  # fmt: skip
def test_tied_rnn_traces_like_its_unrolled_mlp(net):
    start, end = np.zeros(net.width), np.zeros(net.width)
    start[1] = end[1] = 1.0
    end[0] = 1.0
    rnn, mlp = trace(net), trace(net.unroll(), start, end)
    assert (rnn.pieces, rnn.regions) == (mlp.pieces, mlp.regions)
    np.testing.assert_array_equal(rnn.knots, mlp.knots)
    dense = net(mlp.points())
    # an output that cancels to 0 is 0 only within the rounding of its terms (|W|^k |x|)
    terms = TiedRNN(np.abs(net.weight), steps=net.steps, output=net.output)(
        np.abs(mlp.points()))  # fmt: skip
    atol = 1e-10 * max(np.abs(dense).max(), 1e-6 * np.abs(terms).max())
    np.testing.assert_allclose(rnn(rnn.knots), dense, rtol=1e-10, atol=atol)
    np.testing.assert_allclose(mlp(mlp.knots), dense, rtol=1e-10, atol=atol)


def test_unroll_is_k_copies_of_w_and_a_readout():
    w = np.arange(9.0).reshape(3, 3) - 4
    mlp = TiedRNN(w, steps=4, output=2).unroll()
    assert len(mlp.weights) == 5
    assert all(np.array_equal(layer, w) for layer in mlp.weights[:4])
    np.testing.assert_array_equal(mlp.weights[4], [[0.0, 0.0, 1.0]])


def test_thousand_steps_do_not_overflow_and_count_like_the_rescaled_network():
    rng = np.random.default_rng(4)  # a W whose output stays alive for 1000 steps
    w = rng.normal(size=(5, 5))
    big = TiedRNN(100.0 * w, steps=1000)
    small = TiedRNN(w, steps=1000)
    with np.errstate(over="ignore", invalid="ignore"):
        naive = big(np.array([0.3, 1.0, 0, 0, 0]))
    assert not np.isfinite(naive).all() or naive.item() == 0.0  # plain evaluation is useless
    tr_big, tr_small = trace(big), trace(small)
    assert np.isfinite(tr_big.values).all() and np.isfinite(tr_big.log_scale)
    assert (tr_big.pieces, tr_big.regions) == (tr_small.pieces, tr_small.regions)
    # f_k(cW, x) = c^k f_k(W, x): the true log-sizes differ by exactly k log c.
    log_big = np.log(np.abs(tr_big.values).max()) + tr_big.log_scale
    log_small = np.log(np.abs(tr_small.values).max()) + tr_small.log_scale
    np.testing.assert_allclose(log_big - log_small, 1000 * np.log(100.0), rtol=1e-9)


def test_identity_rnn_has_one_piece():
    tr = trace(TiedRNN(np.eye(3), steps=50))
    assert tr.pieces == tr.regions == 1


def test_thousand_step_rnn_layer_values_stay_finite_and_plot_shows_a_few_layers(tmp_path):
    from bends.plotting import plot_layers, save_figure

    w = np.random.default_rng(4).normal(size=(5, 5))
    tr = trace(TiedRNN(100.0 * w, steps=1000))
    last = tr.layer_values(999)
    assert np.isfinite(last).all() and np.abs(last).max() > 0
    # rescaling keeps signs, so the pattern read from the values is the traced one
    small = trace(TiedRNN(w, steps=1000)).layer_values(999)
    np.testing.assert_array_equal(last > 0, small > 0)
    figure = plot_layers(tr)
    assert len([ax for ax in figure.axes if ax.has_data()]) == 12  # 11 layers and the output
    assert save_figure(figure, tmp_path / "rnn.png").stat().st_size > 1000


@pytest.mark.parametrize("width, steps", [(5, 1000), (40, 60)])
def test_both_layouts_renormalise_long_rnns_alike(width, steps):
    """Rows per neuron and rows per knot rescale the same way: equal counts and knots, and
    f_k(cW) = c^k f_k(W) in the reported log-scale; regions-only traces rescale alike."""
    w = np.random.default_rng(4).normal(size=(width, width)) / np.sqrt(width)
    traces = {}
    for scale in (1.0, 100.0):
        net = TiedRNN(scale * w, steps=steps)
        start, end = default_segment(net)
        for knot_rows in (False, True):
            args = (net, start, end, ZERO_TOL, SLOPE_RTOL, knot_rows)
            traces[scale, knot_rows] = float_trace(*args)
            assert_same_regions(float_trace(*args, pieces=False), traces[scale, knot_rows])
    small = traces[1.0, False]
    assert small.pieces > 1
    for (scale, _), tr in traces.items():
        assert np.isfinite(tr.values).all() and np.isfinite(tr.log_scale)
        assert (tr.pieces, tr.regions) == (small.pieces, small.regions)
        np.testing.assert_allclose(tr.knots, small.knots, rtol=0, atol=1e-12)
        log_size = np.log(np.abs(tr.values).max()) + tr.log_scale
        log_small = np.log(np.abs(small.values).max()) + small.log_scale
        np.testing.assert_allclose(log_size - log_small, steps * np.log(scale), atol=1e-6)
