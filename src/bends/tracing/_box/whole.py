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
complex may have a lineality space, which this check cannot certify).

Pieces are the cells joined across facets in B; unbounded cells meet outside B only across
facets that reach ∂B, which B's complex holds, so regions, pieces, vertices and edges are
those of the whole space.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from bends.errors import BendsError
from bends.tracing._box.tracer import _fractions, box_domain, trace_box_mlp
from bends.tracing._results.complex import Complex

GROWTH = 4.0  # the box's growth when the check fails
TRIES = 24  # boxes tried: R up to 4^23 times the first


def trace_whole(net, origin, basis, zero_tol: float, slope_rtol: float, exact: bool) -> Complex:
    """The complex of ``net`` on the whole space x = ``origin`` + ``basis`` t, t ∈ R^d (see the
    module docstring)."""
    d = basis.shape[1]
    first, bias = next(iter(net.hidden_layers()))
    w, b = first @ basis, bias + first @ origin  # the first layer in box coordinates
    norms = np.linalg.norm(w, axis=1)
    live = norms > 0
    radius = 1.0 + 2.0 * float(np.max(np.abs(b[live]) / norms[live], initial=0.0))
    for _ in range(TRIES):
        low = -radius * np.ones(d)
        domain = box_domain(low, -low, origin, basis)
        cells = trace_box_mlp(net, domain, zero_tol, slope_rtol, exact,
                              what=f"tracing {net!r} on the whole {d}-D space")  # fmt: skip
        if _holds_all(net, cells, origin, basis, zero_tol, exact):
            return dataclasses.replace(cells, unbounded=_touching(cells), whole=True)
        radius *= GROWTH
    raise BendsError(f"no box up to |t| ≤ {radius / GROWTH:.3g} holds every vertex of {net!r}; "
                     "trace a box with trace_box(net, low, high)")  # fmt: skip


def _touching(cells: Complex) -> np.ndarray:
    """The cells with a vertex on the box's boundary."""
    on_side = cells._on_box()
    owner = np.repeat(np.arange(cells.regions), np.diff(cells.offsets))
    touching = np.zeros(cells.regions, dtype=bool)
    touching[owner[on_side[cells.cell_ids]]] = True
    return touching


def _holds_all(net, cells: Complex, origin, basis, zero_tol, exact) -> bool:
    """The certificate: every edge that leaves B is a ray (see the module docstring)."""
    sides = np.uint64((1 << cells.domain_facets) - 1)
    on_side = cells._on_box()
    if on_side.all():
        return False  # no vertex inside B
    ends = cells.edge_ends
    inward = (cells.zeros[ends[:, 0], 0] & cells.zeros[ends[:, 1], 0] & sides) == 0
    rays = [ends[inward & on_side[ends[:, 1]]], ends[inward & on_side[ends[:, 0]]][:, ::-1]]
    inner, outer = np.concatenate(rays).T  # each edge from x (inner) out through y (outer)
    points = cells.rational_points if exact else cells.points
    h = origin + points @ basis.T if not exact else (
        _fractions(origin) + points @ _fractions(basis).T)  # fmt: skip
    for w, b in net.hidden_layers():
        if exact:
            w, b = _fractions(w), _fractions(b)
        size = np.abs(np.asarray(h, float)) @ np.abs(np.asarray(w, float)).T + np.abs(
            np.asarray(b, float))  # fmt: skip
        z = h @ w.T + b
        tol = 0.0 if exact else 8 * zero_tol * np.maximum(size[inner], size[outer])
        at_x, at_y = z[inner], z[outer]
        inside, slope = at_x + at_y, at_y - at_x
        up, down = inside > tol, inside < -tol
        if np.any(up & ((at_y < -tol) | (slope < -tol))):
            return False
        if np.any(down & ((at_y > tol) | (slope > tol))):
            return False
        flat = ~(up | down)
        if np.any(flat & ((np.abs(at_y) > tol) | (np.abs(slope) > tol))):
            return False
        h = np.where(z > 0, z, 0 * z)
    return True
