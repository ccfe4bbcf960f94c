r"""Iterates of piecewise-linear maps of an interval: sawtooth, tent maps, c|x| − 1, orbits.

A continuous piecewise-linear map f of :math:`[x_0, x_m]` to itself, with breakpoints
:math:`x_0 < \dots < x_m` and values :math:`y_i = f(x_i)`, is one ReLU layer:

.. math:: f(u) = y_0 + \sum_{i<m} c_i\,\sigma(u - x_i), \qquad c_0 = s_0,\; c_i = s_i - s_{i-1},

with :math:`s_i` the slope on :math:`[x_i, x_{i+1}]` (valid for :math:`u \ge x_0`, which
iteration guarantees). Composing n copies gives :math:`f^n` as an MLP of n hidden layers of
width m (neurons whose :math:`c_i = 0` are dropped), or as a bias-free tied RNN of width m + 1
whose extra neuron is the constant 1 (:math:`\sigma(1 \cdot 1) = 1`).

Example:
    >>> from bends import trace
    >>> trace(sawtooth(6)).pieces
    64
    >>> f = abs_map(1.5)
    >>> float(f(0.0)), float(f(1.0))
    (-1.0, 0.5)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bends.errors import BendsError
from bends.nets import MLP, TiedRNN

PHI = (1.0 + 5.0**0.5) / 2.0


@dataclass(frozen=True, eq=False)
class PiecewiseLinearMap:
    """A continuous piecewise-linear map of [x[0], x[-1]] into itself: breakpoints x, values y."""

    x: np.ndarray
    y: np.ndarray

    def __post_init__(self) -> None:
        x = np.asarray(self.x, dtype=np.float64)
        y = np.asarray(self.y, dtype=np.float64)
        if x.ndim != 1 or x.shape != y.shape or x.size < 2:
            raise BendsError("a piecewise-linear map needs at least two breakpoints and values")
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
            raise BendsError("breakpoints and values must be finite")
        if np.any(np.diff(x) <= 0):
            raise BendsError("breakpoints must be strictly increasing")
        if y.min() < x[0] or y.max() > x[-1]:
            raise BendsError(
                f"the map must send [{x[0]:g}, {x[-1]:g}] into itself to be iterated "
                f"(its values reach [{y.min():g}, {y.max():g}])"
            )
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)

    def __call__(self, u):
        return np.interp(u, self.x, self.y)

    @property
    def slopes(self) -> np.ndarray:
        return np.diff(self.y) / np.diff(self.x)

    def relu_expansion(self) -> tuple[np.ndarray, np.ndarray]:
        """``(knots, c)`` with f(u) = y[0] + Σ c_i relu(u − knots_i); knot x[0] always kept."""
        slopes = self.slopes
        c = np.concatenate([slopes[:1], np.diff(slopes)])
        keep = c != 0
        keep[0] = True
        return self.x[:-1][keep], c[keep]

    def iterate(self, u, times: int):
        """f^times(u), by repeated interpolation (the reference the networks are tested on)."""
        for _ in range(times):
            u = self(u)
        return u


def positive_int(times: int, name: str = "depth") -> int:
    """``times`` as an int if it is a positive integer, else a BendsError naming ``name``."""
    if isinstance(times, bool) or not isinstance(times, int | np.integer) or times < 1:
        raise BendsError(f"{name} must be a positive integer, got {times!r}")
    return int(times)


def iterate_mlp(f: PiecewiseLinearMap, times: int) -> MLP:
    """f^times as an MLP with ``times`` hidden layers, traced by default on f's interval."""
    return compose_mlp([f] * positive_int(times))


def compose_mlp(maps: list[PiecewiseLinearMap], width: int | None = None) -> MLP:
    """maps[-1] ∘ … ∘ maps[0] as an MLP with one hidden layer per map: layer k holds a ReLU
    per knot of maps[k] (:meth:`PiecewiseLinearMap.relu_expansion`), and its output
    combination folds into layer k + 1's weights. ``width``: pad every hidden layer to this
    many neurons with zero (dead) ones. Traced by default on maps[0]'s interval.

    >>> net = compose_mlp([abs_map(1.5), tent_map(2.0)], width=6)
    >>> [w.shape for w in net.weights]
    [(6, 1), (6, 6), (1, 6)]
    """
    expansions = [f.relu_expansion() for f in maps]
    size = width if width is not None else max(k.size for k, _ in expansions)
    if any(k.size > size for k, _ in expansions):
        raise BendsError(f"a map has more knots than the width {size}")

    def padded(weight: np.ndarray, bias: np.ndarray, rows: int, columns: int):
        full = np.zeros((rows, columns))
        full[: weight.shape[0], : weight.shape[1]] = weight
        return full, np.pad(bias, (0, rows - bias.size))

    knots = expansions[0][0]
    layers = [padded(np.ones((knots.size, 1)), -knots, size, 1)]
    for k in range(1, len(maps)):
        knots, previous_c = expansions[k][0], expansions[k - 1][1]
        weight = np.tile(previous_c, (knots.size, 1))
        layers.append(padded(weight, maps[k - 1].y[0] - knots, size, size))
    last_c = expansions[-1][1]
    layers.append(padded(last_c[None, :], np.array([maps[-1].y[0]]), 1, size))
    first = maps[0]
    return MLP.from_layers(layers, segment=(first.x[:1], first.x[-1:]))


def iterate_rnn(f: PiecewiseLinearMap, times: int) -> TiedRNN:
    r"""f^times as a bias-free tied RNN of width m + 1 and ``times + 1`` steps.

    State: coordinate 0 is :math:`\sigma(u - x_0)`, coordinate 1 the constant 1, the others
    :math:`\sigma(u - x_i)`. The input line carries :math:`(x - y_0)/c_0` in coordinate 0, so
    the first step splits u = x; the output after ``times + 1`` steps is
    :math:`f^{\text{times}}(x) - x_0` (an affine change of output), for x on the segment
    stored with the network (x running over f's interval).
    """
    times = positive_int(times)
    knots, c = f.relu_expansion()
    if c[0] == 0:
        raise BendsError("the tied-RNN form needs a nonzero slope on the first piece")
    width = knots.size + 1
    rows = [0, *range(2, width)]  # state coordinate of each knot's neuron
    weight = np.zeros((width, width))
    for knot, row in zip(knots, rows, strict=True):
        weight[row, rows] = c
        weight[row, 1] = f.y[0] - knot
    weight[1, 1] = 1.0
    start, end = np.zeros(width), np.zeros(width)
    start[1] = end[1] = 1.0
    start[0], end[0] = (f.x[0] - f.y[0]) / c[0], (f.x[-1] - f.y[0]) / c[0]
    return TiedRNN(weight, times + 1, 0, segment=(start, end))


def tent_map(slope: float = 2.0) -> PiecewiseLinearMap:
    """The tent map u ↦ slope · min(u, 1 − u) on [0, 1] (0 < slope ≤ 2)."""
    if not 0 < slope <= 2:
        raise BendsError(
            f"the tent map needs 0 < slope <= 2 to map [0, 1] into itself, got {slope}"
        )
    return PiecewiseLinearMap(np.array([0.0, 0.5, 1.0]), np.array([0.0, slope / 2, 0.0]))


def abs_map(c: float = PHI) -> PiecewiseLinearMap:
    r"""f(x) = c|x| − 1 on [−1, 1] (0 < c ≤ 2).

    With :math:`c = \varphi` exactly, 0 → −1 → φ − 1 → 0 is a period-3 orbit and
    :math:`f^t` has :math:`2F_{t+1}` monotone (= affine) pieces (F = Fibonacci); for
    c = 1.618 < φ there is no period-3 orbit. In float64, c = φ means the double nearest φ.
    """
    if not 0 < c <= 2:
        raise BendsError(f"c|x| - 1 maps [-1, 1] into itself only for 0 < c <= 2, got {c}")
    return PiecewiseLinearMap(np.array([-1.0, 0.0, 1.0]), np.array([c - 1.0, -1.0, c - 1.0]))


def orbit_map(orbit) -> PiecewiseLinearMap:
    """The piecewise-linear map through a periodic orbit p_0 → p_1 → … → p_{p−1} → p_0.

    Breakpoints are the orbit's points in increasing order, each sent to its successor; the
    map is linear in between, so it sends [min, max] onto itself and has the orbit as a
    periodic orbit of period p.
    """
    points = np.asarray(orbit, dtype=np.float64)
    if points.ndim != 1 or points.size < 2 or np.unique(points).size != points.size:
        raise BendsError("an orbit needs at least two distinct points")
    order = np.argsort(points)
    return PiecewiseLinearMap(points[order], np.roll(points, -1)[order])


def sawtooth(depth: int) -> MLP:
    r"""Telgarsky's sawtooth :math:`g^L` on [0, 1] (g the tent map), width 2, L hidden layers.

    Exactly :math:`2^L` pieces with breakpoints :math:`j/2^L`; value 0 at even, 1 at odd ones.
    """
    return iterate_mlp(tent_map(2.0), depth)


def sawtooth_rnn(depth: int) -> TiedRNN:
    """The sawtooth g^L as a bias-free tied RNN of width 3 (output g^L(x), x ∈ [0, 1])."""
    return iterate_rnn(tent_map(2.0), depth)


def fibonacci(n: int) -> int:
    """F_n with F_1 = F_2 = 1."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a
