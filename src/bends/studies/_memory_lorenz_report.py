"""The report of ``memory-lorenz``: per run, the training MSE at start and end, the test MSE
and the longest plateau; the loss curves; findings on plateaus per predicted coordinate."""

from __future__ import annotations

from typing import Any

import numpy as np

from bends.runner.figures import Figures, new_figure
from bends.runner.study import StoredCell, curves
from bends.runner.summaries import findings, group, rows_of, table


def report(config: Any, results: list[StoredCell], figures: Figures) -> str:
    rows = rows_of(results)
    columns = {"MSE at start": "loss_start", "final train MSE": "loss_final",
               "test MSE": "test_mse", "longest plateau (epochs)": "plateau_epochs",
               "plateau level": lambda g: g[0]["plateau_level"] or "—"}  # fmt: skip
    caption = (
        "Training MSE of the tanh RNNs (targets standardised: 1 = predicting the mean), "
        "one line per seed, colour = predicted coordinate"
    )
    return "\n\n".join([
        table(rows, ["output", "seed"], columns, titles={"output": "output x_j"}),
        figures.add(_curves_figure(results), "loss_curves", caption),
        _findings(config, rows),
    ])  # fmt: skip


def _curves_figure(results: list[StoredCell]):
    figure, ax = new_figure(figsize=(6, 3.8), layout="constrained")
    outputs = sorted({c.params["output"] for c in results})
    for i, j in enumerate(outputs):
        for n, (_, curve) in enumerate(curves(results, "loss", {"output": j})):
            ax.plot(curve.values, color=f"C{i}", lw=0.8, label=f"x_{j}" if n == 0 else None)
    ax.set(yscale="log", xlabel="Adam epoch", ylabel="training MSE")
    ax.legend(fontsize=8)
    return figure


def _findings(config, rows: list[dict]) -> str:
    lines = []
    for j, mine in group(rows, "output").items():
        with_plateau = [r for r in mine if r["plateau_epochs"] > 0]
        lengths = ", ".join(str(r["plateau_epochs"]) for r in mine)
        lines.append(
            f"- x_{j}: {len(with_plateau)} of {len(mine)} runs have a plateau (the best loss so "
            f"far improves by < 1 % per {config.plateau_window} epochs for at least as long, "
            "then drops by ≥ 10 %); longest plateau "
            f"per run: {lengths} epochs; median test MSE "
            f"{np.median([r['test_mse'] for r in mine]):.3g} (1 = the mean)."
        )
    return findings(lines)
