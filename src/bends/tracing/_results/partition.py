r"""The result of a planar trace: :class:`Partition`, a planar subdivision of a parallelogram
of input space into a network's activation regions, and the statistics read off it.

The parallelogram is :math:`P(s, u) = A + s\,(B - A) + u\,(C - A)`, :math:`s, u \in [0, 1]`;
its vertices are kept in plane coordinates (s, u), where its area is 1. Every edge lies on
one line: the zero set of one neuron (or one kink of another nonlinearity), or a side of the
parallelogram. Counts, never confused: ``regions`` are the activation regions (the faces of the
subdivision), ``pieces`` the regions merged across shared edges where the output's affine map
is the same; ``vertices`` and ``edges`` those of the subdivision (Euler: :math:`V - E + F = 1`
with F = ``regions``).

Example:
    >>> import numpy as np
    >>> from bends.nets import MLP
    >>> from bends.tracing import trace_plane
    >>> net = MLP.from_layers([(np.eye(2), np.array([-0.5, -0.5])),
    ...                        (np.array([[1.0, -1.0]]), np.zeros(1))])
    >>> partition = trace_plane(net, [0, 0], [1, 0], [0, 1])
    >>> partition.edge_layers().tolist().count(0)  # the two lines, each cut in two
    4
    >>> partition.edge_density().round(3).tolist()  # boundary length per unit area
    [2.0]
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from bends.errors import BendsError
from bends.nets import Network
from bends.tracing._kernels.plane import KEY_STRIDE, argmax_cells


@dataclass(frozen=True)
class Partition:
    """A planar subdivision of the parallelogram ``a + s (b − a) + u (c − a)``.

    ``points`` (V, 2) are the vertices in plane coordinates (s, u) (``rational_points`` the
    same as exact fractions, for an exact trace); face f is the counter-clockwise polygon
    ``corner_ids[offsets[f]:offsets[f + 1]]`` (``offsets`` as in :class:`Traces`: where each item's
    entries begin); ``patterns`` (F, lines) each face's activation
    pattern (True: the face lies on the positive side of the line: a ReLU is on); ``gradients``
    (F, outputs, 2) and ``intercepts`` (F, outputs) the output's affine map on each face, in
    plane coordinates; ``piece_of`` (F,) the piece each face belongs to; ``edge_ends`` (E, 2)
    every edge's vertex ids and ``edge_lines`` (E,) the line it lies on (a column of
    ``patterns``; −1 for the parallelogram's sides); ``layer_sizes`` the lines per layer;
    ``resolved`` False when float64 could not separate two vertices."""

    network: Network
    corners: np.ndarray  # (3, input_dim): A, B, C
    points: np.ndarray
    corner_ids: np.ndarray
    offsets: np.ndarray
    patterns: np.ndarray
    gradients: np.ndarray
    intercepts: np.ndarray
    piece_of: np.ndarray
    outputs: np.ndarray  # (V, outputs): the network's output at each vertex
    edge_ends: np.ndarray
    edge_lines: np.ndarray
    layer_sizes: tuple[int, ...]
    resolved: bool = True
    rational_points: tuple | None = None

    @property
    def regions(self) -> int:
        """Activation regions: the faces of the subdivision (as ``Trace.regions`` in 1-D)."""
        return self.offsets.size - 1

    @property
    def faces(self) -> int:
        """Deprecated name of :attr:`regions`."""
        warnings.warn("Partition.faces is deprecated: use Partition.regions (the same count)",
                      DeprecationWarning, stacklevel=2)  # fmt: skip
        return self.regions

    @property
    def pieces(self) -> int:
        return len(np.unique(self.piece_of))

    @property
    def vertices(self) -> int:
        return len(self.points)

    @property
    def edges(self) -> int:
        return len(self.edge_ends)

    @property
    def polygons(self) -> list[np.ndarray]:
        """Each face's vertex ids, counter-clockwise."""
        return np.split(self.corner_ids, self.offsets[1:-1])

    def edge_layers(self) -> np.ndarray:
        """The layer (0 = first hidden layer) whose neuron made each edge; −1 for the sides."""
        bounds = np.cumsum(self.layer_sizes)
        layers = np.searchsorted(bounds, self.edge_lines, side="right")
        return np.where(self.edge_lines < 0, -1, layers)

    def areas(self) -> np.ndarray:
        """Each face's area in plane coordinates (the parallelogram has area 1)."""
        here = self.points[self.corner_ids]
        following = self.points[next_corner(self.corner_ids, self.offsets)]
        cross = here[:, 0] * following[:, 1] - here[:, 1] * following[:, 0]
        return 0.5 * np.add.reduceat(cross, self.offsets[:-1])

    def area_histogram(self, bins: int = 20) -> tuple[np.ndarray, np.ndarray]:
        """Counts of faces by log10 of their area (the parallelogram's area is 1), and the
        bin edges: face sizes span many decades."""
        if bins < 1:
            raise BendsError(f"bins must be at least 1, got {bins}")
        logs = np.log10(np.maximum(self.areas(), np.finfo(np.float64).tiny))
        return np.histogram(logs, bins=bins)

    def faces_near(self, point, radius: float) -> int:
        """How many faces come within ``radius`` of ``point`` (both in plane coordinates):
        the faces whose polygon meets the disk."""
        centre = np.asarray(point, dtype=np.float64).reshape(2)
        if not radius >= 0:
            raise BendsError(f"radius must be non-negative, got {radius}")
        here = self.points[self.corner_ids]
        following = self.points[next_corner(self.corner_ids, self.offsets)]
        # distance from the centre to each edge segment, then per face the nearest edge
        edge = following - here
        along = np.einsum("ij,ij->i", centre - here, edge)
        share = np.clip(along / np.maximum(np.einsum("ij,ij->i", edge, edge), 1e-300), 0.0, 1.0)
        gap = np.linalg.norm(here + share[:, None] * edge - centre, axis=1)
        nearest = np.minimum.reduceat(gap, self.offsets[:-1])
        cross = edge[:, 0] * (centre - here)[:, 1] - edge[:, 1] * (centre - here)[:, 0]
        inside = np.minimum.reduceat(cross, self.offsets[:-1]) >= 0  # left of every edge
        return int(np.count_nonzero((nearest <= radius) | inside))

    def edge_length(self) -> float:
        """Total length of the edges inside the parallelogram (plane coordinates): with the
        area 1, the density of region boundaries per unit area."""
        inner = self.edge_lines >= 0
        ends = self.points[self.edge_ends[inner]]
        return float(np.linalg.norm(ends[:, 1] - ends[:, 0], axis=1).sum())

    def edge_density(self) -> np.ndarray:
        r"""Per layer, the length of region boundaries its neurons draw per unit area, in
        input coordinates (lengths and area measured in the input space the plane lies in):
        :math:`\sum_{e \in \text{layer}} |e| / \text{area}`."""
        span = np.stack([self.corners[1] - self.corners[0], self.corners[2] - self.corners[0]],
                        axis=1)  # fmt: skip
        area = float(np.sqrt(np.linalg.det(span.T @ span)))
        ends = self.points[self.edge_ends]
        lengths = np.linalg.norm((ends[:, 1] - ends[:, 0]) @ span.T, axis=1)
        layers = self.edge_layers()
        inner = layers >= 0
        totals = np.bincount(layers[inner], lengths[inner], minlength=len(self.layer_sizes))
        return totals / area

    def decision_boundary(self, classes: bool = False):
        """Where a classifier's decision changes, as segments (K, 2, 2) in plane coordinates:
        the sign of a single output, else which output is largest (argmax). Exact per face
        (the outputs are affine there): each class's cell in the face is the face clipped by
        the half-planes where it beats every other class. ``classes``: also the pair of
        classes (K, 2) each segment separates (a single output: 0 where it is ≤ 0, 1 > 0).
        Where classes tie on a whole face (equal output maps: duplicated output neurons, or
        a region where every neuron feeding them is off and their biases agree) there is no
        decision; the edge between such a face and a face one class wins is not reported."""
        scores = self.outputs
        if scores.shape[1] == 1:
            scores = np.concatenate([np.zeros_like(scores), scores], axis=1)
        winner = np.argmax(scores, axis=1)
        top = scores.max(axis=1)
        tied = (scores == top[:, None]).sum(axis=1) > 1
        per_corner = winner[self.corner_ids]
        changes = (np.maximum.reduceat(per_corner, self.offsets[:-1])
                   != np.minimum.reduceat(per_corner, self.offsets[:-1]))  # fmt: skip
        changes |= np.maximum.reduceat(tied[self.corner_ids], self.offsets[:-1])
        candidates = np.flatnonzero(changes)
        segments, pairs = argmax_cells(self.points, scores, self.corner_ids, self.offsets,
                                        candidates)  # fmt: skip
        segments, pairs = self._edge_boundaries(scores, segments.reshape(-1, 2, 2), pairs)
        return (segments, pairs) if classes else segments

    def _edge_boundaries(self, scores, segments, pairs):
        """``segments`` and ``pairs`` with the edges where the decision changes *on* the
        edge: the faces beside it are won by different classes, which tie all along it (a
        boundary that lies on a region boundary; clipping each face finds only a line there
        and keeps nothing)."""
        keys, face_of = edge_keys(self.corner_ids, self.offsets)
        order = np.argsort(keys, kind="stable")
        keys, face_of = keys[order], face_of[order]
        shared = np.flatnonzero(keys[1:] == keys[:-1])
        first, second = face_of[shared], face_of[shared + 1]
        sizes = np.diff(self.offsets)[:, None]
        centres = np.add.reduceat(scores[self.corner_ids], self.offsets[:-1]) / sizes
        ranked = np.sort(centres, axis=1)
        scale = 1e-9 * (1.0 + np.abs(scores).max())
        decided = ranked[:, -1] - ranked[:, -2] > scale
        winner = np.argmax(centres, axis=1)
        a, b = keys[shared] // KEY_STRIDE, keys[shared] % KEY_STRIDE
        one, other = winner[first], winner[second]
        tie_a = np.abs(scores[a, one] - scores[a, other]) <= scale
        tie_b = np.abs(scores[b, one] - scores[b, other]) <= scale
        on = (one != other) & decided[first] & decided[second] & tie_a & tie_b
        if not on.any():
            return segments, pairs
        extra = np.stack([self.points[a[on]], self.points[b[on]]], axis=1)
        extra_pairs = np.sort(np.stack([one[on], other[on]], axis=1), axis=1)
        return (np.concatenate([segments, extra]),
                np.concatenate([pairs, extra_pairs.astype(pairs.dtype)]))  # fmt: skip

    def geometry(self) -> list[list[list[float]]]:
        """Every face as a list of its corners in input coordinates (JSON-ready)."""
        corners = self.to_input(self.points)
        return [corners[face].tolist() for face in self.polygons]

    def to_input(self, su: np.ndarray) -> np.ndarray:
        """Plane coordinates (…, 2) as input points (…, input_dim)."""
        a, b, c = self.corners
        su = np.asarray(su, dtype=np.float64)
        return a + su[..., :1] * (b - a) + su[..., 1:] * (c - a)

    def __repr__(self) -> str:
        return (
            f"Partition({self.network!r}: {self.regions} regions, {self.pieces} pieces, "
            f"{self.vertices} vertices, {self.edges} edges)"
        )

    def _repr_png_(self) -> bytes:
        """What Jupyter shows: the region map, a partition of more than ``MAX_DRAWN_EDGES``
        edges shaded by its boundaries' density (:mod:`bends.tracing._results.pictures`)."""
        from bends.tracing._results import pictures

        return pictures.png(pictures.partition_picture(self))


def next_corner(ids: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The id after each corner in its face (the first after the last)."""
    following = np.roll(ids, -1)
    following[starts[1:] - 1] = ids[starts[:-1]]
    return following


def edge_keys(ids: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every face's edges as one integer each (smaller id · 2^31 + larger id), and their
    face."""
    following = next_corner(ids, starts)
    keys = np.minimum(ids, following) * KEY_STRIDE + np.maximum(ids, following)
    return keys, np.repeat(np.arange(starts.size - 1), np.diff(starts))
