"""Interval-map dynamics: periods, Sharkovsky's order, growth roots, laps, oscillations, bound."""

from __future__ import annotations

import numpy as np
import pytest

from bends import trace
from bends.analysis.dynamics import (
    forced_periods,
    forces,
    growth_rates,
    iterate_map,
    laps,
    lipschitz,
    orbits,
    oscillations,
    periodic_points,
    separation_bound,
)
from bends.constructions import PHI, PiecewiseLinearMap, abs_map, fibonacci, iterate_mlp, tent_map
from bends.errors import BendsError


def test_phi_map_has_the_period_three_orbit_and_1618_has_none():
    (orbit,) = orbits(abs_map(PHI), 3)
    np.testing.assert_allclose(sorted(orbit), [-1.0, 0.0, PHI - 1], atol=1e-12)
    assert orbits(abs_map(1.618), 3) == []
    points, minimal = periodic_points(abs_map(1.618), 3)
    assert set(minimal.tolist()) == {1}  # only the fixed point −1/(1 + c)
    np.testing.assert_allclose(points, [-1 / (1 + 1.618)], atol=1e-12)


def test_periodic_points_of_the_tent_map_by_counting():
    # The full tent map's f^p has 2^p laps across the diagonal: 2^p points of period dividing p.
    for p in range(1, 7):
        points, minimal = periodic_points(tent_map(2.0), p)
        assert len(points) == 2**p
        assert all(p % d == 0 for d in minimal)


def sharkovsky_by_definition(a: int, b: int) -> bool:
    """a ▷ b in Sharkovsky's order, straight from its definition (a ≠ b)."""

    def split(n):
        k = 0
        while n % 2 == 0:
            n, k = n // 2, k + 1
        return k, n

    (ka, ma), (kb, mb) = split(a), split(b)
    if ma > 1 and mb > 1:  # both 2^k·odd: lower power first, then smaller odd part
        return (ka, ma) < (kb, mb)
    if ma > 1:  # every 2^k·odd (odd > 1) precedes every power of two
        return True
    if mb > 1:
        return False
    return ka > kb  # powers of two in decreasing order


def test_sharkovsky_order_on_the_first_50_integers_matches_its_definition():
    for a in range(1, 51):
        for b in range(1, 51):
            assert forces(a, b) == (a == b or sharkovsky_by_definition(a, b)), (a, b)
    assert forced_periods(3, 50) == list(range(1, 51))
    assert forced_periods(8, 50) == [1, 2, 4, 8]
    assert forced_periods(6, 12) == [1, 2, 4, 6, 8, 10, 12]


def test_growth_roots_for_periods_three_five_seven():
    iclr3, icml3 = growth_rates(3)
    assert iclr3 == pytest.approx(PHI, abs=1e-12) and icml3 == pytest.approx(PHI, abs=1e-12)
    assert [round(r, 4) for r in growth_rates(5)] == [1.3803, 1.5129]
    iclr7, icml7 = growth_rates(7)
    assert iclr7**6 - iclr7**5 - 1 == pytest.approx(0, abs=1e-12)
    assert icml7**7 - 2 * icml7**5 - 1 == pytest.approx(0, abs=1e-12)
    assert np.sqrt(2) < icml7 < icml3 and iclr7 < iclr3  # decreasing in p, towards √2
    with pytest.raises(BendsError, match="odd periods"):
        growth_rates(4)


def test_laps_of_the_phi_map_are_twice_fibonacci_and_match_the_tracer():
    f = abs_map(PHI)
    for t in range(1, 26):
        assert laps(iterate_map(f, t)) == 2 * fibonacci(t + 1), t
    for t in (3, 8, 12):  # the network f^t traced exactly has the same pieces
        assert trace(iterate_mlp(f, t)).pieces == len(iterate_map(f, t).x) - 1


def test_iterates_agree_with_direct_iteration_and_lipschitz_multiplies():
    f = abs_map(1.7)
    g = iterate_map(f, 6)
    u = np.random.default_rng(0).uniform(-1, 1, 500)
    np.testing.assert_allclose(g(u), f.iterate(u, 6), atol=1e-12)
    assert lipschitz(g) == pytest.approx(1.7**6)


def test_oscillations_count_alternating_crossings_of_a_band():
    f = tent_map(2.0)
    for t in range(1, 8):  # g^t goes 0 → 1 → 0 … 2^(t−1) times: 2^t crossings of [1/4, 3/4]
        assert oscillations(iterate_map(f, t), 0.25, 0.75) == 2**t
    assert oscillations(iterate_map(abs_map(PHI), 10), -0.5, 0.2) > 0
    with pytest.raises(BendsError, match="low < high"):
        oscillations(f, 1.0, 0.0)


def test_separation_bound_and_its_hypothesis():
    # L = c and (2u)^l ≤ c^t/8: at least (y − x)^2/32.
    result = separation_bound(
        width=2, depth=2, t=20, low=0.0, high=1.0, c=PHI, lipschitz_constant=PHI
    )
    assert result.hypothesis_holds and result.bound >= 1 / 32
    assert result.capacity == 16 and result.oscillations == pytest.approx(PHI**20)
    wide = separation_bound(
        width=20, depth=5, t=8, low=0.0, high=1.0, c=PHI, lipschitz_constant=PHI
    )
    assert not wide.hypothesis_holds and wide.bound == 0.0


@pytest.mark.parametrize(("c", "t"), [(1.618, 8), (PHI, 8), (1.618, 11)])
def test_exact_depth_builds_a_network_that_computes_the_iterate(c, t):
    """The depth exact_depth promises: one hidden layer per block of iterations computes f^j
    of its scalar input exactly (a ReLU per knot, one for the linear part)."""
    from bends.analysis.dynamics import exact_depth, iterate_map
    from bends.nets import MLP

    f, width = abs_map(c), 20
    depth = exact_depth(f, t, width)
    j = max(i for i in range(1, t + 1) if len(iterate_map(f, i).x) - 1 <= width)
    blocks = [j] * (t // j) + ([t % j] if t % j else [])
    assert len(blocks) == depth
    weights, biases, lead, shift = [], [], np.ones((1, 1)), np.zeros(1)
    for iterations in blocks:  # hidden layer: relu(z + 1), relu(z − k) at f^j's inner knots
        g = iterate_map(f, iterations)
        knots = np.concatenate([[-1.0], g.x[1:-1]])
        weights.append(np.ones((len(knots), 1)) @ lead)
        biases.append(shift - knots)
        slopes = g.slopes
        lead = np.concatenate([[slopes[0]], np.diff(slopes)])[None, :]
        shift = np.array([g.y[0]])  # every ReLU is 0 at z = −1: the output there is g(−1)
    weights.append(lead)
    biases.append(shift)
    net = MLP(tuple(weights), tuple(biases))
    x = np.linspace(-1, 1, 20001)
    assert np.max(np.abs(net(x[:, None])[:, 0] - f.iterate(x, t))) < 1e-9
    assert trace(net, [-1.0], [1.0]).pieces == len(iterate_map(f, t).x) - 1


@pytest.mark.parametrize("slope, times", [(2.0, 12), (1.5, 15), (1.9, 9)])
def test_least_knots_is_a_lower_bound_on_the_iterates_knots(slope, times):
    from bends.analysis.dynamics import least_knots

    for t in range(1, times + 1):
        assert least_knots(tent_map(slope), t) <= len(iterate_map(tent_map(slope), t).x)
    assert least_knots(abs_map(PHI), 20) <= len(iterate_map(abs_map(PHI), 20).x)
    assert least_knots(PiecewiseLinearMap([0.0, 0.5, 1.0], [0.0, 0.5, 0.5]), 50) == 2.0


@pytest.mark.parametrize(("c", "t"), [(1.618, 8), (1.618, 13), (1.5, 20), (PHI, 24)])
def test_exact_mlp_computes_the_iterate_at_every_depth_that_can(c, t):
    """exact_mlp splits f^t over the hidden layers: it exists exactly from exact_depth on, its
    layers have the asked width, and its pieces on the interval are f^t's."""
    from bends.analysis.dynamics import exact_depth, exact_mlp, iterate_map

    f, width = abs_map(c), 20
    least = exact_depth(f, t, width)
    x = np.linspace(-1, 1, 4001)
    pieces = len(iterate_map(f, t).x) - 1
    for depth in range(1, least + 3):
        net = exact_mlp(f, t, depth, width)
        assert (net is None) == (depth < least)
        if net is None:
            continue
        assert [w.shape[0] for w in net.weights[:-1]] == [width] * depth
        assert np.abs(net(x[:, None])[:, 0] - f.iterate(x, t)).max() < 1e-13 * c**t
        assert trace(net, [-1.0], [1.0]).pieces == pieces
