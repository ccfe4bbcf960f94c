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

from bends.tracing._shared_kernels import KERNEL, _advised


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
def _split(polygon, column, j, points, values, count, made):  # pragma: no cover - compiled
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
                    points, values = _grow(points, values, count + 1)
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
def _cut_layer(points, values, count, corners, starts, zero_at, offsets, lines):  # pragma: no cover
    """Cut every face along the zero lines that cross it (``offsets``, ``lines``: see
    :func:`_crossing_lines`; a line crossing a part of a face crosses the face).

    Face by face (of the layer's start), lines in neuron order in every face, and a crossed
    edge's vertex is made once (``made``), so two faces beside an edge always agree on its
    vertices. A new vertex's values within ``zero_at`` of 0 are 0 (a line through an
    earlier line's vertices is 0 there up to rounding). Returns the arrays, the vertex
    count, the faces and each face's origin."""
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
                    part, values[j], j, points, values, count, made
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
def _inherit_maps(parent_maps, origin, on):  # pragma: no cover - compiled
    """Each face's map (k rows per face) from its parent's, masked by the face's pattern:
    out[f, r] = parent_maps[origin[f], r] · on[f], in one pass (a fresh array asks for huge
    pages: it can be gigabytes)."""
    faces, rows, width = origin.size, parent_maps.shape[1], parent_maps.shape[2]
    out = _advised(np.empty((faces, rows, width)))
    for f in range(faces):
        source, mask = parent_maps[origin[f]], on[f]
        for r in range(rows):
            for n in range(width):
                out[f, r, n] = source[r, n] if mask[n] else 0.0
    return out
