r"""Series of sawtooth functions: Yarotsky's x², the partial sums of x(1 − x), the blog's candidate.

With g the tent map on [0, 1] and :math:`g_s = g^{\circ s}`,

.. math:: f_m(x) = x - \sum_{s=1}^{m} \frac{g_s(x)}{4^s}

is the piecewise-linear interpolant of x² at the points :math:`j/2^m` (sup error exactly
:math:`2^{-2m-2}`), and :math:`x(1-x) = \sum_{s\ge1} g_s(x)/4^s`. All are instances of

.. math:: S(x) = \alpha x + \sum_{s=1}^{m} c_s\, g_s(x),

built here as a width-4 MLP (any coefficients) and, for geometric coefficients
:math:`c_s = w\,4^{-s}`, as a bias-free tied RNN of width 4.

Example:
    >>> import numpy as np
    >>> from bends import trace
    >>> net = yarotsky_square(3)
    >>> trace(net).pieces
    8
    >>> x = np.linspace(0, 1, 17)  # contains the midpoints of the pieces, where the error peaks
    >>> float(np.max(np.abs(net(x[:, None])[:, 0] - x**2))) == 2.0 ** (-2 * 3 - 2)
    True
"""

from __future__ import annotations

import numpy as np

from bends.constructions.maps import positive_int, tent_map
from bends.nets import MLP, TiedRNN

#: The tent map's split: pre-activations relu(u), relu(u − 1/2), and g(u) = 2·first − 4·second.
_SPLIT_BIAS = np.array([0.0, -0.5])
_TENT = np.array([2.0, -4.0])


def sawtooth_series(alpha: float, coefficients) -> MLP:
    r"""The MLP of :math:`\alpha x + \sum_{s=1}^m c_s g_s(x)` on [0, 1]: m hidden layers, width 4.

    Neurons: the positive and negative parts of the running sum (so any coefficients work),
    and the split :math:`\sigma(u), \sigma(u - 1/2)` of the current sawtooth :math:`u = g_{s-1}`.
    """
    c = np.asarray(coefficients, dtype=np.float64)
    positive_int(c.size, "the number of terms")
    # Layer 1: [relu(αx), relu(−αx), relu(x), relu(x − 1/2)].
    layers = [(np.array([[alpha], [-alpha], [1.0], [1.0]]), np.array([0, 0, *_SPLIT_BIAS]))]
    for coefficient in c[:-1]:
        # From [P, N, a, b]: g = 2a − 4b; S' = P − N + c g; new split of g.
        sum_row = np.array([1.0, -1.0, *(coefficient * _TENT)])
        w = np.array([sum_row, -sum_row, [0, 0, *_TENT], [0, 0, *_TENT]])
        layers.append((w, np.array([0, 0, *_SPLIT_BIAS])))
    layers.append((np.array([[1.0, -1.0, *(c[-1] * _TENT)]]), np.zeros(1)))
    return MLP.from_layers(layers, segment=(np.zeros(1), np.ones(1)))


def sawtooth_series_rnn(alpha: float, ratio_weight: float, steps: int) -> TiedRNN:
    r"""A width-4 tied RNN with output :math:`\alpha x + w \sum_{s<k} g_s(x)/4^s` after k steps.

    State :math:`(\text{ACC}, D, A, B)` after step s: the running sum, the decaying scale
    :math:`D = 4^{1-s}`, and the scaled split :math:`A = D\,\sigma(u)`,
    :math:`B = D\,\sigma(u - 1/2)` of :math:`u = g_{s-1}(x)`. One step:

    .. math:: \text{ACC}' = \sigma(\text{ACC} + w(2A - 4B)/4),\quad
              A' = \sigma((2A - 4B)/4),\quad B' = \sigma((2A - 4B)/4 - D/8),\quad D' = D/4.

    The running sums must stay ≥ 0 (true for x², x(1 − x) and the blog's candidate). The input
    line is :math:`((\alpha - w)x, 4, 2x, 0)`, x ∈ [0, 1], stored as the network's segment.
    """
    steps = positive_int(steps, "steps")
    weight = np.array(
        [
            [1.0, 0.0, ratio_weight / 2, -ratio_weight],
            [0.0, 0.25, 0.0, 0.0],
            [0.0, 0.0, 0.5, -1.0],
            [0.0, -0.125, 0.5, -1.0],
        ]
    )
    start = np.array([0.0, 4.0, 0.0, 0.0])
    end = np.array([alpha - ratio_weight, 4.0, 2.0, 0.0])
    return TiedRNN(weight, steps, 0, segment=(start, end))


def yarotsky_square(m: int) -> MLP:
    """Yarotsky's f_m: the interpolant of x² at j/2^m, 2^m pieces, sup error 2^(−2m−2)."""
    m = positive_int(m, "m")
    return sawtooth_series(1.0, -(4.0 ** -np.arange(1, m + 1)))


def yarotsky_square_rnn(m: int) -> TiedRNN:
    """Yarotsky's f_m as a width-4 tied RNN with m + 1 steps."""
    return sawtooth_series_rnn(1.0, -1.0, positive_int(m, "m") + 1)


def parabola(m: int) -> MLP:
    """The partial sum Σ_{s≤m} g_s/4^s of x(1 − x) = x − x² (so 2^m pieces)."""
    m = positive_int(m, "m")
    return sawtooth_series(0.0, 4.0 ** -np.arange(1, m + 1))


def parabola_rnn(m: int) -> TiedRNN:
    """The partial sum Σ_{s≤m} g_s/4^s of x(1 − x) as a width-4 tied RNN with m + 1 steps."""
    return sawtooth_series_rnn(0.0, 1.0, positive_int(m, "m") + 1)


def blog_candidate(m: int) -> MLP:
    """The blog's candidate ¼t₁ + 1/32 t₂ + 1/128 t₄ + … = ½x(1 − x) + ⅛g₁, m terms."""
    m = positive_int(m, "m")
    coefficients = 0.5 * 4.0 ** -np.arange(1, m + 1)
    coefficients[0] = 0.25
    return sawtooth_series(0.0, coefficients)


def blog_candidate_rnn(m: int) -> TiedRNN:
    r"""The blog's candidate with m terms as a bias-free tied RNN of width 7 (m + 1 steps).

    The candidate is :math:`\tfrac12\sum_s g_s/4^s + \tfrac18 g_1`: the geometric part is
    :func:`sawtooth_series_rnn` with w = 1/2 (state ACC, D, A, B); the extra ⅛g₁ needs g₁'s
    split exactly once, which a tied W gets from a one-shot copy gated by a latch:

    * Q' = σ(Q + D): 0 at the input, then ≥ 4 forever;
    * E' = σ(A/2 − Q), F' = σ(A/2 − D/8 − Q): at step 1 the split σ(x), σ(x − 1/2) of x, and 0
      at every later step (A/2 ≤ 1/2 < Q);
    * ACC also gains (2E − 4F)/8, which is g₁/8 at step 2 and 0 otherwise.
    """
    steps = positive_int(m, "m") + 1
    base = sawtooth_series_rnn(0.0, 0.5, steps)
    acc, d, a, _b, q, e, f = range(7)  # _b: the B neuron, wired by sawtooth_series_rnn
    weight = np.zeros((7, 7))
    weight[:4, :4] = base.weight
    weight[acc, [e, f]] = [0.25, -0.5]
    weight[q, [q, d]] = [1.0, 1.0]
    weight[e, [a, q]] = [0.5, -1.0]
    weight[f, [a, d, q]] = [0.5, -0.125, -1.0]
    start, end = (np.concatenate([point, np.zeros(3)]) for point in base.segment)
    return TiedRNN(weight, steps, acc, segment=(start, end))


def sawtooth_value(x, s: int):
    """g_s(x), the reference for tests and plots."""
    return tent_map(2.0).iterate(np.asarray(x, dtype=np.float64), s)
