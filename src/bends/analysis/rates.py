r"""Growth rates in k of a statistic of paired runs, their bootstrap intervals, and the power
and the runs they need.

A *run* is one seed measured at every k (one W₀ trained at each number of steps), so the
samples are a matrix runs × k, NaN where a run does not count at some k. For a statistic S of
the column at k, the rate b is the least-squares slope in k of

* ``mean``:   :math:`\log E[X_k]`        (E ≈ a·e^{bk}: the mean's rate)
* ``median``: :math:`\log \mathrm{median}(X_k)`
* ``log``:    :math:`E[\log X_k]`        (the geometric mean's rate: the typical run's)

For a law :math:`X_k = e^{bk}\,Y` with Y of any fixed distribution all three rates are b; they
part where the distribution's shape changes with k — a heavy tail growing with k moves the
mean and leaves the median.

**Paired bootstrap.** The runs are resampled with replacement, each keeping its whole row (its
k-sweep), 2000 times with a fixed seed; the interval is the percentile interval of the
resampled rates and ``error`` their standard deviation (the rate's standard error). With a
``baseline`` (the same runs measured otherwise, e.g. at initialisation) the rate is the
difference of the two rates, both computed on the same resampled runs. A resample is a row of
counts (how often each run was drawn), so its sums are one matrix product and all resamples
are computed at once.

**Power and runs needed.** With standard error s, an estimate of a true rate δ is about
N(δ, s²), so a 95 % interval excludes 0 with probability
:math:`P(|Z| > 1.96),\ Z \sim N(\delta/s, 1)` (:func:`detection_power`). An interval's
half-width shrinks like :math:`1/\sqrt n` in the number of runs n, so a half-width h reaches
h' at :math:`n\,(h/h')^2` runs (:func:`seeds_for_half_width`).

Example:
    >>> k = np.arange(1, 9)
    >>> runs = np.exp(0.3 * k + np.random.default_rng(0).normal(0, 0.5, (64, 8)))
    >>> rates = paired_growth_rates(k, runs)
    >>> [round(rates[s].rate, 1) for s in ("median", "log", "mean")]
    [0.3, 0.3, 0.3]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

#: The statistics whose rates :func:`paired_growth_rates` gives, and their names in words.
STATISTICS = {"median": "median", "log": "E[log pieces]", "mean": "mean"}


@dataclass(frozen=True)
class Rate:
    """A growth rate b (per step) with its 95 % bootstrap interval, the bootstrap standard
    error and the number of runs it came from."""

    rate: float
    low: float
    high: float
    error: float = float("nan")
    seeds: int = 0

    def __str__(self) -> str:
        return f"{self.rate:.3g} [{self.low:.3g}, {self.high:.3g}]"

    @property
    def half_width(self) -> float:
        """Half the interval's width."""
        return (self.high - self.low) / 2

    @property
    def above(self) -> bool:
        """Whether the interval lies above 0."""
        return bool(np.isfinite(self.low) and self.low > 0)

    @property
    def below(self) -> bool:
        """Whether the interval lies below 0."""
        return bool(np.isfinite(self.high) and self.high < 0)

    def power(self, effect: float = 0.05) -> float:
        """The probability that runs like these detect a true rate ``effect``
        (:func:`detection_power` at this standard error)."""
        return detection_power(effect, self.error)

    def seeds_for(self, half_width: float = 0.05) -> int:
        """The runs an interval of ``half_width`` would take (:func:`seeds_for_half_width`)."""
        return seeds_for_half_width(self.half_width, self.seeds, half_width)


def detection_power(effect: float, error: float, confidence: float = 0.95) -> float:
    r"""The probability that a two-sided ``confidence`` interval of an estimate with standard
    error ``error`` excludes 0 when the truth is ``effect``: :math:`P(|Z| > z)` with
    :math:`Z \sim N(\mathrm{effect}/\mathrm{error}, 1)` and z the normal quantile (1.96).
    NaN for an unknown error.

    >>> round(detection_power(0.05, 0.05 / 1.96), 3), round(detection_power(0.05, 1e9), 3)
    (0.5, 0.05)
    """
    if not (np.isfinite(error) and error >= 0):
        return float("nan")
    z = stats.norm.ppf(0.5 + confidence / 2)
    if error == 0:
        return 1.0
    shift = abs(effect) / error
    return float(stats.norm.cdf(shift - z) + stats.norm.cdf(-shift - z))


def seeds_for_half_width(half_width: float, seeds: int, target: float = 0.05) -> int:
    """The runs that would bring an interval of ``half_width`` from ``seeds`` runs down to
    ``target``, by the 1/√n law: ⌈seeds · (half_width / target)²⌉ (``seeds`` where it is
    already narrow enough; 0 for an unknown width).

    >>> seeds_for_half_width(0.1, 16), seeds_for_half_width(0.03, 16)
    (64, 16)
    """
    if not np.isfinite(half_width) or seeds < 1:
        return 0
    if half_width <= target:
        return seeds
    return int(np.ceil(seeds * (half_width / target) ** 2 - 1e-9))


def paired_growth_rates(
    k,
    samples,
    baseline=None,
    statistics: Sequence[str] = tuple(STATISTICS),
    resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Rate]:
    """The rate of each of ``statistics`` (module docstring) of ``samples`` (runs × len(k),
    NaN where a run does not count) in k, with its paired bootstrap interval and standard
    error; with ``baseline`` (the same runs × k, measured otherwise) the difference of rates,
    samples' minus baseline's, resampled together. A rate is NaN where a k has no runs (or a
    mean or median ≤ 0); resamples where that happens are left out of the interval."""
    k = np.asarray(k, dtype=np.float64)
    samples = np.asarray(samples, dtype=np.float64)
    runs = len(samples)
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, runs, (resamples, runs))
    # how often each run is drawn in each resample; row 0: the sample itself
    counts = np.bincount((drawn + runs * np.arange(resamples)[:, None]).ravel(),
                         minlength=resamples * runs).reshape(resamples, runs)  # fmt: skip
    weights = np.vstack([np.ones((1, runs)), counts]).astype(np.float64)
    base = None if baseline is None else np.asarray(baseline, dtype=np.float64)
    rates = {}
    for name in statistics:
        slopes = _slopes(k, _log_statistic(weights, samples, name))
        if base is not None:
            slopes = slopes - _slopes(k, _log_statistic(weights, base, name))
        draws = slopes[1:][np.isfinite(slopes[1:])]
        if draws.size > 1:
            low, high = np.percentile(draws, [2.5, 97.5])
            error = float(np.std(draws, ddof=1))
        else:
            low = high = error = np.nan
        rates[name] = Rate(float(slopes[0]), float(low), float(high), error, runs)
    return rates


def growth_rate(k, samples, resamples: int = 2000, seed: int = 0, baseline=None,
                statistic: str = "mean") -> Rate:  # fmt: skip
    r"""The rate b of :math:`E_k \approx a\,e^{bk}` (or of another ``statistic``, see
    :func:`paired_growth_rates`): the least-squares slope of log E_k against k, where E_k is
    the mean of column k of ``samples`` (runs × len(k); NaN where a run does not count at
    that k), with a *paired* percentile bootstrap interval: the runs are resampled, the same
    runs at every k (a run is one seed's W₀ trained at each k).

    A true rate above ``high`` would, at this sample, have given an interval excluding the
    rate measured: ``high`` bounds the exponential rates the data could have hidden. With
    ``baseline`` (the same runs measured otherwise, e.g. at initialisation) the rate is the
    difference, samples' rate minus baseline's, resampled jointly.

    Example:
        >>> k = np.arange(1, 9)
        >>> rng = np.random.default_rng(0)
        >>> samples = 2.0 ** k * rng.uniform(0.5, 1.5, (40, 8))
        >>> r = growth_rate(k, samples)
        >>> bool(r.low < np.log(2) < r.high), round(r.rate, 2)
        (True, 0.69)
    """
    return paired_growth_rates(k, samples, baseline, (statistic,), resamples, seed)[statistic]


def column_statistic(samples, statistic: str) -> np.ndarray:
    """The statistic of each column (k) of ``samples`` (runs × k, NaN left out) on the log
    scale the rates use: log mean, log median or mean log (NaN for an empty column).

    >>> column_statistic([[np.e, np.e], [np.e**3, np.nan]], "log").tolist()
    [2.0, 1.0]
    """
    samples = np.asarray(samples, dtype=np.float64)
    return _log_statistic(np.ones((1, len(samples))), samples, statistic)[0]


def _log_statistic(weights: np.ndarray, x: np.ndarray, statistic: str) -> np.ndarray:
    """The log-scale statistic of each column of ``x`` (runs × k, NaN left out), each run
    counted as often as ``weights`` (resamples × runs) says → (resamples × k). A resample's
    sum is a matrix product: no resampled copies of ``x``."""
    present = ~np.isnan(x)
    count = _sums(weights, present.astype(np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        if statistic == "mean":
            value = np.log(_sums(weights, np.where(present, x, 0.0)) / count)
        elif statistic == "log":
            logs = np.where(present, np.log(np.where(present, x, 1.0)), 0.0)
            value = _sums(weights, logs) / count
        elif statistic == "median":
            value = np.log(_weighted_median(weights, x, present))
        else:
            raise ValueError(f"statistics are {', '.join(STATISTICS)}, got {statistic!r}")
    return np.where(np.isfinite(value), value, np.nan)


def _sums(weights: np.ndarray, x: np.ndarray) -> np.ndarray:
    # einsum's own loop: a BLAS product of these small matrices is no faster on an idle
    # machine and can be 100 times slower on a busy one (its threads spinning)
    return np.einsum("br,rk->bk", weights, x)


def _weighted_median(weights: np.ndarray, x: np.ndarray, present: np.ndarray) -> np.ndarray:
    """The median of each column of ``x`` over the multiset each row of ``weights`` makes of
    its present values: the mean of the values at sorted places ⌊(c−1)/2⌋ and ⌊c/2⌋ of c."""
    median = np.full((len(weights), x.shape[1]), np.nan)
    by_run = np.ascontiguousarray(weights.T)  # runs × resamples: a run's counts in one row
    for column in range(x.shape[1]):
        rows = np.flatnonzero(present[:, column])
        if rows.size == 0:
            continue
        order = rows[np.argsort(x[rows, column], kind="stable")]
        ordered = x[order, column]
        cumulative = np.cumsum(by_run[order], axis=0)  # values up to each place
        total = cumulative[-1]
        low = np.argmax(cumulative > (total - 1) // 2, axis=0)
        high = np.argmax(cumulative > total // 2, axis=0)
        median[:, column] = np.where(total > 0, (ordered[low] + ordered[high]) / 2, np.nan)
    return median


def _slopes(k: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares slopes of the rows of ``y`` (… × k) against ``k`` (NaN where a row has
    a NaN)."""
    centred = k - k.mean()
    return ((y - y.mean(axis=-1, keepdims=True)) * centred).sum(axis=-1) / (centred @ centred)
