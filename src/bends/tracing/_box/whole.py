r"""The complex over the whole input space: a box that provably holds every vertex.

A network's complex on :math:`\mathbb{R}^d` has finitely many vertices, so some box
:math:`B = [-R, R]^d` holds them all; the cells that reach B's boundary are then the unbounded
ones, and B's complex is the whole space's with those cells truncated. The box is found by a
certificate, not a bound: trace B, and check that every edge leaving B is a ray of the whole
complex. An edge [x, y] of B's complex that ends on ∂B at y (and does not lie in ∂B)
continues past y along its line, and every pre-activation along it is affine —
:math:`z(y + s(y − x)) = z(y) + s\,(z(y) − z(x))`, s ≥ 0 — as long as the neurons of the
layers before keep their signs. So if every neuron that is positive inside the edge has
:math:`z(y) ≥ 0` and :math:`z(y) − z(x) ≥ 0` (negative: both ≤ 0; zero on the edge: zero
at y, and so along the ray), layer after layer, no neuron changes sign past y: the edge is a
ray. When every edge leaving B is a ray, no vertex lies outside B: the 1-skeleton of a complex
with a vertex is connected, and a path from a vertex inside B to one outside would leave B
along an edge that ends outside. The values at the vertices are the network's own, computed
once. A vertex on ∂B fails the check (some neuron is 0 at y and changes sign past it), and R
grows 4-fold; so does R when B holds no vertex of its own (all of B's vertices on ∂B: the
complex may have a lineality space, which this check cannot certify). A neuron is 0 at the
vertices whose zero sets hold it, as the cuts decided; elsewhere a value within ``zero_tol``
times the size of the terms it carries — through every layer before, where the rounding of
the large coordinates of a large box comes from — is 0, so a neuron constant along an edge
does not read as crossing zero far away.

A first layer of rank r < d sees only its row space: every cell is a prism over a cell of
the r-dimensional complex of that row space, so that complex is traced (``lineality`` = d − r:
the whole space's complex has no vertices, its k-faces are the row space's (k − d + r)-faces
times the null space). A first layer of full rank has d independent hyperplanes, which meet in
a vertex, inside the first box by construction.

float64 has a reach: a box so large that its cells are fewer than a smaller box's (or that
raises a ResolutionWarning) means vertices lie too far out for it, and the trace is refused
in one line (``exact=True`` computes the whole space in fractions).

Pieces are the cells joined across facets in B; unbounded cells meet outside B only across
facets that reach ∂B, which B's complex holds, so regions, pieces, vertices and edges are
those of the whole space.
"""

from __future__ import annotations

import dataclasses
from itertools import combinations
from math import comb

import numpy as np

from bends.errors import BendsError
from bends.tracing._box.tracer import Cut, _fractions, box_domain, cut_domain, finished
from bends.tracing._results.complex import Complex

GROWTH = 1.5  # the box's least growth when the check fails
TRIES = 60  # boxes tried
MARGIN = 16.0  # the first box's margin past the first layer's vertices


def trace_whole(net, origin, basis, zero_tol: float, slope_rtol: float, exact: bool) -> Complex:
    """The complex of ``net`` on the whole space x = ``origin`` + ``basis`` t, t ∈ R^d (see the
    module docstring)."""
    d = basis.shape[1]
    first, bias = next(iter(net.hidden_layers()))
    w, b = first @ basis, bias + first @ origin  # the first layer in box coordinates
    rows = np.linalg.svd(w)[2] if w.size else np.zeros((0, d))
    rank = int(np.linalg.matrix_rank(w)) if w.size else 0
    if 0 < rank < d:  # the network sees only the first layer's row space
        cells = trace_whole(net, origin, basis @ rows[:rank].T, zero_tol, slope_rtol, exact)
        return dataclasses.replace(cells, lineality=d - rank + cells.lineality)
    radius = _first_layer_radius(w, b)
    seen, was_resolved = 0, True  # a larger box holds at least a smaller one's cells
    for _ in range(TRIES):
        domain = box_domain(-radius * np.ones(d), radius * np.ones(d), origin, basis)
        cut = cut_domain(net, domain, zero_tol, exact,
                         what=f"tracing {net!r} on the whole {d}-D space")  # fmt: skip
        cells_here = len(cut.built.starts) - 1
        if cells_here < seen or (was_resolved and not cut.resolved and seen):
            raise BendsError(
                f"the whole space of {net!r} has vertices too far out for float64 (past |t| = "
                f"{radius / GROWTH:.3g}): trace_box(net, whole=True, exact=True) in fractions, "
                "or a box")  # fmt: skip
        seen, was_resolved = cells_here, cut.resolved
        farthest = _farthest_beyond(net, cut, origin, basis, zero_tol, exact)
        if farthest is None:
            cells = finished(cut, slope_rtol)
            return dataclasses.replace(cells, unbounded=_touching(cells), whole=True)
        radius = max(GROWTH * radius, 1.25 * farthest)
    raise BendsError(f"no box up to |t| ≤ {radius:.3g} holds every vertex of {net!r}; "
                     "trace a box with trace_box(net, low, high)")  # fmt: skip


def _first_layer_radius(w: np.ndarray, b: np.ndarray, most: int = 20_000) -> float:
    """A first box: ``MARGIN`` times past the first layer's vertices (every d of its
    hyperplanes that meet, when there are at most ``most`` such sets) and its hyperplanes'
    nearest points to 0. The later layers' vertices lie near those, mostly: a box too large
    costs nothing (the same cells), one too small a second trace."""
    n, d = w.shape
    norms = np.linalg.norm(w, axis=1)
    live = norms > 0
    radius = 1.0 + 2.0 * float(np.max(np.abs(b[live]) / norms[live], initial=0.0))
    if 1 < d <= n and comb(n, d) <= most:
        subsets = np.array(list(combinations(range(n), d)))
        matrices, sides = w[subsets], -b[subsets]
        scale = np.abs(matrices).max(axis=(1, 2)) ** d
        solvable = np.abs(np.linalg.det(matrices)) > 1e-9 * np.maximum(scale, 1e-300)
        if solvable.any():
            points = np.linalg.solve(matrices[solvable], sides[solvable][..., None])
            radius = max(radius, 1.0 + float(np.abs(points).max()))
    return MARGIN * radius


def _touching(cells: Complex) -> np.ndarray:
    """The cells with a vertex on the box's boundary."""
    on_side = cells._on_box()
    owner = np.repeat(np.arange(cells.regions), np.diff(cells.offsets))
    touching = np.zeros(cells.regions, dtype=bool)
    touching[owner[on_side[cells.cell_ids]]] = True
    return touching


def _farthest_beyond(net, cut: Cut, origin, basis, zero_tol, exact) -> float | None:
    """The certificate: None when every edge that leaves the box is a ray (see the module
    docstring); else how far (max-norm, box coordinates) the farthest sign change found past
    the box lies — a vertex outside it, where the first layer that fails is affine. A neuron
    is exactly 0 at the vertices whose zero sets hold it (as the cuts decided), whatever
    rounding the values recomputed there carry."""
    built = cut.built
    sides = np.uint64((1 << cut.domain.facets.shape[1]) - 1)
    on_side = (built.zeros[:, 0] & sides) != 0
    points = np.asarray(built.points, float)
    if on_side.all():
        return float(np.abs(points).max())  # no vertex inside the box
    ends = built.edges
    inward = (built.zeros[ends[:, 0], 0] & built.zeros[ends[:, 1], 0] & sides) == 0
    rays = [ends[inward & on_side[ends[:, 1]]], ends[inward & on_side[ends[:, 0]]][:, ::-1]]
    inner, outer = np.concatenate(rays).T  # each edge from x (inner) out through y (outer)
    h = origin + built.points @ basis.T if not exact else (
        _fractions(origin) + built.points @ _fractions(basis).T)  # fmt: skip
    scale = np.abs(np.asarray(h, float))  # the size of the terms each value carries, so far
    done = built.first_neuron
    for w, b in net.hidden_layers():
        if exact:
            w, b = _fractions(w), _fractions(b)
        # rounding grows with the terms of every layer before, not only this one's inputs
        scale = scale @ np.abs(np.asarray(w, float)).T + np.abs(np.asarray(b, float))
        z = h @ w.T + b
        bits = np.arange(done, done + w.shape[0])
        z[(built.zeros[:, bits // 64] >> (bits % 64).astype(np.uint64)) & np.uint64(1) == 1] = 0
        done += w.shape[0]
        tol = 0.0 if exact else 8 * zero_tol * np.maximum(scale[inner], scale[outer])
        at_x, at_y = z[inner], z[outer]
        inside, slope = at_x + at_y, at_y - at_x
        up, down = inside > tol, inside < -tol
        flat = ~(up | down)
        fails = ((up & ((at_y < -tol) | (slope < -tol))) | (down & ((at_y > tol) | (slope > tol)))
                 | (flat & ((np.abs(at_y) > tol) | (np.abs(slope) > tol))))  # fmt: skip
        if fails.any():
            edge, _ = np.nonzero(fails)
            ahead = np.asarray(np.abs(at_y) / np.maximum(np.abs(slope), 1e-300), float)[fails]
            step = points[outer[edge]] - points[inner[edge]]
            beyond = points[outer[edge]] + np.minimum(ahead, 1e12)[:, None] * step
            return float(np.abs(beyond).max())
        h = np.where(z > 0, z, 0 * z)
    return None
