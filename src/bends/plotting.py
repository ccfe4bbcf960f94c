"""Figures of traces: the output over the segment with its bends marked (:func:`plot_trace`),
every neuron layer by layer (:func:`plot_layers`), many segments at once
(:func:`plot_traces`), region maps of planes (:func:`plot_partition`), the cells of a 2-D or
3-D :class:`~bends.Complex` drawn apart (:func:`plot_complex`), and :func:`save_figure`.
Drawn without pyplot (no backend switched, nothing global), so they work the same in
scripts, servers and notebooks (where a Figure shows itself).

The drawing code lives in :mod:`bends.tracing._results.pictures`, beside the results: a
:class:`~bends.Trace`, :class:`~bends.Traces` or :class:`~bends.Partition` shows a small
picture of itself in Jupyter with it (``_repr_png_``), capped so that a large result still
shows at once (``MAX_DRAWN_KNOTS``, ``MAX_DRAWN_EDGES``). This module is its public face.

Example:
    >>> from bends import trace
    >>> from bends.constructions import sawtooth
    >>> figure = plot_trace(trace(sawtooth(3)))
    >>> len(figure.axes)
    1
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from bends._atomic import replaced
from bends.tracing._results.complex_pictures import plot_complex as plot_complex
from bends.tracing._results.pictures import COLORINGS as COLORINGS
from bends.tracing._results.pictures import MAX_DRAWN_EDGES as MAX_DRAWN_EDGES
from bends.tracing._results.pictures import MAX_DRAWN_KNOTS as MAX_DRAWN_KNOTS
from bends.tracing._results.pictures import MAX_MARKED_BENDS as MAX_MARKED_BENDS
from bends.tracing._results.pictures import envelope as envelope
from bends.tracing._results.pictures import layers_shown as layers_shown
from bends.tracing._results.pictures import plot_layers as plot_layers
from bends.tracing._results.pictures import plot_partition as plot_partition
from bends.tracing._results.pictures import plot_trace as plot_trace
from bends.tracing._results.pictures import plot_traces as plot_traces


def save_figure(figure: Figure, path: str | Path) -> Path:
    """Save as PNG, SVG or PDF (by suffix)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replaced(path) as partial:
        figure.savefig(partial, dpi=150, bbox_inches="tight")
    return path
