"""The n-D tracer (bends.tracing._box): an independent exact polytope splitter
(tests/_box_oracle.py, written apart from the library) on degenerate networks in 3 and 4
dimensions, Euler's relation on every complex, the 1-D and 2-D tracers on lines and planes,
closed forms (summed sawtooths, Zaslavsky's counts) and the whole-space certificate."""

from __future__ import annotations

import itertools
import warnings
from fractions import Fraction
from math import comb

import numpy as np
import pytest
from _box_oracle import box_complex
from conftest import mlps, on_a_grid
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.linalg import block_diag

from bends import MLP, BendsError, ResolutionWarning, TiedRNN, trace, trace_box, trace_plane
from bends.constructions import sawtooth


def euler(cells) -> int:
    return sum((-1) ** k * f for k, f in enumerate(cells.f_vector()))


@st.composite
def box_networks(draw, dims=(3,), max_width=3, max_depth=2):
    """Small MLPs with degenerate weights: dyadic grids (planes through vertices, parallel and
    coincident planes), zero rows (dead neurons), duplicated neurons, neurons vanishing at
    dyadic points of the box's diagonal (several planes through one point)."""
    d = draw(st.sampled_from(dims))
    net = draw(mlps(max_depth=max_depth, max_width=max_width, input_dims=(d,),
                    segment=(-np.ones(d), np.ones(d)), output_dims=(1,)))  # fmt: skip
    return on_a_grid(net, draw) if draw(st.booleans()) else net


def _oracle(net: MLP, d: int) -> dict:
    weights = [[[Fraction(x) for x in row] for row in w] for w in net.weights]
    biases = [[Fraction(x) for x in b] for b in net.biases]
    return box_complex(weights, biases, [-1] * d, [1] * d)


def _rational_vertices(cells) -> set:
    return {tuple(p) for p in cells.rational_points}


def _rational_edges(cells) -> set:
    points = cells.rational_points
    return {frozenset({tuple(points[a]), tuple(points[b])}) for a, b in cells.edge_ends}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=box_networks(dims=(3,), max_width=4, max_depth=2))
def test_3d_complexes_equal_an_independent_exact_splitter(net):
    """Regions, pieces, vertices and edges (as point sets) and the f-vector, float and exact."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResolutionWarning)
        floats = trace_box(net, -np.ones(3), np.ones(3))
    exact = trace_box(net, -np.ones(3), np.ones(3), exact=True)
    want = _oracle(net, 3)
    assert _rational_vertices(exact) == want["vertices"]
    assert _rational_edges(exact) == want["edges"]
    for cells in (exact, floats) if floats.resolved else (exact,):
        assert (cells.regions, cells.pieces, cells.vertices, cells.edges) == (
            want["regions"],
            want["pieces"],
            len(want["vertices"]),
            len(want["edges"]),
        )
        assert cells.f_vector() == want["f_vector"]


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(net=box_networks(dims=(4,), max_width=2))
def test_4d_complexes_equal_an_independent_exact_splitter(net):
    exact = trace_box(net, -np.ones(4), np.ones(4), exact=True)
    want = _oracle(net, 4)
    assert _rational_vertices(exact) == want["vertices"]
    assert _rational_edges(exact) == want["edges"]
    assert (exact.regions, exact.pieces) == (want["regions"], want["pieces"])
    assert exact.f_vector() == want["f_vector"]


@settings(max_examples=40, deadline=None)
@given(net=box_networks(dims=(2, 3, 4, 5), max_width=5, max_depth=3))
def test_euler_holds_on_every_complex(net):
    d = net.input_dim
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResolutionWarning)
        cells = trace_box(net, -np.ones(d), np.ones(d))
    assert euler(cells) == 1
    assert cells.pieces <= cells.regions
    assert cells.edge_density().shape == (len(cells.layer_widths),)
    if d <= 4:
        assert abs(cells.volumes().sum() - 2.0**d) < 1e-9 * 2.0**d


@settings(max_examples=30, deadline=None)
@given(net=mlps(max_depth=3, max_width=5, input_dims=(2,), output_dims=(1, 2)))
def test_planes_equal_the_planar_tracer(net):
    corners = [[-1, -1], [1, -1], [-1, 1]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResolutionWarning)
        plane = trace_plane(net, *corners)
        cells = trace_box(net, corners=corners)
    if plane.resolved and cells.resolved:
        assert (cells.regions, cells.pieces, cells.vertices, cells.edges) == (
            plane.regions,
            plane.pieces,
            plane.vertices,
            plane.edges,
        )


@settings(max_examples=30, deadline=None)
@given(net=mlps(max_depth=4, max_width=5, input_dims=(1, 3), output_dims=(1,)))
def test_lines_equal_the_segment_tracer(net):
    d = net.input_dim
    start, end = np.zeros(d), np.ones(d)
    line = trace(net, start, end)
    cells = trace_box(net, corners=[start, end])
    assert (cells.regions, cells.pieces) == (line.regions, line.pieces)


@pytest.mark.parametrize("seed", range(6))
def test_small_integer_networks_equal_the_exact_splitter(seed):
    """Wider than hypothesis's shrunk examples: [d, 4, 3, 1] with weights in {−2, …, 2} and
    half-integer biases (many planes through vertices and parallel planes)."""
    rng = np.random.default_rng(seed)
    d = 3 if seed < 4 else 4
    widths = [d, 4, 3, 1] if d == 3 else [d, 3, 2, 1]
    net = MLP.from_layers([(rng.integers(-2, 3, size=(b, a)).astype(float),
                            rng.integers(-2, 3, size=b) / 2.0)
                           for a, b in itertools.pairwise(widths)])  # fmt: skip
    exact, want = trace_box(net, -np.ones(d), np.ones(d), exact=True), _oracle(net, d)
    assert _rational_vertices(exact) == want["vertices"]
    assert _rational_edges(exact) == want["edges"]
    assert (exact.regions, exact.pieces, exact.f_vector()) == (
        want["regions"],
        want["pieces"],
        want["f_vector"],
    )


def summed_sawtooths(depth: int, d: int) -> MLP:
    """Σᵢ saw_L(xᵢ): d sawtooth chains side by side, outputs added."""
    saw = sawtooth(depth)
    hidden = [(block_diag(*[w] * d), np.tile(b, d)) for w, b in saw.hidden_layers()]
    w, b = saw.readout()
    return MLP.from_layers([*hidden, (np.tile(w, (1, d)), d * b)])


@pytest.mark.parametrize(("d", "depth"), [(3, 1), (3, 2), (3, 3), (3, 4), (3, 5), (4, 1),
                                          (4, 2), (4, 3)])  # fmt: skip
def test_summed_sawtooths_have_2_to_the_Ld_cells(d, depth):
    cells = trace_box(summed_sawtooths(depth, d), np.zeros(d), np.ones(d))
    assert cells.regions == cells.pieces == 2 ** (depth * d)
    assert cells.vertices == (2**depth + 1) ** d


@pytest.mark.parametrize(("n", "d"), [(64, 2), (64, 3), (20, 4), (12, 5), (10, 6)])
def test_a_generic_layer_cuts_the_whole_space_into_zaslavskys_count(n, d):
    rng = np.random.default_rng(n + d)
    net = MLP.from_layers([(rng.normal(size=(n, d)), rng.normal(size=n)),
                           (rng.normal(size=(1, n)), np.zeros(1))])  # fmt: skip
    cells = trace_box(net, whole=True)
    assert cells.regions == sum(comb(n, i) for i in range(d + 1))
    bounded = cells.regions - int(cells.unbounded.sum())
    assert bounded == comb(n - 1, d)  # Zaslavsky: bounded regions of a generic arrangement
    assert cells.vertices == comb(n, d)  # every d of the n hyperplanes meet once
    assert cells.edges == comb(n, d - 1) * (n - d + 2)  # each line cut by the n − d + 1 others


def test_the_whole_plane_equals_the_planar_tracer_on_the_certified_box():
    rng = np.random.default_rng(3)
    net = MLP.from_layers([(rng.normal(size=(8, 2)), rng.normal(size=8)),
                           (rng.normal(size=(8, 8)), rng.normal(size=8)),
                           (rng.normal(size=(1, 8)), np.zeros(1))])  # fmt: skip
    cells = trace_box(net, whole=True)
    radius = float(np.abs(cells.points).max())
    plane = trace_plane(net, [-radius, -radius], [radius, -radius], [-radius, radius])
    wider = trace_plane(net, *(4 * np.array([[-radius, -radius], [radius, -radius],
                                             [-radius, radius]])))  # fmt: skip
    assert cells.regions == plane.regions == wider.regions
    assert len(cells.points) == plane.vertices  # the box's vertices, boundary ones too


def test_a_tied_rnn_on_a_slice_equals_its_unrolled_mlp():
    rnn = TiedRNN(np.random.default_rng(0).normal(size=(3, 3)), steps=3)
    corners = [[1.0, 0.2, 0.1], [1.0, 1.2, 0.1], [1.0, 0.2, 1.1], [2.0, 0.2, 0.1]]
    cells, unrolled = trace_box(rnn, corners=corners), trace_box(rnn.unroll(), corners=corners)
    assert (cells.regions, cells.pieces, cells.f_vector()) == (
        unrolled.regions,
        unrolled.pieces,
        unrolled.f_vector(),
    )


def test_the_simplex_is_cut_into_a_complex_euler_holds_on():
    rng = np.random.default_rng(1)
    net = MLP.from_layers([(rng.normal(size=(6, 3)), rng.normal(size=6) / 4),
                           (rng.normal(size=(1, 6)), np.zeros(1))])  # fmt: skip
    corners = [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]
    cells = trace_box(net, corners=corners, simplex=True)
    assert euler(cells) == 1
    assert abs(cells.volumes().sum() - 1 / 6) < 1e-12
    exact = trace_box(net, corners=corners, simplex=True, exact=True)
    assert (exact.regions, exact.pieces, exact.f_vector()) == (
        cells.regions,
        cells.pieces,
        cells.f_vector(),
    )


def test_planes_closer_than_float64_resolves_warn_and_exact_separates_them():
    w = np.array([[1.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0]])
    b = np.array([0.0, -1e-13, 0.0])
    net = MLP.from_layers([(w, b), (np.ones((1, 3)), np.zeros(1))])
    with pytest.warns(ResolutionWarning):
        trace_box(net, -np.ones(3), np.ones(3))
    assert trace_box(net, -np.ones(3), np.ones(3), exact=True).regions == 6


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"low": [0, 0, 0], "high": [1, 1]}, "high has 2 coordinates"),
        ({"low": [0, 0, 0], "high": [1, 0, 1]}, "need low < high"),
        ({"corners": [[0, 0, 0], [1, 1, 1], [2, 2, 2]]}, "lie in fewer than 2"),
        ({}, "give a box"),
        ({"low": [0, 0, 0], "high": [1, 1, 1], "whole": True}, "not several"),
    ],
)
def test_bad_domains_are_refused_in_one_line(kwargs, message):
    net = MLP.from_layers([(np.eye(3), np.zeros(3)), (np.ones((1, 3)), np.zeros(1))])
    with pytest.raises(BendsError, match=message):
        trace_box(net, **kwargs)


def test_more_than_eight_dimensions_are_refused():
    net = MLP.from_layers([(np.eye(9), np.zeros(9)), (np.ones((1, 9)), np.zeros(1))])
    with pytest.raises(BendsError, match="up to 8 dimensions"):
        trace_box(net, np.zeros(9), np.ones(9))


def test_a_complex_that_outgrows_the_memory_budget_is_refused_in_one_line(monkeypatch):
    from bends.nets.random import random_mlp

    monkeypatch.setenv("BENDS_MEMORY_BUDGET", "4M")
    with pytest.raises(BendsError, match=r"on a 4-D box needs more than .* over the budget"):
        trace_box(random_mlp([4, 24, 24, 1], seed=0), -np.ones(4), np.ones(4))


@pytest.mark.parametrize(("widths", "seed"), [([5, 8, 8, 1], 0), ([4, 8, 8, 8, 1], 0),
                                              ([3, 8, 8, 8, 8, 1], 1)])  # fmt: skip
def test_the_certified_whole_space_equals_a_box_four_times_larger(widths, seed):
    """Deep networks whose later layers have vertices far past the first layer's (the box
    grows to them) and cells where a neuron is constant along an edge (rounding is no sign
    change)."""
    from bends.nets.random import random_mlp

    net = random_mlp(widths, seed=seed)
    cells = trace_box(net, whole=True)
    radius = 4 * float(np.abs(cells.points).max())
    larger = trace_box(net, -radius * np.ones(widths[0]), radius * np.ones(widths[0]))
    assert (cells.regions, cells.pieces) == (larger.regions, larger.pieces)
    assert cells.vertices == larger.vertices - int(np.count_nonzero(larger.on_boundary()))


def test_a_first_layer_of_low_rank_is_traced_in_its_row_space():
    """Two planes of R³ meet in a line (no vertex): 4 regions, their one edge that line."""
    net = MLP.from_layers([(np.array([[1.0, 0, 0], [0, 1.0, 0]]), np.array([0.0, -1.0])),
                           (np.ones((1, 2)), np.zeros(1))])  # fmt: skip
    cells = trace_box(net, whole=True)
    assert (cells.regions, cells.vertices, cells.edges, cells.lineality) == (4, 0, 1, 1)
    assert cells.unbounded.all() and np.isinf(cells.volumes()).all()
    rnn = TiedRNN(np.array([[1.0, -1.0, 0], [1.0, -1.0, 0], [0, 0, 0]]), steps=3)
    assert trace_box(rnn, whole=True).regions == trace_box(rnn.unroll(), whole=True).regions


@pytest.mark.parametrize(
    ("point", "radius", "near"),
    [([0.5, 0.5, 0.5], 0.0, 8), ([0.25, 0.25, 0.25], 0.1, 1), ([0.25, 0.25, 0.25], 0.26, 4),
     ([0.4, 0.4, 0.25], 0.11, 3), ([0.45, 0.45, 0.25], 0.0709, 4),
     ([0.45, 0.45, 0.25], 0.0706, 3)],
)  # fmt: skip
def test_cells_near_a_point_are_those_the_ball_meets(point, radius, near):
    """The unit cube cut by x, y, z = 1/2: a neighbour across k planes is √k · (gap) away."""
    net = MLP.from_layers([(np.eye(3), -0.5 * np.ones(3)), (np.ones((1, 3)), np.zeros(1))])
    assert trace_box(net, np.zeros(3), np.ones(3)).cells_near(point, radius) == near
    # on a larger box the cells around the point are the same (NNLS at the point's scale)
    assert trace_box(net, -10 * np.ones(3), 10 * np.ones(3)).cells_near(point, radius) == near


@pytest.mark.parametrize("exact", [False, True])
def test_affine_networks_are_one_cell_everywhere(exact):
    affine = MLP.from_layers([(np.ones((1, 3)), np.zeros(1))])
    constant = MLP.from_layers([(np.zeros((4, 3)), np.ones(4)), (np.ones((1, 4)), np.zeros(1))])
    for net in (affine, constant):
        assert trace_box(net, -np.ones(3), np.ones(3), exact=exact).regions == 1
        cells = trace_box(net, whole=True, exact=exact)
        assert (cells.regions, cells.pieces, cells.vertices, cells.lineality) == (1, 1, 0, 3)
    line = trace_box(MLP.from_layers([(np.zeros((2, 1)), np.ones(2)), (np.ones((1, 2)),
                                                                      np.zeros(1))]),
                     whole=True, exact=exact)  # fmt: skip
    assert (line.regions, line.vertices, line.edges) == (1, 0, 1)  # R itself is the one edge


def test_parallel_lines_in_the_plane_are_edges_of_the_whole_space():
    """A first layer of rank 1 in R²: two parallel lines, three strips, the lines the edges."""
    net = MLP.from_layers([(np.array([[1.0, 1.0], [2.0, 2.0]]), np.array([1.0, -1.0])),
                           (np.ones((1, 2)), np.zeros(1))])  # fmt: skip
    cells = trace_box(net, whole=True)
    assert (cells.regions, cells.vertices, cells.edges, cells.lineality) == (3, 0, 2, 1)


def test_the_whole_space_in_fractions_decides_rank_and_far_vertices_exactly():
    """det [[1, 1/3], [3, 1]] is 2⁻⁵⁴ in float64's reading of 1/3: two lines that meet far out.
    In fractions they meet (4 regions, a vertex); a tiny slope's far crossing is found."""
    net = MLP.from_layers([(np.array([[1.0, 1 / 3], [3.0, 1.0]]), np.array([0.0, 1.0])),
                           (np.ones((1, 2)), np.zeros(1))])  # fmt: skip
    cells = trace_box(net, whole=True, exact=True)
    assert (cells.regions, cells.vertices) == (4, 1)


def test_a_tiny_slope_in_a_deep_layer_is_a_vertex_past_the_first_box():
    """z = 10⁻⁵ x₁ − 10⁻³ + 10³ (h₃ − h₄) with h₃ = h₄ duplicated neurons of slope 10³:
    the rounding of the large terms must not hide the crossing at x₁ = 100 (a reviewer's
    reproducer: the box used to be certified at |t| ≤ 48 with 6 of 8 regions)."""
    big = 1e3
    first = (np.array([[1.0, 0], [0, 1.0], [big, 0], [big, 0]]), np.array([0.0, -1, big, big]))
    second = (np.array([[1e-5, 0, big, -big], [0, 1.0, 0, 0]]), np.array([-1e-3, 0.0]))
    net = MLP.from_layers([first, second, (np.ones((1, 2)), np.zeros(1))])
    cells, exact = trace_box(net, whole=True), trace_box(net, whole=True, exact=True)
    assert cells.regions == exact.regions == 8
    assert cells.vertices == exact.vertices == 3


@pytest.mark.parametrize("angle", [5e-12, 2e-12, 1e-9])
def test_a_nearly_parallel_zero_set_is_never_silently_missed(angle):
    """A layer-2 zero set at a tiny angle to a layer-1 one, crossing it at x = 100 (a
    reviewer's reproducer): the whole-space trace equals the exact one, or warns, or
    refuses — it may not certify a box that misses the crossing."""
    first = (np.array([[0, 1.0], [1.0, 0], [0, 1.0]]), np.array([0, 0, 1.0]))
    second = (np.array([[0, -angle, 1.0]]), np.array([-1.0 + 100 * angle]))
    net = MLP.from_layers([first, second, (np.ones((1, 1)), np.zeros(1))])
    exact = trace_box(net, whole=True, exact=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            cells = trace_box(net, whole=True)
        except BendsError:
            return
    if not any(issubclass(w.category, ResolutionWarning) for w in caught):
        assert (cells.regions, cells.vertices) == (exact.regions, exact.vertices)


def test_a_later_neuron_with_no_gradient_on_a_first_layer_ray_does_not_blow_up_the_box():
    """Review reproducer: the first-layer guess met a neuron on inside a ray with its inputs
    off (slope 0: a "sign change" at infinity) and grew the box to |t| ~ 1e14, where float64
    snapped almost everything to 0 and returned 2 regions, resolved, without a warning."""
    weights = [[[-1.451, -0.325]], [[0.711], [0.0], [-0.58], [1.101]],
               [[-0.101, -0.583, 0.419, -1.169], [0, 0, 0, 0]],
               [[0, 0], [-0.848, 0.443], [0.533, 1.367]], [[0.706, 0.647, 0.289]],
               [[0.259], [-1.167]], [[0.5, 1.0], [-1.5, 1.0]]]  # fmt: skip
    biases = [[-3.648], [-0.025, -0.039, 0.206, -0.096], [1.009, -1.028], [0.121, -0.337, -0.16],
              [-0.221], [0.47, 0.208], [0, 0]]  # fmt: skip
    net = MLP(tuple(map(np.array, weights)), tuple(map(np.array, biases)))
    exact = trace_box(net, whole=True, exact=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResolutionWarning)
        cells = trace_box(net, whole=True)
    assert (cells.regions, cells.pieces, cells.edges) == (exact.regions, exact.pieces,
                                                           exact.edges) == (7, 1, 6)  # fmt: skip


def test_the_whole_space_of_small_deep_networks_equals_its_fractions():
    """80 random networks, d = 1–3, up to 7 hidden layers of width 1–4, a fifth of the weights
    0 (dead and axis-aligned neurons): regions, pieces and edges over R^d in float64 equal
    the exact trace's (a review found the first-layer guess losing cells on such nets)."""
    rng = np.random.default_rng(7)
    for _ in range(80):
        d, depth = int(rng.integers(1, 4)), int(rng.integers(1, 8))
        widths = [d, *rng.integers(1, 5, size=depth).tolist(), int(rng.integers(1, 3))]
        pairs = itertools.pairwise(widths)
        net = MLP.from_layers([(rng.normal(size=(b, a)) * (rng.random((b, a)) > 0.2),
                                rng.normal(size=b)) for a, b in pairs])  # fmt: skip
        exact = trace_box(net, whole=True, exact=True)
        cells = trace_box(net, whole=True)
        assert (cells.regions, cells.pieces, cells.edges) == (exact.regions, exact.pieces,
                                                               exact.edges), widths  # fmt: skip
