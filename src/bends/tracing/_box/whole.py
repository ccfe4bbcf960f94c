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
once. A vertex on ∂B fails the check (some neuron is 0 at y and changes sign past it); a
failed check names the sign changes past B, and R grows past the farthest (at least 1.5-fold);
R grows 16-fold when B holds no vertex of its own (all of B's vertices on ∂B: the
complex may have a lineality space, which this check cannot certify). A neuron is 0 at the
vertices whose zero sets hold it, as the cuts decided; elsewhere a value within ``zero_tol``
times the size of the terms it carries — through every layer before, where the rounding of
the large coordinates of a large box comes from — is 0, so a neuron constant along an edge
does not read as crossing zero far away.

A first layer of rank r < d sees only its row space: every cell is a prism over a cell of
the r-dimensional complex of that row space, so that complex is traced (``lineality`` = d − r:
the whole space's complex has no vertices, its k-faces are the row space's (k − d + r)-faces
times the null space). In float64 the row space's coordinates are along the SVD's orthonormal
rows, in fractions along the echelon form's rows (exact, not orthonormal): the two traces'
points and gradients differ by that change of basis, their counts do not. A first layer of
full rank has d independent hyperplanes, which meet in a vertex: the first box is sized to
hold the first layer's vertices where there are at most 20,000 sets of d hyperplanes to
solve, and grows until it holds one otherwise; with more layers, it grows first (at most
16-fold) past the sign changes the check finds along the rays of the first layer's complex
alone (a guess, cheap: later layers' far vertices often lie on those rays).

float64 has a reach: a box so large that its cells are fewer than a smaller box's means
vertices lie too far out for it, and the trace is refused in one line (``exact=True``
computes the whole space in fractions); a box whose vertices float64 cannot all separate
raises a ResolutionWarning, as any box does.

Pieces are the cells joined across facets in B; unbounded cells meet outside B only across
facets that reach ∂B, which B's complex holds, so regions, pieces, vertices and edges are
those of the whole space.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from itertools import combinations
from math import comb

import numpy as np

from bends.budget import check_memory
from bends.errors import BendsError
from bends.tracing._box.tracer import (
    Cut,
    box_domain,
    cut_domain,
    finished,
    fractions_of,
    trace_box_mlp,
)
from bends.tracing._kernels.rays import ray_failures
from bends.tracing._results.complex import Complex
from bends.tracing.tolerance import RESOLUTION

GROWTH = 1.5  # the box's least growth when the check fails
TRIES = 60  # boxes tried
MARGIN = 16.0  # the first box's margin past the first layer's vertices
GUESS = 16.0  # the most the first-layer guess grows the first box
ROUNDING = 64 * np.finfo(float).eps  # a recomputed value is 0 within this of its terms' size
FLAT = 1024 * np.finfo(float).eps  # a slope along an edge is 0 within this of its gradient


def trace_whole(net, origin, basis, zero_tol: float, slope_rtol: float, exact: bool) -> Complex:
    """The complex of ``net`` on the whole space x = ``origin`` + ``basis`` t, t ∈ R^d (see the
    module docstring)."""
    d, depth = basis.shape[1], len(list(net.hidden_layers()))
    first, bias = next(iter(net.hidden_layers()), net.readout())
    if exact:  # rank and row space decided in fractions, corners and all
        first, bias, origin, basis = map(fractions_of, (first, bias, origin, basis))
    w, b = first @ basis, bias + first @ origin  # the first layer in box coordinates
    rank, rows = _row_space(w, exact) if depth else (0, None)
    if rank == 0:  # the network is affine on the whole space: one cell, holding it all
        cells = trace_box_mlp(net, box_domain(-np.ones(d), np.ones(d), origin, basis),
                              zero_tol, slope_rtol, exact)  # fmt: skip
        return dataclasses.replace(cells, unbounded=np.ones(1, bool), whole=True, lineality=d)
    if rank < d:  # the network sees only the first layer's row space
        cells = trace_whole(net, origin, basis @ rows.T, zero_tol, slope_rtol, exact)
        return dataclasses.replace(cells, unbounded=np.ones(cells.regions, bool),
                                   lineality=d - rank + cells.lineality)  # fmt: skip
    radius = _first_layer_radius(np.asarray(w, float), np.asarray(b, float))
    what = f"tracing {net!r} on the whole {d}-D space"
    first = None  # the first box cut by the first layer, where the guess keeps it
    if depth > 1:
        # a first guess past the later layers' far vertices: their sign changes along the rays
        # of the first layer's complex (cheap; the certificate below is what proves a box)
        domain = box_domain(-radius * np.ones(d), radius * np.ones(d), origin, basis)
        first = cut_domain(net, domain, zero_tol, exact, what, depth=1)
        if farthest := _farthest_beyond(net, first, origin, basis, exact, guess=True):
            # at most GUESS-fold: a later neuron on inside such a ray may have no gradient
            # there (its inputs off), and a slope of 0 puts its "sign change" at infinity
            radius, first = min(max(radius, 1.25 * farthest), GUESS * radius), None
    seen, seen_radius = 0, radius  # a larger box holds at least a smaller one's cells
    for _ in range(TRIES):
        domain = first.domain if first else box_domain(
            -radius * np.ones(d), radius * np.ones(d), origin, basis)  # fmt: skip
        cut = cut_domain(net, domain, zero_tol, exact, what, resume=first)
        first = None
        cells_here = len(cut.built.starts) - 1
        if cells_here < seen:
            raise BendsError(
                f"the whole space of {net!r} has vertices too far out for float64 (past |t| = "
                f"{seen_radius:.3g}): trace_box(net, whole=True, exact=True) in fractions, "
                "or a box")  # fmt: skip
        seen, seen_radius = cells_here, radius
        farthest = _farthest_beyond(net, cut, origin, basis, exact)
        if farthest is None:
            cells = finished(cut, slope_rtol)
            return dataclasses.replace(cells, unbounded=_touching(cells), whole=True)
        radius = max(GROWTH * radius, 1.25 * farthest)
    raise BendsError(f"no box up to |t| ≤ {radius:.3g} holds every vertex of {net!r}; "
                     "trace a box with trace_box(net, low, high)")  # fmt: skip


def _row_space(w: np.ndarray, exact: bool) -> tuple[int, np.ndarray]:
    """The rank r of ``w`` and r rows spanning its row space: by SVD (orthonormal rows), or in
    fractions for an exact trace (Gaussian elimination: the echelon form's rows)."""
    if not exact:  # NumPy's matrix_rank, from the one SVD
        _, spectrum, rows = np.linalg.svd(w)
        tol = spectrum.max(initial=0.0) * max(w.shape) * np.finfo(float).eps
        rank = int(np.count_nonzero(spectrum > tol))
        return rank, rows[:rank]
    rows = [[Fraction(x) for x in row] for row in w]
    rank = 0
    for column in range(len(rows[0]) if rows else 0):
        pivot = next((r for r in range(rank, len(rows)) if rows[r][column] != 0), None)
        if pivot is None:
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        for r in range(rank + 1, len(rows)):
            factor = rows[r][column] / rows[rank][column]
            rows[r] = [a - factor * c for a, c in zip(rows[r], rows[rank], strict=True)]
        rank += 1
    return rank, np.array(rows[:rank], dtype=object).reshape(rank, w.shape[1])


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
    on_side = cells.on_boundary()
    owner = np.repeat(np.arange(cells.regions), np.diff(cells.offsets))
    touching = np.zeros(cells.regions, dtype=bool)
    touching[owner[on_side[cells.cell_ids]]] = True
    return touching


def _farthest_beyond(net, cut: Cut, origin, basis, exact, guess: bool = False) -> float | None:
    """The certificate: None when every edge that leaves the box is a ray (see the module
    docstring; with ``guess``, sign changes at a slope of 0 are passed over); else how far
    (max-norm, box coordinates) the farthest sign change found past the box lies — a vertex
    outside it, where the first layer that fails is affine.

    Values at the vertices are the network's, recomputed, except that a neuron is exactly 0
    where the cuts put it in a vertex's zero set. In fractions the slope along an edge is the
    difference of its ends' values. In float64 the ends are placed only to a few ulps of the
    box's size, so their difference is not the edge's direction: a neuron exactly constant
    along the edge would read as crossing zero far out. The direction is taken instead from
    the constraints that hold the edge — the neurons 0 at both ends: the null vector of their
    gradients under the edge's pattern, computed from the weights alone — and a neuron's
    slope along it is 0 within ``FLAT`` of its gradient's size, divided by the gap between
    the normal matrix's two smallest eigenvalues (how well the null vector is determined:
    nearly parallel constraints hold an edge loosely)."""
    built = cut.built
    sides = np.uint64((1 << cut.domain.facets.shape[1]) - 1)
    on_side = (built.zeros[:, 0] & sides) != 0
    points = np.asarray(built.points, float)
    if on_side.all():  # no vertex inside the box: the first layer's lie far out
        return MARGIN * float(np.abs(points).max())
    ends = built.edges
    inward = (built.zeros[ends[:, 0], 0] & built.zeros[ends[:, 1], 0] & sides) == 0
    rays = [ends[inward & on_side[ends[:, 1]]], ends[inward & on_side[ends[:, 0]]][:, ::-1]]
    inner, outer = np.concatenate(rays).T  # each edge from x (inner) out through y (outer)
    # only the rays' ends are read: their values, layer by layer, at rows ``at``
    ends_used, at = np.unique(np.concatenate([inner, outer]), return_inverse=True)
    at_inner, at_outer = at[: len(inner)], at[len(inner) :]
    zeros = built.zeros[ends_used]
    layers = list(net.hidden_layers())
    check_memory(8.0 * len(ends_used) * (basis.shape[0] + len(layers)),
                 "the whole space's certificate")  # fmt: skip
    if exact:
        h = fractions_of(origin) + built.points[ends_used] @ fractions_of(basis).T
        return _farthest_exact(layers, built.first_neuron, zeros, at_inner, at_outer, h,
                               points[inner], points[outer], guess)  # fmt: skip
    basis = np.asarray(basis, float)
    # the layers packed into one array each (a tuple would compile once per depth)
    weights = np.concatenate([np.asarray(w, float).ravel() for w, _ in layers])
    shapes = np.array([np.shape(w) for w, _ in layers], dtype=np.int64)
    found = ray_failures(
        weights, np.abs(weights), np.concatenate([np.asarray(b, float) for _, b in layers]),
        shapes, basis,
        np.ascontiguousarray(np.asarray(origin, float) + points[ends_used] @ basis.T),
        zeros, built.first_neuron, at_inner, at_outer, points[ends_used], ROUNDING, FLAT,
        4 * RESOLUTION * float(np.abs(points).max()), guess)  # fmt: skip
    failing = (found >= 0).any(axis=0)
    return float(found[:, np.argmax(failing)].max()) if failing.any() else None


def _farthest_exact(layers, first_bit, zeros, at_inner, at_outer, h, inner_points,
                    outer_points, guess: bool) -> float | None:  # fmt: skip
    """:func:`_farthest_beyond` in fractions: from the rays' ends' values ``h`` (input space,
    one row per end read; ``at_inner``, ``at_outer`` each ray's rows), a neuron's sign
    inside the edge and its slope along it are exact (the difference of the ends' values);
    the rays' ends in box coordinates (``inner_points``, ``outer_points``) place the sign
    changes."""
    done = first_bit
    for w, b in layers:
        w, b = fractions_of(w), fractions_of(b)
        z = h @ w.T + b
        bits = np.arange(done, done + w.shape[0])
        z[(zeros[:, bits // 64] >> (bits % 64).astype(np.uint64)) & np.uint64(1) == 1] = 0
        done += w.shape[0]
        at_x, at_y = z[at_inner], z[at_outer]
        up, down = at_x + at_y > 0, at_x + at_y < 0  # the sign inside the edge
        slope = at_y - at_x
        # a neuron 0 inside the edge is 0 along its whole line: nothing to check
        fails = (up & ((at_y < 0) | (slope < 0))) | (down & ((at_y > 0) | (slope > 0)))
        if guess:
            fails &= slope != 0
        if fails.any():
            edge, _ = np.nonzero(fails)
            ahead = np.abs(at_y[fails].astype(float)) / np.maximum(
                np.abs(slope[fails].astype(float)), 1e-300)  # fmt: skip
            step = outer_points[edge] - inner_points[edge]
            return float(np.abs(outer_points[edge] + np.minimum(ahead, 1e12)[:, None] * step
                                ).max())  # fmt: skip
        h = np.where(z > 0, z, 0 * z)
    return None
