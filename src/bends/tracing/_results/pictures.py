r"""Pictures of results: a trace's output with its bends marked (:func:`plot_trace`), every
neuron layer by layer (:func:`plot_layers`), many segments' counts (:func:`plot_traces`) and
region maps of planes (:func:`plot_partition`); and the small PNGs a notebook shows for a
:class:`~bends.tracing.Trace`, :class:`~bends.tracing.Traces` or
:class:`~bends.tracing.Partition` (their ``_repr_png_``: :func:`picture` and :func:`png`).
:mod:`bends.plotting` is the public face of this module.

Drawn with matplotlib's object API, never pyplot (no backend switched, nothing global), so the
figures work the same in scripts, servers and notebooks. The results import this module (on
first display only: ``import bends`` loads no matplotlib), so it imports none of them: its
arguments are the results themselves, read by their attributes.

A notebook must not freeze on a large result, so the pictures it shows are capped:
:data:`MAX_DRAWN_KNOTS` knots of a curve (beyond, its envelope is drawn) and
:data:`MAX_DRAWN_EDGES` edges of a partition (beyond, the density of its region boundaries),
each time with a note on the figure. The ``plot_*`` functions draw everything unless given a
cap.

Example:
    >>> from bends import trace
    >>> from bends.constructions import sawtooth
    >>> figure = plot_trace(trace(sawtooth(3)))
    >>> len(figure.axes)
    1
    >>> trace(sawtooth(3))._repr_png_()[:4]
    b'\x89PNG'
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from bends.errors import BendsError
from bends.nets import TiedRNN

#: Above this many bends, marking each one would only paint the axis.
MAX_MARKED_BENDS = 2000
#: A notebook's picture of a curve draws at most this many of its knots; a longer curve is
#: drawn as its envelope (the lowest and highest knot of each of MAX_DRAWN_KNOTS / 2 runs of
#: consecutive knots: between knots the curve is a line, so it never leaves that range).
MAX_DRAWN_KNOTS = 20_000
#: A notebook's picture of a partition draws at most this many edges (and their faces); a
#: larger partition is shaded by the length of region boundaries in each of
#: DENSITY_BINS × DENSITY_BINS cells.
MAX_DRAWN_EDGES = 30_000
DENSITY_BINS = 80
#: A notebook's picture of many segments draws the outputs of this many at most; more are
#: shown as a histogram of their counts.
MAX_DRAWN_SEGMENTS = 5
#: The notebook's pictures: inches and dots per inch.
PICTURE_SIZE = (4.5, 3.0)
PICTURE_DPI = 100


def plot_trace(
    tr, title: str | None = None, ax: Axes | None = None, max_knots: int | None = None
) -> Figure:
    """Draw the output of the :class:`~bends.tracing.Trace` ``tr`` against t with the
    output's breakpoints marked (the region boundaries for a trace taken with
    ``pieces=False``); legends sit beside the data. ``max_knots``: above this many knots, the
    curve's envelope is drawn (:func:`knots_note` says so on the figure)."""
    if ax is None:
        ax = Figure(figsize=(7.5, 3.2), layout="constrained").subplots()
    # Long tied RNNs are rescaled: draw the stored values and say by how much.
    values = tr.values
    scale = "" if tr.log_scale == 0 else f" (× e^{tr.log_scale:.4g})"
    axis, name = _axis(tr)
    for column in range(values.shape[1]):
        ax.plot(*_drawn(axis, values[:, column], max_knots), lw=0.9, label=f"output {column}")
    _note(ax, knots_note(len(axis), max_knots))
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


def knots_note(knots: int, max_knots: int | None) -> str | None:
    """What a curve of ``knots`` knots drawn under the cap ``max_knots`` leaves out, in words
    (None: it is drawn whole)."""
    if max_knots is None or knots <= max_knots:
        return None
    return f"{knots:,} knots, over {max_knots:,}: drawn as their envelope"


def envelope(x: np.ndarray, y: np.ndarray, runs: int) -> tuple[np.ndarray, np.ndarray]:
    """At most 2·``runs`` + 2 points of the piecewise-linear curve through (x, y) that keep its
    shape at any screen resolution: the ends, and the lowest and highest knot of each of
    ``runs`` runs of consecutive knots, in order (between knots the curve is a line, so it
    stays within the range of the knots kept around it).

    >>> y = np.array([0, 3, 1, 2, 9, 0, 5, 4.0])  # two runs: 0 3 1 2 and 9 0 5 4
    >>> envelope(np.arange(8.0), y, 2)
    (array([0., 1., 4., 5., 7.]), array([0., 3., 9., 0., 4.]))
    """
    size = -(-len(y) // max(runs, 1))
    padded = np.concatenate([y, np.full(-len(y) % size, y[-1])]).reshape(-1, size)
    first = np.arange(0, len(y), size)
    kept = np.concatenate([[0, len(y) - 1], first + padded.argmin(axis=1),
                           first + padded.argmax(axis=1)])  # fmt: skip
    kept = np.unique(np.minimum(kept, len(y) - 1))
    return x[kept], y[kept]


def _drawn(x: np.ndarray, y: np.ndarray, max_knots: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The curve as drawn: whole, or its envelope above ``max_knots`` knots."""
    if max_knots is None or len(y) <= max_knots:
        return x, y
    return envelope(x, y, max_knots // 2)


def _note(ax: Axes, text: str | None) -> None:
    """A cap's note, in small italics under the x label of ``ax`` (inside the layout)."""
    if text:
        ax.annotate(text, xy=(0.0, 0.0), xycoords=("axes fraction", ax.xaxis.label),
                    xytext=(0.0, -2.0), textcoords="offset points", ha="left", va="top",
                    fontsize=7, style="italic", color="0.3")  # fmt: skip


def _axis(tr) -> tuple[np.ndarray, str]:
    """The knots in input coordinates for a 1-D input, else t, and the axis label."""
    if tr.start.size == 1:
        return tr.points()[:, 0], "x"
    if tr.start.size <= 3:
        return tr.knots, f"t  (x = {_short(tr.start)} + t·({_short(tr.end - tr.start)}))"
    return tr.knots, f"t  (x = start + t·(end − start), in {tr.start.size} dimensions)"


def _short(point: np.ndarray) -> str:
    return "(" + ", ".join(f"{v:.3g}" for v in point) + ")"


def _shown_layers(tr, max_layers: int) -> np.ndarray:
    """At most ``max_layers`` layers, evenly spaced, first and last included."""
    count = min(len(tr.switches), max_layers)
    return np.unique(np.linspace(0, len(tr.switches) - 1, count).round().astype(int))


def layers_shown(tr, max_neurons: int = 16, max_layers: int = 11) -> str | None:
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


def plot_layers(tr, max_neurons: int = 16, max_layers: int = 11) -> Figure:
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


def plot_traces(
    traces,
    title: str | None = None,
    ax: Axes | None = None,
    max_knots: int | None = None,
    max_segments: int = MAX_DRAWN_SEGMENTS,
) -> Figure:
    """Many segments' traces (a :class:`~bends.tracing.Traces`): the first output of each
    against t when there are at most ``max_segments`` of them, else a histogram of their
    pieces per segment (activation regions for a regions-only trace). ``max_knots``: above
    this many knots, a segment's curve is drawn as its envelope (as by :func:`plot_trace`)."""
    if ax is None:
        ax = Figure(figsize=(6.4, 3.2), layout="constrained").subplots()
    has_pieces = traces.piece_breaks is not None
    counts = traces.pieces if has_pieces else traces.regions
    what = "pieces" if has_pieces else "activation regions"
    if len(traces) <= max_segments:
        for s in range(len(traces)):
            knots = slice(traces.offsets[s], traces.offsets[s + 1])
            x, y = _drawn(traces.knots[knots], traces.values[knots, 0], max_knots)
            ax.plot(x, y, lw=0.9, label=f"segment {s}: {counts[s]:,} {what}")
        _note(ax, knots_note(int(np.diff(traces.offsets).max()), max_knots))
        scaled = " (rescaled: see log_scale)" if np.any(traces.log_scale != 0) else ""
        ax.set_xlabel("t  (0 at each segment's start, 1 at its end)")
        ax.set_ylabel("output 0" + scaled)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    else:
        low, high = int(counts.min()), int(counts.max())
        edges = (np.arange(low, high + 2) - 0.5 if high - low < 60
                 else np.histogram_bin_edges(counts, bins=40))  # fmt: skip
        heights, edges = np.histogram(counts, edges)
        ax.stairs(heights, edges, fill=True, color="C0", alpha=0.85)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # counts: whole ticks
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(f"{what} per segment")
        ax.set_ylabel("segments")
    ax.set_title(title or _spread(len(traces), counts, what))
    return ax.figure


def _spread(segments: int, counts: np.ndarray, what: str) -> str:
    """'N segments: a to b pieces each (median m)'."""
    low, high = int(counts.min()), int(counts.max())
    head = f"{segments:,} segment{'s' * (segments != 1)}: "
    if low == high:
        return head + f"{low:,} {what}" + " each" * (segments != 1)
    return head + f"{low:,} to {high:,} {what} (median {np.median(counts):,.4g})"


def plot_partition(
    partition,
    color: str = "pieces",
    title: str | None = None,
    ax: Axes | None = None,
    marks: np.ndarray | None = None,
    boundary: bool = False,
    max_edges: int | None = None,
) -> Figure:
    """The region map of a plane (a :class:`~bends.tracing.Partition`): every face filled,
    its edges shaded by the layer whose neuron drew them (darkest first), a scale bar.
    ``color``: "pieces" gives each piece its own colour (faces of one piece share it: where
    colours meet, the output bends), "random" each face its own, "output" the first output's
    value at the face's centre, "gradient" the norm of its gradient within the plane (input
    units). Axes are the input coordinates when the plane is a rectangle of a 2-input
    network's axes, else the plane coordinates s (along B − A) and u (along C − A).
    ``marks``: points (N, input_dim) drawn on the map (data, by their projection onto the
    plane), coloured by class when a last column holds one; ``boundary``: the decision
    boundary (:meth:`Partition.decision_boundary`) in red. ``max_edges``: above this many
    edges, no face or edge is drawn but the density of region boundaries, shaded
    (:func:`edges_note` says so on the figure)."""
    if color not in COLORINGS:
        raise BendsError(f"color must be one of {', '.join(COLORINGS)}, got {color!r}")
    if ax is None:
        ax = Figure(figsize=(6.4, 5.2), layout="constrained").subplots()
    a, b, c = partition.corners
    aligned = a.size == 2 and (b - a)[1] == 0 and (c - a)[0] == 0
    points = partition.to_input(partition.points) if aligned else partition.points
    note = edges_note(partition.edges, max_edges)
    if note:
        _edge_density(ax, partition, points)
        _note(ax, note)
    else:
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
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    ax.set_title(title or f"{partition.regions:,} regions, {partition.pieces:,} pieces")
    return ax.figure


def edges_note(edges: int, max_edges: int | None) -> str | None:
    """What a partition of ``edges`` edges drawn under the cap ``max_edges`` leaves out, in
    words (None: it is drawn whole)."""
    if max_edges is None or edges <= max_edges:
        return None
    return f"{edges:,} edges, over {max_edges:,}: shaded by their density, not drawn"


def _edge_density(ax: Axes, partition, points: np.ndarray) -> None:
    """The region boundaries as a shade: their length in each of DENSITY_BINS² cells per unit
    area (each edge counted at three points along it), and the sides in grey. The drawn
    plane is a rectangle (input axes, or s and u), so the cells tile it."""
    from matplotlib.colors import PowerNorm

    inner = partition.edge_lines >= 0
    ends = points[partition.edge_ends[inner]]
    low, high = points.min(axis=0), points.max(axis=0)
    # each edge's length shared by three points along it (its midpoint alone speckles)
    share = np.array([1 / 6, 1 / 2, 5 / 6])[:, None, None]
    along = (ends[:, 0] + share * (ends[:, 1] - ends[:, 0])).reshape(-1, 2)
    length = np.linalg.norm(ends[:, 1] - ends[:, 0], axis=1) / 3
    shade, xs, ys = np.histogram2d(
        along[:, 0], along[:, 1], bins=DENSITY_BINS, weights=np.tile(length, 3),
        range=[[low[0], high[0]], [low[1], high[1]]],
    )  # fmt: skip
    shade /= (xs[1] - xs[0]) * (ys[1] - ys[0])
    image = ax.imshow(shade.T, origin="lower", extent=(low[0], high[0], low[1], high[1]),
                      cmap="Greys", norm=PowerNorm(0.5), aspect="auto",
                      interpolation="nearest")  # fmt: skip
    ax.figure.colorbar(image, cax=ax.inset_axes([1.04, 0.0, 0.035, 0.6]),
                       label="boundary length / area")  # fmt: skip
    sides = points[partition.edge_ends[~inner]]
    ax.add_collection(LineCollection(sides, colors="0.5", linewidths=0.6))


COLORINGS = ("pieces", "random", "output", "gradient")


def _face_colors(partition, color: str, ax: Axes) -> np.ndarray:
    """One RGBA row per face for the colouring ``color`` (see :func:`plot_partition`)."""
    rng = np.random.default_rng(0)
    if color in ("pieces", "random"):
        groups = partition.piece_of if color == "pieces" else np.arange(partition.regions)
        _, index = np.unique(groups, return_inverse=True)
        return rng.uniform(0.3, 0.95, size=(index.max() + 1, 3))[index]
    if color == "output":
        centres = np.array([partition.points[f].mean(axis=0) for f in partition.polygons])
        slopes = np.einsum("fk,fk->f", partition.gradients[:, 0], centres)
        value = partition.intercepts[:, 0] + slopes
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


def _draw_edges(ax: Axes, partition, points: np.ndarray) -> None:
    """Edges shaded by layer: the first layer's black, later layers lighter; the sides grey."""
    from matplotlib import colormaps

    layers = partition.edge_layers()
    segments = points[partition.edge_ends]
    count = max(len(partition.layer_sizes), 1)
    width = 0.45 if partition.regions < 5000 else 0.15
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


def _plane_coordinates(partition, points: np.ndarray) -> np.ndarray:
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


def picture(draw: Callable[..., Figure], result, **caps) -> Figure:
    """The small figure a notebook shows of ``result``: ``draw(result, ax=…, **caps)`` on
    PICTURE_SIZE inches at PICTURE_DPI, with small lettering."""
    figure = Figure(figsize=PICTURE_SIZE, dpi=PICTURE_DPI, layout="constrained")
    draw(result, ax=figure.subplots(), **caps)
    for ax in figure.findobj(Axes):  # colour bars included
        ax.title.set_fontsize(9)
        ax.xaxis.label.set_fontsize(8)
        ax.yaxis.label.set_fontsize(8)
        ax.tick_params(labelsize=7)
    return figure


def trace_picture(tr) -> Figure:
    """A Trace in a notebook: its output and bends, at most MAX_DRAWN_KNOTS knots drawn."""
    return picture(plot_trace, tr, max_knots=MAX_DRAWN_KNOTS)


def traces_picture(traces) -> Figure:
    """Traces in a notebook: a few segments' outputs, or the histogram of many's pieces."""
    return picture(plot_traces, traces, max_knots=MAX_DRAWN_KNOTS)


def partition_picture(partition) -> Figure:
    """A Partition in a notebook: its region map, at most MAX_DRAWN_EDGES edges drawn."""
    return picture(plot_partition, partition, max_edges=MAX_DRAWN_EDGES)


def png(figure: Figure) -> bytes:
    """The figure as PNG bytes, at its own dpi (rendered by Agg, no pyplot)."""
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    return buffer.getvalue()
