r"""The tied RNN's pieces at initialisation: one computation, one section, for both studies.

``conjecture`` and ``random-baselines`` both count the pieces of
:math:`f_k(W_0, x) = ((\mathrm{ReLU}\circ W_0)^k x)_0` on the line x(t) = (t, 1, 0, …, 0),
t ∈ [0, 1], with :math:`W_0 \sim N(0, 1)^{w\times w}` from seed s
(``np.random.default_rng(s).standard_normal((w, w))``, the same W₀ for every k): the
conjecture's ``control`` data set and random-baselines' tied RNNs. Their guides used to fit
different statistics over different ranges of k and read different growth laws from them;
their reports now print :func:`init_law_section`, computed here once per process.

**What is counted.** For each width w, k in ``steps`` and seed s = 0 … ``seeds`` − 1: the
exact pieces of f_k(W₀, ·) on t ∈ [0, 1] (``count(problem.network(W₀))`` with the control
problem, as both studies count it) and whether W₀ is *live*: f_k(W₀, x(t_i)) ≠ 0 at some of
the n = 64 evenly spaced t_i ∈ [0, 1] — the conjecture's ``live_init`` on 64 points (its
default data now have n = 4w² ≥ 64 points, which can only add live W₀). (Deciding
"≢ 0 on all of [0, 1]" from the traced values instead changes the verdict for 0, 28 and 9 of
the 2,048 (W₀, k) at w = 4, 7, 10 with 64 seeds: outputs nonzero only between grid points, or
round-off the tracer snaps to 0.) A dead W₀ still has one piece.

**What is fitted.** Per width, four statistics of the counts at each k: E[pieces] over all
runs (random-baselines' statistic), E[pieces | live] (the conjecture's), and the typical live
run — the median and the geometric mean e^{E[log pieces]} over the live runs. Each is fitted
by :func:`bends.analysis.stats.growth_fits` (least squares on the log of the statistic against
k: exponential; against log k: polynomial; or a constant) and the law chosen by AIC
(:func:`~bends.analysis.stats.select_growth`; ΔAIC < 2 is undecided) over all k, over the
lower half and over the upper half of k (k ≤ / ≥ the median k, the conjecture's split). The
rate b (slope of the log statistic against k) is given over all k and over the upper half, the
latter with a paired 95 % bootstrap interval (seeds resampled, the same seeds at every k, as
:func:`bends.analysis.stats.growth_rate` does for means): a power law k^p has local rate p/k,
which falls in the upper half; an exponential law keeps its rate there.

**Resolution.** The largest counts outrun float64: at the defaults 87, 54 and 15 of the 2,048
counts per width (w = 4, 7, 10) are not ``resolved`` (breakpoints closer than float64
separates), and the section says so. Rational tracing (``exact=True``) gave the float64 count
where it was affordable (w = 7, seed 28, k = 25: 2,020 pieces; w = 4, seed 20, k = 20: 15,126;
about 4 min each), but seed 20 at w = 4 grows like the Fibonacci numbers (×1.618 per step)
up to k = 25 and then stalls near 2·10⁵ pieces: there float64 undercounts, so the largest
counts and the means they carry are if anything too low.

**Cost.** Counting is the whole cost: 6,144 traces for the defaults (widths 4, 7, 10, k = 1 …
32, 64 seeds), 8–10 s on one core measured, 80 % of it in the 100 largest counts (up to 2·10⁵
pieces); 256 seeds take 30 s.

Example:
    >>> counts = init_counts(4, steps=(1, 2, 3), seeds=2)
    >>> counts.pieces.shape, bool(counts.pieces.min() >= 1)
    ((2, 3), True)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from bends.analysis.stats import AIC_EVIDENCE, growth_fits, select_growth
from bends.runner.counting import count
from bends.runner.summaries import markdown_table
from bends.training.tied import dataset_problem, outputs

#: Data points on t ∈ [0, 1] of the live rule: the conjecture's default n.
LIVE_POINTS = 64
#: The section's defaults: the conjecture's widths, every k up to its largest, 64 seeds.
WIDTHS = (4, 7, 10)
STEPS = tuple(range(1, 33))
SEEDS = 64
#: Paired bootstrap resamples of the upper-half rate, and its seed.
RESAMPLES = 2000


@dataclass(frozen=True)
class InitCounts:
    """Pieces of f_k(W₀, ·) on t ∈ [0, 1] for seeds × k at one width, and which W₀ are live."""

    width: int
    steps: np.ndarray  # (K,)
    pieces: np.ndarray  # (seeds, K), int
    live: np.ndarray  # (seeds, K), bool
    resolved: np.ndarray  # (seeds, K), bool: float64 resolved every breakpoint


def initial_weight(width: int, seed: int) -> np.ndarray:
    """W₀ of ``seed``, as both studies draw it (the same for every k)."""
    return np.random.default_rng(seed).standard_normal((width, width))


@lru_cache(maxsize=16)
def _counts(width: int, steps: tuple[int, ...], seeds: int) -> InitCounts:
    pieces = np.zeros((seeds, len(steps)), dtype=np.int64)
    live = np.zeros((seeds, len(steps)), dtype=bool)
    resolved = np.ones((seeds, len(steps)), dtype=bool)
    problems = [dataset_problem("control", width, k, LIVE_POINTS)[0] for k in steps]
    for s in range(seeds):
        weight = initial_weight(width, s)
        for j, problem in enumerate(problems):
            found = count(problem.network(weight))
            pieces[s, j], resolved[s, j] = found.pieces, found.resolved
            live[s, j] = bool(np.any(outputs(weight, problem.inputs, problem.steps) != 0))
    for array in (pieces, live, resolved):
        array.flags.writeable = False
    return InitCounts(width, np.array(steps), pieces, live, resolved)


def init_counts(width: int, steps: Sequence[int] = STEPS, seeds: int = SEEDS) -> InitCounts:
    """The counts and live flags of seeds 0 … ``seeds`` − 1 at ``width`` for each k in
    ``steps`` (memoised: read-only arrays)."""
    return _counts(int(width), tuple(int(k) for k in steps), int(seeds))


def _masked(counts: InitCounts) -> np.ndarray:
    """The counts as floats, NaN where W₀ is dead at that k."""
    return np.where(counts.live, counts.pieces.astype(np.float64), np.nan)


def _nan_mean(a: np.ndarray, axis: int) -> np.ndarray:
    """Mean over ``axis`` ignoring NaN; NaN (without a warning) where all are NaN."""
    kept = np.isfinite(a)
    total = np.where(kept, a, 0.0).sum(axis=axis)
    number = kept.sum(axis=axis)
    return np.where(number > 0, total / np.maximum(number, 1), np.nan)


def _nan_median(a: np.ndarray, axis: int) -> np.ndarray:
    if not np.isnan(a).all(axis=axis).any():
        return np.nanmedian(a, axis=axis)
    filled = np.where(np.isnan(a).all(axis=axis, keepdims=True), 0.0, a)
    return np.where(np.isnan(a).all(axis=axis), np.nan, np.nanmedian(filled, axis=axis))


#: The statistics, each of (..., seeds, K) counts and live flags → (..., K) positive values.
STATISTICS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "E[pieces]": lambda pieces, masked: pieces.mean(axis=-2),
    "E[pieces | live]": lambda pieces, masked: _nan_mean(masked, -2),
    "median | live": lambda pieces, masked: _nan_median(masked, -2),
    "e^E[log pieces] | live": lambda pieces, masked: np.exp(_nan_mean(np.log(masked), -2)),
}


def statistics(counts: InitCounts) -> dict[str, np.ndarray]:
    """Each of :data:`STATISTICS` at every k (NaN at a k without live runs)."""
    pieces, masked = counts.pieces.astype(np.float64), _masked(counts)
    return {name: statistic(pieces, masked) for name, statistic in STATISTICS.items()}


@dataclass(frozen=True)
class Law:
    """The growth law chosen by AIC over some k, its margin and fitted parameter."""

    model: str  # exponential, polynomial, constant; "" where it cannot be fitted
    margin: float
    slope: float  # b of e^{bk} (exponential), p of k^p (polynomial), 0 (constant)
    rate: float  # b of the exponential fit, whichever law won

    def __str__(self) -> str:
        if not self.model:
            return "—"
        name = {"exponential": f"exponential, ×{np.exp(self.slope):.3g}/step",
                "polynomial": f"polynomial, k^{self.slope:.2g}",
                "constant": "constant"}[self.model]  # fmt: skip
        undecided = ", undecided" if self.margin < AIC_EVIDENCE else ""
        return f"{name} (ΔAIC {_margin(self.margin)}{undecided})"


def _margin(margin: float) -> str:
    return f"{margin:.2g}" if margin < 10 else f"{margin:.0f}"


def growth_law(k: np.ndarray, values: np.ndarray) -> Law:
    """:func:`select_growth` of :func:`growth_fits` of ``values`` at ``k`` (an empty law where
    fewer than 3 values, or any not positive and finite)."""
    k, values = np.asarray(k, dtype=np.float64), np.asarray(values, dtype=np.float64)
    if k.size < 3 or not np.all(np.isfinite(values) & (values > 0)):
        return Law("", np.nan, np.nan, np.nan)
    fits = growth_fits(k, values)
    chosen = select_growth(fits)
    return Law(chosen.model, chosen.margin, fits[chosen.model].slope, fits["exponential"].slope)


def _slopes(k: np.ndarray, log_values: np.ndarray) -> np.ndarray:
    """Least-squares slopes of the rows of ``log_values`` (..., K) against ``k``."""
    x = k - k.mean()
    return (log_values - log_values.mean(axis=-1, keepdims=True)) @ x / (x @ x)


def upper_rate(counts: InitCounts, name: str, columns: np.ndarray) -> tuple[float, float, float]:
    """The rate b of statistic ``name`` over the k of ``columns`` with a paired percentile
    bootstrap 95 % interval (seeds resampled jointly at every k; fixed seed)."""
    k = counts.steps[columns].astype(np.float64)
    pieces = counts.pieces[:, columns].astype(np.float64)
    masked = _masked(counts)[:, columns]
    statistic = STATISTICS[name]
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = float(_slopes(k, np.log(statistic(pieces, masked))))
        draws = np.random.default_rng(0).integers(0, len(pieces), (RESAMPLES, len(pieces)))
        rates = _slopes(k, np.log(statistic(pieces[draws], masked[draws])))
    rates = rates[np.isfinite(rates)]
    low, high = np.percentile(rates, [2.5, 97.5]) if rates.size else (np.nan, np.nan)
    return rate, float(low), float(high)


@dataclass(frozen=True)
class WidthLaws:
    """One width's statistics, their laws over all, lower and upper k, and upper-half rates."""

    counts: InitCounts
    values: dict[str, np.ndarray]
    laws: dict[str, tuple[Law, Law, Law]]  # all k, lower half, upper half
    upper: dict[str, tuple[float, float, float]]  # rate, low, high over the upper half
    lower_k: np.ndarray
    upper_k: np.ndarray


def width_laws(width: int, steps: Sequence[int] = STEPS, seeds: int = SEEDS) -> WidthLaws:
    """Everything the section says about one width."""
    counts = init_counts(width, steps, seeds)
    k = counts.steps
    lower, upper = k <= np.median(k), k >= np.median(k)
    values = statistics(counts)
    laws = {
        name: tuple(growth_law(k[part], v[part]) for part in (k > 0, lower, upper))
        for name, v in values.items()
    }
    rates = {name: upper_rate(counts, name, upper) for name in values}
    return WidthLaws(counts, values, laws, rates, k[lower], k[upper])


def _span(numbers, form: Callable[[float], str] = "{:.2g}".format) -> str:
    """'low–high' of ``numbers`` in ``form`` (one number where they print alike; 'low to
    high' where low is negative)."""
    numbers = [x for x in numbers if np.isfinite(x)]
    if not numbers:
        return "—"
    low, high = form(min(numbers)), form(max(numbers))
    return low if low == high else f"{low}{' to ' if min(numbers) < 0 else '–'}{high}"


_percent = "{:.0%}".format


def _range(ks: np.ndarray) -> str:
    return f"k = {ks[0]}…{ks[-1]}"


def _number(x: float) -> str:
    if not np.isfinite(x):
        return "—"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def _growth_table(results: dict[int, WidthLaws]) -> str:
    first = next(iter(results.values()))
    k, lower_k, upper_k = first.counts.steps, first.lower_k, first.upper_k
    shown = sorted({0, len(lower_k) - 1, len(k) - 1})
    header = ["w", "statistic", *(f"k = {k[j]}" for j in shown),
              f"law, {_range(k)}", f"law, {_range(lower_k)}", f"law, {_range(upper_k)}",
              f"b, {_range(k)}", f"b, {_range(upper_k)} [95 %]"]  # fmt: skip
    body = []
    for width, result in results.items():
        for name, values in result.values.items():
            laws, (rate, low, high) = result.laws[name], result.upper[name]
            body.append([width, name, *(_number(values[j]) for j in shown),
                         *(str(law) for law in laws), f"{laws[0].rate:.2g}",
                         f"{rate:.2g} [{low:.2g}, {high:.2g}]"])  # fmt: skip
    return markdown_table(header, body)


#: A run "keeps growing" if its count rises by this factor across the upper half of k.
GROWTH = 10


def _carriers(counts: InitCounts, upper_k: np.ndarray) -> dict:
    """Who carries the mean at the largest k: the live runs there, their median and maximum,
    the share of their sum the 3 largest hold, and how many of the runs live at both ends of
    the upper half grew by :data:`GROWTH` or more across it."""
    last = counts.pieces[counts.live[:, -1], -1]
    top = np.sort(last)[::-1]
    start = int(np.flatnonzero(counts.steps == upper_k[0])[0])
    both = counts.live[:, start] & counts.live[:, -1]
    grew = counts.pieces[both, -1] >= GROWTH * counts.pieces[both, start]
    return {
        "live": counts.live.mean(axis=0),
        "runs": last.size,
        "median": float(np.median(last)) if last.size else np.nan,
        "max": int(top[0]) if last.size else 0,
        "top3": float(top[:3].sum() / top.sum()) if last.size else np.nan,
        "grew": (int(grew.sum()), int(both.sum())),
    }


def _carriers_table(results: dict[int, WidthLaws]) -> tuple[str, dict[int, dict]]:
    first = next(iter(results.values()))
    k, upper_k = first.counts.steps, first.upper_k
    found = {w: _carriers(r.counts, upper_k) for w, r in results.items()}
    header = ["w", "live W₀ (over k)", f"live at k = {k[-1]}", "their median", "max",
              "share of their sum, 3 largest",
              f"live runs grown ×{GROWTH} or more, k = {upper_k[0]} → {k[-1]}"]  # fmt: skip
    body = [[w, _span(c["live"], _percent), c["runs"], _number(c["median"]), c["max"],
             "—" if not np.isfinite(c["top3"]) else f"{c['top3']:.0%}",
             f"{c['grew'][0]} of {c['grew'][1]}"] for w, c in found.items()]  # fmt: skip
    return markdown_table(header, body), found


MEANS = ("E[pieces]", "E[pieces | live]")
TYPICAL = ("median | live", "e^E[log pieces] | live")


def _laws_by_model(results: dict[int, WidthLaws], names, which: int) -> str:
    """'exponential for … (ΔAIC …); polynomial for …' over fit range ``which``."""
    chosen: dict[str, list[tuple[str, int, Law]]] = {}
    for width, result in results.items():
        for name in names:
            law = result.laws[name][which]
            chosen.setdefault(law.model or "no fit", []).append((name, width, law))
    parts = []
    for model, members in chosen.items():
        where: dict[str, list[int]] = {}
        for name, width, _ in members:
            where.setdefault(name, []).append(width)
        subjects = ", ".join(f"{name} (w = {', '.join(map(str, ws))})"
                             for name, ws in where.items())  # fmt: skip
        margins = _span([law.margin for _, _, law in members], _margin)
        parts.append(f"{model} for {subjects}, ΔAIC {margins}")
    return "; ".join(parts)


def _story(results: dict[int, WidthLaws], carriers: dict[int, dict]) -> str:
    first = next(iter(results.values()))
    k, lower_k, upper_k = first.counts.steps, first.lower_k, first.upper_k

    def rates(names, upper: bool):
        return [r.upper[n][0] if upper else r.laws[n][0].rate
                for r in results.values() for n in names]  # fmt: skip

    mean_all, mean_upper = rates(MEANS, False), rates(MEANS, True)
    typical_all, typical_upper = rates(TYPICAL, False), rates(TYPICAL, True)
    grown = sum(c["grew"][0] for c in carriers.values())
    both = sum(c["grew"][1] for c in carriers.values())
    which = (
        f"**Which law fits where.** Over {_range(k)} the law by AIC is "
        f"{_laws_by_model(results, MEANS + TYPICAL, 0)}. In the upper half "
        f"({_range(upper_k)}) the means' rate b is {_span(mean_upper)} (over all k "
        f"{_span(mean_all)}) and the typical live run's {_span(typical_upper)} (over all k "
        f"{_span(typical_all)}): "
        + _verdict(mean_all, mean_upper, typical_all, typical_upper)
        + f" The means are carried by few W₀: {grown} of the {both} runs live at k = "
        f"{upper_k[0]} and {k[-1]} grew ×{GROWTH} or more between them, and at k = {k[-1]} the "
        f"3 largest live counts hold {_span([c['top3'] for c in carriers.values()], _percent)} "
        "of the live runs' sum."
    )
    live = np.concatenate([c["live"] for c in carriers.values()])
    lower = "; ".join(f"{r.laws['E[pieces]'][1]} at w = {w}" for w, r in results.items())
    whole = "; ".join(f"{r.laws['E[pieces | live]'][0]} at w = {w}" for w, r in results.items())
    why = (
        "**Why the two guides disagreed.** random-baselines' guide fitted E[pieces] over k = "
        "1…16 (16 seeds: polynomial, k^1.04 at w = 7, ΔAIC 11), the conjecture's the rate of "
        "E[pieces | live] up to k = 32 (0.15–0.32 per step in the upper half, on its data "
        "sets' lines). The same split shows here: over "
        f"{_range(lower_k)} E[pieces] is {lower}, while over {_range(k)} E[pieces | live] is "
        f"{whole}. The range of k and a few heavy runs decided it, not all runs against live "
        f"ones (the live share is {_span(live, _percent)} at every k, a near constant "
        "factor): the mean of a few counts that grow exponentially among many that grow "
        "slowly looks polynomial until those few dominate — and the median and "
        "e^E[log pieces] of the live runs, the typical W₀, are polynomial at any range."
    )
    return which + "\n\n" + why


def _verdict(mean_all, mean_upper, typical_all, typical_upper) -> str:
    """Whether the means keep their rate in the upper half (exponential) and the typical run's
    falls (a power law), in words."""
    kept = min(mean_upper) >= 0.8 * max(0.0, min(mean_all))
    fell = max(typical_upper) < 0.8 * max(typical_all)
    means = ("the means keep their rate, as an exponential law does" if kept
             else "the means' rate falls")  # fmt: skip
    typical = ("the typical run's falls, as a power law's does" if fell
               else "the typical run's does not fall")  # fmt: skip
    return f"{means}; {typical}."


def _unresolved(results: dict[int, WidthLaws]) -> str:
    missed = {w: int((~r.counts.resolved).sum()) for w, r in results.items()}
    if not any(missed.values()):
        return "float64 resolved every breakpoint of every count."
    total = next(iter(results.values())).counts.resolved.size
    where = ", ".join(f"{n} at w = {w}" for w, n in missed.items() if n)
    return (
        f"float64 could not resolve every breakpoint in {where} of the {total:,} counts per "
        "width, most of them the largest; where it runs out it merges breakpoints, so the "
        "largest counts, and the means they carry, are if anything too low."
    )


@lru_cache(maxsize=8)
def _section(widths: tuple[int, ...], steps: tuple[int, ...], seeds: int) -> str:
    results = {w: width_laws(w, steps, seeds) for w in widths}
    growth = _growth_table(results)
    carriers_text, carriers = _carriers_table(results)
    k = next(iter(results.values())).counts.steps
    return "\n\n".join([
        "### Pieces at initialisation: one computation for conjecture and random-baselines",
        f"f_k(W₀, ·) on x(t) = (t, 1, 0, …), t ∈ [0, 1], with W₀ ~ N(0, 1)^{{w×w}} from seeds "
        f"0…{seeds - 1} (the same W₀ at every k, as both studies draw it), {_range(k)}, "
        "counted exactly (`bends.studies._init_law`; " + _unresolved(results) + ") Live: "
        "f_k(W₀, ·) ≠ 0 at some of 64 evenly spaced t (the conjecture's `live_init`). Laws by "
        "AIC on the log of each statistic against k (exponential), log k (polynomial) or a "
        "constant, over all k and over each half of k (ΔAIC < 2: undecided; within the upper "
        "half k and log k are nearly proportional, so its laws are weak evidence). b is the "
        "slope of the log statistic against k, in the upper half with a paired bootstrap "
        "interval over seeds: a power law k^p has the local rate p/k, which falls; an "
        "exponential law keeps its rate.",
        growth,
        carriers_text,
        _story(results, carriers),
    ])  # fmt: skip


def init_law_section(
    widths: Sequence[int] = WIDTHS, steps: Sequence[int] = STEPS, seeds: int = SEEDS
) -> str:
    """The Markdown section both reports print: the tables of the statistics and their laws
    per width, who carries the means, which law fits where and why the guides disagreed
    (memoised per arguments within a process; deterministic)."""
    steps = tuple(sorted({int(k) for k in steps}))
    if len(steps) < 6 or steps[0] < 1:
        raise ValueError("the section needs at least 6 steps k ≥ 1 (three in each half)")
    return _section(tuple(int(w) for w in widths), steps, int(seeds))
