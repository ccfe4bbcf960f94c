"""The result of a trace: knots, values, slopes, regions, pieces and per-neuron statistics.

Example:
    >>> from bends import trace
    >>> from bends.constructions import sawtooth
    >>> trace(sawtooth(3))
    Trace(MLP [1, 2, 2, 2, 1] on [0.0] → [1.0]: 8 pieces, 8 activation regions, 9 knots, float64)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from bends.errors import BendsError
from bends.nets import Network
from bends.tracing.tolerance import RESCALE_ABOVE, RESCALE_BELOW, RESOLUTION


@dataclass(frozen=True, eq=False)
class Trace:
    """What a segment looks like after passing through a network.

    Attributes:
        network: the traced network; ``start``/``end``: the segment's end points.
        knots: sorted t positions of every knot (ends, and every crossing of every neuron).
        values: output at the knots, shape (n_knots, output_dim), times ``exp(log_scale)``.
        slopes: d output / dt on each interval between knots, same scale as ``values``
            (None when traced with ``pieces=False``).
        region_breaks / piece_breaks: boolean per knot, True where the activation pattern
            (resp. the output's slope) changes (``piece_breaks`` is None when traced with
            ``pieces=False``).
        switches: per hidden layer, how often each neuron switches on or off: its zero
            crossings on the segment (where the output may bend).
        dead / always_on: per hidden layer, neurons that are off (resp. on) on the whole segment.
        snapped: pre-activations at knots that were snapped to exactly zero (see module doc).
        merged: crossings that shared a knot with a crossing at most MERGE_GAP away.
        exact_knots: the knots as Fractions when traced with ``exact=True``.
        output_breaks: (knots, outputs), True where that output alone bends.
    """

    network: Network
    start: np.ndarray
    end: np.ndarray
    knots: np.ndarray
    values: np.ndarray
    slopes: np.ndarray | None
    region_breaks: np.ndarray
    piece_breaks: np.ndarray | None
    switches: list[np.ndarray]
    dead: list[np.ndarray]
    always_on: list[np.ndarray]
    log_scale: float = 0.0
    snapped: int = 0
    merged: int = 0
    exact_knots: tuple[Fraction, ...] | None = field(default=None, repr=False)
    output_breaks: np.ndarray | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        if self.start.size <= 3:
            segment = f"{self.start.tolist()} → {self.end.tolist()}"
        else:
            segment = f"a segment in {self.start.size} dimensions"
        mode = "exact" if self.exact else "float64"
        counts = f"{self.describe()}, {len(self.knots)} knots, {mode}"
        return f"Trace({self.network!r} on {segment}: {counts})"

    def _repr_png_(self) -> bytes:
        """What Jupyter shows: the output with its bends, a curve of more than
        ``MAX_DRAWN_KNOTS`` knots as its envelope (:mod:`bends.tracing._results.pictures`)."""
        from bends.tracing._results import pictures

        return pictures.png(pictures.trace_picture(self))

    @property
    def exact(self) -> bool:
        return self.exact_knots is not None

    @property
    def has_pieces(self) -> bool:
        """False when traced with ``pieces=False`` (regions only)."""
        return self.piece_breaks is not None

    @property
    def pieces(self) -> int:
        """Maximal intervals on which the output is affine."""
        return int(np.count_nonzero(self._require_pieces())) + 1

    def _require_pieces(self) -> np.ndarray:
        if self.piece_breaks is None:
            raise BendsError("this trace has regions only (pieces=False): trace with pieces=True")
        return self.piece_breaks

    def output_pieces(self) -> np.ndarray:
        """Pieces of each output coordinate on its own (``pieces`` is of the whole vector).

        >>> from bends import MLP, trace
        >>> import numpy as np
        >>> net = MLP.from_layers([(np.ones((2, 1)), np.array([-0.25, -0.5])),
        ...                        (np.array([[1.0, 0.0], [0.0, 1.0]]), np.zeros(2))])
        >>> tr = trace(net)
        >>> tr.pieces, tr.output_pieces().tolist()
        (3, [2, 2])
        """
        self._require_pieces()
        if self.output_breaks is None:
            raise BendsError("this trace does not keep its outputs' own bends")
        return self.output_breaks.sum(axis=0) + 1

    @property
    def regions(self) -> int:
        """Maximal intervals on which the activation pattern is constant."""
        return int(np.count_nonzero(self.region_breaks)) + 1

    def describe(self) -> str:
        """'P pieces, R activation regions' (the regions alone for a regions-only trace)."""
        pieces = f"{self.pieces} pieces, " if self.has_pieces else ""
        return f"{pieces}{self.regions} activation regions"

    @property
    def resolved(self) -> bool:
        """False when two knots lie closer than float64 can resolve (see ResolutionWarning)."""
        return self.exact or len(self.knots) < 2 or float(np.diff(self.knots).min()) >= RESOLUTION

    @property
    def breakpoints(self) -> np.ndarray:
        """t positions where the output bends."""
        return self.knots[self._require_pieces()]

    @property
    def breakpoint_points(self) -> np.ndarray:
        """The input points x(t) where the output bends, shape (breakpoints, input_dim)."""
        return self.points(self.breakpoints)

    @property
    def region_boundaries(self) -> np.ndarray:
        """t positions where the activation pattern changes."""
        return self.knots[self.region_breaks]

    def points(self, t: np.ndarray | None = None) -> np.ndarray:
        """Input-space points x(t) (at the knots by default)."""
        t = self.knots if t is None else np.asarray(t, dtype=np.float64)
        return self.start + np.multiply.outer(t, self.end - self.start)

    def __call__(self, t: np.ndarray) -> np.ndarray:
        """The output at t, read off the piecewise-linear trace, at true scale (which can
        overflow to inf for long tied RNNs: then use ``values`` and ``log_scale``)."""
        t = np.asarray(t, dtype=np.float64)
        columns = [np.interp(t, self.knots, v) for v in self.values.T]
        return np.stack(columns, axis=-1) * np.exp(self.log_scale)

    def layer_values(self, layer: int) -> np.ndarray:
        """Pre-activations of hidden layer ``layer`` at the knots, shape (n_knots, width)
        (for a graph network: the output of its kink node number ``layer``).

        For bias-free networks (tied RNNs) the values are divided by a positive factor
        whenever they would leave [2^-64, 2^64], as in the trace: signs, and so the
        pattern, are unchanged, and k = 1000 steps do not overflow.
        """
        if hasattr(self.network, "kink_outputs"):  # a graph network: its kink nodes' outputs
            outputs = self.network.kink_outputs(self.points())
            if not 0 <= layer < len(outputs):
                raise BendsError(f"layer {layer} is not a kink node (there are {len(outputs)})")
            return outputs[layer]
        hidden = list(self.network.hidden_layers())
        if not 0 <= layer < len(hidden):
            raise BendsError(f"layer {layer} is not a hidden layer (there are {len(hidden)})")
        h = self.points()
        for w, b in hidden[:layer]:
            h = np.maximum(h @ w.T + b, 0.0)
            top = float(h.max())
            if not self.network.has_bias and top > 0 and not RESCALE_BELOW <= top <= RESCALE_ABOVE:
                h /= top
        w, b = hidden[layer]
        return h @ w.T + b

    def summary(self) -> dict:
        """A JSON-ready summary: counts, breakpoints and per-layer neuron statistics."""
        return {
            "pieces": self.pieces if self.has_pieces else None,
            "regions": self.regions,
            "breakpoints": self.breakpoints.tolist() if self.has_pieces else None,
            "points": self.breakpoint_points.tolist() if self.has_pieces else None,
            "pieces_per_output": (
                self.output_pieces().tolist()
                if self.has_pieces and self.output_breaks is not None
                else None
            ),
            "knots": len(self.knots),
            "exact": self.exact,
            "resolved": self.resolved,
            "snapped": self.snapped,
            "merged": self.merged,
            "start": self.start.tolist(),
            "end": self.end.tolist(),
            "switches_per_layer": [int(c.sum()) for c in self.switches],
            "dead_per_layer": [int(d.sum()) for d in self.dead],
            "always_on_per_layer": [int(a.sum()) for a in self.always_on],
        }
