"""The report of ``conjecture``: the data sets ranked by E[pieces | live] at their largest k,
the growth in k of the median, E[log pieces] and the mean (:mod:`._conjecture_growth`), two
tables per data set and width (how the runs ended; the live runs' pieces, their tail and their
change from initialisation), pieces against k, the loss and piece curves, and findings.

The piece statistics of a cell are computed once (:class:`Pieces`) and read by its table, the
ranking and the findings alike."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import matplotlib
import numpy as np

from bends.analysis.stats import (
    Change,
    Interval,
    Tail,
    mean_interval,
    paired_change,
    seeds_for_share,
    tail,
)
from bends.runner.figures import Figures, new_figure, plot_means
from bends.runner.study import StoredCell, curves
from bends.runner.summaries import (
    findings,
    group,
    markdown_table,
    median,
    resolution_finding,
    share,
    table,
    values,
)
from bends.studies._conjecture_growth import (
    DATA,
    data_label,
    growth,
    growth_table,
    live_rows,
    units,
    verdicts,
)
from bends.studies._init_law import init_law_section
from bends.studies._stored import conjecture_data, conjecture_row

#: A mean whose largest run holds more of its sum than this rests on one run.
SHARE = 0.25


def report(config: Any, results: list[StoredCell], figures: Figures) -> str:
    rows = [conjecture_row(row, cell.params) for cell in results for row in cell.rows]
    # the paired bootstraps are the report's slow part: once per data set, for every use
    found = [(unit, growth(unit.rows)) for unit in units(rows)]
    cells = {key: {k: _pieces(at_k) for k, at_k in group(members, "k").items()}
             for key, members in group(rows, *DATA).items()}  # fmt: skip
    parts = [_ranking(found, cells), growth_table(found)]
    parts.append(init_law_section())  # the very section random-baselines prints
    for key, members in group(rows, *DATA).items():
        parts += [f"### {data_label(key)}", table(members, ["k"], _ENDS),
                  _pieces_table(cells[key])]  # fmt: skip
    parts += [
        figures.add(_pieces_figure(rows), "pieces_vs_k",
                    "E[pieces | live at init] of the trained networks on the data's range "
                    "against k (95 % bootstrap interval), one panel per width; grey: the "
                    "same runs at initialisation"),
        figures.add(_curves_figure(results), "loss_curves",
                    "Training loss (left) and pieces on the data's range (right) along every "
                    "run of the first data set and width; colour = k"),
        _findings(config, rows, found, cells),
    ]  # fmt: skip
    return "\n\n".join(parts)


def _ends(group_rows) -> str:
    live = [r for r in group_rows if r["live_init"]]
    if not live:
        return "—"
    return " / ".join(f"{np.mean([r['stopped'] == why for r in live]):.0%}" for why in ENDS)


#: How a run of the flow followed to its end can end, in the report's order.
ENDS = ("threshold", "critical", "kink", "stalled", "budget")

_ENDS = {
    "runs": len,
    "L(W*)": lambda g: "—" if g[0]["loss_solution"] is None else f"{g[0]['loss_solution']:.2g}",
    "dead at init": share(lambda r: not r["live_init"]),
    "censored": lambda g: sum(values(g, "censored")),
    "live: threshold / critical / kink / stalled / budget": _ends,
    "median loss, live": lambda g: median("loss", "—")(live_rows(g)),
}  # fmt: skip


@dataclass(frozen=True)
class Pieces:
    """One cell's pieces over its live, uncensored runs (those that ended on the step budget
    included): trained, at initialisation, and the change of each run between them."""

    seeds: int  # every run of the cell, live or not
    runs: int
    quartiles: tuple[float, float, float]
    log_mean: float
    mean: Interval
    tail: Tail
    init_median: float
    init_mean: float
    init_tail: Tail
    change: Change
    budget: int
    largest: int

    def needed(self, initial: bool = False) -> float:
        """Seeds for the largest run's share of the mean to fall to :data:`SHARE`."""
        found = self.init_tail if initial else self.tail
        return seeds_for_share(found.largest_share, self.seeds, found.alpha, SHARE)


def _pieces(rows) -> Pieces | None:
    live = live_rows(rows)
    if not live:
        return None
    trained = np.array(values(live, "pieces"), dtype=np.float64)
    initial = np.array(values(live, "pieces_init"), dtype=np.float64)
    q1, q2, q3 = np.percentile(trained, [25, 50, 75])
    return Pieces(
        len(rows), len(live), (float(q1), float(q2), float(q3)),
        float(np.mean(np.log(trained))), mean_interval(trained), tail(trained),
        float(np.median(initial)), float(initial.mean()), tail(initial),
        paired_change(trained, initial), sum(r["stopped"] == "budget" for r in live),
        int(trained.max()),
    )  # fmt: skip


def _alpha(found: Tail) -> str:
    if np.isnan(found.alpha):
        return "—"
    if np.isinf(found.alpha):
        return f"no tail (top {found.top + 1} equal)"
    return f"{found.alpha:.2g} ± {found.error:.1g}"


def _alpha_text(found: Tail) -> str:
    return "too few runs for α" if np.isnan(found.alpha) else f"α {_alpha(found)}"


def _needed(cell: Pieces, initial: bool = False) -> str:
    found = cell.init_tail if initial else cell.tail
    if found.largest_share <= SHARE:
        return "(met)"
    seeds = cell.needed(initial)
    if np.isnan(seeds):  # too few runs for α: equal runs' 1/n law, which any tail exceeds
        return f"≥ {seeds_for_share(found.largest_share, cell.seeds, np.inf, SHARE)}"
    if np.isinf(seeds):
        return "∞ (α ≤ 1)" if found.alpha <= 1 else "> 10⁹"
    return str(seeds)


def _pieces_table(cells: dict[int, Pieces | None]) -> str:
    body = []
    for k, c in cells.items():
        if c is None:
            body.append([k, 0, *["—"] * 12])
            continue
        q1, q2, q3 = c.quartiles
        body.append([k, c.runs, f"{q2:.3g} [{q1:.3g}, {q3:.3g}]", f"{c.log_mean:.3g}",
                     str(c.mean), f"{c.tail.largest_share:.0%}", _alpha(c.tail), _needed(c),
                     f"{c.init_median:.3g}; {c.init_mean:.3g} "
                     f"({c.init_tail.largest_share:.0%})",
                     f"{c.change.median_difference:.3g}", str(c.change.log_ratio),
                     f"{c.change.grew:.0%}", f"{c.budget} ({c.budget / c.runs:.0%})",
                     c.largest])  # fmt: skip
    header = ["k", "live runs", "median [IQR]", "E[log pieces]", "E[pieces] [95 %]",
              "largest run's share", "tail α (Hill)", f"seeds for largest ≤ {SHARE:.0%}",
              "init: median; E (largest's share)", "median of trained − init",
              "E[log(trained / init)] [95 %]", "grew", "budget-ended (kept)", "max"]  # fmt: skip
    return markdown_table(header, body)


def _ranking(found, cells) -> str:
    """The data sets (coinciding ones once) ranked by E[pieces | live] at their largest k."""
    scored = []
    for unit, _ in found:
        top = max(r["k"] for r in unit.rows)
        cell = cells[unit.keys[0]][top]
        if cell is not None:
            scored.append((cell.mean.mean, unit.label, top, cell))
    scored.sort(key=lambda item: -item[0])
    body = [[label, top, str(c.mean), f"{c.tail.largest_share:.0%}", f"{c.quartiles[1]:.3g}",
             c.largest] for _, label, top, c in scored]  # fmt: skip
    return "**Data sets ranked by E[pieces | live] at their largest k:**\n\n" + markdown_table(
        ["data", "k", "E[pieces | live] trained [95 %]", "largest run's share", "median", "max"],
        body,
    )


def _pieces_figure(rows):
    widths = sorted({r["width"] for r in rows})
    figure, axes = new_figure(1, len(widths), figsize=(4.2 * len(widths), 3.8), sharey=True,
                              layout="constrained", squeeze=False)  # fmt: skip
    for ax, width in zip(axes[0], widths, strict=True):
        members = [r for r in rows if r["width"] == width]
        for key, data_rows in group(members, *DATA).items():
            live = live_rows(data_rows)
            if not live:
                continue
            plot_means(ax, live, "k", "pieces", spread="interval", label=data_label(key)[:-9])
            plot_means(ax, live, "k", "pieces_init", spread=None, color="0.7", lw=0.8, ms=0)
        ax.set(yscale="log", xlabel="steps k", title=f"width {width}")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("E[pieces | live], data range")
    return figure


def _curves_figure(results: list[StoredCell]):
    first = results[0].params
    data = [{k: conjecture_data(c.params)[k] for k in ("dataset", "width")} for c in results]
    chosen = [cell for cell, d in zip(results, data, strict=True) if d == data[0]]
    ks = sorted({cell.params["k"] for cell in chosen})
    colours = dict(
        zip(ks, matplotlib.colormaps["viridis"](np.linspace(0, 1, len(ks))), strict=True)
    )
    figure, (loss_ax, pieces_ax) = new_figure(1, 2, figsize=(10, 3.8), layout="constrained")
    for name, ax in (("loss", loss_ax), ("pieces", pieces_ax)):
        times = {(id(cell), c.seed): c.values for cell, c in curves(chosen, f"{name}_time")}
        for cell, curve in curves(chosen, name):
            ax.plot(times[id(cell), curve.seed][1:], curve.values[1:], lw=0.6, alpha=0.5,
                    color=colours[cell.params["k"]])  # fmt: skip
    flow = first["trainer"] in ("flow", "limit")
    for ax, label in ((loss_ax, "loss"), (pieces_ax, "pieces (data range)")):
        ax.set(xscale="log" if flow else "linear", yscale="log", ylabel=label,
               xlabel="flow time" if flow else "step")  # fmt: skip
    handles = [matplotlib.lines.Line2D([], [], color=colours[k], label=f"k = {k}") for k in ks]
    pieces_ax.legend(handles=handles, fontsize=7, ncol=2)
    return figure


def _findings(config, rows, found, cells) -> str:
    live = [r for r in rows if r["live_init"]]
    lines = [
        f"- {len(rows)} runs: data sets {', '.join(dict.fromkeys(values(rows, 'dataset')))}; "
        f"widths {', '.join(map(str, sorted(set(values(rows, 'width')))))}; k = "
        f"{min(values(rows, 'k'))}…{max(values(rows, 'k'))}; trainer `{config.trainer}`.",
        f"- {1 - len(live) / len(rows):.0%} of the W₀ output f ≡ 0 on the data at "
        "initialisation (a dead output has zero gradient: those runs end where they start, "
        "at one piece) and are reported apart: E[pieces | live].",
    ]
    if config.trainer == "limit" and live:
        ends = {why: np.mean([r["stopped"] == why for r in live]) for why in ENDS}
        lines.append(
            f"- Of the {len(live)} live runs {ends['threshold']:.0%} ended at the loss "
            f"threshold, {ends['critical']:.0%} at a critical point, {ends['kink']:.0%} at a "
            f"kink (a Clarke critical point), {ends['stalled']:.0%} stalled (loss and pieces "
            f"unchanged over {config.stall_steps} steps while the flow time doubled) and "
            f"{ends['budget']:.0%} ran out of the {config.max_steps}-step budget: "
            f"{1 - ends['budget']:.0%} ended by a criterion (goal ≥ 90 %)."
        )
    if live:
        switched = np.mean([r["dead"] for r in live])
        lines.append(f"- Training switched off {switched:.0%} of the live runs (f ≡ 0 on the "
                     "data after training: loss = mean y², one piece).")  # fmt: skip
    lines += [_budget(cells), *_coincidences(found), *verdicts(found), _one_run(found, cells)]
    censored = sum(values(rows, "censored"))
    if censored:
        lines.append(f"- {censored} runs had more pieces than the tracer's memory budget "
                     "holds (censored; left out of the statistics).")  # fmt: skip
    return findings([*lines, resolution_finding(rows, "k")])


def _budget(cells) -> str | None:
    """The runs that ended on the step budget: counted, and kept in every statistic."""
    counted = [c for by_k in cells.values() for c in by_k.values() if c is not None]
    if not counted:
        return None
    budget, runs = sum(c.budget for c in counted), sum(c.runs for c in counted)
    if not budget:
        return f"- None of the {runs} live, uncensored runs ended on the step budget."
    return (
        f"- {budget} of the {runs} live, uncensored runs ({budget / runs:.0%}) ended on the "
        "step budget: their counts are of W part-way along the flow. They are kept in every "
        "statistic, not dropped; the per-k tables count them ('budget-ended')."
    )


def _coincidences(found) -> list[str]:
    """Data sets whose rows coincide exactly (counted once), and the staircase and cantor
    data where they differ (both kept)."""
    lines = []
    for unit, _ in found:
        if len(unit.keys) > 1:
            names = " and ".join(key[0] for key in unit.keys)
            lines.append(
                f"- {names} coincide exactly at {unit.label.split(', ', 1)[1]}: the same "
                "pieces at initialisation and trained for every seed and k (their losses "
                "may differ). They are one row of the growth table and the ranking and "
                "count once in every 'x of N' here."
            )
    where = {}
    for unit, _ in found:
        for key in unit.keys:
            where.setdefault(key[1:], {})[key[0]] = id(unit)
    for (width, placement, points), data in where.items():
        if {"staircase", "cantor"} <= data.keys() and data["staircase"] != data["cantor"]:
            lines.append(f"- staircase and cantor differ at width {width}, n = {points} "
                         f"({placement}): both are kept.")  # fmt: skip
    return lines


def _one_run(found, cells) -> str | None:
    """The means whose largest run holds more than :data:`SHARE` of their sum."""
    flagged, counted = [], 0
    for unit, _ in found:
        for k, c in cells[unit.keys[0]].items():
            if c is None:
                continue
            counted += 1
            for initial, found_tail in ((False, c.tail), (True, c.init_tail)):
                if found_tail.largest_share > SHARE:
                    flagged.append((found_tail.largest_share, unit.label, k, initial, c))
    if not counted:
        return None
    trained = sum(not initial for *_, initial, _ in flagged)
    worst = sorted(flagged, key=lambda item: (-item[0], item[1], item[2]))[:6]
    listed = "; ".join(
        f"{label}, k = {k}{' (init)' if initial else ''}: {share:.0%} of {c.runs} live runs, "
        f"{_alpha_text(c.init_tail if initial else c.tail)} → {_needed(c, initial)} seeds"
        for share, label, k, initial, c in worst
    )  # fmt: skip
    if not flagged:
        return (f"- In none of the {counted} cells does the largest run hold more than "
                f"{SHARE:.0%} of the sum behind E[pieces] (trained or at init).")  # fmt: skip
    return (
        f"- **Means that rest on one run.** In {trained} of {counted} cells (data set × width "
        f"× k, coinciding data sets once) the largest live run holds more than {SHARE:.0%} of "
        f"the sum behind the trained E[pieces], and in {len(flagged) - trained} of the means "
        "at initialisation: those means rest on one run, their bootstrap intervals (and the "
        "rates of the mean fitted through them) are too narrow, and more seeds are needed. "
        f"Seeds for the largest run's share to fall to {SHARE:.0%}, from Hill's index α "
        "(largest ∝ n^{1/α}, sum ∝ n; ∞ where α ≤ 1: the mean may not exist; α from a few "
        f"runs is rough), largest shares first: {listed}."
    )
