"""Growth rates in k of paired runs (analysis.rates): the point rates against slopes computed
by hand, the resampled statistics against a loop over the same resamples, intervals around
rates known by construction (where the median's and the mean's rates part), the pairing, the
standard error against repeated experiments, the power against simulation, and the runs an
interval needs."""

import numpy as np
import pytest

from bends.analysis import rates
from bends.analysis.rates import (
    column_statistic,
    detection_power,
    growth_rate,
    paired_growth_rates,
    seeds_for_half_width,
)

K = np.array([1.0, 2, 4, 8, 12])


def _runs(seed, n=40, rate=0.2, spread=0.6, holes=0.3):
    """n runs × K of e^{rate·k} times lognormal noise, a share ``holes`` of them NaN."""
    rng = np.random.default_rng(seed)
    x = np.round(np.exp(rate * K + rng.normal(0, spread, (n, K.size))) + 1)
    x[rng.uniform(size=x.shape) < holes] = np.nan
    return x


def _by_hand(x, statistic):
    if statistic == "mean":
        y = np.log(np.nanmean(x, axis=0))
    elif statistic == "median":
        y = np.log(np.nanmedian(x, axis=0))
    else:
        y = np.nanmean(np.log(x), axis=0)
    return np.polyfit(K, y, 1)[0]


@pytest.mark.parametrize("seed", range(3))
def test_point_rates_are_the_slopes_by_hand(seed):
    x, base = _runs(seed), _runs(seed + 10)
    found = paired_growth_rates(K, x, resamples=10)
    gained = paired_growth_rates(K, x, baseline=base, resamples=10)
    for statistic in ("median", "log", "mean"):
        assert found[statistic].rate == pytest.approx(_by_hand(x, statistic), abs=1e-12)
        difference = _by_hand(x, statistic) - _by_hand(base, statistic)
        assert gained[statistic].rate == pytest.approx(difference, abs=1e-12)
    assert growth_rate(K, x) == paired_growth_rates(K, x)["mean"]


def test_resampled_statistics_are_those_of_the_resampled_runs():
    """The count-weighted statistics equal NumPy's on the runs drawn (ties, even and odd
    counts, a column a resample leaves empty)."""
    x = _runs(0, n=12, holes=0.5)
    x[:, 0] = np.nan
    x[3, 0] = 5.0  # column 0 has one run: most resamples leave it empty
    drawn = np.random.default_rng(1).integers(0, 12, (300, 12))
    counts = np.array([np.bincount(d, minlength=12) for d in drawn], dtype=float)
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        expected = {
            "mean": np.log(np.nanmean(x[drawn], axis=1)),
            "median": np.log(np.nanmedian(x[drawn], axis=1)),
            "log": np.nanmean(np.log(x[drawn]), axis=1),
        }
    for statistic, want in expected.items():
        got = rates._log_statistic(counts, x, statistic)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_allclose(got[~np.isnan(got)], want[~np.isnan(want)], rtol=1e-12)
    assert column_statistic(x, "median")[0] == pytest.approx(np.log(5.0))


def test_the_bootstrap_is_a_loop_over_whole_runs():
    x = _runs(2, n=16)
    found = paired_growth_rates(K, x, resamples=500, seed=3)["median"]
    drawn = np.random.default_rng(3).integers(0, 16, (500, 16))
    slopes = np.array([_by_hand(x[d], "median") for d in drawn if _finite(x[d])])
    assert found.low == pytest.approx(np.percentile(slopes, 2.5), abs=1e-12)
    assert found.high == pytest.approx(np.percentile(slopes, 97.5), abs=1e-12)
    assert found.error == pytest.approx(np.std(slopes, ddof=1), abs=1e-12)
    assert found.seeds == 16


def _finite(x):
    return bool(np.all(np.any(~np.isnan(x), axis=0)))


def test_the_mean_and_the_typical_run_part_where_the_tail_grows_with_k():
    """X_k = e^{0.1 k} · e^{σ_k Z} with σ_k² = 0.2 k: median and E[log] grow at 0.1 per step,
    the mean at 0.1 + 0.1 (e^{σ²/2} = e^{0.1 k})."""
    k = np.arange(1.0, 7)
    rng = np.random.default_rng(4)
    x = np.exp(0.1 * k + np.sqrt(0.2 * k) * rng.standard_normal((3000, k.size)))
    found = paired_growth_rates(k, x)
    for statistic, truth in (("median", 0.1), ("log", 0.1), ("mean", 0.2)):
        assert abs(found[statistic].rate - truth) < 3 * found[statistic].error, statistic
    assert found["mean"].low > max(found["log"].high, found["median"].high)  # told apart


def test_pairing_the_baseline_narrows_the_difference():
    """Trained = init · e^{0.05 k} · small noise, init heavy-tailed: the difference of rates is
    0.05, and resampling the two together gives it a far narrower interval than either."""
    rng = np.random.default_rng(5)
    initial = np.exp(0.3 * K + rng.normal(0, 1.5, (48, K.size)))
    trained = initial * np.exp(0.05 * K + rng.normal(0, 0.1, initial.shape))
    for statistic, gained in paired_growth_rates(K, trained, baseline=initial).items():
        alone = paired_growth_rates(K, trained)[statistic]
        assert gained.low < 0.05 < gained.high, statistic
        assert gained.half_width < alone.half_width / 3, statistic


def test_the_standard_error_is_the_spread_over_repeated_experiments():
    experiments = [_runs(100 + i, n=32, holes=0.0) for i in range(300)]
    for statistic in ("log", "mean"):
        spread = np.std([_by_hand(x, statistic) for x in experiments], ddof=1)
        errors = [paired_growth_rates(K, x, statistics=(statistic,))[statistic].error
                  for x in experiments[:10]]  # fmt: skip
        assert np.mean(errors) == pytest.approx(spread, rel=0.25), statistic


def test_detection_power_by_hand_and_by_simulation():
    assert detection_power(0.05, 0.05 / 1.959964) == pytest.approx(0.5, abs=1e-3)
    assert detection_power(0.05, 1e-9) == 1.0 and detection_power(-0.05, 1e-9) == 1.0
    assert detection_power(0.05, 1e9) == pytest.approx(0.05)
    assert np.isnan(detection_power(0.05, float("nan")))
    rng = np.random.default_rng(6)
    for error in (0.01, 0.025, 0.05):
        estimates = rng.normal(0.05, error, 200_000)
        simulated = np.mean(np.abs(estimates / error) > 1.959964)
        assert detection_power(0.05, error) == pytest.approx(simulated, abs=0.005)


def test_runs_for_a_half_width_by_hand_and_by_the_square_root_law():
    assert seeds_for_half_width(0.2, 10) == 160 and seeds_for_half_width(0.05, 10) == 10
    assert seeds_for_half_width(0.1, 16, target=0.1) == 16
    assert seeds_for_half_width(float("nan"), 16) == 0
    small = paired_growth_rates(K, _runs(7, n=25, holes=0.0))["log"]
    large = paired_growth_rates(K, _runs(8, n=100, holes=0.0))["log"]
    target = small.half_width / 2  # the law says: four times the runs
    assert small.seeds_for(target) == 100
    assert large.half_width == pytest.approx(target, rel=0.3)
    assert small.power() == detection_power(0.05, small.error)
