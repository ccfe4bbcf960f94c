r"""Dynamics of piecewise-linear interval maps: iterates, periods, Sharkovsky, oscillations.

For a continuous piecewise-linear map f of an interval into itself
(:class:`~bends.constructions.maps.PiecewiseLinearMap`), its iterates :math:`f^t` are again
piecewise linear; :func:`iterate_map` builds them knot by knot (the knots of :math:`f^t` are
those of :math:`f^{t-1}` and the preimages under :math:`f^{t-1}` of f's breakpoints), so
periods, oscillations and lap numbers are read off exactly from knot values.
Chatziafratis, Nagarajan and Panageas (ICLR, ICML 2020) connect them to depth: a ReLU network
of width u and depth l has at most :math:`(2u)^l` pieces, so it cannot follow :math:`c^t`
oscillations once :math:`(2u)^l \le c^t / 8`.

Example:
    >>> from bends.constructions import PHI, abs_map
    >>> f = abs_map(PHI)                        # φ|x| − 1 on [−1, 1]
    >>> [laps(iterate_map(f, t)) for t in range(1, 6)]  # 2·F(t+1)
    [2, 4, 6, 10, 16]
    >>> points, minimal = periodic_points(f, 3)
    >>> [(round(float(x), 6), int(p)) for x, p in zip(points, minimal)]
    [(-1.0, 3), (-0.381966, 1), (0.0, 3), (0.618034, 3)]
    >>> [round(r, 4) for r in growth_rates(5)]
    [1.3803, 1.5129]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from bends.budget import check_memory
from bends.constructions.maps import PiecewiseLinearMap, compose_mlp
from bends.errors import BendsError
from bends.nets import MLP

#: Knots closer than this (relative to the interval) are one knot.
MERGE = 1e-12


def compose(f: PiecewiseLinearMap, g: PiecewiseLinearMap) -> PiecewiseLinearMap:
    """f ∘ g on g's interval: g's knots plus every point where g crosses a knot of f."""
    crossings = [g.x]
    y0, y1, x0, x1 = g.y[:-1], g.y[1:], g.x[:-1], g.x[1:]
    for level in f.x[1:-1]:
        inside = (np.minimum(y0, y1) < level) & (level < np.maximum(y0, y1))
        share = (level - y0[inside]) / (y1[inside] - y0[inside])
        crossings.append(x0[inside] + share * (x1[inside] - x0[inside]))
    x = np.unique(np.concatenate(crossings))
    # A crossing within rounding of an existing knot is that knot (φ|x| − 1 sends ±1 to 0
    # after two steps, which float64 computes as ~1e-16): keep one, drop the sliver.
    close = np.diff(x) <= MERGE * (g.x[-1] - g.x[0])
    keep = np.concatenate([[True], ~close])
    keep[-1] = True
    keep[-2] &= not close[-1]
    x = x[keep]
    return PiecewiseLinearMap(x, np.clip(f(g(x)), f.x[0], f.x[-1]))


def iterate_map(f: PiecewiseLinearMap, times: int) -> PiecewiseLinearMap:
    """f^times as a piecewise-linear map (times ≥ 1), collinear knots removed."""
    if times < 1:
        raise BendsError(f"the number of iterations must be at least 1, got {times}")
    # f^(times−1), which the last step composes, has at least s^(times−1) + 1 knots: refuse
    # at once what that already puts over the budget, before any iterate is computed
    check_memory(BYTES_PER_MAP_KNOT * (least_knots(f, times - 1)) * (len(f.x) - 1),
                 f"iterating the map {times} times", at_least=True)  # fmt: skip
    result = f
    for _ in range(times - 1):
        # f ∘ g has at most |g.x| · (|f.x| − 1) knots: refuse a step that could outgrow the
        # memory budget before it allocates
        check_memory(BYTES_PER_MAP_KNOT * len(result.x) * (len(f.x) - 1),
                     f"iterating the map {times} times", at_least=True)  # fmt: skip
        result = simplify(compose(f, result))
    return result


def least_knots(f: PiecewiseLinearMap, times: int) -> float:
    r"""A lower bound on the knots of f^times, from the slopes alone: where f maps its
    interval I into itself with every :math:`|f'| \ge s`, the variation of f^times is at
    least :math:`s^{t}|I|` and each monotone piece covers at most :math:`|I|`, so f^times has
    at least :math:`s^t` pieces, :math:`s^t + 1` knots (2 where no such s > 1 exists).

    Example:
        >>> from bends.constructions import tent_map
        >>> round(least_knots(tent_map(2.0), 10))  # 2^10 + 1, a hair below
        1025
    """
    inside = (f.y.min() >= f.x[0]) and (f.y.max() <= f.x[-1])
    slope = float(np.abs(f.slopes).min())
    if not inside or slope <= 1.0 or times < 1:
        return 2.0
    # capped below overflow; 1 − 1e-9: exp(t log s) may round above s^t
    return float(np.exp(min(times * np.log(slope), 690.0))) * (1 - 1e-9) + 1.0


def exact_depth(f: PiecewiseLinearMap, times: int, width: int) -> int | None:
    """The least depth l for which this construction makes a width-``width`` ReLU MLP
    compute f^times exactly: one hidden layer computes any continuous piecewise-linear map
    of a scalar with at most ``width`` pieces (a ReLU per breakpoint, one for the linear
    part), so with j the largest number of iterations for which f^j has at most ``width``
    pieces, l = ⌈times / j⌉ layers compute f^times (an upper bound on the least depth);
    None when f itself has more than ``width`` pieces.

    >>> from bends.constructions.maps import abs_map
    >>> exact_depth(abs_map(1.618), 8, 20)   # f^5 has 16 pieces, f^6 has 26
    2
    """
    largest = len(_powers(f, times, width)) - 1
    return None if largest == 0 else -(-times // largest)


def _powers(f: PiecewiseLinearMap, times: int, width: int) -> list[PiecewiseLinearMap]:
    """f⁰ (the identity), f¹, … up to f^times or the last power with at most ``width``
    pieces, whichever comes first."""
    lo, hi = f.x[0], f.x[-1]
    powers = [PiecewiseLinearMap(np.array([lo, hi]), np.array([lo, hi]))]
    while len(powers) <= times and len(f.x) - 1 <= width:
        following = simplify(compose(f, powers[-1]))
        if len(following.x) - 1 > width:
            break
        powers.append(following)
    return powers


def exact_mlp(f: PiecewiseLinearMap, times: int, depth: int, width: int) -> MLP | None:
    """f^times computed exactly by a width-``width`` MLP with ``depth`` hidden layers: layer k
    computes :math:`f^{j_k}` with :math:`\\sum_k j_k` = times, each power with at most
    ``width`` pieces (:func:`bends.constructions.maps.compose_mlp`; a power 0 is the identity,
    one ReLU); None when no such split exists (depth × the largest such power < times).

    >>> from bends.constructions.maps import abs_map
    >>> net = exact_mlp(abs_map(1.618), 8, 2, 20)   # f^4 twice
    >>> x = np.linspace(-1, 1, 101)
    >>> float(np.abs(net(x[:, None])[:, 0] - abs_map(1.618).iterate(x, 8)).max()) < 1e-12
    True
    """
    powers = _powers(f, times, width)
    largest = len(powers) - 1
    if largest == 0 or depth * largest < times:
        return None
    split = [times // depth + (k < times % depth) for k in range(depth)]
    return compose_mlp([powers[j] for j in split], width)


BYTES_PER_MAP_KNOT = 128  # compose's crossings, sort, masks and evaluation, per knot


def simplify(f: PiecewiseLinearMap) -> PiecewiseLinearMap:
    """The same map without knots where the slope does not change."""
    slopes = f.slopes
    scale = np.maximum(np.abs(slopes[1:]), np.abs(slopes[:-1]))
    bend = np.abs(np.diff(slopes)) > 1e-9 * np.maximum(scale, 1.0)
    keep = np.concatenate([[True], bend, [True]])
    return PiecewiseLinearMap(f.x[keep], f.y[keep])


def laps(f: PiecewiseLinearMap) -> int:
    """Lap number: maximal intervals on which f is monotone (flat pieces join a neighbour)."""
    signs = np.sign(f.slopes)
    signs = signs[signs != 0]
    return 1 + int(np.count_nonzero(signs[1:] != signs[:-1])) if signs.size else 1


def entropy_estimate(f: PiecewiseLinearMap, times: int) -> float:
    """log(laps(f^t)) / t, which tends to the topological entropy of f."""
    return float(np.log(laps(iterate_map(f, times))) / times)


def lipschitz(f: PiecewiseLinearMap) -> float:
    """The Lipschitz constant: the largest |slope|."""
    return float(np.abs(f.slopes).max())


def check_levels(low: float, high: float) -> None:
    """BendsError unless low < high are finite numbers."""
    if not (np.isfinite(low) and np.isfinite(high)):
        raise BendsError(f"the levels must be finite numbers, got {low} and {high}")
    if not low < high:
        raise BendsError(f"need low < high, got {low} and {high}")


def oscillations(f: PiecewiseLinearMap, low: float, high: float) -> int:
    """Crossings of the band [low, high]: the largest k with a_0 < … < a_k alternating
    f(a_i) ≤ low and f(a_{i+1}) ≥ high (or the reverse). Extremes sit at knots, so the
    knot values decide."""
    check_levels(low, high)
    state, count = 0, 0
    for value in f.y:
        side = -1 if value <= low else (1 if value >= high else 0)
        if side and side != state:
            count += state != 0
            state = side
    return count


def periodic_points(f: PiecewiseLinearMap, period: int) -> tuple[np.ndarray, np.ndarray]:
    """Points x with f^period(x) = x, and the minimal period of each.

    Roots of f^p(x) − x are exact per piece of f^p (it is affine there); a piece on which
    f^p is the identity has infinitely many and is reported by its end points.
    """
    g = iterate_map(f, period)
    tolerance = MERGE * max(abs(g.x[0]), abs(g.x[-1]), 1.0)
    gap = g.y - g.x
    gap[np.abs(gap) <= tolerance] = 0.0  # a knot within rounding of the diagonal is on it
    points = list(g.x[gap == 0])
    change = gap[:-1] * gap[1:] < 0  # strict sign change: one root inside the piece
    d0, d1 = gap[:-1][change], gap[1:][change]
    x0, x1 = g.x[:-1][change], g.x[1:][change]
    points += list(x0 + d0 / (d0 - d1) * (x1 - x0))
    points.sort()
    found = np.array([x for i, x in enumerate(points) if i == 0 or x - points[i - 1] > tolerance])
    found = found + 0.0  # no −0.0
    minimal = np.array([_minimal_period(f, x, period) for x in found], dtype=int)
    return found, minimal


def _minimal_period(f: PiecewiseLinearMap, x: float, period: int) -> int:
    scale = max(abs(f.x[0]), abs(f.x[-1]), 1.0)
    for d in range(1, period + 1):
        if period % d == 0 and abs(f.iterate(x, d) - x) <= 1e-9 * scale:
            return d
    return period


def orbits(f: PiecewiseLinearMap, period: int) -> list[np.ndarray]:
    """The periodic orbits of minimal period ``period``, each from its smallest point."""
    points, minimal = periodic_points(f, period)
    remaining = sorted(points[minimal == period].tolist())
    found = []
    while remaining:
        orbit = [remaining.pop(0)]
        for _ in range(period - 1):
            image = float(f(orbit[-1]))
            nearest = points[np.argmin(np.abs(points - image))]  # the root, not its rounding
            orbit.append(float(nearest) if abs(nearest - image) <= 1e-9 else image)
        remaining = [x for x in remaining if min(abs(x - y) for y in orbit) > 1e-9]
        found.append(np.array(orbit))
    return found


def sharkovsky_key(n: int) -> tuple[int, int, int]:
    """Sort key of Sharkovsky's order 3 ▷ 5 ▷ 7 ▷ … ▷ 2·3 ▷ 2·5 ▷ … ▷ 2² ▷ 2 ▷ 1."""
    if n < 1:
        raise BendsError(f"periods are positive integers, got {n}")
    power = (n & -n).bit_length() - 1
    odd = n >> power
    return (0, power, odd) if odd > 1 else (1, -power, 0)


def forces(p: int, q: int) -> bool:
    """True if a period-p orbit forces a period-q orbit (p ▷ q or p = q), by Sharkovsky."""
    return sharkovsky_key(p) <= sharkovsky_key(q)


def forced_periods(p: int, up_to: int) -> list[int]:
    """The periods ≤ up_to that a continuous map with a period-p point must have."""
    return [q for q in range(1, up_to + 1) if forces(p, q)]


def growth_rates(p: int) -> tuple[float, float]:
    r"""Growth of oscillations forced by an odd period p: the largest roots of
    :math:`x^{p-1} - x^{p-2} - 1` (ICLR 2020) and :math:`x^p - 2x^{p-2} - 1` (ICML 2020,
    sharper). A map with a period-p point has :math:`f^t` oscillating at least ~ρ^t times."""
    if p < 3 or p % 2 == 0:
        raise BendsError(f"growth rates are stated for odd periods p ≥ 3, got {p}")
    # Each polynomial has one sign change, so (Descartes) exactly one positive root, in (1, 2).
    # In logarithms, so that large p does not overflow: x^{p-2}(x − 1) = 1 and
    # x^{p-2}(x² − 2) = 1, both sides increasing in x where the bracket is positive.
    return _log_root(lambda x: (p - 2) * math.log(x) + math.log(x - 1), 1.0), _log_root(
        lambda x: (p - 2) * math.log(x) + math.log(x * x - 2), math.sqrt(2)
    )


def _log_root(g, low: float) -> float:
    """The root in (low, 2) of an increasing g that tends to −∞ at low; ``low`` itself when
    the root lies closer to it than float64 can tell (large p)."""
    above = low * (1 + 4e-16)
    if g(above) >= 0:
        return low
    return float(brentq(g, above, 2.0, xtol=1e-15))


@dataclass(frozen=True)
class SeparationBound:
    """The L1 lower bound on ∫|f^t − g| for any ReLU net g of width u and depth l; the two
    sides of the hypothesis also as base-10 logarithms (they overflow float64 early)."""

    bound: float
    hypothesis_holds: bool
    capacity: float  # (2u)^l, the most pieces g can have (inf beyond float64)
    oscillations: float  # c^t (inf beyond float64)
    log10_capacity: float
    log10_oscillations: float
    log10_bound: float


def separation_bound(
    width: int, depth: int, t: int, low: float, high: float, c: float, lipschitz_constant: float
) -> SeparationBound:
    r"""The ICML 2020 bound: with c^t oscillations of f^t between low < high and Lipschitz L,

    .. math:: \int |f^t - g| \ge \frac{(c/L)^t (high - low)^2}{16}
              \Bigl(1 - \frac{2 (2u)^l}{c^t}\Bigr),

    which is at least (high − low)²/32 when L = c and the hypothesis (2u)^l ≤ c^t/8 holds.
    Computed with logarithms, so that huge depths and iteration counts stay exact in sign.
    """
    if width < 1 or depth < 1 or t < 1:
        raise BendsError("width, depth and t must be positive")
    numbers = (low, high, c, lipschitz_constant)
    if not all(math.isfinite(v) for v in numbers):
        raise BendsError("low, high, c and the Lipschitz constant must be finite numbers")
    if not (low < high and c > 1 and lipschitz_constant > 0):
        raise BendsError("need low < high, c > 1 and a positive Lipschitz constant")
    log_capacity = depth * math.log(2 * width)
    log_count = t * math.log(c)
    capacity, count = _exp(log_capacity), _exp(log_count)
    if math.isfinite(capacity) and math.isfinite(count):  # plain floats: exact ties stay ties
        capacity, count = float(2 * width) ** depth, float(c) ** t
        shortfall, holds = 1 - 2 * capacity / count, capacity <= count / 8
    else:
        ratio = log_capacity - log_count  # log of (2u)^l / c^t
        shortfall = 1 - 2 * math.exp(ratio) if ratio < math.log(0.5) else 0.0
        holds = ratio <= -math.log(8)
    log_scale = t * math.log(c / lipschitz_constant) + 2 * math.log(high - low) - math.log(16)
    if log_scale < 709.0:  # the plain formula, as the papers write it
        value = (c / lipschitz_constant) ** t * (high - low) ** 2 / 16 * shortfall
    else:
        value = math.inf
    value = max(value, 0.0)
    log10_bound = (log_scale + math.log(shortfall)) / math.log(10) if shortfall > 0 else -math.inf
    return SeparationBound(
        value, holds, capacity, count, log_capacity / math.log(10), log_count / math.log(10),
        log10_bound,
    )  # fmt: skip


def _exp(x: float) -> float:
    return math.exp(x) if x < 709.0 else math.inf
