"""Random MLPs at initialisation (bends.nets.random) and count-depth's segments: the
initialisations' laws, one hidden layer's breakpoints in closed form, and the bootstrap
line fit that Hanin & Rolnick's law is read with."""

from __future__ import annotations

import numpy as np
import pytest

from bends.analysis.stats import line_fit
from bends.nets.random import random_mlp
from bends.studies.count_depth import Params, _network
from bends.tracing import trace


@pytest.mark.parametrize(("init", "bias_sd"), [("hanin-rolnick", 1e-3), ("he", 0.0)])
def test_he_weights_have_variance_two_over_fan_in_and_the_stated_biases(init, bias_sd):
    net = random_mlp([50, 400, 400, 1], seed=0, init=init)
    for weight, fan_in in zip(net.weights[:2], (50, 400), strict=True):
        assert np.std(weight) == pytest.approx(np.sqrt(2 / fan_in), rel=0.03)
    biases = np.concatenate(net.biases[:2])
    assert np.std(biases) == pytest.approx(bias_sd, rel=0.05, abs=1e-12)


@pytest.mark.parametrize("init", ["torch", "hanin-rolnick", "he-bias"])
@pytest.mark.parametrize("offset", [0.0, 1.0])
def test_one_hidden_layers_regions_are_its_breakpoints_inside_the_segment(init, offset):
    # Neuron i breaks where w_i·(c + t u) + b_i = 0: at t = −(w_i·c + b_i) / (w_i·u), one
    # region more for each such t strictly inside (−r, r) (distinct with probability 1).
    for seed in range(10):
        p = Params("random-mlp", 1, False, 16, 3, 1.0, init, offset)
        net, start, end = _network(p, seed)[:3]
        centre, direction = (start + end) / 2, (end - start) / 2
        assert np.linalg.norm(centre) == pytest.approx(offset)
        assert abs(centre @ direction) < 1e-12
        w, b = net.weights[0], net.biases[0]
        t = -(w @ centre + b) / (w @ direction)
        assert trace(net, start, end).regions == 1 + np.sum(np.abs(t) < 1)


def test_the_bootstrap_line_fit_covers_a_slope_whose_scatter_grows_with_x():
    rng = np.random.default_rng(1)
    covered = 0
    for _ in range(40):
        x = np.repeat(np.arange(1.0, 17.0), 20)
        y = 2 + 0.5 * x + rng.normal(0, 0.3 * x)  # the spread grows with x
        fit = line_fit(x, y, resamples=500, seed=int(rng.integers(1000)))
        covered += fit.low < 0.5 < fit.high
        assert fit.low < fit.slope < fit.high
    assert covered >= 34  # 95 % nominal: ≥ 34 of 40 fails with probability < 3 %


def test_the_cluster_bootstrap_covers_a_slope_that_each_cluster_shares_where_pairs_do_not():
    # 20 clusters (seeds), each with its own slope 0.5 + b: the pairs are not independent
    rng = np.random.default_rng(2)
    covered = {"pairs": 0, "clusters": 0}
    for _ in range(40):
        groups = np.repeat(np.arange(20), 16)
        x = np.tile(np.arange(1.0, 17.0), 20)
        y = 2 + (0.5 + rng.normal(0, 0.1, 20)[groups]) * x + rng.normal(0, 0.1, x.size)
        seed = int(rng.integers(1000))
        pairs = line_fit(x, y, resamples=400, seed=seed)
        clusters = line_fit(x, y, resamples=400, seed=seed, groups=groups)
        covered["pairs"] += pairs.low < 0.5 < pairs.high
        covered["clusters"] += clusters.low < 0.5 < clusters.high
    assert covered["clusters"] >= 34  # 95 % nominal
    assert covered["pairs"] <= 32  # too narrow: 29 of 40 with these draws
