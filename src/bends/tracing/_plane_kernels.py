"""Compiled kernels of the planar tracer (:mod:`bends.tracing.plane`): cutting every face of a
planar subdivision along one neuron's zero line, and reading the faces' patterns.

The subdivision is flat arrays: ``points`` (capacity, 2) and ``values`` (neurons, capacity:
one neuron's values contiguous, as a cut reads them) of which the first ``count`` are
vertices; faces as one array of vertex ids
``corners`` with offsets ``starts`` (face f is ``corners[starts[f]:starts[f + 1]]``,
counter-clockwise); ``origin`` (faces,) the face of the layer's start each face came from.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.typed import Dict, List

from bends.tracing._shared_kernels import KERNEL


@numba.njit(**KERNEL)
def _grow(points, values, needed):  # pragma: no cover - compiled
    """Arrays with room for ``needed`` vertices (doubling, so growth is amortised)."""
    capacity = points.shape[0]
    while capacity < needed:
        capacity *= 2
    if capacity == points.shape[0]:
        return points, values
    more_points = np.empty((capacity, 2))
    more_values = np.empty((values.shape[0], capacity))
    more_points[: points.shape[0]] = points
    more_values[:, : values.shape[1]] = values
    return more_points, more_values


@numba.njit(**KERNEL)
def _split(polygon, column, j, points, values, count, made, most):  # pragma: no cover
    """The parts of ``polygon`` (vertex ids) where neuron j's values are ≥ 0 and ≤ 0, or
    None-like (an empty first part) when its line does not cross the polygon strictly. A
    crossed edge's new vertex is looked up in ``made`` (edge → vertex), so the face on the
    other side of the edge gets the same one; returns the parts and the new vertex count."""
    size = polygon.size
    positive = negative = False
    for k in range(size):
        x = column[polygon[k]]
        positive |= x > 0.0
        negative |= x < 0.0
    empty = np.empty(0, np.int64)
    if not (positive and negative):
        return empty, empty, points, values, count
    sides = (np.empty(size + 2, np.int64), np.empty(size + 2, np.int64))
    filled = np.zeros(2, np.int64)
    width = values.shape[0]
    for k in range(size):
        v, w = polygon[k], polygon[(k + 1) % size]
        x, y = column[v], column[w]
        if x >= 0.0:
            sides[0][filled[0]] = v
            filled[0] += 1
        if x <= 0.0:
            sides[1][filled[1]] = v
            filled[1] += 1
        if x * y < 0.0:
            key = min(v, w) * KEY_STRIDE + max(v, w)
            if key in made:
                new = made[key]
            else:
                if count == points.shape[0]:
                    if count + 1 > most:  # the memory budget's vertices
                        raise MemoryError(count + 1)
                    points, values = _grow(points, values, min(2 * count, most))
                    column = values[j]
                new = count
                count += 1
                made[key] = new
                frac = x / (x - y)
                points[new, 0] = points[v, 0] + frac * (points[w, 0] - points[v, 0])
                points[new, 1] = points[v, 1] + frac * (points[w, 1] - points[v, 1])
                for n in range(width):
                    values[n, new] = values[n, v] + frac * (values[n, w] - values[n, v])
                values[j, new] = 0.0
            for side in range(2):
                sides[side][filled[side]] = new
                filled[side] += 1
    return sides[0][: filled[0]].copy(), sides[1][: filled[1]].copy(), points, values, count


KEY_STRIDE = np.int64(2**31)  # an edge's key: smaller id · 2^31 + larger id


@numba.njit(**KERNEL)
def _crossing_lines(rows, corners, starts):  # pragma: no cover - compiled
    """Which lines cross each face strictly: ``(offsets, neurons)``, face f's in
    ``neurons[offsets[f]:offsets[f + 1]]``, increasing. ``rows`` (vertices, neurons) holds
    the values one vertex per row, so each vertex is one vector pass."""
    faces, width = starts.size - 1, rows.shape[1]
    low, high = np.empty(width), np.empty(width)
    offsets = np.zeros(faces + 1, np.int64)
    found = np.empty(max(16, 4 * faces), np.int64)
    for f in range(faces):
        low[:] = np.inf
        high[:] = -np.inf
        for k in range(starts[f], starts[f + 1]):
            row = rows[corners[k]]
            for n in range(width):
                low[n] = min(low[n], row[n])
                high[n] = max(high[n], row[n])
        at = offsets[f]
        for n in range(width):
            if low[n] < 0.0 < high[n]:
                if at == found.size:
                    bigger = np.empty(2 * found.size, np.int64)
                    bigger[:at] = found
                    found = bigger
                found[at] = n
                at += 1
        offsets[f + 1] = at
    return offsets, found[: offsets[faces]].copy()


@numba.njit(**KERNEL)
def _cut_layer(
    points, values, count, corners, starts, zero_at, offsets, lines, most
):  # pragma: no cover
    """Cut every face along the zero lines that cross it (``offsets``, ``lines``: see
    :func:`_crossing_lines`; a line crossing a part of a face crosses the face).

    Face by face (of the layer's start), lines in neuron order in every face, and a crossed
    edge's vertex is made once (``made``), so two faces beside an edge always agree on its
    vertices. A new vertex's values within ``zero_at`` of 0 are 0 (a line through an
    earlier line's vertices is 0 there up to rounding). More than ``most`` vertices (the
    memory budget) raise MemoryError(vertices). Returns the arrays, the vertex count, the
    faces and each face's origin."""
    faces = starts.size - 1
    made = Dict.empty(key_type=types.int64, value_type=types.int64)
    out_corners = np.empty(2 * corners.size + 16, np.int64)
    out_starts, out_origin = [0], []
    at = 0
    for f in range(faces):
        parts = List()
        parts.append(corners[starts[f] : starts[f + 1]].copy())
        for m in range(offsets[f], offsets[f + 1]):
            j = lines[m]
            cut = List()
            for part in parts:
                before = count
                first, second, points, values, count = _split(
                    part, values[j], j, points, values, count, made, most
                )
                for new in range(before, count):  # snap the new vertices' other values
                    for n in range(values.shape[0]):
                        if abs(values[n, new]) <= zero_at[n]:
                            values[n, new] = 0.0
                if first.size == 0:
                    cut.append(part)
                else:
                    cut.append(first)
                    cut.append(second)
            parts = cut
        for part in parts:
            if at + part.size > out_corners.size:
                bigger = np.empty(2 * (at + part.size), np.int64)
                bigger[:at] = out_corners[:at]
                out_corners = bigger
            out_corners[at : at + part.size] = part
            at += part.size
            out_starts.append(at)
            out_origin.append(f)
    return (points, values, count, out_corners[:at].copy(), np.array(out_starts),
            np.array(out_origin))  # fmt: skip


@numba.njit(**KERNEL)
def _patterns(values, corners, starts):  # pragma: no cover - compiled
    """(faces, neurons): a neuron is on in a face where some vertex has it positive (then
    none has it negative: every face has been cut along every line)."""
    faces, width = starts.size - 1, values.shape[0]
    on = np.zeros((faces, width), np.bool_)
    for n in range(width):
        column = values[n]
        for f in range(faces):
            for k in range(starts[f], starts[f + 1]):
                if column[corners[k]] > 0.0:
                    on[f, n] = True
                    break
    return on


@numba.njit(**KERNEL)
def _face_maps(points, out, size, corners, starts):  # pragma: no cover - compiled
    """Each face's affine output map from its vertices' outputs: the gradient solved on the
    widest triangle of the face's fan from its first corner, the offset at that corner, and
    the gradient's rounding scale: the outputs' term sizes over the triangle's height."""
    faces, outputs = starts.size - 1, out.shape[1]
    gradients = np.zeros((faces, outputs, 2))
    offsets = np.zeros((faces, outputs))
    scales = np.zeros((faces, outputs))
    for f in range(faces):
        first = corners[starts[f]]
        best, pick = -1.0, starts[f] + 1
        p0 = points[first]
        for k in range(starts[f] + 1, starts[f + 1] - 1):
            a, b = points[corners[k]] - p0, points[corners[k + 1]] - p0
            cross = abs(a[0] * b[1] - a[1] * b[0])
            if cross > best:
                best, pick = cross, k
        i, j = corners[pick], corners[pick + 1]
        a0, a1 = points[i, 0] - p0[0], points[i, 1] - p0[1]
        b0, b1 = points[j, 0] - p0[0], points[j, 1] - p0[1]
        det = a0 * b1 - a1 * b0
        side = max(np.hypot(a0, a1), np.hypot(b0, b1), np.hypot(b0 - a0, b1 - a1))
        for o in range(outputs):
            da, db = out[i, o] - out[first, o], out[j, o] - out[first, o]
            gs = (da * b1 - db * a1) / det
            gu = (db * a0 - da * b0) / det
            gradients[f, o, 0], gradients[f, o, 1] = gs, gu
            offsets[f, o] = out[first, o] - gs * p0[0] - gu * p0[1]
            terms = max(size[first, o], size[i, o], size[j, o])
            scales[f, o] = terms * side / abs(det)
    return gradients, offsets, scales
