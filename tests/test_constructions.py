"""Every construction: exact piece counts over a range of depths, values against closed forms
to 1e-12, and the MLP and tied-RNN forms agreeing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bends import trace
from bends.constructions import (
    PHI,
    REGISTRY,
    abs_map,
    blog_candidate,
    build,
    compositional,
    compositional_layers,
    compositional_rnn,
    compositional_value,
    fibonacci,
    iterate_mlp,
    iterate_rnn,
    manifold_scales,
    orbit_map,
    parabola,
    parabola_rnn,
    sawtooth,
    sawtooth_rnn,
    tent_map,
    yarotsky_square,
    yarotsky_square_rnn,
)
from bends.constructions.yarotsky import sawtooth_value

X = np.linspace(0.0, 1.0, 4097)


def values(net, x=X):
    """The network's output along its own segment, at fractions x of it."""
    return trace(net)(x)[:, 0]


@pytest.mark.parametrize("depth", range(1, 15))
def test_sawtooth_mlp_and_rnn_have_2_to_the_depth_pieces_and_equal_g_iterates(depth):
    mlp, rnn = trace(sawtooth(depth)), trace(sawtooth_rnn(depth))
    assert mlp.pieces == rnn.pieces == 2**depth
    np.testing.assert_allclose(mlp(X)[:, 0], sawtooth_value(X, depth), atol=1e-12)
    np.testing.assert_allclose(rnn(X)[:, 0], sawtooth_value(X, depth), atol=1e-12)


@pytest.mark.parametrize("slope", [0.7, 1.3, 1.5, 1.9])
def test_tent_maps_of_any_slope_match_their_iterates_and_exact_counts(slope):
    f = tent_map(slope)
    for depth in (1, 3, 6):
        mlp, rnn = iterate_mlp(f, depth), iterate_rnn(f, depth)
        np.testing.assert_allclose(values(mlp), f.iterate(X, depth), atol=1e-12)
        np.testing.assert_allclose(values(rnn), f.iterate(X, depth), atol=1e-12)
        assert trace(mlp).pieces == trace(rnn).pieces == trace(mlp, exact=True).pieces


@pytest.mark.parametrize("t", [1, 2, 3, 5, 8, 13, 21, 26])
def test_phi_map_iterate_has_2_fibonacci_pieces(t):
    f = abs_map(PHI)
    assert trace(iterate_mlp(f, t)).pieces == 2 * fibonacci(t + 1)
    if t <= 13:
        assert trace(iterate_rnn(f, t)).pieces == 2 * fibonacci(t + 1)
        x = np.linspace(-1, 1, 4097)
        np.testing.assert_allclose(values(iterate_mlp(f, t)), f.iterate(x, t), atol=1e-12)
        np.testing.assert_allclose(values(iterate_rnn(f, t)) - 1.0, f.iterate(x, t), atol=1e-9)


def test_phi_map_has_the_period_3_orbit_and_1_618_loses_pieces_late():
    f = abs_map(PHI)
    np.testing.assert_allclose(
        f.iterate(np.array([0.0, -1.0, PHI - 1]), 1), [-1, PHI - 1, 0], atol=1e-15
    )
    slower = abs_map(1.618)
    assert trace(iterate_mlp(slower, 20)).pieces == 2 * fibonacci(21)
    assert trace(iterate_mlp(slower, 26)).pieces < 2 * fibonacci(27)


@pytest.mark.parametrize("orbit", [[0.0, 0.5, 1.0], [0.1, 0.5, 0.9, 0.3, 0.7], [2, -1, 0, 5]])
def test_orbit_map_has_the_orbit_and_its_iterates_match(orbit):
    f = orbit_map(orbit)
    points = np.asarray(orbit, dtype=np.float64)
    np.testing.assert_allclose(f.iterate(points, 1), np.roll(points, -1), atol=1e-15)
    np.testing.assert_allclose(f.iterate(points, len(orbit)), points, atol=1e-12)
    x = np.linspace(0, 1, 2049)
    grid = f.x[0] + x * (f.x[-1] - f.x[0])
    for depth in (1, 2, 4):
        np.testing.assert_allclose(
            values(iterate_mlp(f, depth), x), f.iterate(grid, depth), atol=1e-12
        )
        np.testing.assert_allclose(
            values(iterate_rnn(f, depth), x) + f.x[0], f.iterate(grid, depth), atol=1e-12
        )


@pytest.mark.parametrize("m", range(1, 11))
def test_yarotsky_interpolates_x_squared_with_error_exactly_2_to_minus_2m_minus_2(m):
    grid = np.arange(2**m + 1) / 2**m
    mids = (grid[1:] + grid[:-1]) / 2
    for net in (yarotsky_square(m), yarotsky_square_rnn(m)):
        tr = trace(net)
        assert tr.pieces == 2**m
        np.testing.assert_allclose(tr(X)[:, 0], np.interp(X, grid, grid**2), atol=1e-12)
        assert np.max(np.abs(tr(mids)[:, 0] - mids**2)) == 2.0 ** (-2 * m - 2)


@pytest.mark.parametrize("m", range(1, 9))
def test_parabola_and_candidate_partial_sums_match_their_series(m):
    series = sum(sawtooth_value(X, s) / 4**s for s in range(1, m + 1))
    np.testing.assert_allclose(values(parabola(m)), series, atol=1e-12)
    np.testing.assert_allclose(values(parabola_rnn(m)), series, atol=1e-12)
    candidate = series / 2 + sawtooth_value(X, 1) / 8
    np.testing.assert_allclose(values(blog_candidate(m)), candidate, atol=1e-12)
    assert trace(parabola(m)).pieces == trace(blog_candidate(m)).pieces == 2**m


@pytest.mark.parametrize("subtract", [True, False])
@pytest.mark.parametrize("depth", [1, 2, 3, 5, 7])
def test_compositional_network_has_2_to_the_d_pieces_and_matches_its_waves(depth, subtract):
    rng = np.random.default_rng(depth)
    peaks = rng.uniform(0.15, 0.85, depth + 1)
    scales = manifold_scales(peaks, subtract)
    net = compositional(peaks[:depth], scales, subtract)
    tr = trace(net)
    assert tr.pieces == 2**depth
    np.testing.assert_allclose(
        tr(X)[:, 0], compositional_value(X, peaks[:depth], scales, subtract), atol=1e-12
    )


def test_exact_mode_sees_rounding_slivers_of_stored_weights_that_float64_cannot():
    # 1/(a − a²) is no binary fraction: the stored triangles' feet miss zero by ~1e-17, so the
    # network as stored has slivers narrower than the float spacing of t. float64 counts the
    # intended 2^d pieces; exact arithmetic counts the stored network's, slivers included.
    peaks = np.array([0.3, 0.7, 0.45])
    net = compositional(peaks, [0.1, 0.05, 0.02], subtract=False)
    fast, exact = trace(net), trace(net, exact=True)
    assert fast.pieces == 8 < exact.pieces
    knots = np.array([float(k) for k in exact.exact_knots])
    assert np.diff(knots).min() < 1e-15


def test_manifold_with_half_peaks_is_yarotsky():
    scales = manifold_scales(np.full(6, 0.5), subtract=True)
    np.testing.assert_allclose(scales, 4.0 ** -np.arange(1, 6))
    np.testing.assert_allclose(
        values(compositional(np.full(5, 0.5), scales, True)), values(yarotsky_square(5)), atol=1e-15
    )


@pytest.mark.parametrize(
    ("peak", "ratio", "subtract"), [(0.5, 0.25, True), (0.3, 0.2, False), (0.6, 0.1, True)]
)
def test_compositional_rnn_equals_the_mlp_with_equal_peaks_and_geometric_scales(
    peak, ratio, subtract
):
    for steps in (2, 4, 7):
        d = steps - 1
        mlp = compositional(np.full(d, peak), ratio ** np.arange(1, d + 1), subtract)
        rnn = compositional_rnn(peak, ratio, steps, subtract)
        assert trace(rnn).pieces == trace(mlp).pieces == 2**d
        np.testing.assert_allclose(values(rnn), values(mlp), atol=1e-12)


def test_compositional_weights_are_differentiable_in_peaks_and_scales():
    peaks = torch.tensor([[0.4, 0.6, 0.5]], dtype=torch.float64, requires_grad=True)
    scales = torch.tensor([[0.2, 0.05, 0.01]], dtype=torch.float64, requires_grad=True)

    def output_at(p, s):
        h = torch.tensor([[0.37]], dtype=torch.float64)
        layers = compositional_layers(p, s, subtract=True)
        for w, b in layers[:-1]:
            h = torch.relu(torch.einsum("bij,bj->bi", w, h) + b)
        w, b = layers[-1]
        return torch.einsum("bij,bj->bi", w, h) + b

    assert torch.autograd.gradcheck(output_at, (peaks, scales))
    expected = compositional_value(0.37, [0.4, 0.6, 0.5], [0.2, 0.05, 0.01], True)
    assert abs(output_at(peaks, scales).item() - expected) < 1e-14


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_registered_construction_meets_its_count_and_the_exact_tracer(name):
    entry = REGISTRY[name]
    net = build(name)
    tr = trace(net)
    expected = entry.pieces(**entry.defaults)
    if expected is not None:
        assert tr.pieces == expected
    small = build(
        name, **{k: v for k, v in {"depth": 2, "m": 2, "steps": 3}.items() if k in entry.defaults}
    )
    exact = trace(small, exact=True)
    assert (trace(small).pieces, trace(small).regions) == (exact.pieces, exact.regions)


@pytest.mark.parametrize("j", range(0, 13))
def test_devils_staircase_rnn_computes_cantor_iterates_with_2_to_the_j_plus_1_minus_1_pieces(j):
    from bends.constructions import cantor_iterate, devils_staircase

    net = devils_staircase(j)
    assert net.width == 7 and net.steps == j + 1
    tr = trace(net)
    assert tr.pieces == 2 ** (j + 1) - 1
    y = np.linspace(0, 1, 3**8 + 1)
    np.testing.assert_allclose(tr(y)[:, 0], cantor_iterate(y, j), atol=1e-12)
    if j <= 4:  # every weight is a binary fraction: the exact oracle applies
        exact = trace(net, exact=True)
        assert (exact.pieces, exact.regions) == (tr.pieces, tr.regions)


@pytest.mark.parametrize("m", range(1, 9))
def test_blog_candidate_rnn_equals_the_mlp(m):
    from bends.constructions import blog_candidate_rnn

    rnn, mlp = trace(blog_candidate_rnn(m)), trace(blog_candidate(m))
    assert rnn.pieces == mlp.pieces == 2**m
    np.testing.assert_allclose(rnn(X), mlp(X), atol=1e-12)


def test_spectral_norm_cannot_go_below_the_spectral_radius_and_similarity_keeps_pieces():
    from bends import TiedRNN
    from bends.analysis.norms import spectral_norms
    from bends.constructions import blog_candidate_rnn

    net = blog_candidate_rnn(5)
    report = spectral_norms(net.weight)
    assert report["spectral_radius"] - 1e-9 <= report["best_diagonal_similarity"]
    assert report["best_diagonal_similarity"] <= report["as_built"] + 1e-12
    s = np.asarray(report["diagonal"])
    similar = TiedRNN(
        (s[:, None] * net.weight) / s[None, :],
        net.steps,
        net.output,
        segment=(s * net.segment[0], s * net.segment[1]),
    )
    assert trace(similar).pieces == trace(net).pieces
    np.testing.assert_allclose(trace(similar)(X) / s[net.output], trace(net)(X), atol=1e-12)
