"""Compiled kernels of the n-D tracer (:mod:`bends.tracing._box.tracer`): cutting every cell of a
polyhedral complex along one neuron's zero set (the cells' facets and maps:
:mod:`bends.tracing._kernels.cells`).

The complex is flat arrays. Vertices carry ``zeros`` (vertices, words) uint64: bit b is set
when constraint b — a facet of the domain, or a neuron — is 0 at the vertex (its *zero set*).
Cells are one array of vertex ids ``verts`` with offsets ``starts`` (cell c is
``verts[starts[c]:starts[c + 1]]``, in no order). Everything below is combinatorial: which
vertices a cell keeps and which pairs are edges follows from signs and zero sets, never from
coordinates, so the float64 and the exact tracer share these kernels.

The one fact used throughout: in a polytope P, whose inequalities (redundant ones included)
are the constraints tight at some vertex, the smallest face holding vertices u and v is the
set where every constraint tight at both is tight, and its vertices are those whose zero
sets contain Z(u) ∩ Z(v). So u, v span an edge of P exactly when no third vertex of P has a
zero set containing Z(u) ∩ Z(v), and the faces of P are the vertex sets {v : Z(v) ⊇ S}.
"""

from __future__ import annotations

import numba
import numpy as np

from bends.tracing._kernels.shared import KERNEL


@numba.njit(**KERNEL)
def _grown(array, used, more):  # pragma: no cover - compiled
    """``array`` with room for ``more`` entries past ``used`` (doubled when short)."""
    if used + more <= array.shape[0]:
        return array
    bigger = np.empty(max(2 * array.shape[0], used + more), array.dtype)
    bigger[:used] = array[:used]
    return bigger


@numba.njit(**KERNEL)
def _rows(array, used, more):  # pragma: no cover - compiled
    """``array`` (rows, columns) with room for ``more`` rows past ``used`` (doubled when short)."""
    if used + more <= array.shape[0]:
        return array
    bigger = np.empty((max(2 * array.shape[0], used + more), array.shape[1]), array.dtype)
    bigger[:used] = array[:used]
    return bigger


@numba.njit(**KERNEL)
def _contains(zeros, c, common):  # pragma: no cover - compiled
    """Whether vertex c's zero set holds every bit of ``common``."""
    for word in range(common.size):
        if zeros[c, word] & common[word] != common[word]:
            return False
    return True


@numba.njit(**KERNEL)
def _edges_among(ids, zeros, dim, out, used, scratch):  # pragma: no cover - compiled
    """The pairs of ``ids`` (the vertices of a ``dim``-dimensional polytope) that span its
    edges, appended to ``out`` (pairs, 2) from row ``used``; returns (out, rows used).
    ``scratch`` (2, words) is the caller's, so that a call allocates nothing.

    An edge lies in at least dim − 1 facets, each with a constraint of its own that is not
    tight on the whole polytope: a pair sharing fewer such constraints is no edge, which
    rules out most pairs before the test against every third vertex."""
    words = zeros.shape[1]
    common, every = scratch[0], scratch[1]
    every[:] = ~np.uint64(0)  # the constraints tight everywhere
    for v in ids:
        for word in range(words):
            every[word] &= zeros[v, word]
    for a in range(ids.size):
        for b in range(a + 1, ids.size):
            u, v = ids[a], ids[b]
            shared = 0
            for word in range(words):
                common[word] = zeros[u, word] & zeros[v, word]
                shared += _bits(common[word] & ~every[word])
            if shared < dim - 1:
                continue
            edge = True
            for c in range(ids.size):
                if c != a and c != b and _contains(zeros, ids[c], common):
                    edge = False
                    break
            if edge:
                out = _rows(out, used, 1)
                out[used, 0], out[used, 1] = min(u, v), max(u, v)
                used += 1
    return out, used


@numba.njit(**KERNEL)
def cut_cells(starts, verts, sign, zeros, crossed, made, stride, dim):  # pragma: no cover
    """Cut every cell whose vertices hold both strict signs of one neuron.

    ``sign`` (vertices,) int8 is the neuron's sign at every vertex; ``crossed`` the
    keys u·stride + v (u < v) of the edges whose ends have strictly opposite signs and
    ``made`` the vertex already made on each (shared by every cell around the edge); cells
    are ``dim``-dimensional. A cut cell P becomes P₊ (its vertices of sign ≥ 0 and the new
    ones) and P₋ (≤ 0 and the new ones); the edges of their common facet P ∩ {z = 0} are
    found among its vertices by the zero-set rule (the new vertices' zero sets hold the
    neuron's bit already).

    Returns the new cells (starts, verts), each one's old cell (``parents``) and side (1: the
    neuron is on, where some vertex is positive), and the new edges (pairs, 2), with repeats
    (a facet's edge on the boundary of P is found from every cell around it)."""
    cells = starts.size - 1
    out_starts = np.empty(2 * cells + 1, np.int64)
    out_verts = np.empty(verts.size + verts.size // 2 + 16, np.int64)
    parents = np.empty(2 * cells, np.int64)
    sides = np.empty(2 * cells, np.int8)
    edges = np.empty((64, 2), np.int64)
    # the crossed edges by their positive end (CSR): a cut cell finds its crossed edges
    # from its positive vertices, a few each, not by testing every pair of its vertices
    first = np.zeros(stride + 1, np.int64)
    for k in range(crossed.size):
        u = crossed[k] // stride
        first[(u if sign[u] > 0 else crossed[k] % stride) + 1] += 1
    for v in range(stride):
        first[v + 1] += first[v]
    other = np.empty(crossed.size, np.int64)
    made_on = np.empty(crossed.size, np.int64)
    filled = first[:-1].copy()
    for k in range(crossed.size):
        u, v = crossed[k] // stride, crossed[k] % stride
        if sign[u] < 0:
            u, v = v, u
        other[filled[u]], made_on[filled[u]] = v, made[k]
        filled[u] += 1
    member = np.full(stride, -1, np.int64)  # member[v] == cell: v is a vertex of the cell
    new = np.empty(max(crossed.size, 1), np.int64)
    on_cut = np.empty(64, np.int64)
    scratch = np.empty((2, zeros.shape[1]), np.uint64)
    made_edges = 0
    count = used = 0
    out_starts[0] = 0
    for cell in range(cells):
        ids = verts[starts[cell] : starts[cell + 1]]
        positive = negative = False
        for v in ids:
            positive |= sign[v] > 0
            negative |= sign[v] < 0
        if not (positive and negative):
            out_verts = _grown(out_verts, used, ids.size)
            out_verts[used : used + ids.size] = ids
            used += ids.size
            parents[count], sides[count] = cell, 1 if positive else 0
            count += 1
            out_starts[count] = used
            continue
        for v in ids:
            member[v] = cell
        fresh = 0
        for u in ids:
            if sign[u] > 0:
                for k in range(first[u], first[u + 1]):
                    if member[other[k]] == cell:
                        new[fresh] = made_on[k]
                        fresh += 1
        for side in (1, -1):
            out_verts = _grown(out_verts, used, ids.size + fresh)
            for v in ids:
                if sign[v] * side >= 0:
                    out_verts[used] = v
                    used += 1
            out_verts[used : used + fresh] = new[:fresh]
            used += fresh
            parents[count], sides[count] = cell, 1 if side > 0 else 0
            count += 1
            out_starts[count] = used
        on_cut = _grown(on_cut, 0, ids.size + fresh)
        cut = 0
        for v in ids:
            if sign[v] == 0:
                on_cut[cut] = v
                cut += 1
        on_cut[cut : cut + fresh] = new[:fresh]
        edges, made_edges = _edges_among(on_cut[: cut + fresh], zeros, dim - 1, edges,
                                         made_edges, scratch)  # fmt: skip
    return (out_starts[: count + 1], out_verts[:used], parents[:count], sides[:count],
            edges[:made_edges])  # fmt: skip


@numba.njit(**KERNEL)
def _bits(word):  # pragma: no cover - compiled
    """How many bits of ``word`` are set."""
    count = 0
    while word:
        word &= word - np.uint64(1)
        count += 1
    return count


@numba.njit(**KERNEL)
def cut_layer(points, values, zeros, count, edges, edge_neurons, starts, verts, origin, zero_at,
              lines, first_bit, first_neuron, budget, per_cell):  # pragma: no cover  # fmt: skip
    """One layer's cuts in float64, line after line (the steps of
    :meth:`bends.tracing._box.tracer.Cutting.cut_exact`, without Python between lines).

    ``points`` (room, d), ``values`` (room, width) and ``zeros`` (room, words) hold ``count``
    vertices; ``origin`` (cells,) each cell's cell at the layer's start. The cells are cut
    along the zero sets of the first ``lines`` columns of ``values`` in turn (each a neuron,
    or a kink of a graph node); every column is interpolated at the new vertices. A value
    within ``zero_at[j]`` of 0 is 0. Returns the arrays (grown where needed), the vertex count,
    the cells' origins, how many values were snapped to 0 that float64 could not call zero
    (within 2⁻⁶ of the tolerance and above), the shortest edge part a cut made, and 0 — or,
    when after some neuron the arrays (and ``per_cell`` bytes a cell holds outside them)
    exceed ``budget`` bytes, what they hold, having stopped there."""
    width = values.shape[1]
    ambiguous = 0
    closest = np.inf
    used = edges.shape[0]  # edges in use (the arrays grow with room to spare)
    for j in range(lines):
        bit = first_bit + j
        word, mask = bit // 64, np.uint64(1) << np.uint64(bit % 64)
        sign = np.empty(count, np.int8)
        for v in range(count):
            x = values[v, j]
            if abs(x) <= zero_at[j]:
                if x != 0.0 and abs(x) > 2.0**-6 * zero_at[j]:
                    ambiguous += 1
                values[v, j] = 0.0
                sign[v] = 0
                zeros[v, word] |= mask
            else:
                sign[v] = 1 if x > 0.0 else -1
        crossing = 0
        for e in range(used):
            crossing += sign[edges[e, 0]] * sign[edges[e, 1]] < 0
        points = _rows(points, count, crossing)
        values = _rows(values, count, crossing)
        zeros = _rows(zeros, count, crossing)
        keys = np.empty(crossing, np.int64)
        made = np.empty(crossing, np.int64)
        crossed = np.empty(crossing, np.int64)
        stride = count + crossing
        k = 0
        for e in range(used):
            u, v = edges[e, 0], edges[e, 1]
            if sign[u] * sign[v] >= 0:
                continue
            t = values[u, j] / (values[u, j] - values[v, j])
            new = count + k
            gap = 0.0
            for c in range(points.shape[1]):
                step = points[v, c] - points[u, c]
                points[new, c] = points[u, c] + t * step
                gap = max(gap, abs(step))
            closest = min(closest, min(t, 1.0 - t) * gap)
            for c in range(width):
                values[new, c] = values[u, c] + t * (values[v, c] - values[u, c])
            values[new, j] = 0.0
            for c in range(zeros.shape[1]):
                zeros[new, c] = zeros[u, c] & zeros[v, c]
            zeros[new, word] |= mask
            keys[k], made[k], crossed[k] = u * stride + v, new, e
            k += 1
        count += crossing
        starts, verts, parents, _, chords = cut_cells(starts, verts, sign, zeros, keys, made,
                                                      stride, points.shape[1])  # fmt: skip
        origin = origin[parents]
        edges, edge_neurons, used = split_edges(edges, edge_neurons, used, crossed, made,
                                                chords, sign, first_neuron + j, count)  # fmt: skip
        held = (8.0 * count * (points.shape[1] + width + zeros.shape[1]) + 24.0 * used
                + 16.0 * verts.size + per_cell * (starts.size - 1))  # fmt: skip
        if held > budget:
            return (points, values, zeros, count, edges[:used], edge_neurons[:used], starts,
                    verts, origin, ambiguous, closest, held)  # fmt: skip
    return (points, values, zeros, count, edges[:used], edge_neurons[:used], starts, verts,
            origin, ambiguous, closest, 0.0)  # fmt: skip


@numba.njit(**KERNEL)
def split_edges(edges, labels, used, crossed, made, chords, sign, neuron,
                stride):  # pragma: no cover  # fmt: skip
    """The edge list after one cut, changed in place (``edges[:used]``, grown when short;
    returns it, its labels and the new count): a cut edge (u, v), ``crossed[k]``, becomes
    (u, m) where it is and (v, m) at the end, m = ``made[k]``, its label kept; the chords
    (repeats included: a facet's edge is found from every cell around it) are added once,
    labelled ``neuron`` — except a chord between two old vertices on the zero set that is an
    edge already (it keeps its label). Nothing is sorted or copied but the new edges."""
    fresh = crossed.size + chords.shape[0]
    edges, labels = _rows(edges, used, fresh), _grown(labels, used, fresh)
    old = used
    for k in range(crossed.size):
        e = crossed[k]
        edges[used, 0], edges[used, 1], labels[used] = edges[e, 1], made[k], labels[e]
        edges[e, 1] = made[k]
        used += 1
    if chords.shape[0] == 0:
        return edges, labels, used
    keys = np.empty(chords.shape[0], np.int64)
    settled = False  # an old edge may join two old vertices on the zero set
    for c in range(chords.shape[0]):
        u, v = min(chords[c, 0], chords[c, 1]), max(chords[c, 0], chords[c, 1])
        keys[c] = u * stride + v
        settled |= v < sign.size
    keys = np.unique(keys)
    present = np.empty(0, np.int64)
    if settled:
        found = np.empty(old, np.int64)
        n = 0
        for e in range(old):
            u, v = edges[e, 0], edges[e, 1]
            if u < sign.size and v < sign.size and sign[u] == 0 and sign[v] == 0:
                found[n] = min(u, v) * stride + max(u, v)
                n += 1
        present = np.sort(found[:n])
    edges, labels = _rows(edges, used, keys.size), _grown(labels, used, keys.size)
    for key in keys:
        if present.size:
            at = np.searchsorted(present, key)
            if at < present.size and present[at] == key:
                continue
        edges[used, 0], edges[used, 1], labels[used] = key // stride, key % stride, neuron
        used += 1
    return edges, labels, used


@numba.njit(**KERNEL)
def layer_patterns(starts, verts, values):  # pragma: no cover - compiled
    """Each cell's pattern for one layer (cells, width): a neuron is on where some vertex of
    the cell holds a positive value. The cell lies on one side of its zero set, so the first
    vertex off the zero set decides: most cells read one or two vertices, not all."""
    cells = starts.size - 1
    on = np.zeros((cells, values.shape[1]), np.bool_)
    for cell in range(cells):
        for j in range(values.shape[1]):
            for k in range(starts[cell], starts[cell + 1]):
                x = values[verts[k], j]
                if x != 0.0:
                    on[cell, j] = x > 0.0
                    break
    return on
