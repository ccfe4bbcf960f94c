r"""The planar tracer in rational arithmetic (``fractions.Fraction``): exact planes on request.

Every float64 weight and corner is a dyadic rational, so the partition is computed exactly as
stored: the same cuts as :mod:`bends.tracing._plane.mlp` (faces cut neuron by neuron, a crossed
edge's vertex made once and shared by both its faces) with no tolerance anywhere — a value is
zero only when it is 0, and two faces are one piece only when their output maps are equal.
Vertices are kept as fractions (``Partition.rational_points``). The cost grows with the size
of the fractions: for small networks (a few layers of a few neurons).

Example:
    >>> import numpy as np
    >>> from bends.nets import MLP
    >>> net = MLP.from_layers([(np.array([[3.0, 0.0]]), np.array([-1.0])),
    ...                        (np.ones((1, 1)), np.zeros(1))])
    >>> partition = trace_plane_exact(net, np.array([[0.0, 0], [1, 0], [0, 1]]))
    >>> partition.regions, sorted({s for s, _ in partition.rational_points})
    (2, [Fraction(0, 1), Fraction(1, 3), Fraction(1, 1)])
"""

from __future__ import annotations

from fractions import Fraction
from types import SimpleNamespace

import numpy as np

from bends.nets import Network
from bends.tracing._kernels.plane import KEY_STRIDE
from bends.tracing._plane.subdivision import UNIT_SQUARE, assemble
from bends.tracing._results.partition import Partition

STRIDE = int(KEY_STRIDE)


def _affine(weight, bias, x):
    return [sum((wi * xi for wi, xi in zip(row, x, strict=True)), b)
            for row, b in zip(weight, bias, strict=True)]  # fmt: skip


def _fractions(array: np.ndarray) -> list:
    return [_fractions(row) for row in array] if array.ndim > 1 else [Fraction(v) for v in array]


def trace_plane_exact(net: Network, corners: np.ndarray) -> Partition:
    """The partition of the parallelogram ``corners`` (A, B, C) in fractions (see the module
    docstring); ``net`` an unbatched MLP or tied RNN."""
    a, b, c = (_fractions(p) for p in corners)
    points = [tuple(Fraction(x) for x in p) for p in UNIT_SQUARE]
    h = [[ai + s * (bi - ai) + u * (ci - ai) for ai, bi, ci in zip(a, b, c, strict=True)]
         for s, u in points]  # fmt: skip
    faces, parents = [[0, 1, 2, 3]], [-1] * 4
    patterns = np.zeros((1, 0), dtype=bool)
    built = SimpleNamespace(chord_keys=[], chord_lines=[], layer_sizes=[])
    converted: dict[int, tuple] = {}
    for w, bias in net.hidden_layers():
        if id(w) not in converted:  # a tied RNN yields one W k times: convert it once
            converted[id(w)] = (_fractions(w), _fractions(bias))
        weight, shift = converted[id(w)]
        z = [_affine(weight, shift, x) for x in h]
        made: dict[int, int] = {}
        chords, lines, cut, origin = [], [], [], []
        for f, face in enumerate(faces):
            parts = [face]
            for j in range(len(shift)):
                record = (z, points, parents, made, chords, lines)
                parts = [piece for part in parts for piece in _split(part, j, *record)]
            cut += parts
            origin += [f] * len(parts)
        on = np.array([[any(z[v][j] > 0 for v in part) for j in range(len(shift))]
                       for part in cut], dtype=bool).reshape(len(cut), len(shift))  # fmt: skip
        patterns = np.concatenate([patterns[origin], on], axis=1)
        offset = sum(built.layer_sizes)
        built.chord_keys.append(np.array(chords, dtype=np.int64))
        built.chord_lines.append(np.array(lines, dtype=np.int64) + offset)
        built.layer_sizes.append(len(shift))
        faces = cut
        h = [[max(v, 0) for v in zv] for zv in z]
    weight, shift = (_fractions(x) for x in net.readout())
    out = [_affine(weight, shift, x) for x in h]
    maps = [_face_map(face, points, out) for face in faces]
    built.ids = np.array([v for face in faces for v in face], dtype=np.int64)
    built.starts = np.cumsum([0, *map(len, faces)]).astype(np.int64)
    built.parents, built.patterns = np.array(parents, dtype=np.int64), patterns
    gradients = np.array([[[float(g) for g in grad] for grad in m[0]] for m in maps])
    intercepts = np.array([[float(o) for o in m[1]] for m in maps])

    def same(first, second):
        return np.array([maps[i][0] == maps[j][0] for i, j in zip(first, second, strict=True)],
                        dtype=bool)  # fmt: skip

    floats = np.array([[float(x) for x in p] for p in points])
    return assemble(net, corners, floats, built, np.array(out, dtype=np.float64), gradients,
                    intercepts, same, rational_points=tuple(points))  # fmt: skip


def _split(polygon, j, z, points, parents, made, chords, lines) -> list[list[int]]:
    """The parts of ``polygon`` where neuron j is ≥ 0 and ≤ 0 (itself when its line does not
    cross it strictly); a crossed edge's vertex is made once (``made``) with every value of
    the layer interpolated, and the chord is recorded."""
    values = [z[v][j] for v in polygon]
    if not (any(x > 0 for x in values) and any(x < 0 for x in values)):
        return [polygon]
    sides, ends = ([], []), []
    for k, v in enumerate(polygon):
        w = polygon[(k + 1) % len(polygon)]
        x, y = values[k], z[w][j]
        if x >= 0:
            sides[0].append(v)
        if x <= 0:
            sides[1].append(v)
        if x == 0:
            ends.append(v)
        if x * y < 0:
            key = min(v, w) * STRIDE + max(v, w)
            if key not in made:
                t = x / (x - y)
                made[key] = len(points)
                points.append(tuple(p + t * (q - p) for p, q in zip(points[v], points[w],
                                                                     strict=True)))  # fmt: skip
                z.append([p + t * (q - p) for p, q in zip(z[v], z[w], strict=True)])
                parents.append(key)
            new = made[key]
            sides[0].append(new)
            sides[1].append(new)
            ends.append(new)
    chords.append(min(ends) * STRIDE + max(ends))
    lines.append(j)
    return [sides[0], sides[1]]


def _face_map(face, points, out):
    """A face's exact affine output map (gradients per output in plane coordinates, and
    intercepts), from the first triangle of its fan that is not flat."""
    p0 = points[face[0]]
    for k in range(1, len(face) - 1):
        p1, p2 = points[face[k]], points[face[k + 1]]
        a0, a1, b0, b1 = p1[0] - p0[0], p1[1] - p0[1], p2[0] - p0[0], p2[1] - p0[1]
        det = a0 * b1 - a1 * b0
        if det != 0:
            break
    o0, o1, o2 = out[face[0]], out[face[k]], out[face[k + 1]]
    gradients, intercepts = [], []
    for x, y, w in zip(o0, o1, o2, strict=True):
        da, db = y - x, w - x
        gs, gu = (da * b1 - db * a1) / det, (db * a0 - da * b0) / det
        gradients.append((gs, gu))
        intercepts.append(x - gs * p0[0] - gu * p0[1])
    return tuple(gradients), intercepts
