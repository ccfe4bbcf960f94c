r"""Statistics for piece counts: bootstrap confidence intervals and growth-law selection.

**Means with confidence intervals.** :func:`mean_interval` is the sample mean with a
percentile-BCa bootstrap interval from :func:`scipy.stats.bootstrap` (resampling the runs);
a sample whose values are all equal gets the degenerate interval [x, x].

**Growth laws.** Given means :math:`E_k > 0` at steps (or depths) k, three least-squares
models of :math:`\log E_k` are compared by AIC (n points, RSS the residual sum of squares,
p parameters):

* ``constant``:    :math:`\log E_k = a`                     (p = 1)
* ``exponential``: :math:`\log E_k = a + b\,k`              (p = 2; growth factor e^b per step)
* ``polynomial``:  :math:`\log E_k = a + b \log k`          (p = 2; E ∝ k^b)

.. math:: \mathrm{AIC} = n \log(\mathrm{RSS}/n) + 2p ,

lower is better; a difference below 2 is no evidence either way (Burnham & Anderson's rule of
thumb), which :func:`select_growth` says in words.

**Heavy tails and paired changes.** :func:`tail` (Hill's index and the largest value's share
of the sum), :func:`seeds_for_share` (how many runs until no one run carries a mean) and
:func:`paired_change` (the same runs before and after). Growth *rates* in k of paired runs,
with their power: :mod:`bends.analysis.rates`.

Example:
    >>> k = np.arange(1, 11)
    >>> fits = growth_fits(k, 3.0 * 2.0**k)
    >>> select_growth(fits).model, round(float(np.exp(fits["exponential"].slope)), 6)
    ('exponential', 2.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

# growth rates in k of paired runs live in bends.analysis.rates; these names stay importable here
from bends.analysis.rates import Rate, growth_rate  # noqa: F401

#: AIC differences below this are not evidence for one model over another.
AIC_EVIDENCE = 2.0


@dataclass(frozen=True)
class Interval:
    """A mean and its bootstrap confidence interval."""

    mean: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.mean:.3g} [{self.low:.3g}, {self.high:.3g}]"


def mean_interval(values, confidence: float = 0.95, seed: int = 0) -> Interval:
    """The mean of ``values`` with a BCa bootstrap interval (9999 resamples, fixed seed)."""
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    if values.size < 2 or np.all(values == values[0]):
        return Interval(mean, mean, mean)
    result = stats.bootstrap(
        (values,), np.mean, confidence_level=confidence, rng=np.random.default_rng(seed)
    )
    low, high = result.confidence_interval
    if not (np.isfinite(low) and np.isfinite(high)):  # BCa fails on near-degenerate samples
        result = stats.bootstrap(
            (values,), np.mean, confidence_level=confidence, method="percentile",
            rng=np.random.default_rng(seed),
        )  # fmt: skip
        low, high = result.confidence_interval
    return Interval(mean, float(low), float(high))


def ratio_interval(numerator, denominator, confidence: float = 0.95, seed: int = 0) -> Interval:
    """mean(numerator) / mean(denominator) of two independent samples, with a percentile
    bootstrap interval (each sample resampled on its own, 9999 times, fixed seed).

    >>> r = ratio_interval([0.5, 0.4, 0.6], [1.0, 1.1, 0.9])
    >>> round(r.mean, 2), bool(r.low < 0.5 < r.high)
    (0.5, True)
    """
    a, b = (np.asarray(v, dtype=np.float64) for v in (numerator, denominator))
    ratio = float(a.mean() / b.mean())
    if a.size < 2 or b.size < 2:
        return Interval(ratio, ratio, ratio)
    result = stats.bootstrap(
        (a, b), lambda x, y: np.mean(x) / np.mean(y), confidence_level=confidence,
        method="percentile", rng=np.random.default_rng(seed),
    )  # fmt: skip
    low, high = result.confidence_interval
    return Interval(ratio, float(low), float(high))


@dataclass(frozen=True)
class GrowthFit:
    """A least-squares fit of log E against k (or log k) and its AIC."""

    model: str
    intercept: float
    slope: float
    rss: float
    aic: float


def growth_fits(k, means) -> dict[str, GrowthFit]:
    """Fits of the three growth laws (module docstring) to positive ``means`` at ``k`` ≥ 1."""
    k = np.asarray(k, dtype=np.float64)
    log_e = np.log(np.asarray(means, dtype=np.float64))
    n = k.size
    if n < 3 or np.any(k < 1) or not np.all(np.isfinite(log_e)):
        raise ValueError("growth fits need ≥ 3 positive means at k ≥ 1")
    fits = {}
    for model, regressor in (("exponential", k), ("polynomial", np.log(k))):
        slope, intercept = np.polyfit(regressor, log_e, 1)
        rss = float(np.sum((log_e - intercept - slope * regressor) ** 2))
        fits[model] = GrowthFit(model, float(intercept), float(slope), rss, _aic(rss, n, 2))
    rss = float(np.sum((log_e - log_e.mean()) ** 2))
    fits["constant"] = GrowthFit("constant", float(log_e.mean()), 0.0, rss, _aic(rss, n, 1))
    return fits


def _aic(rss: float, n: int, parameters: int) -> float:
    # A perfect fit has RSS = 0; floor it at float64 round-off so the AIC stays finite.
    return n * float(np.log(max(rss / n, 1e-30))) + 2 * parameters


@dataclass(frozen=True)
class Selection:
    """The preferred growth law, its AIC margin over the runner-up, and a sentence."""

    model: str
    margin: float
    statement: str


def select_growth(fits: dict[str, GrowthFit]) -> Selection:
    """The model with the lowest AIC and whether the margin counts as evidence."""
    ranked = sorted(fits.values(), key=lambda fit: fit.aic)
    best, runner_up = ranked[0], ranked[1]
    margin = runner_up.aic - best.aic
    if best.model == "exponential":
        law = f"exponential growth, ×{np.exp(best.slope):.3g} per step"
    elif best.model == "polynomial":
        law = f"polynomial growth, E ∝ k^{best.slope:.3g}"
    else:
        law = f"no growth (E ≈ {np.exp(best.intercept):.3g})"
    if margin < AIC_EVIDENCE:
        statement = (
            f"{law} fits best, but only by ΔAIC = {margin:.2g} over {runner_up.model}: "
            "the data do not tell them apart"
        )
    else:
        statement = f"{law} fits best (ΔAIC = {margin:.3g} over {runner_up.model})"
    return Selection(best.model, margin, statement)


def growth_power(k, means, simulations: int = 1000, seed: int = 0) -> dict[str, float]:
    """How often :func:`select_growth` would pick the right law, with evidence (ΔAIC ≥
    :data:`AIC_EVIDENCE`), on data like these: for each of the exponential and polynomial
    laws, its fit to (k, means) plus Gaussian noise of the better fit's residual spread is
    simulated at the same k and refitted. A power well below 1 means a verdict from these k
    (however clear on the observed data) could have come out either way.

    >>> k = np.arange(2, 12, dtype=float)
    >>> power = growth_power(k, np.exp(0.4 * k) * np.exp(0.05 * np.sin(7 * k)), 200)
    >>> power["exponential"] > 0.9
    True
    """
    fits = growth_fits(k, means)
    k = np.asarray(k, dtype=np.float64)
    best = min((fits["exponential"], fits["polynomial"]), key=lambda fit: fit.aic)
    spread = np.sqrt(best.rss / max(k.size - 2, 1))
    rng = np.random.default_rng(seed)
    power = {}
    for model, regressor in (("exponential", k), ("polynomial", np.log(k))):
        truth = fits[model].intercept + fits[model].slope * regressor
        right = 0
        for _ in range(simulations):
            chosen = select_growth(growth_fits(k, np.exp(truth + rng.normal(0, spread, k.size))))
            right += chosen.model == model and chosen.margin >= AIC_EVIDENCE
        power[model] = right / simulations
    return power


@dataclass(frozen=True)
class LineFit:
    """y = intercept + slope·x by least squares, with the slope's two-sided 95 % interval."""

    slope: float
    low: float
    high: float
    intercept: float


def line_fit(x, y, resamples: int = 0, seed: int = 0, groups=None) -> LineFit:
    """Least-squares line through (x, y) with the slope's 95 % interval: Student's t, or with
    ``resamples`` > 0 the percentile interval of a bootstrap of the (x, y) pairs (honest where
    the scatter grows with x). The pairs must be independent draws; where they are not
    (one network counted at several depths), ``groups`` names each pair's cluster and the
    bootstrap resamples whole clusters.

    >>> fit = line_fit([1, 2, 3, 4], [2.0, 4.1, 5.9, 8.0])
    >>> round(fit.slope, 2), bool(fit.low < fit.slope < fit.high)
    (1.98, True)
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    line = stats.linregress(x, y)
    slope = float(line.slope)
    if not resamples:
        spread = stats.t.ppf(0.975, len(x) - 2) * line.stderr
        return LineFit(slope, slope - spread, slope + spread, float(line.intercept))
    # A resample is a count of draws per cluster (each pair its own cluster without
    # ``groups``), so its slope follows from the clusters' sums n, Σx, Σy, Σx², Σxy.
    labels = np.arange(len(x)) if groups is None else _cluster_index(groups)
    clusters = int(labels.max()) + 1
    sums = np.stack([np.bincount(labels, weights=w, minlength=clusters)
                     for w in (np.ones_like(x), x, y, x * x, x * y)], axis=1)  # fmt: skip
    picks = np.random.default_rng(seed).integers(0, clusters, size=(resamples, clusters))
    draws = np.bincount((np.arange(resamples)[:, None] * clusters + picks).ravel(),
                        minlength=resamples * clusters).reshape(resamples, clusters)  # fmt: skip
    n, sx, sy, sxx, sxy = (draws @ sums).T
    with np.errstate(invalid="ignore", divide="ignore"):
        slopes = (n * sxy - sx * sy) / (n * sxx - sx**2)
    low, high = np.percentile(slopes[np.isfinite(slopes)], [2.5, 97.5])
    return LineFit(slope, float(low), float(high), float(line.intercept))


def _cluster_index(groups) -> np.ndarray:
    """Each label's cluster number, in order of first appearance."""
    numbers = {label: i for i, label in enumerate(dict.fromkeys(groups))}
    return np.array([numbers[label] for label in groups])


def trend(before, after) -> str:
    """Whether the mean of ``after`` 'falls' or 'rises' against ``before``: only when the
    means differ by more than two standard errors (Welch) and 1 %, else 'is flat'.

    >>> trend([1.0, 1.1, 0.9], [0.5, 0.55, 0.45])
    'falls (-50.0 %)'
    """
    gap = np.mean(after) - np.mean(before)
    percent = f"{100 * gap / np.mean(before):+.1f} %"
    if len(before) < 2 or len(after) < 2:
        return f"changes by {percent} (one seed: no error bars)"
    error = np.sqrt(np.var(before, ddof=1) / len(before) + np.var(after, ddof=1) / len(after))
    if abs(gap) <= 2 * error or abs(gap) < 0.01 * np.mean(before):
        return f"is flat ({percent}, within two standard errors or 1 %)"
    return f"{'falls' if gap < 0 else 'rises'} ({percent})"


@dataclass(frozen=True)
class Tail:
    """How heavy a positive sample's upper tail is (see :func:`tail`)."""

    alpha: float
    error: float
    top: int
    largest_share: float

    def __str__(self) -> str:
        alpha = f"α {self.alpha:.2g} ± {self.error:.1g} (top {self.top})"
        if np.isinf(self.alpha):
            alpha = f"no tail (top {self.top + 1} equal)"
        return f"{alpha}; largest {self.largest_share:.0%}"


def tail(values, top: int | None = None) -> Tail:
    r"""The tail index of ``values`` (all > 0) by Hill's estimator, and the share of their sum
    the largest one holds.

    If :math:`P(X > x) \sim x^{-\alpha}`, the mean is finite only for α > 1 and the variance
    only for α > 2, so a sample mean with α near or below 2 is carried by a few runs and its
    bootstrap interval is too narrow. Over the k = ``top`` largest values
    :math:`x_{(1)} \ge \dots \ge x_{(k)} \ge x_{(k+1)}`,

    .. math:: \hat\alpha = \Big(\frac1k \sum_{i=1}^{k} \log\frac{x_{(i)}}{x_{(k+1)}}\Big)^{-1},

    with standard error :math:`\hat\alpha/\sqrt k` (asymptotic); default k = ⌈√n⌉ (at least 2).
    ``alpha`` is inf when the k + 1 largest values are equal (no tail), NaN for fewer than 3
    values.

    Example:
        >>> pareto = (np.arange(1, 10_001) / 10_000) ** (-1 / 1.5)  # exact Pareto(1.5) quantiles
        >>> round(tail(pareto, top=1000).alpha, 1), round(tail([1, 1, 2]).largest_share, 2)
        (1.5, 0.5)
    """
    x = np.sort(np.asarray(values, dtype=np.float64))[::-1]
    share = float(x[0] / x.sum()) if x.size and x.sum() > 0 else float("nan")
    k = int(np.ceil(np.sqrt(x.size))) if top is None else int(top)
    k = max(2, min(k, x.size - 1))
    if x.size < 3:
        return Tail(float("nan"), float("nan"), 0, share)
    if x[k] <= 0:
        raise ValueError("the tail index needs positive values")
    spread = float(np.mean(np.log(x[:k] / x[k])))
    alpha = float("inf") if spread == 0 else 1.0 / spread
    return Tail(alpha, alpha / np.sqrt(k), k, share)


def seeds_for_share(share: float, seeds: int, alpha: float, target: float = 0.25) -> float:
    r"""The runs it would take for the largest of them to hold no more than ``target`` of
    their sum, where ``seeds`` runs gave it ``share``, under a tail of index ``alpha``
    (:func:`tail`).

    With :math:`P(X > x) \sim x^{-\alpha}` and α > 1 the largest of n runs grows like
    :math:`n^{1/\alpha}` and their sum like n, so the share falls like :math:`n^{1/\alpha - 1}`:

    .. math:: n' = n\,(\mathrm{share}/\mathrm{target})^{\alpha/(\alpha - 1)} ,

    which for α = ∞ (no tail, or a finite-variance tail much lighter than the sample shows)
    is the 1/n law of equal runs. For α ≤ 1 the mean is infinite and the share does not fall:
    inf (as for more than 10⁹ runs). ``seeds`` where the share is already at most
    ``target``; NaN for an unknown index. A rough guide: Hill's index from a few runs is
    itself uncertain (± α/√top).

    >>> seeds_for_share(0.5, 8, float("inf")), seeds_for_share(0.5, 8, 2.0)
    (16, 32)
    >>> seeds_for_share(0.5, 8, 0.9), seeds_for_share(0.2, 8, 1.5)
    (inf, 8)
    """
    if share <= target:
        return seeds
    if np.isnan(alpha):
        return float("nan")
    if alpha <= 1:
        return float("inf")
    exponent = 1.0 if np.isinf(alpha) else alpha / (alpha - 1)
    needed = np.log(seeds) + exponent * np.log(share / target)
    return float("inf") if needed > np.log(1e9) else int(np.ceil(np.exp(needed) - 1e-9))


@dataclass(frozen=True)
class Change:
    """How paired runs changed from ``before`` to ``after`` (see :func:`paired_change`)."""

    median_difference: float
    log_ratio: Interval
    grew: float


def paired_change(after, before) -> Change:
    """The change of each run from ``before`` to ``after`` (both > 0, run by run): the median
    of after − before, the mean of log(after / before) with its BCa bootstrap interval
    (:func:`mean_interval`), and the fraction of runs that grew (after > before).

    >>> change = paired_change([2, 4, 8], [1, 4, 2])
    >>> change.median_difference, round(change.log_ratio.mean, 4), round(change.grew, 3)
    (1.0, 0.6931, 0.667)
    """
    after, before = (np.asarray(v, dtype=np.float64) for v in (after, before))
    if after.shape != before.shape or after.size == 0:
        raise ValueError("a paired change needs the same, nonempty runs before and after")
    return Change(
        float(np.median(after - before)),
        mean_interval(np.log(after / before)),
        float(np.mean(after > before)),
    )
