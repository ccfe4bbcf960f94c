r"""The n-D tracer: the polyhedral complex of a network's activation regions on a box or a simplex
of d input dimensions.

The domain is a polytope in d *box coordinates* t, mapped to input space by
:math:`x = o + B t` (``Domain``): an axis box (B = I), a parallelotope through d + 1 corners
(B's columns are the corners' differences, t ∈ [0, 1]^d), or the simplex of d + 1 corners
(t ≥ 0, Σ t ≤ 1). Folding o and B into the first layer, the network is a function of t.

The rule is the planar tracer's, d − 2 dimensions up (Berzins 2023's edge subdivision, with
cells kept): inside every cell of the complex cut by the layers before, each pre-activation
of the next layer is affine, so its values at the cell's vertices are the whole truth, and
along an edge it is affine between the edge's ends. The tracer keeps

* vertices: box coordinates, the current layer's values, and the *zero set* of each — which
  domain facets and neurons are 0 there (bits of ``zeros``);
* edges: pairs of vertex ids, each with the neuron whose cut made it (−1: the domain's);
* cells: lists of vertex ids, and each cell's activation pattern;

and, neuron by neuron, layer by layer,

1. reads the neuron's sign at every vertex (a value within ``zero_tol`` times its terms'
   largest size over the layer's vertices of 0 is 0 — one tolerance per neuron, as in the
   planar tracer: a vertex made on a long edge carries the rounding of that edge's far
   ends, which its own small values do not show — and the neuron's bit joins that vertex's
   zero set);
2. puts a vertex on every edge whose ends have strictly opposite signs, at
   :math:`v = a + (b − a)\, z_a / (z_a − z_b)`, once per edge, so every cell around the edge
   gets the same one; every value of the layer is interpolated there, the neuron's is exactly
   0, and its zero set is :math:`Z(a) ∩ Z(b)` plus the neuron (a constraint that is 0 inside
   an edge is 0 along all of it);
3. cuts every cell whose vertices hold both strict signs into its ≥ 0 and ≤ 0 parts, and
   joins the vertices of their common facet that span an edge — u, v span an edge of a
   polytope exactly when no third vertex's zero set contains :math:`Z(u) ∩ Z(v)`
   (:mod:`bends.tracing._kernels.box`: combinatorial, no coordinates read).

Cells stay face to face, so cells, edges and vertices are those of one complex; its f-vector
satisfies Euler's relation :math:`Σ_k (−1)^k f_k = 1` on a box. Facets follow from zero sets
too (the maximal faces {v : constraint b is 0 at v}), and give the dual graph; each cell's
affine map is its pattern's product of masked layers, and ``pieces`` are the cells joined
across facets where the maps' gradients agree (to ``slope_rtol`` times the larger plus
``zero_tol`` times their terms' size; exactly, for an exact trace).

With ``exact=True`` the same steps run on fractions (signs exact, no tolerance).

Example:
    >>> import numpy as np
    >>> from bends import MLP
    >>> net = MLP.from_layers([(np.eye(3), -0.5 * np.ones(3)), (np.ones((1, 3)), np.zeros(1))])
    >>> cells = trace_box_mlp(net, box_domain(np.zeros(3), np.ones(3)), 2.0**-40, 1e-9, False)
    >>> cells.regions, cells.pieces, cells.vertices, cells.edges
    (8, 8, 27, 54)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from fractions import Fraction
from itertools import product

import numpy as np

from bends.budget import check_memory, memory_budget
from bends.errors import ResolutionWarning
from bends.tracing._kernels.box import (
    cut_cells,
    cut_layer,
    layer_patterns,
    split_edges,
)
from bends.tracing._kernels.cells import solved_maps
from bends.tracing._results.complex import Complex, assembled, cell_maps
from bends.tracing.tolerance import RESOLUTION


@dataclass(frozen=True)
class Domain:
    """A polytope in box coordinates t and its map x = ``origin`` + ``basis`` t to input space:
    its ``points`` (vertices), each vertex's domain facets (``facets`` (vertices, constraints)
    bool: 2d box sides or d + 1 simplex sides) and its ``edges`` (pairs of vertex ids)."""

    points: np.ndarray
    facets: np.ndarray
    edges: np.ndarray
    origin: np.ndarray
    basis: np.ndarray
    kind: str  # "box" or "simplex"

    @property
    def dim(self) -> int:
        return self.points.shape[1]


def box_domain(low, high, origin=None, basis=None) -> Domain:
    """The box [low, high] of box coordinates (in input space by default: B = I)."""
    low, high = np.asarray(low, dtype=object), np.asarray(high, dtype=object)
    d = len(low)
    signs = np.array(list(product((0, 1), repeat=d)), dtype=bool)  # vertex i: high where set
    points = np.where(signs, high, low)
    facets = np.concatenate([~signs, signs], axis=1)  # constraint i: x_i = low_i; d + i: high
    edges = [(i, j) for i in range(len(signs)) for j in range(i + 1, len(signs))
             if np.count_nonzero(signs[i] != signs[j]) == 1]  # fmt: skip
    return Domain(points, facets, np.array(edges, dtype=np.int64).reshape(-1, 2),
                  np.zeros(d) if origin is None else origin,
                  np.eye(d) if basis is None else basis, "box")  # fmt: skip


def simplex_domain(d: int, origin, basis) -> Domain:
    """The simplex t ≥ 0, Σ t ≤ 1 of box coordinates: vertex 0 is t = 0, vertex i the unit
    vector e_i; constraint i (< d) is t_i = 0, constraint d is Σ t = 1."""
    points = np.concatenate([np.zeros((1, d), dtype=int), np.eye(d, dtype=int)]).astype(object)
    facets = np.zeros((d + 1, d + 1), dtype=bool)
    for i in range(d + 1):
        for c in range(d):
            facets[i, c] = i != c + 1
        facets[i, d] = i != 0
    edges = [(i, j) for i in range(d + 1) for j in range(i + 1, d + 1)]
    return Domain(points, facets, np.array(edges, dtype=np.int64), origin, basis, "simplex")


class Cutting:
    """The complex while it is cut (the arrays of :mod:`bends.tracing._kernels.box`): the
    planar :class:`~bends.tracing._plane.subdivision.Subdivision`'s interface (``count``,
    ``room``, ``cut``, ``bytes_per_vertex``), so the graph networks' node handlers serve
    both."""

    def __init__(self, domain: Domain, neurons: int, exact: bool, what: str = ""):
        constraints = domain.facets.shape[1]
        self.first_neuron = constraints
        self.words = (constraints + neurons + 63) // 64
        self.exact, self.what = exact, what
        kind = object if exact else float
        self.points = np.array(domain.points, dtype=kind)
        if exact:
            self.points = np.vectorize(Fraction, otypes=[object])(self.points)
        self.zeros = np.zeros((len(self.points), self.words), np.uint64)
        for c in range(constraints):
            self.set_bit(domain.facets[:, c], c)
        self.edges = domain.edges.copy()
        self.edge_neurons = np.full(len(self.edges), -1, np.int64)
        self.starts = np.array([0, len(self.points)], np.int64)
        self.verts = np.arange(len(self.points), dtype=np.int64)
        self.patterns = np.zeros((1, neurons), dtype=bool)
        self.done = 0  # lines cut so far (neurons, or a graph's kinks)
        self.layer_sizes: list[int] = []
        self.layer_regions: list[int] = []
        self.ambiguous = 0
        self.closest = np.inf  # the shortest edge part a cut made, in box coordinates
        self.outside = 0.0  # bytes the caller holds while the next cut runs

    @property
    def count(self) -> int:
        """The vertices so far."""
        return len(self.points)

    def set_bit(self, where: np.ndarray, bit: int) -> None:
        self.zeros[where, bit // 64] |= np.uint64(1) << np.uint64(bit % 64)

    def room(self, width: int, per_vertex: float, held: float = 0.0) -> np.ndarray:
        """An array (count, width) for a layer's values at the vertices, for the caller to
        fill; refuses first when the vertices there are, at ``per_vertex`` plus ``held``
        bytes each, over the memory budget already (the cut grows it as it goes)."""
        check_memory(self.count * (per_vertex + held), self.what, at_least=True)
        self.outside = self.count * held  # held while the cut runs: off its budget
        return np.empty((self.count, width), dtype=object if self.exact else float)

    def bytes_per_vertex(self, width: int, lines: int) -> float:
        """What a vertex costs while ``lines`` lines with ``width`` values per vertex are cut:
        its values, point and zero set, about d edges and 2^d cells' ids, a cell's pattern."""
        d = self.points.shape[1]
        words = (self.first_neuron + self.done + lines + 63) // 64
        return 8.0 * (width + d + words) + 12.0 * d + 16.0 * 2**d + self.done + lines

    def cut(self, values: np.ndarray, zero_at: np.ndarray, lines: int) -> np.ndarray:
        """Cut every cell along the zero sets of the first ``lines`` columns of ``values`` (the
        values at the vertices) in turn, every column interpolated at the new vertices; a
        value within ``zero_at`` of 0 is 0. Returns ``values`` with rows for the new vertices.
        float64: one compiled call (:func:`~bends.tracing._kernels.box.cut_layer`), which stops
        once its arrays outgrow the memory budget, refused in one line; fractions: line by
        line (:meth:`cut_exact`)."""
        self._widen(lines)
        if self.exact:
            for j in range(lines):
                values = self.cut_exact(values, j, self.done + j)
                # a fraction is about 12 floats' worth of memory (object, numerator, denominator)
                check_memory(12 * self.bytes(values.shape[1]), self.what, at_least=True)
        else:
            cells = len(self.starts) - 1
            per_cell = 2.0 * self.patterns.shape[1] + 16.0  # patterns (copied once), origins
            (points, values, zeros, count, self.edges, self.edge_neurons, self.starts,
             self.verts, origin, ambiguous, closest, held) = cut_layer(
                self.points, np.ascontiguousarray(values), self.zeros, len(self.points),
                self.edges, self.edge_neurons, self.starts, self.verts, np.arange(cells),
                np.asarray(zero_at, float), lines, self.first_neuron + self.done, self.done,
                float(memory_budget()) - self.outside, per_cell)  # fmt: skip
            outside, self.outside = self.outside, 0.0
            if held:  # stopped midway: never a partial cut (held + outside is over the budget)
                check_memory(held + outside, self.what, at_least=True)
                raise AssertionError("the cut stopped under the memory budget")
            self.points, self.zeros, values = points[:count], zeros[:count], values[:count]
            self.ambiguous += ambiguous
            self.closest = min(self.closest, closest)
            self.patterns = self.patterns[origin]
            self.patterns[:, self.done : self.done + lines] = layer_patterns(
                self.starts, self.verts, values[:, :lines])  # fmt: skip
        self.done += lines
        self.layer_sizes.append(lines)
        self.layer_regions.append(len(self.starts) - 1)
        return values

    def _widen(self, lines: int) -> None:
        """Room in the zero sets and patterns for ``lines`` more lines (a graph's lines are
        counted node by node)."""
        words = (self.first_neuron + self.done + lines + 63) // 64
        if words > self.words:
            more = np.zeros((len(self.zeros), words - self.words), np.uint64)
            self.zeros, self.words = np.concatenate([self.zeros, more], axis=1), words
        if self.done + lines > self.patterns.shape[1]:
            more = np.zeros((len(self.patterns), self.done + lines - self.patterns.shape[1]),
                            dtype=bool)  # fmt: skip
            self.patterns = np.concatenate([self.patterns, more], axis=1)

    def cut_exact(self, values: np.ndarray, j: int, neuron: int) -> np.ndarray:
        """Cut every cell along column j of ``values`` (fractions: signs exact); returns
        ``values`` with rows for the new vertices."""
        column = values[:, j]
        sign = ((column > 0).astype(np.int8) - (column < 0).astype(np.int8)).astype(np.int8)
        bit = self.first_neuron + neuron
        self.set_bit(sign == 0, bit)
        u, v = self.edges[:, 0], self.edges[:, 1]
        crossed = sign[u] * sign[v] < 0
        cu, cv = u[crossed], v[crossed]
        ratio = (column[cu] / (column[cu] - column[cv]))[:, None]
        new_values = values[cu] + ratio * (values[cv] - values[cu])
        new_values[:, j] = 0
        new_points = self.points[cu] + ratio * (self.points[cv] - self.points[cu])
        old = len(self.points)
        made = np.arange(old, old + len(cu), dtype=np.int64)
        self.points = np.concatenate([self.points, new_points])
        self.zeros = np.concatenate([self.zeros, self.zeros[cu] & self.zeros[cv]])
        self.set_bit(made, bit)
        stride = len(self.points)
        keys = cu * stride + cv
        starts, verts, parents, sides, chords = cut_cells(
            self.starts, self.verts, sign, self.zeros, keys, made, stride, self.points.shape[1]
        )
        self.starts, self.verts = starts, verts
        self.patterns = self.patterns[parents]
        self.patterns[:, neuron] = sides.astype(bool)
        edges, labels, used = split_edges(self.edges.copy(), self.edge_neurons.copy(),
                                          len(self.edges), np.flatnonzero(crossed), made,
                                          chords, sign, neuron, stride)  # fmt: skip
        self.edges, self.edge_neurons = edges[:used], labels[:used]
        return np.concatenate([values, new_values])

    def bytes(self, width: int) -> float:
        """The arrays' size now, with ``width`` values per vertex."""
        per_vertex = 8.0 * (width + self.points.shape[1] + self.words)
        return (len(self.points) * per_vertex + 24.0 * len(self.edges)
                + 16.0 * len(self.verts) + self.patterns.size)  # fmt: skip


@dataclass(frozen=True)
class Cut:
    """A domain cut by every layer: the cutting and what its cells' output maps come from —
    an MLP's ``layers`` and ``readout`` (with the cells' patterns), or a graph network's
    ``outputs`` at the vertices (and the sizes of the terms they sum)."""

    built: Cutting
    domain: Domain
    zero_tol: float
    exact: bool
    layers: list | None = None
    readout: tuple | None = None
    outputs: np.ndarray | None = None
    output_sizes: np.ndarray | None = None
    inputs: np.ndarray | None = None  # the next layer's inputs at the vertices, if cut on
    depth: int = 0  # the layers cut so far

    @property
    def resolved(self) -> bool:
        return not (self.built.ambiguous or self.built.closest < RESOLUTION * _width(self.domain))


def cut_domain(net, domain: Domain, zero_tol: float, exact: bool, what: str = "",
               depth: int | None = None, resume: Cut | None = None) -> Cut:  # fmt: skip
    """``domain`` cut by the layers of ``net`` (an MLP or tied RNN; see the module docstring),
    or by its first ``depth`` layers only (the zero sets sized for all); ``resume``: a cut of
    the same domain by its first layers, cut on (and changed in place)."""
    layers = list(net.hidden_layers())
    neurons = sum(w.shape[0] for w, _ in layers)
    readout = net.readout()
    if exact:
        layers = [(fractions_of(w), fractions_of(b)) for w, b in layers]
        readout = (fractions_of(readout[0]), fractions_of(readout[1]))
        zero_tol = 0.0
    origin, basis = (fractions_of(domain.origin), fractions_of(domain.basis)) if exact else (
        np.asarray(domain.origin, float), np.asarray(domain.basis, float))  # fmt: skip
    w, b = layers[0] if layers else readout
    folded = (w @ basis, b + w @ origin)  # the network as a function of box coordinates
    layers, readout = ([folded, *layers[1:]], readout) if layers else ([], folded)
    what = what or f"tracing {net!r} on a {domain.dim}-D {domain.kind}"
    if resume is None:
        built, done = Cutting(domain, neurons, exact, what), 0
        h = built.points
    else:
        built, h, done = resume.built, resume.inputs, resume.depth
    for w, bias in layers[done:depth]:
        # what is held now (a lower bound: the float64 cuts stop once they outgrow the budget)
        check_memory(built.bytes(w.shape[0]), what, at_least=True)
        values = h @ w.T + bias
        size = np.abs(w.astype(float)) @ np.abs(h.astype(float)).max(axis=0) + np.abs(
            bias.astype(float))  # fmt: skip
        values = built.cut(values, zero_tol * size, w.shape[0])
        h = np.maximum(values, 0) if not exact else np.where(values > 0, values, Fraction(0))
    return Cut(built, domain, zero_tol, exact, layers=layers, readout=readout, inputs=h,
               depth=len(layers[:depth]))  # fmt: skip


def finished(cut: Cut, slope_rtol: float, stacklevel: int = 4) -> Complex:
    """The Complex of ``cut``; a ResolutionWarning where float64 could not separate vertices
    (or, for a graph network, found a cell flat: its map is then a least-squares fit, and it
    joins no neighbour's piece)."""
    built = cut.built
    outputs = cut.readout[0].shape[0] if cut.outputs is None else cut.outputs.shape[1]
    cells = len(built.starts) - 1
    check_memory(cells * 16.0 * (outputs + 1) * (cut.domain.dim + 1), "cell maps")
    flat, alone = 0, None
    if cut.outputs is None:
        maps, sizes = cell_maps(built.patterns, cut.layers, cut.readout, cut.exact)
    else:
        maps, sizes, degenerate = solved_maps(built.points, cut.outputs, cut.output_sizes,
                                              built.starts, built.verts)  # fmt: skip
        for cell in np.flatnonzero(degenerate):
            ids = built.verts[built.starts[cell] : built.starts[cell + 1]]
            lifted = np.hstack([built.points[ids], np.ones((len(ids), 1))])
            maps[cell] = np.linalg.lstsq(lifted, cut.outputs[ids], rcond=None)[0].T
            sizes[cell] = 0.0
        flat = int(degenerate.sum())
        alone = degenerate if flat else None
    resolved = cut.resolved and not flat
    if not resolved:
        why = (f"{flat} cells flat in float64" if flat else
               f"vertices closer than {RESOLUTION:.1e} in box coordinates"
               if built.closest < RESOLUTION * _width(cut.domain) else
               f"{built.ambiguous} values near 0 that may be a zero set missing a vertex by "
               "less than float64 resolves")  # fmt: skip
        warnings.warn(f"{why}: float64 cannot separate them, counts may be off (exact=True "
                      "computes the complex in fractions)", ResolutionWarning,
                      stacklevel=stacklevel)  # fmt: skip
    return assembled(built, maps, sizes, cut.domain, cut.zero_tol, slope_rtol, cut.exact,
                     resolved, alone)  # fmt: skip


def trace_box_mlp(net, domain: Domain, zero_tol: float, slope_rtol: float,
                  exact: bool) -> Complex:  # fmt: skip
    """The complex of ``net`` (an MLP or tied RNN) on ``domain`` (see the module docstring);
    arguments checked by :func:`~bends.tracing.trace_box`."""
    return finished(cut_domain(net, domain, zero_tol, exact), slope_rtol)


def _width(domain: Domain) -> float:
    points = domain.points.astype(float)
    return float((points.max(axis=0) - points.min(axis=0)).max())


def fractions_of(array) -> np.ndarray:
    """``array`` as an object array of exact fractions (floats read exactly)."""
    return np.vectorize(lambda x: Fraction(x), otypes=[object])(np.asarray(array))
