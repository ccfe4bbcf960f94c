"""Figures of traces: the output over the segment with its bends marked, every neuron
layer by layer, and region maps of planes (:func:`plot_partition`). Drawn without pyplot (no
backend switched, nothing global), so they work the same in scripts, servers and notebooks
(where a Figure shows itself).

Example:
    >>> from bends import trace
    >>> from bends.constructions import sawtooth
    >>> figure = plot_trace(trace(sawtooth(3)))
    >>> len(figure.axes)
    1
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure

from bends._atomic import replaced
from bends.errors import BendsError
from bends.nets import TiedRNN
from bends.tracing.partition import Partition
from bends.tracing.result import Trace

#: Above this many bends, marking each one would only paint the axis.
MAX_MARKED_BENDS = 2000


def plot_trace(tr: Trace, title: str | None = None, ax: Axes | None = None) -> Figure:
    """Draw the output against t with the output's breakpoints marked (the region
    boundaries for a trace taken with ``pieces=False``); legends sit beside the data."""
    if ax is None:
        ax = Figure(figsize=(7.5, 3.2), layout="constrained").subplots()
    # Long tied RNNs are rescaled: draw the stored values and say by how much.
    values = tr.values
    scale = "" if tr.log_scale == 0 else f" (× e^{tr.log_scale:.4g})"
    axis, name = _axis(tr)
    for column in range(values.shape[1]):
        ax.plot(axis, values[:, column], lw=0.9, label=f"output {column}")
    # A regions-only trace marks where the pattern changes (where the output may bend).
    bends = tr.piece_breaks if tr.has_pieces else tr.region_breaks
    label = "bends" if tr.has_pieces else "region boundaries"
    if 0 < bends.sum() <= MAX_MARKED_BENDS:
        ax.plot(axis[bends], values[bends, 0], "o", ms=2.5, color="C3", label=label)
    ax.set_xlabel(name)
    ax.set_ylabel("output" + scale)
    ax.set_title(title or tr.describe())
    if values.shape[1] > 1 or 0 < bends.sum() <= MAX_MARKED_BENDS:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return ax.figure


def _axis(tr: Trace) -> tuple[np.ndarray, str]:
    """The knots in input coordinates for a 1-D input, else t, and the axis label."""
    if tr.start.size == 1:
        return tr.points()[:, 0], "x"
    if tr.start.size <= 3:
        return tr.knots, f"t  (x = {_short(tr.start)} + t·({_short(tr.end - tr.start)}))"
    return tr.knots, f"t  (x = start + t·(end − start), in {tr.start.size} dimensions)"


def _short(point: np.ndarray) -> str:
    return "(" + ", ".join(f"{v:.3g}" for v in point) + ")"


def _shown_layers(tr: Trace, max_layers: int) -> np.ndarray:
    """At most ``max_layers`` layers, evenly spaced, first and last included."""
    count = min(len(tr.switches), max_layers)
    return np.unique(np.linspace(0, len(tr.switches) - 1, count).round().astype(int))


def layers_shown(tr: Trace, max_neurons: int = 16, max_layers: int = 11) -> str | None:
    """What :func:`plot_layers` leaves out, in words (None when it draws everything)."""
    widest = max(len(c) for c in tr.switches) if tr.switches else 0
    notes = []
    if widest > max_neurons:
        notes.append(
            f"the first {max_neurons} neurons of each layer are drawn (the widest has "
            f"{widest}; --neurons {widest} draws all)"
        )
    if len(tr.switches) > max_layers:
        notes.append(
            f"{len(_shown_layers(tr, max_layers))} of {len(tr.switches)} layers are drawn "
            f"(--panels {len(tr.switches)} draws all)"
        )
    return "; ".join(notes) or None


def plot_layers(tr: Trace, max_neurons: int = 16, max_layers: int = 11) -> Figure:
    """Every hidden neuron's output against t, one panel per layer (per step for a tied RNN),
    and the network output.

    Like Figure 3 of the manifold paper: one sees where each layer's bends come from. Each
    neuron is drawn relative to its own maximum on the segment (deep waves are tiny in absolute
    terms); at most ``max_neurons`` neurons are drawn per layer, and at most ``max_layers``
    layers (evenly spaced, first and last included: a tied RNN may have 1000 steps);
    :func:`layers_shown` says what is left out.
    """
    shown = _shown_layers(tr, max_layers)
    layers = len(shown)
    columns = min(4, layers + 1)
    rows = -(-(layers + 1) // columns)
    figure = Figure(figsize=(3.2 * columns, 2.5 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    unit = (
        "step" if isinstance(tr.network, TiedRNN)
        else "kink" if hasattr(tr.network, "kink_outputs") else "layer"
    )  # fmt: skip
    for layer, ax in zip(shown, axes.flat[:layers], strict=True):
        values = tr.layer_values(layer)
        graph = hasattr(tr.network, "kink_outputs")  # outputs already, of any kink
        post = values if graph else np.maximum(values, 0.0)
        top = np.abs(post).max(axis=0)
        for neuron in range(min(post.shape[1], max_neurons)):
            if top[neuron] > 0:  # dead neurons have nothing to show
                ax.plot(_axis(tr)[0], post[:, neuron] / top[neuron], lw=0.8)
        switches = int(tr.switches[layer].sum())
        drawn = "" if post.shape[1] <= max_neurons else f", {max_neurons} of {post.shape[1]} drawn"
        ax.set_title(
            f"{unit} {layer + 1}: {switches} switch{'es' * (switches != 1)}{drawn}", fontsize=9
        )
        ax.set_ylabel("neuron / its max", fontsize=8)
        ax.set_xlabel("x" if tr.start.size == 1 else "t", fontsize=8)
    plot_trace(tr, ax=axes.flat[layers])
    output = axes.flat[layers]
    output.set_title(f"output: {tr.describe()}", fontsize=9)
    output.set_xlabel("x" if tr.start.size == 1 else "t", fontsize=8)
    if output.get_legend() is not None:  # inside a grid of panels: below the axis, not beside
        output.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), fontsize=7, frameon=False)
    for ax in axes.flat[layers + 1 :]:
        ax.axis("off")
    return figure


def plot_partition(
    partition: Partition,
    color: str = "pieces",
    title: str | None = None,
    ax: Axes | None = None,
    marks: np.ndarray | None = None,
    boundary: bool = False,
) -> Figure:
    """The region map of a plane: every face filled, its edges shaded by the layer whose
    neuron drew them (darkest first), a scale bar. ``color``: "pieces" gives each piece its
    own colour (faces of one piece share it: where colours meet, the output bends), "random"
    each face its own, "output" the first output's value at the face's centre, "gradient" the
    norm of its gradient within the plane (input units). Axes are the input coordinates when
    the plane is a rectangle of a 2-input network's axes, else the plane coordinates s (along
    B − A) and u (along C − A). ``marks``: points (N, input_dim) drawn on the map (data, by
    their projection onto the plane), coloured by class when a last column holds one;
    ``boundary``: the decision boundary (:meth:`Partition.decision_boundary`) in red."""
    if color not in COLORINGS:
        raise BendsError(f"color must be one of {', '.join(COLORINGS)}, got {color!r}")
    if ax is None:
        ax = Figure(figsize=(6.4, 5.2), layout="constrained").subplots()
    a, b, c = partition.corners
    aligned = a.size == 2 and (b - a)[1] == 0 and (c - a)[0] == 0
    points = partition.to_input(partition.points) if aligned else partition.points
    polygons = [points[face] for face in partition.polygons]
    ax.add_collection(PolyCollection(polygons, facecolors=_face_colors(partition, color, ax),
                                     edgecolors="none"))  # fmt: skip
    _draw_edges(ax, partition, points)
    if boundary:
        segments = partition.decision_boundary()
        if aligned:
            segments = partition.to_input(segments)
        ax.add_collection(LineCollection(segments, colors="red", linewidths=1.6, zorder=2,
                                         label="decision boundary"))  # fmt: skip
    if marks is not None:
        marks = np.asarray(marks, dtype=np.float64)
        labelled = marks.ndim == 2 and marks.shape[1] == a.size + 1  # a last column: the class
        flat = _plane_coordinates(partition, marks[:, :-1] if labelled else marks)
        shown = partition.to_input(flat) if aligned else flat
        fill = np.array(["white"], dtype=object) if not labelled else None
        if labelled:
            from matplotlib import colormaps

            fill = colormaps["tab10"](marks[:, -1].astype(int) % 10)
        ax.scatter(shown[:, 0], shown[:, 1], s=9, c=fill, edgecolors="black", linewidths=0.5,
                   zorder=3)  # fmt: skip
    ax.autoscale_view()
    ax.set_aspect("equal" if aligned else "auto")
    ax.set_xlabel("x₁" if aligned else "s (along B − A)")
    ax.set_ylabel("x₂" if aligned else "u (along C − A)")
    _scale_bar(ax, "" if aligned else " (s)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    ax.set_title(title or f"{partition.faces} faces, {partition.pieces} pieces")
    return ax.figure


COLORINGS = ("pieces", "random", "output", "gradient")


def _face_colors(partition: Partition, color: str, ax: Axes) -> np.ndarray:
    """One RGBA row per face for the colouring ``color`` (see :func:`plot_partition`)."""
    rng = np.random.default_rng(0)
    if color in ("pieces", "random"):
        groups = partition.piece_of if color == "pieces" else np.arange(partition.faces)
        _, index = np.unique(groups, return_inverse=True)
        return rng.uniform(0.3, 0.95, size=(index.max() + 1, 3))[index]
    if color == "output":
        centres = np.array([partition.points[f].mean(axis=0) for f in partition.polygons])
        value = partition.offsets[:, 0] + np.einsum("fk,fk->f", partition.gradients[:, 0], centres)
        label = "output 0 at the face's centre"
    else:  # the gradient within the plane, in input units: g (SᵀS)⁻¹ gᵀ with S the sides
        a, b, c = partition.corners
        span = np.stack([b - a, c - a], axis=1)
        g = partition.gradients[:, 0]
        value = np.sqrt(np.einsum("fi,ij,fj->f", g, np.linalg.inv(span.T @ span), g))
        label = "|∇ output 0| within the plane"
    low, high = float(value.min()), float(value.max())
    _colorbar(ax, low, high, label)
    return _viridis((value - low) / (high - low if high > low else 1.0))


def _draw_edges(ax: Axes, partition: Partition, points: np.ndarray) -> None:
    """Edges shaded by layer: the first layer's black, later layers lighter; the sides grey."""
    from matplotlib import colormaps

    layers = partition.edge_layers()
    segments = points[partition.edge_ends]
    count = max(len(partition.layer_sizes), 1)
    width = 0.45 if partition.faces < 5000 else 0.15
    shades = colormaps["Greys"](np.linspace(0.95, 0.45, count))
    for layer in range(count):
        here = layers == layer
        if here.any():
            lines = LineCollection(
                segments[here], colors=[shades[layer]], linewidths=width, label=f"layer {layer + 1}"
            )
            ax.add_collection(lines)
    ax.add_collection(LineCollection(segments[layers < 0], colors="0.5", linewidths=0.6))


def _scale_bar(ax: Axes, unit: str) -> None:
    """A bar of a round length (about a fifth of the x range) in the lower right corner."""
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    low, high = ax.get_xlim()
    target = (high - low) / 5
    length = 10 ** np.floor(np.log10(target))
    length *= max(m for m in (1, 2, 5) if m * length <= target)
    ax.add_artist(AnchoredSizeBar(ax.transData, length, f"{length:g}{unit}", "lower right",
                                  pad=0.4, sep=3, frameon=True, size_vertical=0))  # fmt: skip


def _plane_coordinates(partition: Partition, points: np.ndarray) -> np.ndarray:
    """Input points (N, input_dim) projected onto the plane, as (s, u) (least squares)."""
    a, b, c = partition.corners
    if points.ndim != 2 or points.shape[1] != a.size:
        raise BendsError(f"marks need {a.size} coordinates per point, got shape {points.shape}")
    span = np.stack([b - a, c - a], axis=1)
    return np.linalg.lstsq(span, (points - a).T, rcond=None)[0].T


def _viridis(share: np.ndarray) -> np.ndarray:
    from matplotlib import colormaps

    return colormaps["viridis"](share)


def _colorbar(ax: Axes, low: float, high: float, label: str) -> None:
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    mappable = ScalarMappable(Normalize(low, high if high > low else low + 1.0), "viridis")
    # an inset beside the lower half of the axes: as tall as the drawn map, whatever its
    # aspect (the legend of layers sits above it)
    cax = ax.inset_axes([1.04, 0.0, 0.035, 0.6])
    ax.figure.colorbar(mappable, cax=cax, label=label)


def save_figure(figure: Figure, path: str | Path) -> Path:
    """Save as PNG, SVG or PDF (by suffix)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replaced(path) as partial:
        figure.savefig(partial, dpi=150, bbox_inches="tight")
    return path
