"""The report of ``count-depth``: pieces against depth per family (the constructions' counts,
the random networks' means with the share that is live), the figure against 2^L, and findings
on the growth, Hanin & Rolnick's law (regions linear in the number of neurons), the closed
forms and the exact recount. Random MLPs form one series per initialisation and offset."""

from __future__ import annotations

from typing import Any

import numpy as np

from bends.analysis.stats import mean_interval
from bends.runner.figures import Figures, new_figure, plot_means
from bends.runner.study import StoredCell
from bends.runner.summaries import (
    findings,
    group,
    markdown_table,
    neuron_law,
    resolution_finding,
    rows_of,
    values,
)
from bends.studies._stored import count_depth_live

#: The families of random networks, counted per seed.
SEEDED = ("random-mlp", "random-rnn")


def report(config: Any, results: list[StoredCell], figures: Figures) -> str:
    rows = rows_of(results)
    series = _series(rows, config)
    by_depth = [(family, group(chosen, "depth")) for family, _, chosen in series]
    body = [[depth, *[_summary(family, depths.get(depth, [])) for family, depths in by_depth],
             2**depth] for depth in group(rows, "depth")]  # fmt: skip
    table = markdown_table(["depth", *[label for _, label, _ in series], "2^depth"], body)
    figure = figures.add(_figure(series), "pieces_vs_depth", "Exact pieces against depth")
    return "\n\n".join([table, figure, _findings(series, rows, config)])


def _series(rows: list[dict], config: Any) -> list[tuple[str, str, list[dict]]]:
    """(family, label, rows) per family, random MLPs split by initialisation and offset."""
    by = group(rows, "family")
    series = []
    for family in dict.fromkeys(config.families):
        if family not in by:
            continue
        if family != "random-mlp":
            series.append((family, _label(family, config), by[family]))
            continue
        for (init, offset), chosen in group(by[family], "init", "offset").items():
            where = "through 0" if not offset else f"offset {offset:g}"
            label = f"random MLP (width {config.width}, {init}, {where}): E [95 %]"
            series.append((family, label, chosen))
    return series


def _summary(family: str, rows: list[dict]) -> object:
    """A family's count at one depth: the count, or over seeds: the mean with its bootstrap
    interval, the share of networks that are live (output not ≡ 0 on the segment) and the
    mean over those, and the largest count."""
    counts = values(rows, "pieces")
    if family in SEEDED and counts:
        live = [r["pieces"] for r in rows if count_depth_live(r)]
        given = f"{np.mean(live):.3g}" if live else "—"
        return (f"{mean_interval(counts)}; live {len(live) / len(rows):.0%}, E | live "
                f"{given}; max {max(counts)}")  # fmt: skip
    return counts[0] if counts else None


def _label(family: str, config: Any) -> str:
    if family == "random-rnn":
        return f"random tied RNN (width {config.rnn_width}): E [95 %]"
    return family


def _figure(series):
    figure, ax = new_figure(figsize=(6, 4), layout="constrained")
    depths = sorted({r["depth"] for _, _, rows in series for r in rows})
    ax.plot(depths, [2.0**d for d in depths], "k:", lw=1, label="$2^L$")
    # The constructions coincide with 2^L: distinct markers keep both visible.
    markers = iter(["s", "x", "^", "v"])
    for family, label, rows in series:
        label = label.split(":")[0]
        if family in SEEDED:
            line = plot_means(ax, rows, "depth", "pieces", spread="interval",
                              label=f"{label}, all")  # fmt: skip
            live = [r for r in rows if count_depth_live(r)]
            if len(live) == len(rows):
                continue  # no dead network: the live-only curve would hide under this one
            plot_means(ax, live, "depth", "pieces", spread=None, ls="--", marker="d", ms=3,
                       color=line[0].get_color(), label=f"{label}, live only")  # fmt: skip
        else:
            plot_means(ax, rows, "depth", "pieces", spread=None, ls="none",
                       marker=next(markers), mfc="none", ms=6, label=family)  # fmt: skip
    ax.set_yscale("log", base=2)
    ax.set(xlabel="depth L (hidden layers / RNN steps)", ylabel="pieces")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return figure


def _findings(series, rows, config) -> str:
    """Plain statements of what the numbers show, computed from them."""
    lines = []
    for family, label, chosen in series:
        per_depth = group(chosen, "depth")
        measured = list(per_depth)
        if family in SEEDED:
            means = [float(np.mean(values(g, "pieces"))) for g in per_depth.values()]
            trend = "one depth only"
            if len(measured) >= 2:
                slope = np.polyfit(measured, means, 1)[0]
                trend = f"about {slope:.2f} more pieces per unit of depth (least squares)"
            live = np.mean([count_depth_live(r) for r in chosen])
            law = ""
            if family == "random-mlp":
                neurons = [config.width * r["depth"] for r in chosen]
                # a seed's networks share their first layers across depths: resample seeds
                law = neuron_law(neurons, values(chosen, "regions"), 2 * config.radius,
                                 groups=values(chosen, "seed"))  # fmt: skip
                law = f" Against the neurons N = {config.width}·L: {law}." if law else ""
            lines.append(
                f"- {label.split(':')[0]}: mean pieces {means[0]:.3g} at depth "
                f"{measured[0]} and {means[-1]:.3g} at depth {measured[-1]}, {trend}; at the "
                f"largest depth that is {means[-1] / 2 ** measured[-1]:.2g} of 2^depth. "
                f"{live:.0%} of these networks are live (output not ≡ 0 on the segment; "
                f"the others count as one piece).{law}"
            )
        else:
            hits = sum(all(r["pieces"] == r["closed_form"] for r in g) for g in per_depth.values())
            lines.append(
                f"- {family}: the count equals the closed form 2^depth at {hits} of "
                f"{len(measured)} depths."
            )
    lines.append(resolution_finding(rows, "family", "depth"))
    checked = [r for r in rows if r["exact_pieces"] is not None]
    agree = sum(r["exact_pieces"] == r["pieces"] for r in checked)
    lines.append(
        f"- Exact rational arithmetic recounted {len(checked)} networks (depth ≤ "
        f"{config.exact_depth}); float64 agreed on {agree} of them."
    )
    return findings(lines)
