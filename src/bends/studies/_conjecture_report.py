"""The report of ``conjecture``: the data sets ranked by E[pieces | live] at their largest k,
the growth laws and rates in k, a table per data set and width, pieces against k, the loss
and piece curves, and findings on the conjecture."""

from __future__ import annotations

from typing import Any

import matplotlib
import numpy as np

from bends.analysis.stats import growth_fits, growth_rate, mean_interval, select_growth, tail
from bends.runner.figures import Figures, new_figure, plot_means
from bends.runner.study import StoredCell, curves
from bends.runner.summaries import (
    findings,
    group,
    interval,
    markdown_table,
    median,
    resolution_finding,
    share,
    table,
    values,
)
from bends.studies._stored import conjecture_data, conjecture_row


def report(config: Any, results: list[StoredCell], figures: Figures) -> str:
    rows = [conjecture_row(row, cell.params) for cell in results for row in cell.rows]
    # the paired bootstraps are the report's slow part: once per data set, for both uses
    upper = {key: _upper_rates(members) for key, members in group(rows, *DATA).items()}
    parts = [_ranking(rows), _growth_table(rows, upper)]
    for key, members in group(rows, *DATA).items():
        parts += [f"### {_data_label(key)}", table(members, ["k"], _COLUMNS)]
    parts += [
        figures.add(_pieces_figure(rows), "pieces_vs_k",
                    "E[pieces | live at init] of the trained networks on the data's range "
                    "against k (95 % bootstrap interval), one panel per width; grey: the "
                    "same runs at initialisation"),
        figures.add(_curves_figure(results), "loss_curves",
                    "Training loss (left) and pieces on the data's range (right) along every "
                    "run of the first data set and width; colour = k"),
        _findings(config, rows, upper),
    ]  # fmt: skip
    return "\n\n".join(parts)


#: What identifies a data set in the rows (with the width: what a growth law is fitted over).
DATA = ("dataset", "width", "placement", "points")


def _data_label(key) -> str:
    dataset, width, placement, points = key
    return f"{dataset}, width {width}, n = {points} ({placement})"


def _live_rows(group_rows):
    return [r for r in group_rows if r["live_init"] and not r["censored"]]


def _ends(group_rows) -> str:
    live = [r for r in group_rows if r["live_init"]]
    if not live:
        return "—"
    return " / ".join(f"{np.mean([r['stopped'] == why for r in live]):.0%}" for why in ENDS)


#: How a run of the flow followed to its end can end, in the report's order.
ENDS = ("threshold", "critical", "kink", "stalled", "budget")


def _quartiles(group_rows) -> str:
    pieces = values(_live_rows(group_rows), "pieces")
    if not pieces:
        return "—"
    q1, q2, q3 = np.percentile(pieces, [25, 50, 75])
    return f"{q2:.3g} [{q1:.3g}, {q3:.3g}]"


def _log_mean(group_rows) -> str:
    pieces = values(_live_rows(group_rows), "pieces")
    return f"{np.mean(np.log(pieces)):.3g}" if pieces else "—"


def _tail(group_rows) -> str:
    """The live runs' tail: Hill's index (a mean carried by a few runs where α ≲ 2) and the
    share of their sum the largest run holds."""
    pieces = values(_live_rows(group_rows), "pieces")
    return str(tail(pieces)) if len(pieces) >= 3 else "—"


def _grew(group_rows) -> str:
    live = _live_rows(group_rows)
    return f"{np.mean([r['pieces'] > r['pieces_init'] for r in live]):.0%}" if live else "—"


_COLUMNS = {
    "runs": len,
    "L(W*)": lambda g: "—" if g[0]["loss_solution"] is None else f"{g[0]['loss_solution']:.2g}",
    "dead at init": share(lambda r: not r["live_init"]),
    "live: threshold / critical / kink / stalled / budget": _ends,
    "E[pieces] init": lambda g: interval("pieces_init")([r for r in g if not r["censored"]]),
    "E[pieces] trained": lambda g: interval("pieces")([r for r in g if not r["censored"]]),
    "E[pieces | live] trained": lambda g: interval("pieces")(_live_rows(g)) if _live_rows(g)
                                else "—",
    "median [IQR] live": _quartiles,
    "E[log pieces] live": _log_mean,
    "tail of the live runs": _tail,
    "live runs that grew": _grew,
    "max": lambda g: max(values(g, "pieces")),
    "censored": lambda g: sum(values(g, "censored")),
    "median loss, live": lambda g: median("loss", "—")(_live_rows(g)),
}  # fmt: skip


def _live_matrix(members, key: str = "pieces"):
    """(seeds × k) values of ``key`` of the runs live at initialisation (NaN elsewhere), and k."""
    ks = sorted({r["k"] for r in members})
    seeds = sorted({r["seed"] for r in members})
    matrix = np.full((len(seeds), len(ks)), np.nan)
    for r in _live_rows(members):
        matrix[seeds.index(r["seed"]), ks.index(r["k"])] = r[key]
    return np.array(ks), matrix


def _upper_rates(members):
    """Rates in the upper half of k: trained, at initialisation, and trained minus init (on
    the same seeds); None for fewer than two such k."""
    ks, trained = _live_matrix(members)
    initial = _live_matrix(members, "pieces_init")[1]
    upper = ks >= np.median(ks)
    if upper.sum() < 2:
        return None
    return (
        growth_rate(ks[upper], trained[:, upper]),
        growth_rate(ks[upper], initial[:, upper]),
        growth_rate(ks[upper], trained[:, upper], baseline=initial[:, upper]),
        ks[upper][0],
    )


def _law(ks, matrix) -> str:
    means = np.nanmean(matrix, axis=0)
    if len(ks) < 3 or not np.all(np.isfinite(means) & (means > 0)) or np.any(ks < 1):
        return "—"
    fit = select_growth(growth_fits(ks, means))
    return f"{fit.model} (ΔAIC {fit.margin:.2g})"


def _growth_table(rows, upper) -> str:
    body = []
    for key, members in group(rows, *DATA).items():
        ks, matrix = _live_matrix(members)
        whole = growth_rate(ks, matrix) if len(ks) >= 3 else None
        rates = upper[key]
        top, initial, gained, first = rates if rates else (None, None, None, None)
        body.append([_data_label(key), _law(ks, matrix),
                     "—" if whole is None else str(whole),
                     "—" if top is None else f"{top} (k ≥ {first})",
                     "—" if top is None else f"{np.exp(top.high):.3g}",
                     "—" if initial is None else str(initial),
                     "—" if gained is None else str(gained)])  # fmt: skip
    header = ["data", "growth law of E[pieces | live] (AIC)", "rate b over all k [95 %]",
              "rate b, upper half of k [95 %]", "factor per step excluded above",
              "same runs at init: b, upper half", "trained − init: b, upper half"]  # fmt: skip
    return (
        "**Growth with k** (E[pieces | live] ≈ a·e^{bk}: b by least squares on log E, "
        "interval by a paired bootstrap over seeds; a power law k^p has a local rate p/k, "
        "so an exponential law shows as the same b in the upper half of k. 'Factor per step "
        "excluded above' is e^{high} of the upper-half interval: faster exponential growth "
        "would have been detected by these runs. The last two columns: the same live runs' "
        "W₀, and the difference of rates, trained minus init, resampled jointly):\n\n"
        + markdown_table(header, body)
    )


def _ranking(rows) -> str:
    """The data sets ranked by E[pieces | live] at their largest k: the search's answer."""
    scored = []
    for key, members in group(rows, *DATA).items():
        top = max(r["k"] for r in members)
        at_top = [r for r in members if r["k"] == top]
        live = _live_rows(at_top)
        if live:
            scored.append((float(np.mean(values(live, "pieces"))), key, top, live))
    scored.sort(key=lambda item: -item[0])
    body = [[_data_label(key), top, str(mean_interval(values(live, "pieces"))),
             max(values(live, "pieces"))] for _, key, top, live in scored]  # fmt: skip
    return "**Data sets ranked by E[pieces | live] at their largest k:**\n\n" + markdown_table(
        ["data", "k", "E[pieces | live] trained", "max"], body
    )


def _pieces_figure(rows):
    widths = sorted({r["width"] for r in rows})
    figure, axes = new_figure(1, len(widths), figsize=(4.2 * len(widths), 3.8), sharey=True,
                              layout="constrained", squeeze=False)  # fmt: skip
    for ax, width in zip(axes[0], widths, strict=True):
        members = [r for r in rows if r["width"] == width]
        for key, data_rows in group(members, *DATA).items():
            live = _live_rows(data_rows)
            if not live:
                continue
            plot_means(ax, live, "k", "pieces", spread="interval", label=_data_label(key)[:-9])
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


def _findings(config, rows, upper) -> str:
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
    exponential, faster, slower, tested = [], [], [], 0
    for key, members in group(rows, *DATA).items():
        rates = upper[key]
        if rates is None or len({r["k"] for r in members}) < 3:
            continue
        tested += 1
        top, _, gained, _ = rates
        label = _data_label(key)
        if np.isfinite(top.low) and top.low > 0:
            exponential.append(label)
        if np.isfinite(gained.low) and gained.low > 0:
            faster.append(f"{label} (+{gained.rate:.2g})")
        if np.isfinite(gained.high) and gained.high < 0:
            slower.append(f"{label} ({gained.rate:.2g})")
    if tested:
        lines.append(
            f"- Growth in the upper half of k: the trained rate's 95 % interval excludes 0 for "
            f"{len(exponential)} of {tested} data sets. Beside the same runs at "
            f"initialisation, the trained rate is higher for {len(faster)} (interval of the "
            "difference above 0" + (f": {'; '.join(faster)}" if faster else "") + ") and "
            f"lower for {len(slower)}"
            + (f" ({'; '.join(slower)})" if slower else "")
            + "; elsewhere the runs cannot tell trained growth from the growth the random W₀ "
            "already had. A rate above 0 in the upper half is necessary for exponential "
            "growth but not sufficient over a finite range of k; a finite sweep cannot "
            "settle the conjecture either way."
        )
    censored = sum(values(rows, "censored"))
    if censored:
        lines.append(f"- {censored} runs had more pieces than the tracer's memory budget "
                     "holds (censored; left out of the means).")  # fmt: skip
    return findings([*lines, resolution_finding(rows, "k")])
