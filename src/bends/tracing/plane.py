r"""Exact 2-D partitions: a network's activation regions on a parallelogram of its input space.

The parallelogram is :math:`P(s, u) = A + s\,(B - A) + u\,(C - A)`, :math:`s, u \in [0, 1]`.
The rule is the 1-D tracer's, one dimension up: inside every face of the partition made by
the layers before, each pre-activation of the next layer is affine, so its values at the
vertices are the whole truth, and along an edge it is affine between the edge's ends. The
tracer keeps vertices (plane coordinates, and the current layer's values there), faces
(convex polygons, counter-clockwise lists of vertex ids) and, layer by layer,

1. computes the layer's pre-activations at every vertex, :math:`z = W h + b`;
2. neuron by neuron, cuts every face whose vertices hold both strict signs of :math:`z_j`:
   each edge whose ends have strictly opposite signs gets a vertex at
   :math:`v = a + (b - a)\, z_a / (z_a - z_b)`, shared with the face on the other side of
   the edge (computed once per edge, so both faces agree on it), where every value of the
   layer is interpolated and :math:`z_j` is exactly 0; the face becomes the two polygons on
   either side of the chord;
3. applies ReLU at the vertices.

Signs are read at vertices only, never at interpolated interior points: a vertex's values
are computed once, so neighbouring faces never disagree about a vertex. The tolerance policy
is the 1-D tracer's: a value within ``zero_tol`` times the size of its terms of 0 is 0.

Counts, never confused: ``faces`` are the activation regions (maximal sets on which every
neuron keeps its sign); ``pieces`` are faces merged across shared edges where the output's
affine map is the same; ``vertices`` and ``edges`` those of the subdivision, which satisfies
Euler's :math:`V - E + F = 1`.

A layer's cuts are one compiled pass over its faces (:mod:`bends.tracing._plane_kernels`),
each face cut only along the lines that cross it. Each face's affine map is solved from the
outputs at the widest triangle of its vertices (a face where the last layer is off gets
exactly the bias: gradient 0); two faces beside an edge are one piece when their gradients
agree to ``slope_rtol`` times the larger, plus ``zero_tol`` times the gradients' rounding
scale (the outputs' term sizes over the triangle's height); pieces are the connected
components (SciPy) of those joins. Memory per face is O(outputs), not O(neurons).

Example:
    >>> import numpy as np
    >>> from bends.nets import MLP
    >>> net = MLP.from_layers([(np.eye(2), np.array([-0.5, -0.5])),
    ...                        (np.ones((1, 2)), np.zeros(1))])
    >>> partition = trace_plane(net, [0, 0], [1, 0], [0, 1])
    >>> partition.faces, partition.pieces, partition.vertices, partition.edges
    (4, 4, 9, 12)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from bends.budget import check_memory, memory_budget, outgrown
from bends.errors import BendsError
from bends.nets import MLP, Network, require_unbatched
from bends.tracing._plane_kernels import _crossing_lines, _cut_layer, _face_maps, _patterns
from bends.tracing.tolerance import SLOPE_RTOL, ZERO_TOL


@dataclass(frozen=True)
class Partition:
    """A planar subdivision of the parallelogram ``a + s (b − a) + u (c − a)``.

    ``points`` (V, 2) are the vertices in plane coordinates (s, u); face f is the
    counter-clockwise polygon ``corner_ids[starts[f]:starts[f + 1]]``; ``patterns``
    (F, neurons) each face's activation pattern (True: the neuron is on); ``gradients``
    (F, outputs, 2) and ``offsets`` (F, outputs) the output's affine map on each face, in
    plane coordinates; ``piece_of`` (F,) the piece each face belongs to."""

    network: Network
    corners: np.ndarray  # (3, input_dim): A, B, C
    points: np.ndarray
    corner_ids: np.ndarray
    starts: np.ndarray
    patterns: np.ndarray
    gradients: np.ndarray
    offsets: np.ndarray
    piece_of: np.ndarray
    outputs: np.ndarray  # (V, outputs): the network's output at each vertex

    @property
    def faces(self) -> int:
        return self.starts.size - 1

    @property
    def pieces(self) -> int:
        return len(np.unique(self.piece_of))

    @property
    def vertices(self) -> int:
        return len(self.points)

    @property
    def edges(self) -> int:
        return len(np.unique(_edge_keys(self.corner_ids, self.starts)[0]))

    @property
    def polygons(self) -> list[np.ndarray]:
        """Each face's vertex ids, counter-clockwise."""
        return np.split(self.corner_ids, self.starts[1:-1])

    def areas(self) -> np.ndarray:
        """Each face's area in plane coordinates (the parallelogram has area 1)."""
        here = self.points[self.corner_ids]
        following = self.points[_next_corner(self.corner_ids, self.starts)]
        cross = here[:, 0] * following[:, 1] - here[:, 1] * following[:, 0]
        return 0.5 * np.add.reduceat(cross, self.starts[:-1])

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
        following = self.points[_next_corner(self.corner_ids, self.starts)]
        # distance from the centre to each edge segment, then per face the nearest edge
        edge = following - here
        along = np.einsum("ij,ij->i", centre - here, edge)
        share = np.clip(along / np.maximum(np.einsum("ij,ij->i", edge, edge), 1e-300), 0.0, 1.0)
        gap = np.linalg.norm(here + share[:, None] * edge - centre, axis=1)
        nearest = np.minimum.reduceat(gap, self.starts[:-1])
        cross = edge[:, 0] * (centre - here)[:, 1] - edge[:, 1] * (centre - here)[:, 0]
        inside = np.minimum.reduceat(cross, self.starts[:-1]) >= 0  # left of every edge
        return int(np.count_nonzero((nearest <= radius) | inside))

    def edge_length(self) -> float:
        """Total length of the edges inside the parallelogram (plane coordinates): with the
        area 1, the density of region boundaries per unit area."""
        here = self.points[self.corner_ids]
        following = self.points[_next_corner(self.corner_ids, self.starts)]
        lengths = np.linalg.norm(following - here, axis=1)
        on_boundary = _on_boundary(here, following)
        # inner edges are listed by both their faces, boundary edges by one
        return float((lengths[~on_boundary].sum()) / 2)

    def decision_boundary(self) -> np.ndarray:
        """Where a classifier's decision changes, as segments (K, 2, 2) in plane coordinates:
        the sign of a single output, or which of two outputs is larger. Exact per face (the
        difference is affine there): the zero line of the difference clipped to the face."""
        if self.outputs.shape[1] > 2:
            raise BendsError(
                f"decision boundaries are drawn for 1 or 2 outputs; this network has "
                f"{self.outputs.shape[1]} (argmax regions of more classes are not convex lines)"
            )
        d = self.outputs[:, 0] - (self.outputs[:, 1] if self.outputs.shape[1] == 2 else 0.0)
        segments = []
        for face in self.polygons:
            values, corners = d[face], self.points[face]
            if values.min() >= 0 or values.max() <= 0:
                continue
            ends = []
            for k in range(len(face)):
                x, y = values[k], values[(k + 1) % len(face)]
                if x == 0:
                    ends.append(corners[k])
                elif x * y < 0:
                    share = x / (x - y)
                    ends.append(corners[k] + share * (corners[(k + 1) % len(face)] - corners[k]))
            if len(ends) >= 2:
                segments.append([ends[0], ends[1]])
        return np.array(segments).reshape(-1, 2, 2)

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
            f"Partition({self.network!r}: {self.faces} faces, {self.pieces} pieces, "
            f"{self.vertices} vertices, {self.edges} edges)"
        )


def trace_plane(
    net: Network, a, b, c, zero_tol: float = ZERO_TOL, slope_rtol: float = SLOPE_RTOL
) -> Partition:
    """The partition of the parallelogram with corner a and sides b − a, c − a (see the
    module docstring)."""
    if not isinstance(net, MLP):
        raise BendsError("planes are traced for MLPs so far (a tied RNN: bends.to_torch first)")
    require_unbatched(net)
    corners = np.array([_point(p, net.input_dim, n) for p, n in ((a, "A"), (b, "B"), (c, "C"))])
    span = np.stack([corners[1] - corners[0], corners[2] - corners[0]], axis=1)  # (dim, 2)
    if np.linalg.matrix_rank(span) < 2:
        raise BendsError("A, B and C lie on one line: they span no plane")
    points = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    count, ids, starts = 4, np.arange(4, dtype=np.int64), np.array([0, 4], dtype=np.int64)
    h = points @ span.T + corners[0]  # the input at the vertices
    patterns = np.zeros((1, 0), dtype=bool)
    budget = memory_budget()
    for w, bias in net.hidden_layers():
        # a vertex holds the layer's values three times at the peak (the product, its
        # transpose for the cuts, the next layer's input) and a face about six corner ids
        per_vertex = 8.0 * (3 * w.shape[0] + 10)
        check_memory(count * per_vertex, lambda: f"tracing a plane of {net!r}", at_least=True)
        most = int(budget / per_vertex)
        top = np.abs(h).max(axis=0)
        zero_at = zero_tol * (np.abs(w) @ top + np.abs(bias))
        rows = h @ w.T + bias
        rows[np.abs(rows) <= zero_at] = 0.0
        line_starts, lines = _crossing_lines(rows, ids, starts)
        values = np.empty((w.shape[0], len(points)))
        values[:, :count] = rows.T
        del rows, h  # the budget counts three copies of the values, not four
        try:
            points, values, count, ids, starts, origin = _cut_layer(
                points, values, count, ids, starts, zero_at, line_starts, lines, most
            )
        except MemoryError as err:
            outgrown(err, most, lambda vertices, size=per_vertex: vertices * size,
                     lambda: f"tracing a plane of {net!r}")  # fmt: skip
        on = _patterns(values, ids, starts)
        patterns = np.concatenate([patterns[origin], on], axis=1)
        h = np.maximum(values[:, :count].T, 0.0)
        points = points[:count]
    w, bias = net.readout()
    out = h @ w.T + bias
    size = np.abs(h) @ np.abs(w).T + np.abs(bias)  # the terms each output value sums
    gradients, offsets, sizes = _face_maps(points[:count], out, size, ids, starts)
    piece_of = _pieces(ids, starts, gradients, sizes, slope_rtol, zero_tol)
    return Partition(net, corners, points[:count].copy(), ids, starts, patterns, gradients,
                     offsets, piece_of, out)  # fmt: skip


def _pieces(ids, starts, gradients, scales, slope_rtol, zero_tol) -> np.ndarray:
    """Faces joined across shared edges where the output's affine map is the same:
    gradients equal to ``slope_rtol`` times the larger of the two, up to the rounding of
    gradients solved from vertex values (``zero_tol`` times their scale: the outputs' term
    sizes over the triangle's height); the connected components of those joins."""
    keys, face_of = _edge_keys(ids, starts)
    order = np.argsort(keys, kind="stable")
    keys, face_of = keys[order], face_of[order]
    shared = np.nonzero(keys[1:] == keys[:-1])[0]  # an inner edge: listed by its two faces
    first, second = face_of[shared], face_of[shared + 1]
    larger = np.maximum(np.abs(gradients[first]), np.abs(gradients[second])).max(axis=2)
    rounding = np.maximum(scales[first], scales[second])
    change = np.abs(gradients[first] - gradients[second]).max(axis=2)
    same = (change <= slope_rtol * larger + zero_tol * rounding).all(axis=1)
    faces = starts.size - 1
    graph = coo_matrix((np.ones(same.sum()), (first[same], second[same])), shape=(faces, faces))
    return connected_components(graph, directed=False)[1]


def _on_boundary(here: np.ndarray, following: np.ndarray) -> np.ndarray:
    """Whether each edge lies on a side of the unit square (both ends on the same side:
    interpolation along a side keeps that coordinate exact)."""
    side = np.zeros(len(here), dtype=bool)
    for axis in (0, 1):
        for value in (0.0, 1.0):
            side |= (here[:, axis] == value) & (following[:, axis] == value)
    return side


def _next_corner(ids: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The id after each corner in its face (the first after the last)."""
    following = np.roll(ids, -1)
    following[starts[1:] - 1] = ids[starts[:-1]]
    return following


def _edge_keys(ids: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every face's edges as one integer each (smaller id · V + larger id), and their face."""
    following = _next_corner(ids, starts)
    stride = np.int64(max(int(ids.max()) + 1, 1))
    keys = np.minimum(ids, following) * stride + np.maximum(ids, following)
    return keys, np.repeat(np.arange(starts.size - 1), np.diff(starts))


def _point(p, dim: int, name: str) -> np.ndarray:
    try:
        point = np.asarray(p, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise BendsError(f"{name} must be a point (a list of numbers), got {p!r}") from None
    if point.size != dim:
        raise BendsError(f"{name} has {point.size} coordinates but the network takes {dim}")
    if not np.all(np.isfinite(point)):
        raise BendsError(f"{name} contains NaN or infinite values")
    return point
