r"""The result of an n-D trace: :class:`Complex`, the polyhedral complex of a network's activation
regions on a box or simplex of input space, and the statistics read off it.

Counts, never confused: ``regions`` are the activation regions (the complex's cells: maximal
sets on which every neuron keeps its sign), ``pieces`` the regions merged across shared
facets where the output's affine map is the same; ``vertices`` and ``edges`` those of the
complex. Its f-vector (faces of every dimension, each counted once) satisfies Euler's relation
:math:`Σ_k (−1)^k f_k = 1` on a box or simplex.

Example:
    >>> import numpy as np
    >>> from bends import MLP, trace_box
    >>> net = MLP.from_layers([(np.eye(3), -0.5 * np.ones(3)), (np.ones((1, 3)), np.zeros(1))])
    >>> cells = trace_box(net, [0, 0, 0], [1, 1, 1])
    >>> cells.f_vector(), cells.volumes().tolist()[:2]
    ([27, 54, 36, 8], [0.125, 0.125])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bends.errors import BendsError
from bends.tracing._kernels.cells import cell_facets, components, shared_facets


@dataclass(frozen=True)
class Complex:
    """The cells of a network on a d-dimensional domain x = ``origin`` + ``basis`` t.

    ``points`` (V, d) are the vertices in box coordinates t (``rational_points`` the same as
    fractions, for an exact trace); cell c is the convex hull of the vertices
    ``cell_ids[offsets[c]:offsets[c + 1]]``; ``patterns`` (C, neurons) each cell's activation
    pattern (True: the neuron is on); ``gradients`` (C, outputs, d) and ``intercepts``
    (C, outputs) the output's affine map on each cell, in box coordinates; ``piece_of`` (C,)
    the piece each cell belongs to; ``adjacency`` (A, 2) the pairs of cells that share a
    facet (the dual graph); ``edge_ends`` (E, 2) every edge's vertex ids and
    ``edge_neurons`` (E,) the neuron whose cut made it (−1: the domain's edges);
    ``layer_regions`` the regions after each layer (``layer_widths`` its neurons);
    ``unbounded`` (C,) the cells that reach infinity, for a whole-space trace (else None);
    ``domain_facets`` the domain's facets (2d for a box, d + 1 for a simplex: the first bits
    of the zero sets ``zeros``); ``f_vector``
    of a whole-space trace is that of its box; ``lineality`` (whole space) the dimension of
    the space every cell holds (a first layer of rank r < d: the complex is traced in its row
    space, ``dim`` = r, and ``basis`` maps that to input space); ``resolved`` False when
    float64 could not separate two vertices."""

    points: np.ndarray
    cell_ids: np.ndarray
    offsets: np.ndarray
    patterns: np.ndarray
    gradients: np.ndarray
    intercepts: np.ndarray
    piece_of: np.ndarray
    adjacency: np.ndarray
    edge_ends: np.ndarray
    edge_neurons: np.ndarray
    zeros: np.ndarray
    layer_regions: tuple[int, ...]
    layer_widths: tuple[int, ...]
    origin: np.ndarray
    basis: np.ndarray
    kind: str
    domain_facets: int
    resolved: bool = True
    rational_points: np.ndarray | None = None
    unbounded: np.ndarray | None = None
    whole: bool = False
    lineality: int = 0

    @property
    def dim(self) -> int:
        """d, the dimension of the domain."""
        return self.points.shape[1]

    @property
    def regions(self) -> int:
        """The activation regions (cells)."""
        return len(self.offsets) - 1

    @property
    def pieces(self) -> int:
        """The affine pieces: cells joined across facets where the output's map is the same."""
        return int(self.piece_of.max()) + 1 if len(self.piece_of) else 0

    @property
    def vertices(self) -> int:
        """The vertices (of the whole space's complex for a whole-space trace: those on the
        box's boundary are where it truncates unbounded cells, not vertices)."""
        if self.lineality:
            return 0  # every face holds the lineality space: no points
        return len(self.points) if not self.whole else int(np.count_nonzero(~self.on_boundary()))

    @property
    def edges(self) -> int:
        """The edges (for a whole-space trace, bounded edges and rays: those in the box's
        boundary are left out)."""
        if not self.whole:
            return len(self.edge_ends)
        if self.lineality:  # lines: the row space's vertices times a 1-D null space
            inner = int(np.count_nonzero(~self.on_boundary()))
            if not inner:  # an affine network (rank 0): one cell, R^d, an edge only in 1-D
                return int(self.lineality == 1)
            return inner if self.lineality == 1 else 0
        sides = np.uint64((1 << self.domain_facets) - 1)
        ends = self.edge_ends
        return int(np.count_nonzero(
            (self.zeros[ends[:, 0], 0] & self.zeros[ends[:, 1], 0] & sides) == 0))  # fmt: skip

    def on_boundary(self) -> np.ndarray:
        """Which vertices lie on the domain's boundary (for a whole-space trace, the box's:
        where it truncates unbounded cells)."""
        return (self.zeros[:, 0] & np.uint64((1 << self.domain_facets) - 1)) != 0

    def cells(self) -> list[np.ndarray]:
        """Each cell's vertex ids."""
        return np.split(self.cell_ids, self.offsets[1:-1])

    def to_input(self, t: np.ndarray) -> np.ndarray:
        """Box coordinates (…, d) as input points."""
        return np.asarray(self.origin, float) + np.asarray(t, float) @ np.asarray(
            self.basis, float).T  # fmt: skip

    def volumes(self) -> np.ndarray:
        """Each cell's volume in box coordinates (convex hulls, SciPy's Qhull), for d ≤ 4;
        a whole-space trace's unbounded cells are inf."""
        if self.dim > 4:
            raise BendsError(f"volumes are computed for d ≤ 4, this complex has d = {self.dim}")
        from scipy.spatial import ConvexHull

        volumes = np.full(self.regions, np.inf)
        infinite = self.unbounded if self.whole and self.unbounded is not None else None
        for c, ids in enumerate(self.cells()):
            if infinite is not None and infinite[c]:
                continue  # not hulled: a whole-space box's far corners can be past Qhull's reach
            points = self.points[ids]
            if self.dim == 1:
                volumes[c] = float(points.max() - points.min())
            else:
                volumes[c] = ConvexHull(points).volume
        return volumes

    def volume_histogram(self, bins: int = 20) -> tuple[np.ndarray, np.ndarray]:
        """Counts and edges of a histogram of log10 of the bounded cells' volumes."""
        volumes = self.volumes()
        return np.histogram(np.log10(volumes[np.isfinite(volumes) & (volumes > 0)]), bins=bins)

    def cells_near(self, point, radius: float) -> int:
        """How many cells come within ``radius`` of ``point`` (box coordinates, Euclidean):
        those whose bounding ball meets the ball are checked by the distance from the point to
        the cell's convex hull (a non-negative least-squares problem over convex weights of
        its vertices, SciPy's NNLS)."""
        from scipy.optimize import nnls

        if self.whole:
            raise BendsError("cells_near needs a bounded domain: trace a box around the point")
        centre = np.asarray(point, dtype=np.float64).reshape(-1)
        if centre.size != self.dim:
            raise BendsError(f"point has {centre.size} coordinates, the complex {self.dim}")
        if not radius >= 0:
            raise BendsError(f"radius must be non-negative, got {radius}")
        near = 0
        for ids in self.cells():
            corners = self.points[ids] - centre  # about the point: NNLS works at its scale
            middle = corners.mean(axis=0)
            reach = np.linalg.norm(corners - middle, axis=1).max()
            if np.linalg.norm(middle) > radius + reach:
                continue
            size = max(1.0, float(np.abs(corners).max()))
            # Σ λ = 1 as a row weighted 10⁶: what it leaves of the sum, ~10⁻¹², shortens the
            # distance by about as much (10⁻⁶ at a weight of 10³)
            system = np.vstack([corners.T / size, 1e6 * np.ones(len(ids))])
            mix = nnls(system, np.append(np.zeros(self.dim), 1e6))[0]
            near += np.linalg.norm(corners.T @ mix) <= radius + 1e-9 * size
        return int(near)

    def edge_length(self) -> float:
        """The total length of the complex's edges in box coordinates (the domain's included)."""
        ends = self.points[self.edge_ends]
        return float(np.linalg.norm(ends[:, 1] - ends[:, 0], axis=1).sum())

    def edge_density(self) -> np.ndarray:
        r"""Per layer, the length of the edges its neurons' cuts made per unit volume, in input
        coordinates: :math:`\sum_{e \in \text{layer}} |e| / \text{volume}` (the planar
        tracer's boundary density, one skeleton down: in d dimensions an edge is where d − 1
        zero sets meet). Not for a whole-space trace (its volume is infinite)."""
        if self.whole:
            raise BendsError("the whole space has no finite volume: trace a box for densities")
        basis = np.asarray(self.basis, float)
        volume = float(np.sqrt(abs(np.linalg.det(basis.T @ basis))))
        if self.kind == "simplex":
            volume /= float(np.prod(np.arange(1, self.dim + 1)))
        else:
            volume *= float(np.prod(np.ptp(self.points, axis=0)))
        ends = self.points[self.edge_ends] @ basis.T
        lengths = np.linalg.norm(ends[:, 1] - ends[:, 0], axis=1)
        layer = np.searchsorted(np.cumsum(self.layer_widths), self.edge_neurons, side="right")
        made = self.edge_neurons >= 0
        return np.bincount(layer[made], lengths[made], minlength=len(self.layer_widths)) / volume

    def f_vector(self) -> list[int]:
        """[f₀, …, f_d]: the faces of each dimension of the complex, each counted once. The
        faces of a cell are the non-empty vertex sets {v : Z(v) ⊇ S} for the zero sets Z —
        the intersections of its generators {v : b ∈ Z(v)} — and a face's dimension is the
        length of its longest chain of smaller faces (combinatorial, so exact for float and
        fraction traces alike). Python per cell: for tests and small complexes."""
        faces: set[frozenset] = set()
        for ids in self.cells():
            zero = {int(v): int.from_bytes(self.zeros[v].tobytes(), "little") for v in ids}
            every, some = -1, 0
            for bits in zero.values():
                every, some = every & bits, some | bits
            loose = some & ~every
            generators = {frozenset(v for v, bits in zero.items() if bits >> b & 1)
                          for b in range(loose.bit_length()) if loose >> b & 1}  # fmt: skip
            found, frontier = {frozenset(zero)} | generators, generators
            while frontier:
                frontier = {a & g for a in frontier for g in generators if a & g} - found
                found |= frontier
            faces |= found
        dims: dict[frozenset, int] = {}
        for face in sorted(faces, key=len):
            below = [dims[f] for f in dims if f < face]
            dims[face] = 1 + max(below) if below else 0
        counts = [0] * (self.dim + 1)
        for dim in dims.values():
            counts[dim] += 1
        return counts

    def _repr_png_(self) -> bytes | None:
        """What Jupyter shows: a 2-D or 3-D complex's cells drawn apart
        (:mod:`bends.tracing._results.complex_pictures`); None (the text) in more dimensions."""
        if self.dim not in (2, 3):
            return None
        from bends.tracing._results.complex_pictures import plot_complex
        from bends.tracing._results.pictures import png

        return png(plot_complex(self))

    def __repr__(self) -> str:
        where = "the whole space" if self.whole else f"a {self.dim}-D {self.kind}"
        return (f"Complex({self.regions} regions, {self.pieces} pieces, {self.vertices} "
                f"vertices, {self.edges} edges on {where})")  # fmt: skip


def cell_maps(patterns: np.ndarray, layers, readout, exact: bool, chunk_bytes: float = 2**26):
    r"""Each cell's output map (C, outputs, d + 1) — gradient and intercept — from its pattern:
    the product of the layers with the off neurons' rows zeroed; and the same with |weights|
    (the size of the terms each entry sums, for the tolerance).

    With the constant 1 carried as a last coordinate, layer k is :math:`[W_k\; b_k]` and the
    map is the product of them all with each cell's off neurons masked. When the outputs are
    fewer than d + 1 it is taken from the readout back, :math:`r ← (r ⊙ \text{on}_k)\,[W_k\;
    b_k]`, otherwise from the input on, :math:`m ← \text{on}_k ⊙ ([W_k\; b_k]\, m)`: the
    narrower product, one matrix product for all cells of a chunk per layer, chunks of about
    ``chunk_bytes`` of temporaries."""
    lifted = []
    for w, b in [*layers, readout]:
        full = np.zeros((w.shape[0] + 1, w.shape[1] + 1), dtype=object if exact else float)
        full[:-1, :-1], full[:-1, -1], full[-1, -1] = w, b, 1
        lifted.append(full)
    ends = np.cumsum([0] + [w.shape[0] for w, _ in layers])
    outputs, d = readout[0].shape[0], lifted[0].shape[1] - 1
    backward = outputs < d + 1
    widest = max(m.shape[0] for m in lifted)
    chunk = max(1, int(chunk_bytes / (24.0 * widest * (outputs if backward else d + 1))))
    out, size = [], []
    for begin in range(0, max(len(patterns), 1), chunk):
        masks = patterns[begin : begin + chunk]
        ons = [np.concatenate([masks[:, ends[k] : ends[k + 1]], np.ones((len(masks), 1), bool)],
                              axis=1)[:, :, None] for k in range(len(layers))]  # fmt: skip
        if backward:
            maps = np.broadcast_to(lifted[-1][:-1], (len(masks), *lifted[-1][:-1].shape))
            sizes = np.abs(maps.astype(float))
            for k in range(len(layers) - 1, -1, -1):
                on = ons[k].transpose(0, 2, 1)
                maps = ((maps * on).reshape(-1, on.shape[2]) @ lifted[k]).reshape(
                    len(masks), outputs, -1)  # fmt: skip
                sizes = ((sizes * on).reshape(-1, on.shape[2]) @ np.abs(lifted[k].astype(float))
                         ).reshape(len(masks), outputs, -1)  # fmt: skip
        else:
            maps = np.broadcast_to(np.eye(d + 1, dtype=lifted[0].dtype), (len(masks), d + 1,
                                                                           d + 1))  # fmt: skip
            sizes = maps.astype(float)
            for k, matrix in enumerate(lifted):
                maps = np.matmul(matrix, maps)
                sizes = np.matmul(np.abs(matrix.astype(float)), sizes)
                if k < len(layers):
                    maps, sizes = maps * ons[k], sizes * ons[k]
            maps, sizes = maps[:, :-1], sizes[:, :-1]
        out.append(np.broadcast_to(maps, (len(masks), outputs, d + 1)))
        size.append(np.broadcast_to(sizes, (len(masks), outputs, d + 1)))
    return np.concatenate(out), np.concatenate(size)


def facet_pairs(starts, verts, zeros, vertices: int) -> np.ndarray:
    """The pairs of cells that share a facet (A, 2): facets named by vertex-set keys
    (:func:`~bends.tracing._kernels.box.cell_facets`) that two cells list."""
    tags = np.random.default_rng(0).integers(0, 2**63, size=(vertices, 2), dtype=np.uint64)
    tags = tags * np.uint64(2) + np.uint64(1)
    return shared_facets(*cell_facets(starts, verts, zeros, tags))


def assembled(built, maps, sizes, domain, zero_tol, slope_rtol, exact, resolved,
              alone=None) -> Complex:  # fmt: skip
    """The Complex of a finished cutting (:class:`~bends.tracing._box.tracer.Cutting`) whose
    cells have the output maps ``maps`` (C, outputs, d + 1) and term sizes ``sizes``; cells
    marked ``alone`` join no other cell's piece."""
    cells = len(built.starts) - 1
    pairs = facet_pairs(built.starts, built.verts, built.zeros, len(built.points))
    gradients = maps[:, :, :-1]
    first, second = pairs[:, 0], pairs[:, 1]
    if exact:
        joined = np.array([np.all(gradients[a] == gradients[b]) for a, b in pairs], dtype=bool)
    else:
        larger = np.maximum(np.abs(gradients[first]), np.abs(gradients[second]))
        rounding = np.maximum(sizes[first, :, :-1], sizes[second, :, :-1])
        change = np.abs(gradients[first] - gradients[second])
        joined = (change <= slope_rtol * larger.max(axis=2, keepdims=True)
                  + zero_tol * rounding).all(axis=(1, 2))  # fmt: skip
    if alone is not None:
        joined &= ~(alone[first] | alone[second])
    piece_of = components(cells, first[joined], second[joined])
    points = built.points.astype(float)
    return Complex(points, built.verts, built.starts, built.patterns,
                   gradients.astype(float), maps[:, :, -1].astype(float), piece_of, pairs,
                   built.edges, built.edge_neurons, built.zeros, tuple(built.layer_regions),
                   tuple(built.layer_sizes),
                   np.asarray(domain.origin, float), np.asarray(domain.basis, float),
                   domain.kind, domain.facets.shape[1], resolved,
                   built.points if exact else None)  # fmt: skip
