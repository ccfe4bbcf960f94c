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

This is the reference implementation: a Python loop over faces per neuron (NumPy inside),
exact but slow beyond a few thousand faces.

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

from bends.errors import BendsError
from bends.nets import MLP, Network
from bends.tracing.tolerance import SLOPE_RTOL, ZERO_TOL


@dataclass(frozen=True)
class Partition:
    """A planar subdivision of the parallelogram ``a + s (b − a) + u (c − a)``.

    ``points`` (V, 2) are the vertices in plane coordinates (s, u); ``polygons`` the faces,
    each a counter-clockwise tuple of vertex ids; ``patterns`` (F, neurons) each face's
    activation pattern (True: the neuron is on); ``gradients`` (F, outputs, 2) and
    ``offsets`` (F, outputs) the output's affine map on each face, in plane coordinates;
    ``piece_of`` (F,) the piece each face belongs to."""

    network: Network
    corners: np.ndarray  # (3, input_dim): A, B, C
    points: np.ndarray
    polygons: tuple[tuple[int, ...], ...]
    patterns: np.ndarray
    gradients: np.ndarray
    offsets: np.ndarray
    piece_of: np.ndarray

    @property
    def faces(self) -> int:
        return len(self.polygons)

    @property
    def pieces(self) -> int:
        return len(np.unique(self.piece_of))

    @property
    def vertices(self) -> int:
        return len(self.points)

    @property
    def edges(self) -> int:
        return len(_edge_set(self.polygons))

    def areas(self) -> np.ndarray:
        """Each face's area in plane coordinates (the parallelogram has area 1)."""
        return np.array([_area(self.points[list(face)]) for face in self.polygons])

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
    """The partition of the parallelogram with corners a, b − a and c − a spanning it (see
    the module docstring)."""
    if not isinstance(net, MLP):
        raise BendsError("planes are traced for MLPs so far (a tied RNN: bends.to_torch first)")
    corners = np.array([_point(p, net.input_dim, n) for p, n in ((a, "A"), (b, "B"), (c, "C"))])
    span = np.stack([corners[1] - corners[0], corners[2] - corners[0]], axis=1)  # (dim, 2)
    if np.linalg.matrix_rank(span) < 2:
        raise BendsError("A, B and C lie on one line: they span no plane")
    plane = _Plane(np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]))
    h = plane.points @ span.T + corners[0]  # the input at the vertices
    hidden = list(net.hidden_layers())
    for w, bias in hidden:
        top = np.abs(h).max(axis=0)
        z = h @ w.T + bias
        zero_at = zero_tol * (np.abs(w) @ top + np.abs(bias))
        z[np.abs(z) <= zero_at] = 0.0
        plane.values = z
        for j in range(z.shape[1]):
            # values interpolated at earlier cuts' vertices carry rounding: a neuron whose line
            # coincides with an earlier one's is within rounding of 0 there, and is 0
            column = plane.values[:, j]
            column[np.abs(column) <= zero_at[j]] = 0.0
            plane.cut(j)
        plane.record_signs()
        h = np.maximum(plane.values, 0.0)
    pattern = np.array([np.concatenate(signs) if signs else [] for signs in plane.signs], bool)
    gradients, offsets, sizes = _affine_maps(net, pattern, span, corners[0])
    piece_of = _pieces(plane.faces, gradients, sizes, slope_rtol)
    return Partition(
        network=net,
        corners=corners,
        points=plane.points,
        polygons=tuple(tuple(f) for f in plane.faces),
        patterns=pattern,
        gradients=gradients,
        offsets=offsets,
        piece_of=piece_of,
    )


class _Plane:
    """Vertices with the current layer's values, and faces as lists of vertex ids."""

    def __init__(self, corners: np.ndarray) -> None:
        self.points = corners
        self.values = np.zeros((len(corners), 0))
        self.faces: list[list[int]] = [list(range(len(corners)))]
        self.signs: list[list[np.ndarray]] = [[]]  # per face: its pattern, layer by layer

    def cut(self, j: int) -> None:
        """Split every face that neuron j's zero line crosses strictly."""
        column = self.values[:, j]
        made: dict[tuple[int, int], int] = {}  # an edge's new vertex, shared by both faces
        new_points, new_values = [], []
        faces, history = [], []
        for face, before in zip(self.faces, self.signs, strict=True):
            signs = np.sign(column[face])
            if not (signs > 0).any() or not (signs < 0).any():
                faces.append(face)
                history.append(before)
                continue
            positive, negative = [], []
            for k, v in enumerate(face):
                w = face[(k + 1) % len(face)]
                sv, sw = signs[k], signs[(k + 1) % len(face)]
                if sv >= 0:
                    positive.append(v)
                if sv <= 0:
                    negative.append(v)
                if sv * sw < 0:
                    key = (min(v, w), max(v, w))
                    if key not in made:
                        made[key] = len(self.points) + len(new_points)
                        frac = column[v] / (column[v] - column[w])
                        new_points.append(self.points[v] + frac * (self.points[w] - self.points[v]))
                        value = self.values[v] + frac * (self.values[w] - self.values[v])
                        value[j] = 0.0
                        new_values.append(value)
                    positive.append(made[key])
                    negative.append(made[key])
            faces += [positive, negative]
            history += [list(before), list(before)]
        if new_points:
            self.points = np.concatenate([self.points, np.array(new_points)])
            self.values = np.concatenate([self.values, np.array(new_values)])
        self.faces, self.signs = faces, history

    def record_signs(self) -> None:
        """Append this layer's pattern to every face's: a neuron is on in a face where some
        vertex has it positive (no vertex has it negative then)."""
        for face, signs in zip(self.faces, self.signs, strict=True):
            signs.append((self.values[face] > 0).any(axis=0))


def _affine_maps(net: MLP, pattern: np.ndarray, span: np.ndarray, origin: np.ndarray):
    r"""Per face, the output's affine map in plane coordinates, multiplied out from the face's
    pattern (:math:`W_{out} D_L W_L \cdots D_1 W_1 [B - A, C - A]`: a neuron that is off
    contributes an exact 0), and the size of the terms of its gradient (as in 1-D)."""
    faces = len(pattern)
    jacobian = np.broadcast_to(span, (faces, *span.shape))  # (F, dim, 2)
    size = np.broadcast_to(np.abs(span), (faces, *span.shape))
    offset = np.broadcast_to(origin, (faces, origin.size))
    done = 0
    for w, bias in net.hidden_layers():
        on = pattern[:, done : done + w.shape[0], None]
        jacobian = on * np.einsum("ij,fjk->fik", w, jacobian)
        size = on * np.einsum("ij,fjk->fik", np.abs(w), size)
        offset = on[..., 0] * (offset @ w.T + bias)
        done += w.shape[0]
    w, bias = net.readout()
    return (np.einsum("ij,fjk->fik", w, jacobian), offset @ w.T + bias,
            np.einsum("ij,fjk->fik", np.abs(w), size))  # fmt: skip


def _pieces(faces, gradients, sizes, slope_rtol) -> np.ndarray:
    """Faces joined across shared edges where the output's affine map is the same."""
    parent = list(range(len(faces)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[tuple[int, int], int] = {}
    for index, face in enumerate(faces):
        for edge in _edges(face):
            if edge not in owner:
                owner[edge] = index
                continue
            other = owner[edge]
            size = np.maximum(sizes[index], sizes[other])
            if (np.abs(gradients[index] - gradients[other]) <= slope_rtol * size).all():
                parent[root(index)] = root(other)
    return np.array([root(i) for i in range(len(faces))])


def _edges(face) -> list[tuple[int, int]]:
    return [(min(v, w), max(v, w)) for v, w in zip(face, [*face[1:], face[0]], strict=True)]


def _edge_set(polygons) -> set[tuple[int, int]]:
    return {edge for face in polygons for edge in _edges(face)}


def _area(corners: np.ndarray) -> float:
    x, y = corners[:, 0], corners[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


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
