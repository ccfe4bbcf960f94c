r"""The report of ``conjecture-local``: the Hessian at each W* (spectrum, zero eigenvalues and
what explains them, the loss's growth order along them) and the basin test, with findings.

**Returned.** A run from :math:`W^* + \varepsilon Z` has *returned* when it ends with
L < ``return_loss`` and exactly W*'s piece count on the construction's segment; the same test
on its start says whether it ever left. Runs that end on the step budget count in every share
(as not returned, unless they meet the test) and their share is shown per row. Each share has
its 95 % Wilson interval.

**ε₅₀(k).** Per construction, with :math:`q_j` the share of returns at
:math:`\varepsilon_1 < \dots < \varepsilon_J`, the monotone envelope
:math:`\tilde q_j = \tfrac12(\max_{i \ge j} q_i + \min_{i \le j} q_i)` (the data themselves
where they fall with ε) is interpolated linearly in log ε where it first falls below ½. Its
95 % interval is the percentile interval of :data:`RESAMPLES` bootstrap draws of the seeds
(seed s perturbs along the same Z at every ε and for every construction, so one draw of seeds
serves all of them: the resampling is paired), widened where needed to the grid cell that
holds the estimate (the shares are known only at the grid's ε). ε₅₀ outside the grid is
*censored* (< ε₁ or > ε_J) and enters no fit.

**ε₅₀ against k.** For a family (``staircase-j``, k = j + 1) with at least 3 uncensored
ε₅₀: least squares of log ε₅₀ on k (exponential law, ε₅₀ ∝ e^{bk}) and on log k (power law,
ε₅₀ ∝ k^b), compared by AIC (:func:`bends.analysis.stats.growth_fits`; ΔAIC < 2 is no
evidence). The exponential slope's interval comes from the same draws, censored draws put at
the grid's edge (which can only flatten the slope). The basin is said to shrink only when that
interval lies below 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from bends.analysis.stats import AIC_EVIDENCE, growth_fits
from bends.runner.figures import Figures, new_figure
from bends.runner.study import StoredCell
from bends.runner.summaries import findings, group, markdown_table, median, rows_of, table

TITLES = {"construction": "W*", "epsilon": "ε"}
#: Bootstrap draws of the seeds for the intervals of ε₅₀ and of its slope in k.
RESAMPLES = 2000
#: The two outcomes whose ε₅₀ is estimated: a return to W*, and zero loss alone.
OUTCOMES = ("returned", "zero_loss")


def report(config: Any, results: list[StoredCell], figures: Figures) -> str:
    bound = f"L < {_power(config.return_loss)}"
    titles = {"returned": f"returned ({bound} and W*'s pieces)", "zero_loss": bound}
    hessian = [c for c in results if c.params["part"] == "hessian"]
    basin = [r for c in results if c.params["part"] == "basin" for r in c.rows]
    parts = []
    if hessian:
        columns = {"w": "width", "k": "steps", "pieces": "pieces", "loss": "loss",
                   "‖∇L‖": "gradient_norm", "λ_max": "largest", "zero λ": "zero_eigenvalues",
                   "negative λ": "negative", "symmetry": "symmetry", "inactive": "inactive",
                   "explained": "explained", "exactly flat": "flat",
                   "L ∝ δ²": "second_order", "L ∝ δ^≥3": "higher_order",
                   "zero pre-activations": "zero_preactivations"}  # fmt: skip
        parts += [
            table(rows_of(hessian), ["construction"], columns, titles=TITLES),
            figures.add(_spectrum_figure(hessian), "hessian_spectrum",
                        "Hessian eigenvalues at W* (|λ|, sorted; hollow markers: negative), "
                        "zero threshold dashed"),
        ]  # fmt: skip
    midpoints: dict[str, dict[str, Midpoint]] = {}
    if basin:
        columns = {"k": "k", "runs": len, "W* pieces": "full_pieces",
                   "returned": wilson("returned"), "start at W*": wilson("start_returned"),
                   bound: wilson("zero_loss"),
                   f"start {bound}": wilson(lambda r: r["loss_start"] < config.return_loss),
                   "budget ends": wilson(lambda r: r["stopped"] == "budget"),
                   "median pieces": median("pieces"), "median loss start": median("loss_start"),
                   "median loss": median("loss"),
                   "median ‖f − f*‖∞": median("distance")}  # fmt: skip
        midpoints = {key: _midpoints(basin, key) for key in OUTCOMES}
        header = ["W*", "k", *(f"ε₅₀ {titles[key]}" for key in OUTCOMES)]
        body = [[spec, midpoints["returned"][spec].k,
                 *(str(midpoints[key][spec]) for key in OUTCOMES)]
                for spec in midpoints["returned"]]  # fmt: skip
        parts += [
            f"Basin test (trainer `{config.trainer}`, {len(basin)} runs; intervals 95 %, "
            "Wilson):\n\n" + table(basin, ["construction", "epsilon"], columns, titles=TITLES),
            "ε₅₀: where the share of runs falls below ½ (interpolated in log ε; 95 % "
            f"bootstrap interval over seeds, {RESAMPLES} draws, at least the grid cell of "
            "the estimate; < or > when outside the grid):\n\n" + markdown_table(header, body),
            figures.add(_basin_figure(basin, titles, config.return_loss), "basin",
                        f"Basin test: share of runs from W* + εZ that return ({bound} and "
                        f"W*'s exact piece count; left) or reach {bound} (right), by k; "
                        "dotted: the same test on the perturbed starts"),
        ]  # fmt: skip
    parts.append(_findings(hessian, basin, midpoints, titles))
    return "\n\n".join(parts)


def wilson(test) -> Any:
    """The share of rows passing ``test`` (a column name or a function of a row), with its
    95 % Wilson interval, as text."""

    def aggregate(rows: list[dict]) -> str:
        hits = sum(bool(test(r) if callable(test) else r[test]) for r in rows)
        ci = stats.binomtest(hits, len(rows)).proportion_ci(method="wilson")
        return f"{hits / len(rows):.0%} [{ci.low:.0%}, {ci.high:.0%}]"

    return aggregate


class Midpoint:
    """ε₅₀ of one construction: the estimate and its bootstrap draws, in log ε (±inf where
    censored below or above the grid ``x``)."""

    def __init__(self, k: int, x: np.ndarray, estimate: float, draws: np.ndarray):
        self.k, self.x, self.estimate, self.draws = k, x, estimate, draws
        self.low, self.high = (float(np.quantile(draws, q, method="inverted_cdf"))
                               for q in (0.025, 0.975))  # fmt: skip
        if np.isfinite(estimate):  # never narrower than the grid cell that holds it
            j = int(np.searchsorted(x, estimate, side="right"))
            self.low, self.high = min(self.low, x[j - 1]), max(self.high, x[j])

    @property
    def censored(self) -> bool:
        return not np.isfinite(self.estimate)

    def _text(self, value: float) -> str:
        if value == -np.inf:
            return f"< {np.exp(self.x[0]):.3g}"
        return f"> {np.exp(self.x[-1]):.3g}" if value == np.inf else f"{np.exp(value):.3g}"

    def __str__(self) -> str:
        return f"{self._text(self.estimate)} [{self._text(self.low)}, {self._text(self.high)}]"


def crossing(x: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Where the monotone envelope of ``shares`` (draws × len(x)) first falls below ½,
    interpolated linearly in ``x`` = log ε; −inf if it starts below, +inf if it never falls."""
    upper = np.maximum.accumulate(shares[:, ::-1], axis=1)[:, ::-1]
    envelope = (upper + np.minimum.accumulate(shares, axis=1)) / 2
    below = envelope < 0.5
    first = np.argmax(below, axis=1)
    result = np.where(below[:, 0], -np.inf, np.inf)
    inside = np.flatnonzero(below.any(axis=1) & ~below[:, 0])
    j = first[inside]
    a, b = envelope[inside, j - 1], envelope[inside, j]
    result[inside] = x[j - 1] + (a - 0.5) / (a - b) * (x[j] - x[j - 1])
    return result


def _midpoints(basin: list[dict], key: str) -> dict[str, Midpoint]:
    """ε₅₀ of outcome ``key`` per construction from the seeds' outcomes at each ε (NaN where
    a seed has no run), resampled by one draw of seeds for all constructions."""
    seeds = sorted({r["seed"] for r in basin})
    draws = np.random.default_rng(0).integers(0, len(seeds), (RESAMPLES, len(seeds)))
    found = {}
    for spec, rows in group(basin, "construction").items():
        by_eps = group(rows, "epsilon")
        x = np.log(np.array(list(by_eps)))
        outcome = np.full((len(seeds), len(x)), np.nan)
        for j, members in enumerate(by_eps.values()):
            for r in members:
                outcome[seeds.index(r["seed"]), j] = r[key]
        estimate = crossing(x, np.nanmean(outcome, axis=0, keepdims=True))[0]
        draw = crossing(x, np.nanmean(outcome[draws], axis=1))
        found[spec] = Midpoint(rows[0]["k"], x, float(estimate), draw)
    return found


def _law(midpoints: dict[str, Midpoint], title: str) -> str:
    """Where ε₅₀ is inside the grid, and how it falls with k along the staircase family (with
    at least 3 of its k inside the grid)."""
    inside = [s for s, m in midpoints.items() if not m.censored]
    where = f"- ε₅₀ for {title} is inside the grid for {', '.join(inside) or 'no construction'}"
    family = {s: m for s, m in midpoints.items() if s.startswith("staircase-")}
    kept = {s: m for s, m in family.items() if not m.censored}
    if len(kept) < 3:
        return f"{where}: too few staircase k for a law in k."
    k = np.array([m.k for m in kept.values()], dtype=float)
    fits = growth_fits(k, np.exp([m.estimate for m in kept.values()]))
    margin = fits["polynomial"].aic - fits["exponential"].aic
    best, other = ("exponential", "power") if margin > 0 else ("power", "exponential")
    verdict = ("no evidence either way" if abs(margin) < AIC_EVIDENCE
               else f"the {best} law fits better")  # fmt: skip
    ks = np.array([m.k for m in family.values()], dtype=float)
    grid = next(iter(family.values())).x
    draws = np.clip(np.array([m.draws for m in family.values()]), grid[0], grid[-1])
    slopes = np.polyfit(ks, draws, 1)[0] if len(ks) > 1 else np.zeros(1)
    low, high = np.percentile(slopes, [2.5, 97.5])
    slope = fits["exponential"].slope
    shrink = ("so the basin shrinks with k" if high < 0 else
              "so these runs do not show the basin shrinking with k")  # fmt: skip
    return (
        f"{where}. Staircase k = {', '.join(f'{v:g}' for v in k)}: exponential "
        f"law ε₅₀ ∝ e^({slope:.3g} k) (×{np.exp(slope):.3g} per step), power law ε₅₀ ∝ "
        f"k^{fits['polynomial'].slope:.3g}; ΔAIC = {abs(margin):.2g} for the {best} law over "
        f"the {other} law: {verdict}. The slope of log ε₅₀ in k over all {len(family)} k "
        f"(censored draws at the grid's edge) lies in [{low:.3g}, {high:.3g}] (95 %), {shrink}."
    )


def _power(value: float) -> str:
    """10⁻⁸ for 1e-8; other numbers as they are."""
    mantissa, exponent = f"{value:.0e}".split("e")
    if mantissa != "1":
        return f"{value:g}"
    return "10" + str(int(exponent)).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))


def _median(rows: list[dict], key: str) -> float:
    return float(np.median([r[key] for r in rows])) if rows else float("nan")


def _spectrum_figure(cells: list[StoredCell]):
    figure, ax = new_figure(figsize=(6, 3.8), layout="constrained")
    for i, cell in enumerate(cells):
        values = cell.curves[0].values
        order = np.argsort(-np.abs(values))
        magnitude = np.maximum(np.abs(values[order]), 1e-300)
        index = np.arange(1, len(values) + 1)
        ax.plot(index, magnitude, marker="o", ms=3, lw=0.8, color=f"C{i}",
                label=cell.params["construction"])  # fmt: skip
        negative = values[order] < 0
        ax.scatter(index[negative], magnitude[negative], facecolors="white",
                   edgecolors=f"C{i}", s=18, zorder=3)  # fmt: skip
        ax.axhline(cell.params["zero_tol"] * np.abs(values).max(), color=f"C{i}", ls="--", lw=0.6)
    top = max(np.abs(c.curves[0].values).max() for c in cells)
    ax.set(yscale="log", xlabel="eigenvalue index (by |λ|)", ylabel="|λ|", ylim=(1e-18, 10 * top))
    ax.legend(fontsize=8)
    return figure


def _basin_figure(basin: list[dict], titles: dict[str, str], bound: float):
    """Share of runs per ε, a line per construction (staircases coloured by k, others black
    and dashed); dotted: the same test on the perturbed starts."""
    from matplotlib import colormaps

    figure, axes = new_figure(1, 2, figsize=(10, 3.8), layout="constrained", sharey=True)
    specs = sorted(
        group(basin, "construction").items(),
        key=lambda item: (not item[0].startswith("staircase-"), item[1][0]["k"]),
    )
    ks = [rows[0]["k"] for _, rows in specs]
    starts = {
        "returned": lambda r: r["start_returned"],
        "zero_loss": lambda r: r["loss_start"] < bound,
    }
    for ax, key in zip(axes, OUTCOMES, strict=True):
        for spec, rows in specs:
            by = group(rows, "epsilon")
            staircase = spec.startswith("staircase-")
            shade = (rows[0]["k"] - min(ks)) / max(max(ks) - min(ks), 1)
            style = {"color": colormaps["viridis"](0.9 * shade) if staircase else "black"}
            ax.plot(list(by), [np.mean([r[key] for r in g]) for g in by.values()], marker="o",
                    ms=3, ls="-" if staircase else "--", label=f"{spec} (k = {rows[0]['k']})",
                    **style)  # fmt: skip
            ax.plot(list(by), [np.mean([starts[key](r) for r in g]) for g in by.values()],
                    ls=":", lw=0.8, **style)  # fmt: skip
        ax.axhline(0.5, color="grey", lw=0.6, ls="--")
        ax.set(xscale="log", xlabel="perturbation ε", title=titles[key], ylim=(-0.03, 1.03))
    axes[0].set(ylabel="share of runs")
    axes[1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return figure


def _findings(hessian: list[StoredCell], basin: list[dict], midpoints: dict, titles) -> str:
    lines = []
    for r in rows_of(hessian):
        unexplained = r["zero_eigenvalues"] - r["explained"]
        isolation = (
            "is not an isolated minimum (rescaling symmetries move it without changing f)"
            if r["symmetry"]
            else "has no rescaling symmetry"
        )
        lines.append(
            f"- {r['construction']}: {r['zero_eigenvalues']} of {r['width'] ** 2} Hessian "
            f"eigenvalues are zero, {r['explained']} explained by symmetries or unused weights, "
            f"{max(unexplained, 0)} not; along the zero directions the loss is exactly flat in "
            f"{r['flat']}, rises like δ² in {r['second_order']} (the Hessian misses them: "
            f"{r['zero_preactivations']} pre-activations are exactly 0 at the data, where ReLU "
            f"is not differentiable) and at higher order in {r['higher_order']}; W* {isolation}."
        )
    if basin:
        returned, started = (sum(r[key] for r in basin) for key in ("returned", "start_returned"))
        budget = [r for r in basin if r["stopped"] == "budget"]
        zero = [r for r in basin if r["zero_loss"]]
        above = sum(r["pieces"] > r["full_pieces"] for r in zero)
        lines += [
            f"- {returned} of {len(basin)} runs {titles['returned']}; "
            f"{started} starts were already there. Of the {len(zero)} runs that reached "
            f"{titles['zero_loss']}, {above} ended with more pieces than W* (their median "
            f"‖f − f*‖∞ on the segment: {_median(zero, 'distance'):.2g})"
            + (": zero loss on the data did not restore W*'s piece count." if above else "."),
            f"- {len(budget)} runs ({len(budget) / len(basin):.0%}) ended on the step budget "
            f"(none dropped: they count as runs that did not return unless they met the test"
            f"{'; ' + str(sum(r['returned'] for r in budget)) + ' did' if budget else ''}).",
        ]
        lines += [_law(midpoints[key], titles[key]) for key in OUTCOMES]
    return findings(lines)
