"""Compiled kernels of the n-D complex's cells once cut (:mod:`bends.tracing._kernels.box` cuts
them): their facets and the pairs of cells sharing one (the dual graph), and affine maps
solved from values at the vertices. Cells are independent, so the per-cell passes run on
every core (numba's ``prange``)."""

from __future__ import annotations

import numba
import numpy as np

from bends.tracing._kernels.box import _bits, _rows
from bends.tracing._kernels.shared import KERNEL, on_cores

#: Cells from which a per-cell pass runs on every core: below, a parallel region's start and
#: join (and, on a machine whose other cores are busy, the wait for a thread to be scheduled:
#: 25 ms a call measured on 2 cores under load) cost more than the pass (a cell's facets
#: take about a microsecond).
PARALLEL_CELLS = 4096


@numba.njit(**KERNEL)
def _loose_into(ids, zeros, loose):  # pragma: no cover - compiled
    """The constraints 0 at some but not every vertex of ``ids``, into ``loose`` (words);
    returns how many."""
    count = 0
    for word in range(zeros.shape[1]):
        every, some = ~np.uint64(0), np.uint64(0)
        for v in ids:
            every &= zeros[v, word]
            some |= zeros[v, word]
        loose[word] = some & ~every
        count += _bits(loose[word])
    return count


@numba.njit(**KERNEL)
def _facets_of(ids, zeros, tags, keys, at, loose, members):  # pragma: no cover - compiled
    """The facets of the cell with vertices ``ids``, their keys written to ``keys`` from row
    ``at`` (room for one per loose constraint); returns how many. Faces are bit sets of the
    cell's vertices, so inclusion is a few word operations. ``loose`` (words) and
    ``members`` (faces, spans) are scratch, ``members`` large enough."""
    _loose_into(ids, zeros, loose)
    size = ids.size
    spans = (size + 63) // 64
    kept = 0
    for word in range(loose.size):
        for bit in range(64):
            if loose[word] >> np.uint64(bit) & np.uint64(1):
                members[kept, :spans] = 0
                for k in range(size):
                    if zeros[ids[k], word] >> np.uint64(bit) & np.uint64(1):
                        members[kept, k // 64] |= np.uint64(1) << np.uint64(k % 64)
                kept += 1
    found = 0
    for f in range(kept):
        maximal = True
        for g in range(kept):
            if g == f:
                continue
            inside = same = True  # face f ⊆ face g; the same face
            for span in range(spans):
                if members[f, span] & ~members[g, span]:
                    inside = False
                    break
                if members[f, span] != members[g, span]:
                    same = False
            if inside and (not same or g < f):  # strictly inside, or a repeat of g
                maximal = False
                break
        if maximal:
            first = second = np.uint64(0)
            for k in range(size):
                if members[f, k // 64] >> np.uint64(k % 64) & np.uint64(1):
                    first += tags[ids[k], 0]
                    second += tags[ids[k], 1]
            keys[at + found, 0], keys[at + found, 1] = first, second
            found += 1
    return found


def _cell_facets(starts, verts, zeros, tags, parts):  # pragma: no cover - compiled
    """Every cell's facets, each named by a key that does not depend on the cell.

    A face of a cell is the set of its vertices whose zero sets hold one constraint's bit
    (the constraints tight on the whole cell left out); its facets are the maximal ones. The
    key of a facet is the sum (mod 2⁶⁴) of ``tags`` (vertices, 2) random words over its
    vertices, two words per key: the two cells beside a facet list the same vertices, so
    they give the same key. Room first (one row per loose constraint), then the keys; the
    cells are independent, so both passes run in ``parts`` parts, on every core. Returns
    (cell, key₁, key₂) per facet."""
    cells, words = starts.size - 1, zeros.shape[1]
    per = (cells + parts - 1) // parts
    room = np.zeros(cells + 1, np.int64)
    widest = 1
    for cell in range(cells):
        widest = max(widest, starts[cell + 1] - starts[cell])
    for part in numba.prange(parts):
        loose = np.empty(words, np.uint64)
        for cell in range(part * per, min(cells, (part + 1) * per)):
            room[cell + 1] = _loose_into(verts[starts[cell] : starts[cell + 1]], zeros, loose)
    for cell in range(cells):
        room[cell + 1] += room[cell]
    keys = np.empty((room[cells], 2), np.uint64)
    found = np.zeros(cells, np.int64)
    for part in numba.prange(parts):
        loose = np.empty(words, np.uint64)
        members = np.empty((64 * words, (widest + 63) // 64), np.uint64)
        for cell in range(part * per, min(cells, (part + 1) * per)):
            ids = verts[starts[cell] : starts[cell + 1]]
            found[cell] = _facets_of(ids, zeros, tags, keys, room[cell], loose, members)
    owner = np.empty(found.sum(), np.int64)
    kept = 0
    for cell in range(cells):  # the keys found, packed
        for k in range(room[cell], room[cell] + found[cell]):
            keys[kept], owner[kept] = keys[k], cell
            kept += 1
    return owner, keys[:kept]


@numba.njit(**KERNEL)
def shared_facets(owner, keys):  # pragma: no cover - compiled
    """The pairs of cells (A, 2) that list the same facet key, matched in a hash table (open
    addressing on the first word: the keys are sums of random words, so its low bits are
    uniform). An inner facet lies in two cells; a key listed n times gives all C(n, 2)
    pairs."""
    size = 1
    while size < 2 * keys.shape[0] + 2:
        size *= 2
    slot_of = np.full(size, -1, np.int64)
    pairs = np.empty((keys.shape[0] // 2 + 1, 2), np.int64)
    found = 0
    mask = np.uint64(size - 1)
    for k in range(keys.shape[0]):
        slot = np.int64(keys[k, 0] & mask)
        while slot_of[slot] >= 0:  # every earlier listing of the key pairs with this one
            j = slot_of[slot]
            if keys[j, 0] == keys[k, 0] and keys[j, 1] == keys[k, 1]:
                pairs = _rows(pairs, found, 1)
                pairs[found, 0], pairs[found, 1] = owner[j], owner[k]
                found += 1
            slot = (slot + 1) & (size - 1)
        slot_of[slot] = k
    return pairs[:found]


@numba.njit(**KERNEL)
def components(count, first, second):  # pragma: no cover - compiled
    """The connected components of ``count`` nodes joined by the pairs (``first[i]``,
    ``second[i]``): each node's component, numbered in the order of their smallest nodes
    (union–find with path halving; SciPy's ``connected_components`` numbers them alike, at
    a sparse matrix's cost per call)."""
    parent = np.arange(count)
    for i in range(first.size):
        a, b = first[i], second[i]
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        while parent[b] != b:
            parent[b] = parent[parent[b]]
            b = parent[b]
        if a != b:
            parent[max(a, b)] = min(a, b)
    label = np.empty(count, np.int64)
    found = 0
    for node in range(count):  # a root is its component's smallest node
        root = node
        while parent[root] != root:
            root = parent[root]
        if root == node:
            label[node] = found
            found += 1
        else:
            label[node] = label[root]
    return label


def _solved_maps(points, out, size, starts, verts, parts):  # pragma: no cover - compiled
    """Each cell's affine output map from its vertices' outputs ``out`` (vertices, outputs),
    for networks whose cells' maps are not a product of masked layers (graph networks): the
    gradient solved on d + 1 of the cell's vertices picked to span it widely (each the one
    farthest from the affine hull of those before, from the cell's first vertex: a
    Gram–Schmidt factorisation A = L Q of the picked offsets as it goes, so the solve is
    triangular and nothing here can raise), the intercept at the first vertex. Returns the
    maps (cells, outputs, d + 1), the gradients' rounding (the same shape; the last column
    unused: the outputs' term sizes ``size`` over the picked vertices times the row sums of
    |A⁻¹|, how far an error of that size in the outputs moves the gradient), and the cells
    whose vertices float64 finds affinely dependent (their maps left 0, for the caller)."""
    cells, d, outputs = starts.size - 1, points.shape[1], out.shape[1]
    maps = np.zeros((cells, outputs, d + 1))
    rounding = np.zeros((cells, outputs, d + 1))
    degenerate = np.zeros(cells, np.bool_)
    per = (cells + parts - 1) // parts
    for part in numba.prange(parts):
        for cell in range(part * per, min(cells, (part + 1) * per)):
            _solve_cell(points, out, size, verts[starts[cell] : starts[cell + 1]], cell, maps,
                        rounding, degenerate)  # fmt: skip
    return maps, rounding, degenerate


@numba.njit(**KERNEL)
def _solve_cell(points, out, size, ids, cell, maps, rounding,
                degenerate):  # pragma: no cover - compiled  # fmt: skip
    """:func:`_solved_maps` for one cell (vertices ``ids``), into row ``cell``."""
    d, outputs = points.shape[1], out.shape[1]
    first = ids[0]
    hull = np.zeros((d, d))  # orthonormal rows Q: the picked offsets' span
    lower = np.zeros((d, d))  # L: offset k = Σ_q lower[k, q] hull[q]
    rises = np.zeros((d, outputs))
    terms = size[first].copy()
    for k in range(d):
        best, pick = 0.0, first
        along = np.zeros(d)
        for m in range(1, ids.size):
            r = points[ids[m]] - points[first]
            for q in range(k):
                r = r - np.dot(r, hull[q]) * hull[q]
            norm = np.sqrt(np.dot(r, r))
            if norm > best:
                best, pick, along = norm, ids[m], r
        if best == 0.0:
            degenerate[cell] = True
            break
        hull[k] = along / best
        offset = points[pick] - points[first]
        for q in range(k + 1):
            lower[k, q] = np.dot(offset, hull[q])
        rises[k] = out[pick] - out[first]
        terms = np.maximum(terms, size[pick])
    if degenerate[cell]:
        return
    solve = np.zeros((d, d))  # L⁻¹, lower triangular
    for i in range(d):
        solve[i, i] = 1.0 / lower[i, i]
        for j in range(i):
            total = 0.0
            for m in range(j, i):
                total += lower[i, m] * solve[m, j]
            solve[i, j] = -total / lower[i, i]
    inverse = hull.T @ solve  # A⁻¹ = Q^T L⁻¹
    gradient = inverse @ rises  # (d, outputs)
    spread = np.abs(inverse).sum(axis=1)
    for o in range(outputs):
        intercept = out[first, o]
        for c in range(d):
            maps[cell, o, c] = gradient[c, o]
            rounding[cell, o, c] = terms[o] * spread[c]
            intercept -= gradient[c, o] * points[first, c]
        maps[cell, o, d] = intercept


cell_facets = on_cores(_cell_facets, 0, PARALLEL_CELLS)
solved_maps = on_cores(_solved_maps, 3, PARALLEL_CELLS)
