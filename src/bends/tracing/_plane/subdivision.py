"""A planar subdivision built cut by cut, and its assembly into a
:class:`~bends.tracing._results.partition.Partition`: what the planar tracers of MLPs and tied RNNs
(:mod:`bends.tracing._plane.mlp`), graph networks (:mod:`bends.tracing._graph.plane`) and the exact
tracer (:mod:`bends.tracing._plane.exact`) share."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from bends.budget import check_memory, memory_budget, outgrown
from bends.errors import ResolutionWarning
from bends.tracing._kernels.plane import (
    AMBIGUOUS,
    KEY_STRIDE,
    crossing_lines,
    cut_layer,
    edge_lines,
    face_maps,
)
from bends.tracing._results.partition import Partition, edge_keys
from bends.tracing.tolerance import RESOLUTION

UNIT_SQUARE = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])


class Subdivision:
    """The unit square of plane coordinates, cut layer after layer (see
    :mod:`bends.tracing._kernels.plane` for the arrays)."""

    def __init__(self, what):
        self.what = what  # names the work in a refusal: a callable giving the text
        self.points = UNIT_SQUARE.copy()
        self.count = 4
        self.ids, self.starts = np.arange(4, dtype=np.int64), np.array([0, 4], dtype=np.int64)
        self.parents = np.full(4, -1, dtype=np.int64)
        self.patterns = np.zeros((1, 0), dtype=bool)
        self.chord_keys: list[np.ndarray] = []
        self.chord_lines: list[np.ndarray] = []
        self.layer_sizes: list[int] = []
        self.ambiguous = 0  # values snapped to 0 that float64 cannot call zero (AMBIGUOUS)

    def room(self, width: int, per_vertex: float, held: float = 0.0) -> np.ndarray:
        """An array (room, width) for a layer's values at the vertices, its first ``count``
        rows for the caller to fill: room for as many vertices as the memory budget holds at
        ``per_vertex`` bytes each (a page takes memory only once a vertex is written to it).
        Refuses first when the vertices there are, at ``per_vertex`` plus ``held`` bytes each
        (what the caller holds besides), are over the budget already."""
        check_memory(self.count * (per_vertex + held), self.what, at_least=True)
        self.most, self.per_vertex = int(memory_budget() / per_vertex), per_vertex
        room = max(self.most, self.count)
        if len(self.points) < room:
            points, parents = np.empty((room, 2)), np.empty(room, dtype=np.int64)
            points[: self.count] = self.points[: self.count]
            parents[: self.count] = self.parents[: self.count]
            self.points, self.parents = points, parents
        return np.empty((room, width))

    def cut(self, values: np.ndarray, zero_at: np.ndarray, lines: int) -> np.ndarray:
        """Cut every face along the ``lines`` zero lines whose values at the vertices are the
        first ``lines`` columns of ``values`` (from :meth:`room`; snapped within ``zero_at``
        of 0 to 0 first); every column of ``values`` is interpolated at the new vertices,
        and a new vertex's value within ``zero_at`` of 0 is 0. Returns ``values`` (its first
        ``count`` rows now the vertices')."""
        rows = values[: self.count, :lines]
        size = np.abs(rows)
        small = size <= zero_at[:lines]
        unsure = small & (size > AMBIGUOUS * zero_at[:lines])
        self.ambiguous += int(np.count_nonzero(unsure))
        rows[small] = 0.0
        del size, small
        line_starts, crossing, above = crossing_lines(rows, self.ids, self.starts)
        count, starts, ids, origin, keys, made_by, ambiguous, on = cut_layer(
            self.points, values, self.parents, self.count, self.ids, self.starts, zero_at,
            line_starts, crossing, above,
        )  # fmt: skip
        if starts[0] < 0:  # no room for the next face: over the budget
            outgrown(MemoryError(int(-starts[0])), self.most,
                     lambda vertices: vertices * self.per_vertex, self.what)  # fmt: skip
        self.count, self.starts, self.ids = count, starts, ids
        self.ambiguous += ambiguous
        self.patterns = np.concatenate([self.patterns[origin], on], axis=1)
        self.chord_keys.append(keys)
        self.chord_lines.append(made_by + sum(self.layer_sizes))
        self.layer_sizes.append(lines)
        return values

    def bytes_per_vertex(self, width: int, lines: int) -> float:
        """What a vertex costs while a layer of ``lines`` lines with ``width`` values per
        vertex is cut: its values, a face's share of the patterns (about one face per
        vertex, a byte per line so far, held twice while they are joined) and of the corner
        ids, points and edge keys."""
        return 8.0 * width + 2.0 * (sum(self.layer_sizes) + lines) + 100.0

    def finish(self, net, corners, out, size, zero_tol: float, slope_rtol: float) -> Partition:
        """The Partition, from the outputs ``out`` (V, outputs) at the vertices and the sizes
        of the terms each sums (``size``): face maps solved from vertex values, pieces joined
        where gradients agree to ``slope_rtol`` plus ``zero_tol`` times their rounding."""
        points = self.points[: self.count]
        gradients, intercepts, scales = face_maps(points, out, size, self.ids, self.starts)

        def same(first, second):
            larger = np.maximum(np.abs(gradients[first]), np.abs(gradients[second])).max(axis=2)
            rounding = np.maximum(scales[first], scales[second])
            change = np.abs(gradients[first] - gradients[second]).max(axis=2)
            return (change <= slope_rtol * larger + zero_tol * rounding).all(axis=1)

        return assemble(net, corners, points.copy(), self, out, gradients, intercepts, same)


def assemble(net, corners, points, built, out, gradients, intercepts, same,
             rational_points=None) -> Partition:  # fmt: skip
    """The Partition of a finished subdivision ``built`` (a :class:`Subdivision`, or the exact
    tracer's equivalent: ``ids``, ``starts``, ``parents``, ``patterns``, ``chord_keys``,
    ``chord_lines``, ``layer_sizes``): pieces are the connected components of the faces
    joined across an edge where ``same(first, second)``; every edge gets its line."""
    keys, face_of = edge_keys(built.ids, built.starts)
    order = np.argsort(keys, kind="stable")
    keys, face_of = keys[order], face_of[order]
    shared = np.flatnonzero(keys[1:] == keys[:-1])  # an inner edge: listed by its two faces
    first, second = face_of[shared], face_of[shared + 1]
    joined = same(first, second)
    faces = built.starts.size - 1
    graph = coo_matrix((np.ones(joined.sum()), (first[joined], second[joined])),
                       shape=(faces, faces))  # fmt: skip
    piece_of = connected_components(graph, directed=False)[1]
    unique = keys[np.r_[True, keys[1:] != keys[:-1]]] if keys.size else keys
    chord_keys = np.concatenate([np.zeros(0, np.int64), *built.chord_keys])
    chord_lines = np.concatenate([np.zeros(0, np.int64), *built.chord_lines])
    by_key = np.argsort(chord_keys)
    lines = edge_lines(unique, built.parents[: len(points)], chord_keys[by_key],
                        chord_lines[by_key], len(UNIT_SQUARE))  # fmt: skip
    ends = np.stack([unique // KEY_STRIDE, unique % KEY_STRIDE], axis=1)
    resolved = True
    if rational_points is None and len(ends):
        gaps = np.abs(points[ends[:, 1]] - points[ends[:, 0]]).max(axis=1)
        close, ambiguous = float(gaps.min()) < RESOLUTION, getattr(built, "ambiguous", 0)
        if close or ambiguous:
            resolved = False
            why = (f"vertices closer than {RESOLUTION:.1e} in plane coordinates" if close else
                   f"{ambiguous} values near 0 that may be a line missing a vertex by less "
                   "than float64 resolves")  # fmt: skip
            warnings.warn(
                f"{why}: float64 cannot separate them, counts may be off (exact=True computes "
                "the plane in fractions)",
                ResolutionWarning,
                stacklevel=4,
            )
    return Partition(net, corners, points, built.ids, built.starts, built.patterns, gradients,
                     intercepts, piece_of, out, ends, lines, tuple(built.layer_sizes), resolved,
                     rational_points)  # fmt: skip
