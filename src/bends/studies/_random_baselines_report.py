"""The report of ``random-baselines``: pieces of random MLPs against depth, width and neurons
and of random tied RNNs against k and w, at initialisation and trained, their figures, the
growth laws fitted to the trained E[pieces] against k, and the growth law at initialisation
from the computation the ``conjecture`` report prints too (:mod:`bends.studies._init_law`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from bends.analysis.stats import growth_fits, select_growth
from bends.runner.figures import Figures, new_figure, plot_means
from bends.runner.study import StoredCell
from bends.runner.summaries import (
    findings,
    group,
    interval,
    mean,
    median,
    neuron_law,
    rows_of,
    share,
    table,
    values,
)
from bends.studies._init_law import SEEDS, STEPS, init_law_section
from bends.studies._stored import random_baselines_live_init


def report(config: Any, results: list[StoredCell], figures: Figures) -> str:
    rows = group(rows_of(results), "family")
    mlp, rnn = rows.get("mlp", []), rows.get("rnn", [])
    parts = []
    if mlp:
        parts += [
            "Random MLPs (pieces on the data's range and on the wide window):\n\n"
            + table(
                mlp,
                ["init", "depth", "width"],
                {
                    "neurons": "neurons",
                    "nets": len,
                    "E[pieces] init": mean("pieces_init"),
                    "E[pieces] trained": mean("pieces"),
                    "wide init": mean("wide_pieces_init"),
                    "wide trained": mean("wide_pieces"),
                    "median loss trained": median("loss"),
                },
            ),
            figures.add(
                _mlp_figure(mlp),
                "mlp_pieces",
                "Random MLPs: E[pieces] on the data's range against depth (left, "
                "one line per width and initialisation) and against total neurons "
                "(right); hollow: at initialisation, filled: trained",
            ),
        ]
    if rnn:
        parts += [
            "Random tied RNNs:\n\n"
            + table(
                rnn,
                ["width", "k"],
                {
                    "nets": len,
                    "E[pieces] init": interval("pieces_init"),
                    "E[pieces] trained": interval("pieces"),
                    "wide init": mean("wide_pieces_init"),
                    "wide trained": mean("wide_pieces"),
                    "init not affine": share(lambda r: r["pieces_init"] > 1),
                    "live at init": share(random_baselines_live_init),
                    "E[pieces | live] trained": _live_mean,
                    "median loss trained": median("loss"),
                },
            ),
            figures.add(
                _rnn_figure(rnn),
                "rnn_pieces",
                "Random tied RNNs: E[pieces] against k per width w (95 % bootstrap "
                "interval); dashed: at initialisation, solid: trained by Adam",
            ),
        ]
    parts.append(_findings(mlp, rnn))
    if rnn:  # the law at initialisation: one computation, the same text as conjecture's
        parts.append(init_law_section())
    return "\n\n".join(parts)


def _mlp_figure(rows: list[dict]):
    figure, (depth_ax, neuron_ax) = new_figure(1, 2, figsize=(10, 3.8), layout="constrained")
    # one colour per initialisation (its law against neurons reads as one cloud on the
    # right), one marker per width
    colours = {init: f"C{i}" for i, init in enumerate(dict.fromkeys(values(rows, "init")))}
    markers = dict(zip(dict.fromkeys(sorted(values(rows, "width"))), "osD^v<>ph*", strict=False))
    for (init, width), members in group(rows, "init", "width").items():
        style = {"color": colours[init], "marker": markers.get(width, "o")}
        for key, fill in (("pieces_init", "white"), ("pieces", colours[init])):
            label = f"{init}, width {width}" if key == "pieces" else None
            plot_means(depth_ax, members, "depth", key, spread=None, mfc=fill,
                       ls="-" if key == "pieces" else ":", label=label, **style)  # fmt: skip
            plot_means(neuron_ax, members, "neurons", key, spread=None, mfc=fill, ls="none",
                       **style)  # fmt: skip
    depth_ax.set(xlabel="depth (hidden layers)", ylabel="E[pieces]", yscale="log")
    neuron_ax.set(xlabel="total neurons", ylabel="E[pieces]", xscale="log", yscale="log")
    depth_ax.legend(fontsize=7, ncol=2)
    return figure


def _live_mean(rows: list[dict]) -> str:
    live = [r["pieces"] for r in rows if random_baselines_live_init(r)]
    return f"{np.mean(live):.3g}" if live else "—"


def _rnn_figure(rows: list[dict]):
    figure, ax = new_figure(figsize=(6, 3.8), layout="constrained")
    for i, (width, members) in enumerate(group(rows, "width").items()):
        # init and trained often coincide (a dead W₀ stays dead): markers apart, side by side
        for key, style, marker, fill, shift in (
            ("pieces_init", "--", "o", "white", 0.97),
            ("pieces", "-", "s", f"C{i}", 1.03),
        ):
            shifted = [{**r, "k": r["k"] * shift} for r in members]
            plot_means(
                ax,
                shifted,
                "k",
                key,
                spread="interval",
                color=f"C{i}",
                ls=style,
                marker=marker,
                mfc=fill,
                label=f"w = {width}, " + ("init" if key == "pieces_init" else "trained"),
            )
    ax.set(xlabel="steps k", ylabel="E[pieces] (data range)", yscale="log", xscale="log")
    ax.legend(fontsize=8)
    return figure


def _findings(mlp: list[dict], rnn: list[dict]) -> str:
    lines = []
    if mlp:
        most = max(mlp, key=lambda r: r["pieces"])
        spans = {
            key: [mean(key)(g) for g in group(mlp, "init", "depth", "width").values()]
            for key in ("pieces_init", "pieces")
        }
        lines.append(
            f"- MLPs: E[pieces] on the data's range spans {min(spans['pieces_init']):.3g}–"
            f"{max(spans['pieces_init']):.3g} at initialisation and {min(spans['pieces']):.3g}–"
            f"{max(spans['pieces']):.3g} after training over the grid; the most any trained MLP "
            f"had is {most['pieces']} (depth {most['depth']}, width {most['width']}, "
            f"{most['init']})."
        )
        for init, members in group(mlp, "init").items():
            # a seed's networks share their first layers across depths: resample seeds
            law = neuron_law(values(members, "neurons"), values(members, "pieces_init"), 1.0,
                             groups=values(members, "seed"), name="pieces")  # fmt: skip
            if law:
                lines.append(f"- MLPs at initialisation, {init}, on [0, 1] (seeds resampled): "
                             f"{law}.")  # fmt: skip
    for width, members in group(rnn, "width").items():
        by_k = group(members, "k")
        if len(by_k) < 3:
            continue
        fit = select_growth(growth_fits(list(by_k), [mean("pieces")(g) for g in by_k.values()]))
        lines.append(
            f"- Tied RNNs, w = {width}, trained by Adam (k from {min(by_k)} to {max(by_k)}, "
            f"{len(members) // len(by_k)} seeds): E[pieces]: {fit.statement}."
        )
    if rnn:
        lines.append(
            "- Tied RNNs at initialisation: these runs' E[pieces] is in the table; its growth "
            "law is not fitted to them but taken from the one computation this report shares "
            f"with `conjecture` (the next section: k = {STEPS[0]}…{STEPS[-1]}, {SEEDS} seeds, "
            "the typical run and the mean apart)."
        )
    return findings(lines)
