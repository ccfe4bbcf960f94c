"""The tail of a heavy-tailed sample (analysis.stats.tail): Hill's estimator against a plain
loop over the formula, Pareto samples of known index, and the degenerate cases; the seeds for
the largest run's share to fall (analysis.stats.seeds_for_share) by hand and on Pareto
samples; paired changes (analysis.stats.paired_change) by hand."""

import math

import numpy as np
import pytest

from bends.analysis.stats import paired_change, seeds_for_share, tail


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


def test_seeds_for_the_largest_share_by_hand():
    assert seeds_for_share(0.5, 8, math.inf) == 16  # equal runs: the share falls like 1/n
    assert seeds_for_share(0.5, 8, 2.0) == 32  # (0.5 / 0.25)^(2 / 1) · 8
    assert seeds_for_share(0.5, 8, 3.0) == math.ceil(8 * 2**1.5)
    assert seeds_for_share(0.2, 8, 1.5) == 8  # already at most a quarter
    assert seeds_for_share(0.5, 8, 1.0) == math.inf  # no mean: the share does not fall
    assert math.isnan(seeds_for_share(0.5, 2, math.nan))


@pytest.mark.parametrize(("alpha", "seeds"), [(1.5, 4), (2.5, 4), (4.0, 4)])
def test_pareto_runs_reach_the_share_at_the_seeds_predicted(alpha, seeds):
    """The median largest share of Pareto(α) samples at the predicted number of seeds is at
    most a quarter (the law is a little conservative) but not far below it."""
    rng = np.random.default_rng(2)

    def largest_share(n):
        x = rng.pareto(alpha, (4000, n)) + 1.0
        return float(np.median(x.max(axis=1) / x.sum(axis=1)))

    needed = seeds_for_share(largest_share(seeds), seeds, alpha)
    assert needed > seeds
    assert 0.17 < largest_share(needed) <= 0.25


def test_paired_change_by_hand():
    change = paired_change([2, 4, 8, 1], [1, 4, 2, 2])
    assert change.median_difference == 0.5  # differences 1, 0, 6, −1
    assert change.log_ratio.mean == pytest.approx((math.log(2) + math.log(4) - math.log(2)) / 4)
    assert change.log_ratio.low < change.log_ratio.mean < change.log_ratio.high
    assert change.grew == 0.5
    same = paired_change([3, 3], [3, 3])
    assert (same.median_difference, same.log_ratio.mean, same.grew) == (0, 0, 0)
    with pytest.raises(ValueError, match="same"):
        paired_change([1, 2], [1])


def test_seeds_for_the_largest_share_stay_numbers_near_alpha_one():
    assert seeds_for_share(0.9, 16, 1.0000001) == math.inf  # far beyond 10⁹ runs
    assert seeds_for_share(0.3, 16, 1.5) == math.ceil(16 * 1.2**3)
