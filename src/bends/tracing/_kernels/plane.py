"""Compiled kernels of the planar tracer (:mod:`bends.tracing._plane.mlp`): cutting every face of a
planar subdivision along one neuron's zero line, and reading the faces' patterns.

The subdivision is flat arrays: ``points`` (room, 2) and ``values`` (room, neurons: one
vertex's values contiguous, as interpolating a new vertex writes them) of which the first
``count`` rows are vertices; faces as one array of vertex ids ``corners`` with offsets
``starts`` (face f is ``corners[starts[f]:starts[f + 1]]``, counter-clockwise); ``origin``
(faces,) the face of the layer's start each face came from. The arrays have room for every
vertex the memory budget allows, allocated and never filled: the system backs a page with
memory only when a vertex is written to it, so nothing is ever copied to grow.

Which line made each edge is recorded without a table of edges: every vertex made on an edge
keeps that edge's key (``parents``), and every chord a cut draws is listed with its line.
An edge is either such a chord or a half of an edge split by its newer end (halves always
contain the new vertex), so :func:`edge_lines` reads every edge's line in one pass over the
vertices in the order they were made.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.typed import Dict, List

from bends.tracing._kernels.shared import KERNEL


@numba.njit(**KERNEL)
def _split(polygon, j, points, values, parents, count, made):  # pragma: no cover - compiled
    """The parts of ``polygon`` (vertex ids) where neuron j's values are ≥ 0 and ≤ 0, or
    None-like (an empty first part) when its line does not cross the polygon strictly. A
    crossed edge's new vertex is looked up in ``made`` (edge → vertex), so the face on the
    other side of the edge gets the same one, and remembers that edge (``parents``); returns
    the parts, the new vertex count and the chord's key (the edge both parts share). The
    caller makes sure there is room."""
    size = polygon.size
    positive = negative = False
    for k in range(size):
        x = values[polygon[k], j]
        positive |= x > 0.0
        negative |= x < 0.0
    empty = np.empty(0, np.int64)
    if not (positive and negative):
        return empty, empty, count, -1
    ends = np.empty(2, np.int64)
    found = 0
    sides = (np.empty(size + 2, np.int64), np.empty(size + 2, np.int64))
    filled = np.zeros(2, np.int64)
    width = values.shape[1]
    for k in range(size):
        v, w = polygon[k], polygon[(k + 1) % size]
        x, y = values[v, j], values[w, j]
        if x >= 0.0:
            sides[0][filled[0]] = v
            filled[0] += 1
        if x <= 0.0:
            sides[1][filled[1]] = v
            filled[1] += 1
        if x == 0.0:
            ends[min(found, 1)] = v
            found += 1
        if x * y < 0.0:
            key = min(v, w) * KEY_STRIDE + max(v, w)
            if key in made:
                new = made[key]
            else:
                new = count
                count += 1
                made[key] = new
                parents[new] = key
                frac = x / (x - y)
                points[new, 0] = points[v, 0] + frac * (points[w, 0] - points[v, 0])
                points[new, 1] = points[v, 1] + frac * (points[w, 1] - points[v, 1])
                for n in range(width):
                    values[new, n] = values[v, n] + frac * (values[w, n] - values[v, n])
                values[new, j] = 0.0
            for side in range(2):
                sides[side][filled[side]] = new
                filled[side] += 1
            ends[min(found, 1)] = new
            found += 1
    chord = min(ends[0], ends[1]) * KEY_STRIDE + max(ends[0], ends[1])
    return sides[0][: filled[0]].copy(), sides[1][: filled[1]].copy(), count, chord


KEY_STRIDE = np.int64(2**31)  # an edge's key: smaller id · 2^31 + larger id
# A value snapped to 0 is ambiguous when it is more than this share of its zero tolerance:
# far above interpolation's rounding (a few ulps), so the line may truly miss the vertex by
# less than float64 can place a vertex (the 1-D tracer's MERGE_GAP against its RESOLUTION).
AMBIGUOUS = 2.0**-6


@numba.njit(**KERNEL)
def crossing_lines(rows, corners, starts):  # pragma: no cover - compiled
    """Which lines cross each face strictly: ``(offsets, neurons, above)``, face f's in
    ``neurons[offsets[f]:offsets[f + 1]]``, increasing; ``above`` (faces, neurons): some
    vertex of the face is positive (for the lines that do not cross it, the face's side).
    ``rows`` (vertices, neurons) holds the values one vertex per row, so each vertex is one
    vector pass."""
    faces, width = starts.size - 1, rows.shape[1]
    low, high = np.empty(width), np.empty(width)
    above = np.empty((faces, width), np.bool_)
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
            above[f, n] = high[n] > 0.0
            if low[n] < 0.0 < high[n]:
                if at == found.size:
                    bigger = np.empty(2 * found.size, np.int64)
                    bigger[:at] = found
                    found = bigger
                found[at] = n
                at += 1
        offsets[f + 1] = at
    return offsets, found[: offsets[faces]].copy(), above


@numba.njit(**KERNEL)
def _room_for(lines: int) -> int:  # pragma: no cover - compiled
    """The most vertices cutting one face along ``lines`` lines can make: each line meets
    the face's boundary twice and every earlier line once."""
    return 2 * lines + lines * (lines - 1) // 2


@numba.njit(**KERNEL)
def cut_layer(
    points, values, parents, count, corners, starts, zero_at, offsets, lines, above
):  # pragma: no cover
    """Cut every face along the zero lines that cross it (``offsets``, ``lines``, ``above``:
    see :func:`crossing_lines`; a line crossing a part of a face crosses the face).

    Face by face (of the layer's start), lines in neuron order in every face, and a crossed
    edge's vertex is made once (``made``), so two faces beside an edge always agree on its
    vertices. A new vertex's values within ``zero_at`` of 0 are 0 (a line through an
    earlier line's vertices is 0 there up to rounding). Stops before a face the arrays have
    no room for: returns the vertex count and, then, -(vertices needed) as the faces.
    Otherwise returns the vertex count, the faces, each face's origin, the chords drawn
    (their keys, and the column of ``values`` whose line each lies on), how many snapped
    values were ambiguous (see AMBIGUOUS) and the faces' patterns (faces, lines): a part
    keeps its face's side of every line that does not cross the face, and reads the others
    off its vertices."""
    faces = starts.size - 1
    made = Dict.empty(key_type=types.int64, value_type=types.int64)
    chord_keys, chord_rows = List.empty_list(types.int64), List.empty_list(types.int64)
    ambiguous = 0
    out_corners = np.empty(2 * corners.size + 16, np.int64)
    out_starts, out_origin = [0], []
    on = np.empty((2 * faces + 16, above.shape[1]), np.bool_)
    at = made_faces = 0
    for f in range(faces):
        need = count + _room_for(offsets[f + 1] - offsets[f])
        if need > values.shape[0]:
            stop = np.full(1, -need, np.int64)
            return (count, stop, stop, stop, stop, stop, 0, on[:0])
        parts = List()
        parts.append(corners[starts[f] : starts[f + 1]].copy())
        for m in range(offsets[f], offsets[f + 1]):
            j = lines[m]
            cut = List()
            for part in parts:
                before = count
                first, second, count, chord = _split(part, j, points, values, parents, count, made)
                for new in range(before, count):  # snap the new vertices' other values
                    for n in range(values.shape[1]):
                        if abs(values[new, n]) <= zero_at[n]:
                            ambiguous += abs(values[new, n]) > AMBIGUOUS * zero_at[n]
                            values[new, n] = 0.0
                if first.size == 0:
                    cut.append(part)
                else:
                    cut.append(first)
                    cut.append(second)
                    chord_keys.append(chord)
                    chord_rows.append(j)
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
            if made_faces == on.shape[0]:
                bigger_on = np.empty((2 * on.shape[0], on.shape[1]), np.bool_)
                bigger_on[:made_faces] = on
                on = bigger_on
            on[made_faces] = above[f]
            for m in range(offsets[f], offsets[f + 1]):
                j = lines[m]
                positive = False
                for v in part:
                    if values[v, j] > 0.0:
                        positive = True
                        break
                on[made_faces, j] = positive
            made_faces += 1
    keys, rows = np.empty(len(chord_keys), np.int64), np.empty(len(chord_rows), np.int64)
    for k in range(len(chord_keys)):
        keys[k], rows[k] = chord_keys[k], chord_rows[k]
    return (count, np.array(out_starts), out_corners[:at].copy(), np.array(out_origin), keys,
            rows, ambiguous, on[:made_faces].copy())  # fmt: skip


@numba.njit(**KERNEL)
def edge_lines(edge_keys, parents, chord_keys, chord_lines, corners):  # pragma: no cover
    """The line each edge lies on: a chord's own line; the parallelogram's sides (between
    two of its ``corners`` first vertices) −1; any other edge is a half of the edge its newer
    end split, whose line it keeps. ``chord_keys`` sorted, ``chord_lines`` beside them."""
    vertices = parents.size
    on = np.full(vertices, -1, np.int64)  # the line of the edge each vertex was made on
    for v in range(corners, vertices):
        on[v] = _line_of(parents[v], on, chord_keys, chord_lines, corners)
    lines = np.empty(edge_keys.size, np.int64)
    for e in range(edge_keys.size):
        lines[e] = _line_of(edge_keys[e], on, chord_keys, chord_lines, corners)
    return lines


@numba.njit(**KERNEL)
def _line_of(key, on, chord_keys, chord_lines, corners):  # pragma: no cover - compiled
    at = np.searchsorted(chord_keys, key)
    if at < chord_keys.size and chord_keys[at] == key:
        return chord_lines[at]
    newer = key % KEY_STRIDE
    return -1 if newer < corners else on[newer]


@numba.njit(**KERNEL)
def face_maps(points, out, size, corners, starts):  # pragma: no cover - compiled
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


@numba.njit(**KERNEL)
def argmax_cells(points, scores, corners, starts, candidates):  # pragma: no cover - compiled
    """The decision boundary inside the ``candidates`` faces: each class's cell (the face
    clipped by the half-planes where its score is ≥ every other's; scores are affine in a
    face, so interpolated along edges exactly), and of its edges those made by a clip against
    a later class: segments (n, 4) as x0, y0, x1, y1 and the pairs of classes (n, 2)."""
    classes = scores.shape[1]
    segments = np.empty((max(16, 4 * candidates.size), 4))
    pairs = np.empty((segments.shape[0], 2), np.int64)
    found = 0
    for f in candidates:
        ids = corners[starts[f] : starts[f + 1]]
        for c in range(classes):
            xy, val = points[ids].copy(), scores[ids].copy()
            tag = np.full(ids.size, -1, np.int64)  # the class each outgoing edge ties with
            for j in range(classes):
                m = xy.shape[0]
                if j == c or m == 0:
                    continue
                g = val[:, c] - val[:, j]
                if g.min() >= 0.0:
                    continue
                if g.max() <= 0.0:  # c never beats j here: its cell is at most a line
                    xy = xy[:0]
                    continue
                new_xy, new_val = np.empty((m + 2, 2)), np.empty((m + 2, classes))
                new_tag = np.empty(m + 2, np.int64)
                n = 0
                for k in range(m):
                    k1 = (k + 1) % m
                    gk, gk1 = g[k], g[k1]
                    if gk >= 0.0:
                        new_xy[n], new_val[n] = xy[k], val[k]
                        new_tag[n] = j if (gk == 0.0 and gk1 < 0.0) else tag[k]
                        n += 1
                    if (gk > 0.0 and gk1 < 0.0) or (gk < 0.0 and gk1 > 0.0):
                        t = gk / (gk - gk1)
                        new_xy[n] = xy[k] + t * (xy[k1] - xy[k])
                        new_val[n] = val[k] + t * (val[k1] - val[k])
                        new_tag[n] = j if gk > 0.0 else tag[k]
                        n += 1
                xy, val, tag = new_xy[:n].copy(), new_val[:n].copy(), new_tag[:n].copy()
            m = xy.shape[0]
            area = 0.0
            for k in range(m):
                k1 = (k + 1) % m
                area += xy[k, 0] * xy[k1, 1] - xy[k1, 0] * xy[k, 1]
            if m < 3 or area <= 0.0:
                continue
            _neighbours(xy, val, tag, c)
            for k in range(m):
                if tag[k] > c:
                    if found == segments.shape[0]:
                        segments = np.concatenate((segments, np.empty_like(segments)))
                        pairs = np.concatenate((pairs, np.empty_like(pairs)))
                    k1 = (k + 1) % m
                    segments[found, 0], segments[found, 1] = xy[k, 0], xy[k, 1]
                    segments[found, 2], segments[found, 3] = xy[k1, 0], xy[k1, 1]
                    pairs[found, 0], pairs[found, 1] = c, tag[k]
                    found += 1
    return segments[:found].copy(), pairs[:found].copy()


@numba.njit(**KERNEL)
def _neighbours(xy, val, tag, c):  # pragma: no cover - compiled
    """Re-tag each clipped edge of class c's cell with the class that wins just across it.
    The clip tags an edge with the class it was cut against, but where several classes tie
    with c along the edge (a three-way tie on a line) that class may own no area there, and
    the class across is the tied one whose score rises fastest beyond the edge: the one
    furthest below c at the cell's vertex furthest from the edge (scores are affine)."""
    m, classes = xy.shape[0], val.shape[1]
    scale = 0.0
    for k in range(m):
        for j in range(classes):
            scale = max(scale, abs(val[k, j]))
    tolerance = 1e-12 * (1.0 + scale)
    for k in range(m):
        if tag[k] < 0:
            continue
        k1 = (k + 1) % m
        dx, dy = xy[k1, 0] - xy[k, 0], xy[k1, 1] - xy[k, 1]
        far, distance = k, -1.0
        for v in range(m):
            d = abs(dx * (xy[v, 1] - xy[k, 1]) - dy * (xy[v, 0] - xy[k, 0]))
            if d > distance:
                far, distance = v, d
        best, lowest = tag[k], 0.0
        for j in range(classes):
            if j == c:
                continue
            if (abs(val[k, j] - val[k, c]) > tolerance
                    or abs(val[k1, j] - val[k1, c]) > tolerance):  # fmt: skip
                continue
            below = val[far, j] - val[far, c]
            if below < lowest:
                best, lowest = j, below
        tag[k] = best
