"""The report of ``manifold-tables``: min and mean MSE per method and target beside the
paper's Tables 1 and 2 (:mod:`._manifold_comparison` explains the gaps), the loss curves, the
neurons per layer of the best models, and findings."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import numpy as np

import bends.studies._manifold_comparison as comparison
from bends.plotting import plot_layers
from bends.runner.counting import quiet_trace
from bends.runner.figures import Figures, new_figure
from bends.runner.study import StoredCell, curves
from bends.runner.summaries import (
    findings,
    group,
    markdown_table,
    median,
    resolution_finding,
    rows_of,
    values,
)

LABELS = {
    "default": "Default network",
    "raai": "RAAI distribution (RAI)",
    "stage1": "Stage 1",
    "stage3": "Stage 3 (GD only)",
    "free-scale": "Free scale init.",
    "free-scale2+3": "Free scale init., stages 2 and 3",
    "stage2+3": "Stage 2 and 3",
    "stage1+3": "Stage 1 and 3",
    "all": "All stages",
}


def report(config: Any, results: list[StoredCell], figures: Figures) -> str:
    rows = rows_of(results)
    paper = json.loads(
        resources.files("bends.studies").joinpath("data/manifold_tables_paper.json")
        .read_text()
    )  # fmt: skip
    parts = [
        _table(config, rows, paper, expression)
        for expression in _present(config.targets, rows, "target")
    ]
    if not config.sparse and not config.difference:  # the paper's numbers: dense data
        found = comparison.cells(rows, paper, LABELS)
        parts += [
            comparison.icml_table(found, paper, LABELS),
            comparison.discrepancies(found, LABELS),
            comparison.order_agreement(found),
        ]
        parts = [part for part in parts if part]
    caption = "Median training loss per method (all stages in sequence)"
    parts.append(figures.add(_loss_figure(config, results), "loss_curves", caption))
    parts.append(_layer_figures(config, results, figures))
    parts.append(_findings(config, rows, paper))
    return "\n\n".join(parts)


def _present(wanted, rows, key) -> list:
    """The settings' values of ``key`` (in their order) that some row has."""
    found = {r[key] for r in rows}
    return [v for v in dict.fromkeys(wanted) if v in found]


def _table(config, rows, paper, expression) -> str:
    """Min and mean MSE per method beside the paper's (test errors for sparse data)."""
    by = group([r for r in rows if r["target"] == expression], "method")
    body = []
    for method in _present(config.methods, rows, "method"):
        if method not in by:
            continue
        found = by[method]
        errors = np.array(values(found, "mse"))
        if config.sparse:  # the paper's numbers are for the dense data: compare test error
            tests = np.array(values(found, "test_mse"))
            compared = [float(tests.min()), float(tests.mean())]
        else:
            ref = paper.get(expression, {}).get(method, [None, None])
            compared = [ref[0], _ratio(errors.min(), ref[0]), ref[1], _ratio(errors.mean(), ref[1])]
        body.append([
            LABELS[method], float(errors.min()), comparison.spread(errors), float(errors.mean()),
            *compared,
            f"{sum(values(found, 'collapsed'))}/{len(found)}", int(median("pieces")(found)),
            comparison.spread(values(found, "bend_depth")),
        ])  # fmt: skip
    header = ["method", "min MSE", "median [IQR]", "mean MSE",
              *(["min test MSE", "mean test MSE"] if config.sparse else
                ["paper min", "ratio", "paper mean", "ratio"]),
              "collapsed", "median pieces", "bend depth: median [IQR]"]  # fmt: skip
    return f"**Target** `y = {expression}`\n\n{markdown_table(header, body)}"


def _ratio(ours: float, theirs: float | None) -> float | None:
    return None if theirs is None else float(ours / theirs)


def _loss_figure(config, results):
    targets = list(dict.fromkeys(config.targets))
    figure, axes = new_figure(1, len(targets), figsize=(4.5 * len(targets), 3.4),
                              squeeze=False, layout="constrained")  # fmt: skip
    for ax, expression in zip(axes[0], targets, strict=True):
        for method in dict.fromkeys(config.methods):
            found = [
                c.values
                for _, c in curves(results, "loss", {"target": expression, "method": method})
            ]
            if found:
                epochs = np.arange(len(found[0])) * config.curve_every
                ax.plot(epochs, np.median(np.stack(found), axis=0), lw=1, label=LABELS[method])
        for boundary in range(1, 3):
            ax.axvline(boundary * config.epochs, color="0.7", lw=0.6, ls=":")
        ax.set(
            title=f"y = {expression}",
            xlabel="epoch (stages in sequence)",
            ylabel="MSE",
            yscale="log",
        )
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=6)
    return figure


def _layer_figures(config, results: list[StoredCell], figures: Figures) -> str:
    """Neurons per layer of the best default-initialised and best manifold-trained model."""
    expression = config.targets[0]
    shown = []
    for kind in (("default", "raai"), ("all", "stage1+3", "stage2+3", "stage1")):
        candidates = [
            (row["mse"], cell, row["seed"], row["method"])
            for cell in results
            if cell.params["target"] == expression and cell.params["method"] in kind
            for row in cell.rows
        ]
        if not candidates:
            continue
        error, cell, seed, method = min(candidates, key=lambda c: c[0])
        figure = plot_layers(quiet_trace(cell.network(seed), [0.0], [1.0]))
        figure.suptitle(f"{LABELS[method]}, seed {seed}, y = {expression}: MSE {error:.3g}")
        caption = (
            f"Every neuron by layer, best {LABELS[method]} model on y = {expression} "
            "(like the paper's Figures 3, 5, 6)"
        )
        shown.append(figures.add(figure, f"layers_{method.replace('+', '_')}", caption))
    return "\n\n".join(shown)


def _findings(config, rows, paper) -> str:
    """What the numbers show, computed from them, and where they differ from the paper."""
    lines, key = [], "test_mse" if config.sparse else "mse"
    for expression in _present(config.targets, rows, "target"):
        found = group([r for r in rows if r["target"] == expression], "method")
        means = {
            m: np.mean(values(found[m], key))
            for m in _present(config.methods, rows, "method")
            if m in found
        }
        best = min(means, key=means.get)
        what = "test MSE" if config.sparse else "MSE"
        line = f"- `y = {expression}`: lowest mean {what} {means[best]:.3g} by {LABELS[best]}"
        theirs = {m: v[1] for m, v in paper.get(expression, {}).items() if m in means}
        if theirs and not config.sparse:
            their_best = min(theirs, key=theirs.get)
            line += f" (paper: {LABELS[their_best]}, {theirs[their_best]:.3g})"
            far = [f"{LABELS[m]} ({means[m] / v:.2g}×)" for m, v in theirs.items()
                   if not 0.1 <= means[m] / v <= 10]  # fmt: skip
            line += f"; mean differs from the paper by more than 10× for {', '.join(far)}" * bool(
                far
            )
        lines.append(line + ".")
        if "stage1" in found:  # two blocks of 2^depth pieces share no kink: 2^(depth+1) − 1
            pieces = 2 ** (config.depth + 1) - 1 if config.difference else 2**config.depth
            full = sum(r["pieces"] == pieces for r in found["stage1"])
            lines.append(
                f"  Stage 1 kept all {pieces} pieces in {full}/{len(found['stage1'])} models."
            )
    lines.append(
        f"- The tables give, per method, the models whose output collapsed to a constant and "
        f"how many of the {config.depth} layers keep the triangle structure (bend depth)."
    )
    if config.sparse:
        lines.append(
            f"- Sparse data: {config.sparse} random training points and {config.sparse} test "
            f"points (data_seed {config.data_seed}); the paper's dense-data numbers do not apply."
        )
    if config.epochs != 1000:
        lines.append(
            f"- These runs used {config.epochs} epochs per stage; the paper used 1000, so "
            "compare with care."
        )
    if config.seeds != comparison.PAPER_MODELS and not (config.sparse or config.difference):
        lines.append(
            f"- Min and mean are over our {config.seeds} models per cell, the paper's over "
            f"{comparison.PAPER_MODELS}: a min over more models is lower by itself, so judge a "
            f"cell by its p (the paper's number against {comparison.PAPER_MODELS} models drawn "
            "from ours), not by the ratio alone."
        )
    lines.append(resolution_finding(rows, "target", "method"))
    return findings(lines)
