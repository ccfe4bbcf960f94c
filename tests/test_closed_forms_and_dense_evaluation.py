"""Counts against closed forms, and the piecewise-linear trace against dense evaluation."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import torch
from conftest import mlps, segments
from hypothesis import given, settings
from hypothesis import strategies as st

from bends import ResolutionWarning, trace
from bends.constructions import sawtooth
from bends.nets.torch_io import from_torch


@pytest.mark.parametrize("depth", [1, 2, 3, 5, 8, 13, 18])
def test_sawtooth_of_depth_L_has_2_to_the_L_pieces_at_j_over_2_to_the_L(depth):
    tr = trace(sawtooth(depth))
    assert tr.pieces == tr.regions == 2**depth
    np.testing.assert_array_equal(tr.breakpoints, np.arange(1, 2**depth) / 2**depth)
    np.testing.assert_array_equal(tr.values[:, 0], np.arange(2**depth + 1) % 2)


def test_breakpoints_closer_than_float64_resolves_warn():
    from bends import MLP

    steep = 2.0**45  # two bends 2^-45 apart: distinct, but below RESOLUTION = 2^-40
    net = MLP.from_layers(
        [
            (np.array([[steep], [steep]]), np.array([-steep / 2, -steep / 2 - 1])),
            (np.array([[1.0, -1.0]]), np.zeros(1)),
        ]
    )
    with pytest.warns(ResolutionWarning, match="cannot resolve"):
        tr = trace(net)
    assert tr.regions == 3 and tr.merged == 0


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_dense_evaluation_agrees_with_the_piecewise_linear_output(data):
    net = data.draw(mlps(max_depth=4, max_width=8))
    start, end = data.draw(segments(net.input_dim))
    tr = trace(net, start, end)
    t = np.linspace(0.0, 1.0, 2001)
    dense = net(tr.points(t))
    scale = 1.0 + np.abs(dense).max()
    np.testing.assert_allclose(tr(t), dense, rtol=0, atol=1e-9 * scale)
    # On every interval between knots the recorded slope is the true one.
    mid = (tr.knots[1:] + tr.knots[:-1]) / 2
    step = np.diff(tr.knots) / 4  # affine on the whole interval: any step inside is exact
    finite_diff = (net(tr.points(mid + step)) - net(tr.points(mid - step))) / (2 * step[:, None])
    slopes = tr.slopes * np.exp(tr.log_scale)
    np.testing.assert_allclose(slopes, finite_diff, rtol=1e-5, atol=1e-6 * scale)


@pytest.mark.parametrize("widths", [[1, 32, 32, 32, 1], [1, 64, 64, 64, 64, 1]])
def test_random_torch_network_matches_dense_grid_and_bounds(widths):
    torch.manual_seed(1)
    layers = []
    for fan_in, fan_out in itertools.pairwise(widths):
        layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
    net = from_torch(torch.nn.Sequential(*layers[:-1]))
    tr = trace(net, [-10.0], [10.0])
    assert 1 < tr.pieces <= tr.regions <= 1 + sum(c.sum() for c in tr.switches)
    t = np.linspace(0, 1, 100_001)
    dense = net(tr.points(t))[:, 0]
    np.testing.assert_allclose(tr(t)[:, 0], dense, atol=1e-10 * (1 + np.abs(dense).max()))
    # Wide layers get their slopes by column updates (kernels.neuron_rows._slopes): still true.
    mid, step = (tr.knots[1:] + tr.knots[:-1]) / 2, np.diff(tr.knots) / 4
    finite_diff = (net(tr.points(mid + step)) - net(tr.points(mid - step))) / (2 * step[:, None])
    np.testing.assert_allclose(tr.slopes, finite_diff, rtol=1e-6, atol=1e-9)
    # A dense grid never sees more pieces than the exact count.
    slopes = np.diff(dense) / np.diff(t)
    grid_pieces = 1 + np.count_nonzero(~np.isclose(slopes[1:], slopes[:-1], rtol=1e-6, atol=1e-9))
    assert grid_pieces <= 2 * tr.pieces  # each true bend splits at most into two grid bends
    assert tr.pieces <= grid_pieces + tr.pieces  # sanity: counts are finite and positive


def test_no_warning_on_ordinary_networks():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trace(sawtooth(20))
