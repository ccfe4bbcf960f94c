r"""Exact tracing in rational arithmetic (``fractions.Fraction``): the test oracle.

Every float64 weight is a dyadic rational, so the network is traced exactly as stored. The
algorithm is deliberately plainer than the float tracer's, so that the two check each other:

1. knots start as {0, 1}; for each hidden layer in turn, evaluate the network *exactly* at every
   knot and add every strict sign change :math:`t^* = t_i + (t_{i+1}-t_i) z_i/(z_i - z_{i+1})`
   of that layer's pre-activations (a set: coincident crossings are one knot);
2. the activation pattern of each interval is read at its midpoint, by exact evaluation;
3. the output's slope on each interval is the exact difference quotient.

Its cost grows with the size of the fractions: use it for small networks (tens of neurons,
a few layers, or tied RNNs with a handful of steps).

Example:
    >>> import numpy as np
    >>> from bends.nets import MLP
    >>> net = MLP.from_layers([(np.array([[3.0]]), np.array([-1.0])),
    ...                        (np.array([[1.0]]), np.array([0.0]))])
    >>> trace_exact(net, np.zeros(1), np.ones(1)).exact_knots
    (Fraction(0, 1), Fraction(1, 3), Fraction(1, 1))
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np

from bends.errors import BendsError
from bends.nets import Network
from bends.tracing._results.trace import Trace

Matrix = list[list[Fraction]]
Vector = list[Fraction]


def _fractions(array: np.ndarray) -> list:
    return [_fractions(row) for row in array] if array.ndim > 1 else [Fraction(v) for v in array]


def _affine(weight: Matrix, bias: Vector, x: Vector) -> Vector:
    return [
        sum((wi * xi for wi, xi in zip(row, x, strict=True)), b)
        for row, b in zip(weight, bias, strict=True)
    ]


class _ExactNetwork:
    """The network in Fractions, with memoised evaluation at points of the segment."""

    def __init__(self, net: Network, start: np.ndarray, end: np.ndarray):
        converted: dict[int, tuple[Matrix, Vector]] = {}
        self.hidden = []
        for w, b in net.hidden_layers():  # a tied RNN yields one W k times: convert it once
            key = id(w)
            if key not in converted:
                converted[key] = (_fractions(w), _fractions(b))
            self.hidden.append(converted[key])
        w, b = net.readout()
        self.readout = (_fractions(w), _fractions(b))
        self.start = _fractions(start)
        self.direction = [e - s for s, e in zip(self.start, _fractions(end), strict=True)]
        self._memo: dict[Fraction, tuple[list[Vector], Vector]] = {}

    def __call__(self, t: Fraction) -> tuple[list[Vector], Vector]:
        """Pre-activations of every hidden layer, and the output, at x(t)."""
        if t not in self._memo:
            h = [s + t * d for s, d in zip(self.start, self.direction, strict=True)]
            pre = []
            for weight, bias in self.hidden:
                z = _affine(weight, bias, h)
                pre.append(z)
                h = [max(v, Fraction(0)) for v in z]
            self._memo[t] = (pre, _affine(*self.readout, h))
        return self._memo[t]


#: Exact mode refuses networks with more hidden neurons than this (summed over layers or
#: steps): fractions grow with depth, and it would run for hours rather than fail.
MAX_HIDDEN_NEURONS = 1000


def trace_exact(net: Network, start: np.ndarray, end: np.ndarray, progress: bool = False) -> Trace:
    """Trace ``net`` on the segment from ``start`` to ``end`` in exact rational arithmetic.

    ``progress=True`` shows a progress bar over the layers (exact mode can take minutes).
    """
    neurons = sum(net.widths)
    if neurons > MAX_HIDDEN_NEURONS:
        raise BendsError(
            f"exact mode is for small networks: this one has {neurons} hidden neurons "
            f"(layers × width), more than {MAX_HIDDEN_NEURONS}; use the float64 tracer"
        )
    exact = _ExactNetwork(net, start, end)
    knots = [Fraction(0), Fraction(1)]
    layers = range(len(exact.hidden))
    if progress:
        from rich.progress import track

        layers = track(layers, description="exact tracing", transient=True)
    for layer in layers:
        crossings = set()
        for t0, t1 in itertools.pairwise(knots):
            z0, z1 = exact(t0)[0][layer], exact(t1)[0][layer]
            for a, b in zip(z0, z1, strict=True):
                if a * b < 0:
                    crossings.add(t0 + (t1 - t0) * a / (a - b))
        knots = sorted(set(knots) | crossings)

    mids = [(t0 + t1) / 2 for t0, t1 in itertools.pairwise(knots)]
    patterns = [[[v > 0 for v in z] for z in exact(m)[0]] for m in mids]
    values = [exact(t)[1] for t in knots]
    slopes = [
        [(b - a) / (t1 - t0) for a, b in zip(v0, v1, strict=True)]
        for t0, t1, v0, v1 in zip(knots, knots[1:], values, values[1:], strict=False)
    ]

    region_breaks = np.zeros(len(knots), dtype=bool)
    piece_breaks = np.zeros(len(knots), dtype=bool)
    output_breaks = np.zeros((len(knots), len(values[0])), dtype=bool)
    for i in range(1, len(knots) - 1):
        region_breaks[i] = patterns[i - 1] != patterns[i]
        piece_breaks[i] = slopes[i - 1] != slopes[i]
        output_breaks[i] = [a != b for a, b in zip(slopes[i - 1], slopes[i], strict=True)]
    per_layer = [np.array([p[layer] for p in patterns]) for layer in range(len(exact.hidden))]
    return Trace(
        network=net,
        start=start,
        end=end,
        knots=np.array([float(t) for t in knots]),
        values=np.array([[float(v) for v in row] for row in values]),
        slopes=np.array([[float(s) for s in row] for row in slopes]),
        region_breaks=region_breaks,
        piece_breaks=piece_breaks,
        switches=[np.count_nonzero(p[1:] != p[:-1], axis=0) for p in per_layer],
        dead=[~p.any(axis=0) for p in per_layer],
        always_on=[p.all(axis=0) for p in per_layer],
        exact_knots=tuple(knots),
        output_breaks=output_breaks,
    )
