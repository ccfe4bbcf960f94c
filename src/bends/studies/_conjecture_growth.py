"""The growth part of the ``conjecture`` report: which data sets count once, the rates in k of
the median, E[log pieces] and the mean with paired bootstrap intervals, their power and the
seeds they need, and the two verdicts (typical flows; the mean).

Every number the findings quote is read from the same :class:`Growth` the table shows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bends.analysis.rates import STATISTICS, Rate, column_statistic, paired_growth_rates
from bends.analysis.stats import growth_fits, select_growth
from bends.runner.summaries import group, markdown_table

#: What identifies a data set in the rows (with the width: what a growth law is fitted over).
DATA = ("dataset", "width", "placement", "points")

#: The rate per step (a factor e^0.05 ≈ 1.05) whose detection power the report gives.
EFFECT = 0.05

#: What a row shares with a row of another data set when their counts coincide.
_COUNTS = ("seed", "k", "pieces", "pieces_init", "live_init", "censored")


def data_label(key) -> str:
    dataset, width, placement, points = key
    return f"{dataset}, width {width}, n = {points} ({placement})"


def live_rows(rows):
    """The runs the piece statistics are over: live at initialisation, not censored (runs
    that ended on the step budget included)."""
    return [r for r in rows if r["live_init"] and not r["censored"]]


@dataclass
class Unit:
    """One data set and width, or several whose rows coincide exactly (the same pieces at
    init and trained for every seed and k): counted once."""

    keys: list[tuple] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def label(self) -> str:
        first = data_label(self.keys[0])
        if len(self.keys) == 1:
            return first
        return " = ".join(key[0] for key in self.keys) + first[len(self.keys[0][0]) :]


def units(rows) -> list[Unit]:
    """The data sets and widths of ``rows``, those with exactly coinciding rows merged."""
    found: dict[Any, Unit] = {}
    for key, members in group(rows, *DATA).items():
        counts = frozenset(tuple(r[name] for name in _COUNTS) for r in members)
        unit = found.setdefault((key[1:], counts), Unit(rows=members))
        unit.keys.append(key)
    return list(found.values())


def _matrix(rows, key: str, ks, seeds) -> np.ndarray:
    """(seeds × k) values of ``key`` of the live, uncensored runs (NaN elsewhere)."""
    matrix = np.full((len(seeds), len(ks)), np.nan)
    for r in live_rows(rows):
        matrix[seeds.index(r["seed"]), ks.index(r["k"])] = r[key]
    return matrix


@dataclass(frozen=True)
class Growth:
    """A unit's rates in k per statistic (:data:`STATISTICS`): trained, trained − init (the
    same resampled seeds) and trained in the upper half of k; the AIC law of each."""

    ks: tuple[int, ...]
    seeds: int
    trained: dict[str, Rate]
    gained: dict[str, Rate]
    upper: dict[str, Rate]
    first_upper: int | None
    laws: dict[str, str]


def growth(rows) -> Growth | None:
    """The rates of one unit's rows over the k with live runs (None below two such k)."""
    seeds = sorted({r["seed"] for r in rows})
    ks = sorted({r["k"] for r in live_rows(rows)})
    if len(ks) < 2:
        return None
    trained, initial = (_matrix(rows, key, ks, seeds) for key in ("pieces", "pieces_init"))
    k = np.array(ks, dtype=np.float64)
    upper = k >= np.median(k)
    top = (
        paired_growth_rates(k[upper], trained[:, upper])
        if upper.sum() >= 2 and upper.sum() < len(ks)
        else {}
    )
    return Growth(
        tuple(ks), len(seeds), paired_growth_rates(k, trained),
        paired_growth_rates(k, trained, baseline=initial), top,
        int(k[upper][0]) if top else None, {s: _law(k, trained, s) for s in STATISTICS},
    )  # fmt: skip


def _law(k, matrix, statistic: str) -> str:
    logs = column_statistic(matrix, statistic)
    if len(k) < 3 or np.any(k < 1) or not np.all(np.isfinite(logs)):
        return "—"
    fit = select_growth(growth_fits(k, np.exp(logs)))
    return f"{fit.model} (ΔAIC {fit.margin:.2g})"


def _seeds(rate: Rate) -> str:
    if not np.isfinite(rate.half_width):
        return "—"
    return "(met)" if rate.half_width <= EFFECT else str(rate.seeds_for(EFFECT))


def _rate_columns(rate: Rate | None) -> list[str]:
    if rate is None or not np.isfinite(rate.rate):
        return ["—"] * 4
    return [str(rate), f"{rate.half_width:.2g}", f"{rate.power(EFFECT):.0%}", _seeds(rate)]


def growth_table(found: Sequence[tuple[Unit, Growth | None]]) -> str:
    body = []
    for unit, g in found:
        for statistic, name in STATISTICS.items():
            if g is None:
                body.append([unit.label, name, *["—"] * 10])
                continue
            up = g.upper.get(statistic)
            body.append([unit.label, name, g.laws[statistic],
                         *_rate_columns(g.trained[statistic]),
                         "—" if up is None else f"{up} (k ≥ {g.first_upper})",
                         *_rate_columns(g.gained[statistic])])  # fmt: skip
    header = ["data", "statistic", "law (AIC)", "trained: rate [95 %]", "±",
              f"power at {EFFECT}", f"seeds for ±{EFFECT}", "trained, upper half of k",
              "trained − init: rate [95 %]", "±", f"power at {EFFECT}",
              f"seeds for ±{EFFECT}"]  # fmt: skip
    return (
        "**Growth with k**, per data set and width, over the live, uncensored runs (budget-"
        "ended ones kept). Rate b per step: the least-squares slope in k of log median, of "
        "E[log pieces] (the typical flow's rate) and of log E[pieces] (the conjecture's "
        "quantity); 95 % interval by a paired bootstrap over seeds (2000 resamples of whole "
        "seeds, each with its k-sweep), ± its half-width. Trained − init: the trained "
        "statistic's rate minus the same seeds' rate at initialisation, resampled together. "
        f"Power: the chance to detect a true rate of {EFFECT} per step (×{np.exp(EFFECT):.3g})"
        ", P(|Z| > 1.96) with Z ~ N(0.05 / SE, 1), SE the bootstrap standard error — an "
        "SE that a heavy tail makes too small makes it too high. Seeds for ±0.05: the "
        "seeds an interval of half-width 0.05 would take (half-width ∝ 1/√seeds; at that "
        "width the power is about 50 %, 80 % takes twice the seeds). An exponential law "
        "keeps its rate in the upper half of k; a power law k^p has local rate p/k:\n\n"
        + markdown_table(header, body)
    )


def _names(found, test) -> list[str]:
    return [unit.label for unit, g in found if g is not None and test(g)]


def _span(numbers: Sequence[float], fmt: str = ".0%") -> str:
    numbers = [x for x in numbers if np.isfinite(x)]
    if not numbers:
        return "—"
    low, high = f"{min(numbers):{fmt}}", f"{max(numbers):{fmt}}"
    return low if low == high else f"{low}–{high}"


def _tally(found, rates, test) -> str:
    names = _names(found, lambda g: test(rates(g)))
    return f"{len(names)} of {_tested(found)}" + (f" ({'; '.join(names)})" if names else "")


def _tested(found) -> int:
    return sum(g is not None for _, g in found)


def _needed(found, rates) -> str:
    """The most seeds any rate of ``rates`` would take to reach ± EFFECT."""
    wide = [rates(g) for _, g in found if g is not None and rates(g).half_width > EFFECT]
    if not wide:
        return "no more seeds (every interval is within ±0.05 already)"
    return f"up to {max(rate.seeds_for(EFFECT) for rate in wide)} seeds"


def verdicts(found: Sequence[tuple[Unit, Growth | None]]) -> list[str]:
    """The findings on growth: typical flows, then the mean, each with its power."""
    tested = _tested(found)
    if not tested:
        return []
    power = {s: _span([g.gained[s].power(EFFECT) for _, g in found if g]) for s in STATISTICS}
    trained_power = _span([g.trained["mean"].power(EFFECT) for _, g in found if g])
    both = _names(found, lambda g: g.gained["median"].above and g.gained["log"].above)
    lowered = _names(found, lambda g: g.gained["median"].below or g.gained["log"].below)
    merged = sum(len(unit.keys) > 1 for unit, _ in found)
    typical = (
        f"- **Typical flows create pieces?** (trained − init rate of the median and of "
        f"E[log pieces], interval above 0; {tested} data sets and widths"
        + (f", {merged} of them counting coinciding data sets once" if merged else "")
        + "). Median: above 0 for "
        + _tally(found, lambda g: g.gained["median"], lambda r: r.above)
        + "; E[log pieces]: above 0 for "
        + _tally(found, lambda g: g.gained["log"], lambda r: r.above)
        + f". Both: {len(both)} of {tested}"
        + (f" ({'; '.join(both)})" if both else "")
        + f". Below 0 for either: {len(lowered)}"
        + (f" ({'; '.join(lowered)})" if lowered else "")
        + f". Power to detect a difference of {EFFECT} per step: median {power['median']}, "
        f"E[log] {power['log']}; an interval of ±{EFFECT} (E[log]) would take "
        f"{_needed(found, lambda g: g.gained['log'])}. Verdict: "
        + (
            f"shown for {len(both)} of {tested}"
            if both
            else "not shown on any data set by these runs"
        )
        + "."
    )
    upper = _names(found, lambda g: "mean" in g.upper and g.upper["mean"].above)
    exponential = _names(found, lambda g: g.laws["mean"].startswith("exponential"))
    mean = (
        "- **The mean grows exponentially?** The trained E[pieces]'s rate is above 0 for "
        + _tally(found, lambda g: g.trained["mean"], lambda r: r.above)
        + f" (power at {EFFECT}: {trained_power}); it stays above 0 in the upper half of k "
        f"for {len(upper)} of {tested}, and AIC prefers an exponential law of the mean for "
        f"{len(exponential)} of {tested}. Trained − init, the mean's rate is above 0 for "
        + _tally(found, lambda g: g.gained["mean"], lambda r: r.above)
        + " and below 0 for "
        + _tally(found, lambda g: g.gained["mean"], lambda r: r.below)
        + f" (power at {EFFECT}: {power['mean']}; ±{EFFECT} would take "
        f"{_needed(found, lambda g: g.gained['mean'])}). Verdict: the mean's growth "
        f"is shown for {len(_names(found, lambda g: g.trained['mean'].above))} of {tested}, "
        "growth beyond the same W₀'s at initialisation for "
        f"{len(_names(found, lambda g: g.gained['mean'].above))} of {tested}. A rate above 0 "
        "over a finite range of k is necessary for exponential growth, not sufficient, and "
        "the mean's bootstrap standard error is too small where one run carries the mean "
        "(below), so its power is overstated there."
    )
    return [typical, mean, *_controls(found)]


def _controls(found) -> list[str]:
    """The control data (no known solution) at each width: its rates on medians, E[log] and
    means side by side, trained and trained − init."""
    lines = []
    for unit, g in found:
        if g is None or unit.keys[0][0] != "control":
            continue
        rates = "; ".join(
            f"{name} {g.trained[s]}, trained − init {g.gained[s]}" for s, name in STATISTICS.items()
        )
        lines.append(f"- The control data (no known solution), {unit.label.split(', ', 1)[1]}"
                     f": rates per step [95 %] of the {rates}.")  # fmt: skip
    return lines
