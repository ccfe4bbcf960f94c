"""The traces of many segments through one network, kept as one set of arrays.

Segment s owns knots ``offsets[s]:offsets[s + 1]`` of the concatenated arrays (its t runs over
[0, 1]) and intervals ``offsets[s] - s:offsets[s + 1] - s - 1`` of ``slopes``. Per-segment
counts are arrays; ``traces[s]`` is segment s as an ordinary :class:`~bends.tracing.Trace`.

Example:
    >>> import numpy as np
    >>> from bends.constructions import sawtooth
    >>> from bends.tracing import trace_segments
    >>> traces = trace_segments(sawtooth(3), [[0.0], [0.0]], [[1.0], [0.5]])
    >>> traces.pieces.tolist(), traces.regions.tolist(), traces[1].breakpoints.tolist()
    ([8, 4], [8, 4], [0.25, 0.5, 0.75])
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from bends.errors import BendsError, ResolutionWarning
from bends.nets import Network
from bends.tracing._results.trace import Trace
from bends.tracing.tolerance import RESOLUTION


@dataclass(frozen=True, eq=False)
class Traces:
    """Segments ``starts[s]`` → ``ends[s]`` traced through one ``network``.

    Attributes:
        offsets: (segments + 1,) where each segment's knots begin in the concatenated arrays.
        knots, values, region_breaks, piece_breaks, output_breaks: as in
            :class:`~bends.tracing.Trace`, concatenated over segments (knots, …).
        slopes: (knots − segments, outputs) the slopes on each segment's intervals, in order
            (None for regions only).
        switches, dead, always_on: per hidden layer (or kink node), arrays (segments, neurons).
        log_scale, snapped, merged: (segments,), as in Trace.
    """

    network: Network
    starts: np.ndarray
    ends: np.ndarray
    offsets: np.ndarray
    knots: np.ndarray
    values: np.ndarray
    slopes: np.ndarray | None
    region_breaks: np.ndarray
    piece_breaks: np.ndarray | None
    output_breaks: np.ndarray | None
    switches: list[np.ndarray]
    dead: list[np.ndarray]
    always_on: list[np.ndarray]
    log_scale: np.ndarray
    snapped: np.ndarray
    merged: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, s: int) -> Trace:
        if not -len(self) <= s < len(self):
            raise IndexError(f"segment {s} of {len(self)}")
        s %= len(self)
        knots = slice(self.offsets[s], self.offsets[s + 1])
        intervals = slice(self.offsets[s] - s, self.offsets[s + 1] - s - 1)
        return Trace(
            network=self.network,
            start=self.starts[s],
            end=self.ends[s],
            knots=self.knots[knots],
            values=self.values[knots],
            slopes=None if self.slopes is None else self.slopes[intervals],
            region_breaks=self.region_breaks[knots],
            piece_breaks=None if self.piece_breaks is None else self.piece_breaks[knots],
            switches=[layer[s] for layer in self.switches],
            dead=[layer[s] for layer in self.dead],
            always_on=[layer[s] for layer in self.always_on],
            log_scale=float(self.log_scale[s]),
            snapped=int(self.snapped[s]),
            merged=int(self.merged[s]),
            output_breaks=None if self.output_breaks is None else self.output_breaks[knots],
        )

    def __iter__(self) -> Iterator[Trace]:
        return (self[s] for s in range(len(self)))

    def __repr__(self) -> str:
        return f"Traces({self.network!r}: {len(self)} segments, {len(self.knots)} knots)"

    def _repr_png_(self) -> bytes:
        """What Jupyter shows: up to ``MAX_DRAWN_SEGMENTS`` segments' outputs, else the
        histogram of pieces per segment (:mod:`bends.tracing._results.pictures`)."""
        from bends.tracing._results import pictures

        return pictures.png(pictures.traces_picture(self))

    def _per_segment(self, flags: np.ndarray) -> np.ndarray:
        return np.add.reduceat(flags.astype(np.int64), self.offsets[:-1])

    @property
    def regions(self) -> np.ndarray:
        """(segments,) activation regions of each segment."""
        return self._per_segment(self.region_breaks) + 1

    @property
    def pieces(self) -> np.ndarray:
        """(segments,) affine pieces of each segment."""
        if self.piece_breaks is None:
            raise BendsError(
                "these traces have regions only (pieces=False): trace with pieces=True"
            )
        return self._per_segment(self.piece_breaks) + 1

    @property
    def segment_of_knot(self) -> np.ndarray:
        """(knots,) the segment each knot belongs to."""
        return np.repeat(np.arange(len(self)), np.diff(self.offsets))

    @property
    def resolved(self) -> np.ndarray:
        """(segments,) False where two knots of a segment lie closer than float64 resolves."""
        return unresolved(self.knots, self.offsets) == 0

    def crossings_per_layer(self) -> np.ndarray:
        """(segments, layers) how many times the neurons of each hidden layer (kink node)
        switch along each segment: the region boundaries that layer puts there."""
        return np.stack([layer.sum(axis=1) for layer in self.switches], axis=1)

    @classmethod
    def from_traces(cls, traces: Sequence[Trace]) -> Traces:
        """One network's segments traced one by one, as one (the inverse of indexing).

        Example:
            >>> from bends import trace
            >>> from bends.constructions import sawtooth
            >>> net = sawtooth(3)
            >>> both = Traces.from_traces([trace(net, [0], [0.5]), trace(net, [0], [1])])
            >>> both.pieces.tolist(), both[1].pieces
            ([4, 8], 8)
        """

        def one(tr: Trace) -> Traces:
            return cls(network=tr.network, starts=np.asarray(tr.start)[None],
                       ends=np.asarray(tr.end)[None], offsets=np.array([0, len(tr.knots)]),
                       knots=tr.knots, values=tr.values, slopes=tr.slopes,
                       region_breaks=tr.region_breaks, piece_breaks=tr.piece_breaks,
                       output_breaks=tr.output_breaks,
                       switches=[layer[None] for layer in tr.switches],
                       dead=[layer[None] for layer in tr.dead],
                       always_on=[layer[None] for layer in tr.always_on],
                       log_scale=np.array([tr.log_scale]), snapped=np.array([tr.snapped]),
                       merged=np.array([tr.merged]))  # fmt: skip

        if not traces:
            raise BendsError("no traces to join")
        return cls.joined([one(tr) for tr in traces])

    @classmethod
    def joined(cls, parts: Sequence[Traces]) -> Traces:
        """Batches of one network's segments as one, in order."""
        first = parts[0]
        knots = np.cumsum([0] + [len(p.knots) for p in parts])

        def cat(name: str):
            arrays = [getattr(p, name) for p in parts]
            return None if arrays[0] is None else np.concatenate(arrays)

        def layered(name: str) -> list[np.ndarray]:
            per_part = [getattr(p, name) for p in parts]
            return [np.concatenate(layer) for layer in zip(*per_part, strict=True)]

        return cls(
            network=first.network,
            starts=cat("starts"),
            ends=cat("ends"),
            offsets=np.concatenate(
                [[0]] + [p.offsets[1:] + k for p, k in zip(parts, knots, strict=False)]
            ),
            knots=cat("knots"),
            values=cat("values"),
            slopes=cat("slopes"),
            region_breaks=cat("region_breaks"),
            piece_breaks=cat("piece_breaks"),
            output_breaks=cat("output_breaks"),
            switches=layered("switches"),
            dead=layered("dead"),
            always_on=layered("always_on"),
            log_scale=cat("log_scale"),
            snapped=cat("snapped"),
            merged=cat("merged"),
        )


def unresolved(knots: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """(segments,) how many gaps between consecutive knots of each segment are below
    ``RESOLUTION``."""
    gaps = np.diff(knots) < RESOLUTION
    inside = np.ones(len(gaps), dtype=bool)
    inside[offsets[1:-1] - 1] = False  # between the last knot of one segment and the next
    flags = np.zeros(len(knots), dtype=np.int64)
    flags[:-1] = gaps & inside
    return np.add.reduceat(flags, offsets[:-1])


def warn_unresolved(knots: np.ndarray, offsets: np.ndarray, stacklevel: int) -> None:
    """A ResolutionWarning if any segment has knots closer than float64 resolves."""
    bad = int(np.count_nonzero(unresolved(knots, offsets)))
    if bad:
        which = "" if len(offsets) == 2 else f" on {bad} of {len(offsets) - 1} segments"
        warnings.warn(
            f"breakpoints closer than {RESOLUTION:.1e} in t{which}: float64 cannot resolve "
            "them, counts may be off",
            ResolutionWarning,
            stacklevel=stacklevel + 1,
        )


def output_breaks(
    offsets: np.ndarray,
    values: np.ndarray,
    slopes: np.ndarray,
    region_breaks: np.ndarray,
    slope_rtol: float,
) -> np.ndarray:
    """(knots, outputs): where each output bends, for graph traces (one or many segments).

    An output bends at a region break where its slope changes by more than ``slope_rtol``
    times the larger of the two and by more than ``RESOLUTION`` (2⁻⁴⁰) times that output's
    largest slope or value on the segment (t runs over [0, 1], so a slope is the change it
    makes over the segment). The second floor is for flat stretches: there the slopes are
    rounding noise of terms that cancel (±10⁻¹⁶ where exact arithmetic has 0), and a rule
    relative to the two alone sees a 100 % change. ``slopes`` are the segments' intervals in
    order, (knots − segments, outputs)."""
    count = len(offsets) - 1
    intervals = offsets - np.arange(count + 1)
    magnitude = np.abs(slopes)
    floor = RESOLUTION * np.maximum(np.maximum.reduceat(magnitude, intervals[:-1]),
                                    np.maximum.reduceat(np.abs(values), offsets[:-1]))  # fmt: skip
    owner = np.repeat(np.arange(count), np.diff(intervals))
    pair = np.flatnonzero(owner[1:] == owner[:-1])  # consecutive intervals of one segment
    knot = pair + 1 + owner[pair]
    size = np.maximum(magnitude[pair + 1], magnitude[pair])
    change = np.abs(slopes[pair + 1] - slopes[pair])
    breaks = np.zeros(values.shape, dtype=bool)
    threshold = np.maximum(slope_rtol * size, floor[owner[pair]])
    breaks[knot] = (change > threshold) & region_breaks[knot][:, None]
    return breaks
