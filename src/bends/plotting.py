"""Figures of traces: the output over the segment with its bends marked.

Example:
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from bends import trace
    >>> from bends.constructions import sawtooth
    >>> figure = plot_trace(trace(sawtooth(3)))
    >>> len(figure.axes)
    1
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from bends.regions import Trace

#: Above this many bends, marking each one would only paint the axis.
MAX_MARKED_BENDS = 2000


def plot_trace(tr: Trace, title: str | None = None, ax: plt.Axes | None = None) -> Figure:
    """Draw the output against t with the output's breakpoints marked (the region
    boundaries for a trace taken with ``pieces=False``)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
    # Long tied RNNs are rescaled: draw the stored values and say by how much.
    values = tr.values
    scale = "" if tr.log_scale == 0 else f" (× e^{tr.log_scale:.4g})"
    for column in range(values.shape[1]):
        ax.plot(tr.knots, values[:, column], lw=0.9, label=f"output {column}")
    # A regions-only trace marks where the pattern changes (where the output may bend).
    bends = tr.piece_breaks if tr.has_pieces else tr.region_breaks
    label = "bends" if tr.has_pieces else "region boundaries"
    if 0 < bends.sum() <= MAX_MARKED_BENDS:
        ax.plot(tr.knots[bends], values[bends, 0], "o", ms=2.5, color="C3", label=label)
    ax.set_xlabel("t  (x = start + t·(end − start))")
    ax.set_ylabel("output" + scale)
    ax.set_title(title or tr.describe())
    if values.shape[1] > 1 or 0 < bends.sum() <= MAX_MARKED_BENDS:
        ax.legend(loc="best", fontsize=8)
    return ax.figure


def plot_layers(tr: Trace, max_neurons: int = 16, max_layers: int = 11) -> Figure:
    """Every hidden neuron's output against t, one panel per layer, and the network output.

    Like Figure 3 of the manifold paper: one sees where each layer's bends come from. Each
    neuron is drawn relative to its own maximum on the segment (deep waves are tiny in absolute
    terms); at most ``max_neurons`` neurons are drawn per layer, and at most ``max_layers``
    layers (evenly spaced, first and last included: a tied RNN may have 1000 steps).
    """
    shown = np.unique(
        np.linspace(0, len(tr.crossings) - 1, min(len(tr.crossings), max_layers))
        .round()
        .astype(int)
    )
    layers = len(shown)
    columns = min(4, layers + 1)
    rows = -(-(layers + 1) // columns)
    figure, axes = plt.subplots(
        rows, columns, figsize=(3.2 * columns, 2.4 * rows), layout="constrained", squeeze=False
    )
    for layer, ax in zip(shown, axes.flat[:layers], strict=True):
        post = np.maximum(tr.layer_values(layer), 0.0)
        top = post.max(axis=0)
        for neuron in range(min(post.shape[1], max_neurons)):
            if top[neuron] > 0:  # dead neurons have nothing to show
                ax.plot(tr.knots, post[:, neuron] / top[neuron], lw=0.8)
        ax.set_title(f"layer {layer + 1}: {int(tr.crossings[layer].sum())} switches", fontsize=9)
        ax.set_ylabel("neuron / its max", fontsize=8)
    plot_trace(tr, ax=axes.flat[layers])
    axes.flat[layers].set_title(f"output: {tr.describe()}", fontsize=9)
    for ax in axes.flat[layers + 1 :]:
        ax.axis("off")
    return figure


def save_figure(figure: Figure, path: str | Path) -> Path:
    """Save as PNG or PDF (by suffix) and close the figure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=150)
    plt.close(figure)
    return path
