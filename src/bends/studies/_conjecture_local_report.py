"""The report of ``conjecture-local``: the Hessian at each W* (spectrum, zero eigenvalues and
what explains them, the loss's growth order along them) and the basin test (how often runs
from perturbed W* end with W*'s piece count or at zero loss), with findings."""

from __future__ import annotations

from typing import Any

import numpy as np

from bends.runner.figures import Figures, new_figure, plot_means
from bends.runner.study import StoredCell
from bends.runner.summaries import findings, group, interval, median, rows_of, share, table

TITLES = {"construction": "W*", "epsilon": "ε"}


def report(config: Any, results: list[StoredCell], figures: Figures) -> str:
    hessian = [c for c in results if c.params["part"] == "hessian"]
    basin = [
        {**r, "reached": r["pieces"] >= r["full_pieces"],
         "start_reached": r["pieces_start"] >= r["full_pieces"]}
        for c in results if c.params["part"] == "basin" for r in c.rows
    ]  # fmt: skip
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
    if basin:
        columns = {"runs": len, "W* pieces": "full_pieces",
                   "start ≥ W* pieces": share(lambda r: r["start_reached"]),
                   "trained ≥ W* pieces": share(lambda r: r["reached"]),
                   "E[pieces] trained": interval("pieces"),
                   "zero loss": share(lambda r: r["zero_loss"]),
                   "median loss start": median("loss_start"),
                   "median loss trained": median("loss")}  # fmt: skip
        parts += [
            f"Basin test (trainer `{config.trainer}`):\n\n"
            + table(basin, ["construction", "epsilon"], columns, titles=TITLES),
            figures.add(_basin_figure(basin), "basin",
                        "Basin test: fraction of runs from W* + εN(0, 1) that end with W*'s "
                        "piece count (solid) or at zero loss (dashed), against the perturbed "
                        "start (dotted)"),
        ]  # fmt: skip
    parts.append(_findings(hessian, basin))
    return "\n\n".join(parts)


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


def _basin_figure(basin: list[dict]):
    figure, ax = new_figure(figsize=(6, 3.8), layout="constrained")
    for i, (spec, rows) in enumerate(group(basin, "construction").items()):
        for key, style in (("reached", "-"), ("zero_loss", "--"), ("start_reached", ":")):
            plot_means(
                ax,
                rows,
                "epsilon",
                key,
                spread=None,
                color=f"C{i}",
                ls=style,
                marker="o" if key == "reached" else "",
                label=spec if key == "reached" else None,
            )
    ax.set(xscale="log", xlabel="perturbation ε", ylabel="fraction of runs", ylim=(-0.03, 1.03))
    ax.legend(fontsize=8)
    return figure


def _findings(hessian: list[StoredCell], basin: list[dict]) -> str:
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
    for spec, rows in group(basin, "construction").items():
        by = group(rows, "epsilon")
        kept = [f"ε = {e:g}: {share(lambda r: r['reached'])(g)}" for e, g in by.items()]
        zero = [np.mean([r["zero_loss"] for r in g]) for g in by.values()]
        lines.append(
            f"- {spec}, runs ending with at least W*'s piece count: "
            + "; ".join(kept)
            + f". Runs reaching zero loss: {min(zero):.0%}–{max(zero):.0%} per ε (a piece "
            "count at or above W*'s is not a return to W*: small perturbations tilt flat "
            "pieces and split breakpoints, so read it beside the losses in the table)."
        )
    return findings(lines)
