"""The tail of a heavy-tailed sample (analysis.stats.tail): Hill's estimator against a plain
loop over the formula, Pareto samples of known index, and the degenerate cases."""

import math

import numpy as np
import pytest

from bends.analysis.stats import tail


def _hill_by_hand(values, k):
    ordered = sorted(values, reverse=True)
    return k / sum(math.log(ordered[i] / ordered[k]) for i in range(k))


@pytest.mark.parametrize("seed", range(5))
def test_hill_is_the_formula(seed):
    rng = np.random.default_rng(seed)
    sample = rng.pareto(2.0, size=200) + 1.0
    for k in (2, 10, 50):
        assert tail(sample, top=k).alpha == pytest.approx(_hill_by_hand(sample, k), rel=1e-12)


@pytest.mark.parametrize("alpha", [0.8, 1.5, 3.0])
def test_pareto_samples_give_back_their_index(alpha):
    sample = np.random.default_rng(1).pareto(alpha, size=50_000) + 1.0  # P(X > x) = x^-alpha
    found = tail(sample, top=2_000)
    assert abs(found.alpha - alpha) < 3 * found.error
    assert found.error == pytest.approx(found.alpha / math.sqrt(2_000))


def test_the_largest_share_and_the_degenerate_samples():
    assert tail([1.0, 2.0, 3.0, 4.0]).largest_share == pytest.approx(0.4)
    assert tail([5.0] * 10).alpha == math.inf  # no tail at all
    assert math.isnan(tail([1.0, 2.0]).alpha)
    assert tail(np.arange(1, 101)).top == 10  # ⌈√100⌉
    with pytest.raises(ValueError, match="positive"):
        tail([3.0, 2.0, 0.0, 0.0], top=2)
