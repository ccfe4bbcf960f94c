r"""Compositional networks of Milkert, Hyde and Laine: waves of triangles added to y = x.

A triangle with peak :math:`a \in (0, 1)` is
:math:`T_a(u) = \sigma(u)/a - \sigma(u - a)/(a - a^2)` on [0, 1]; the waves are
:math:`W_i = T_{a_i} \circ \dots \circ T_{a_0}` and the network computes

.. math:: F(x) = x \mp \sum_{i=0}^{d-1} s_i W_i(x)

(subtract for x³, x¹¹; add for sin, tanh) with d ReLU layers of width 4 and exactly
:math:`2^d` pieces on (0, 1). Neurons are [acc, t1, t2, bias]; with
:math:`S_i = s_i / s_{i-1}`, :math:`s_{-1} = 1`, hidden layer i maps

.. math::
    \text{acc}' = \text{acc} \mp \tfrac{S_i}{a_i} t_1 \pm \tfrac{S_i}{a_i - a_i^2} t_2,\quad
    t_1' = \tfrac{S_i}{a_i} t_1 - \tfrac{S_i}{a_i - a_i^2} t_2,\quad
    t_2' = t_1' - S_i a_{i+1}\,\text{bias},\quad \text{bias}' = S_i\,\text{bias},

so that after it :math:`t_1 = s_i W_i`, :math:`t_2 = s_i\sigma(W_i - a_{i+1})`,
:math:`\text{bias} = s_i`. The first layer maps x to [x, x, σ(x − a_0), 1]; the output layer is
the accumulator row of the last step, without ReLU. The accumulator passes through ReLU, so
the running sums must stay ≥ 0 on [0, 1] (they do near the targets of the paper).

The differentiable manifold sets :math:`s_{i+1} = s_i (1 - a_{i+1}) a_{i+2}` with
:math:`s_0 = (1 - a_0) a_1`, or :math:`a_0 a_1` when waves are subtracted. With every
:math:`a_i = 1/2` and :math:`s_i = 4^{-(i+1)}` the network is Yarotsky's x² approximation.

Example:
    >>> import numpy as np
    >>> from bends import trace
    >>> net = compositional(np.full(5, 0.5), 4.0 ** -np.arange(1, 6), subtract=True)
    >>> trace(net).pieces
    32
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bends.errors import BendsError
from bends.nets import MLP, TiedRNN
from bends.nets.packing import array_namespace, unpack


def compositional_layers(peaks: Any, scales: Any, subtract: bool) -> list[tuple[Any, Any]]:
    """The ``(W, b)`` of every layer as a function of peaks and scales (NumPy arrays or
    torch tensors, through which gradients then flow: stage 2 of the manifold training).

    ``peaks`` and ``scales`` have shape (..., d): a leading batch axis gives many networks
    at once. The layers are views into :func:`compositional_parameters`.
    """
    d = peaks.shape[-1]
    return unpack(compositional_parameters(peaks, scales, subtract), (1, *[4] * d, 1))


def compositional_parameters(peaks: Any, scales: Any, subtract: bool) -> Any:
    """All weights and biases in one array (..., P), packed as :func:`bends.nets.packing.pack`
    does, in the array type of ``peaks`` (NumPy or torch).

    Built from (..., d) columns in a couple of dozen tensor operations whatever d is, which
    keeps the manifold stages' per-step cost (and their backward pass) small.
    """
    if peaks.shape != scales.shape or peaks.shape[-1] < 1:
        raise BendsError("peaks and scales need the same shape (..., d) with d >= 1")
    xp = array_namespace(peaks)
    sign = -1.0 if subtract else 1.0
    ones = xp.ones_like(peaks[..., :1])
    ratio = scales / xp.concatenate([ones, scales[..., :-1]], -1)  # S_i = s_i / s_{i-1}
    up, down = ratio / peaks, ratio / (peaks - peaks * peaks)
    zero, one = xp.zeros_like(peaks), xp.ones_like(peaks)
    # Layer i's rows [acc, t1, t2, bias] then its zero bias, for the hidden steps i < d - 1.
    columns = [one, sign * up, -sign * down, zero, zero, up, -down, zero]
    columns += [zero, up, -down, zero, zero, zero, zero, ratio, zero, zero, zero, zero]
    hidden = xp.stack(columns, -1)[..., :-1, :]
    hidden[..., 11] = -ratio[..., :-1] * peaks[..., 1:]  # t2 reads the bias: −S_i a_{i+1}
    first = [one[..., 0], one[..., 0], one[..., 0], zero[..., 0]]  # x → [x, x, x, 0]
    first += [zero[..., 0], zero[..., 0], -peaks[..., 0], one[..., 0]]  # − [0, 0, a_0, −1]
    last = [one[..., -1], sign * up[..., -1], -sign * down[..., -1], zero[..., -1], zero[..., -1]]
    hidden = hidden.reshape(*hidden.shape[:-2], -1)
    return xp.concatenate([xp.stack(first, -1), hidden, xp.stack(last, -1)], -1)


def _check_peaks(peaks) -> np.ndarray:
    a = np.atleast_1d(np.asarray(peaks, dtype=np.float64))
    if a.ndim != 1 or a.size < 1 or np.any((a <= 0) | (a >= 1)):
        raise BendsError("peaks must be a non-empty list of numbers strictly between 0 and 1")
    return a


def scales_on_manifold(peaks: Any, subtract: bool) -> Any:
    """The manifold rule as a map from peaks (..., d + 1) to scales (..., d), NumPy or torch
    (differentiable then)."""
    first = peaks[..., 0] if subtract else 1.0 - peaks[..., 0]
    scales = [first * peaks[..., 1]]
    for i in range(1, peaks.shape[-1] - 1):
        scales.append(scales[-1] * (1.0 - peaks[..., i]) * peaks[..., i + 1])
    return array_namespace(peaks).stack(scales, -1)


def manifold_scales(peaks, subtract: bool) -> np.ndarray:
    """Scales on the differentiable manifold: s_{i+1} = s_i (1 − a_{i+1}) a_{i+2}.

    Takes d + 1 peaks and returns d scales (the last peak only sets the last scale).
    """
    a = _check_peaks(peaks)
    if a.size < 2:
        raise BendsError("the manifold rule needs at least two peaks")
    return scales_on_manifold(a, subtract)


def compositional(peaks, scales, subtract: bool = True) -> MLP:
    """The compositional network x ∓ Σ s_i W_i (d = len(peaks) ReLU layers, 2^d pieces)."""
    a = _check_peaks(peaks)
    s = np.atleast_1d(np.asarray(scales, dtype=np.float64))
    if s.shape != a.shape or np.any(s <= 0):
        raise BendsError("scales must be positive, one per peak")
    layers = compositional_layers(a, s, subtract)
    return MLP.from_layers(layers, segment=(np.zeros(1), np.ones(1)))


def compositional_rnn(peak: float, ratio: float, steps: int, subtract: bool = True) -> TiedRNN:
    r"""The tied-RNN special case: every :math:`a_i = a`, geometric :math:`s_i = r^{i+1}`.

    One step is the hidden layer with :math:`S_i = r`; a first step from the input line
    :math:`(x(1 \pm 1), a x / r, 0, 1 / r)` (+ for subtracted waves) produces the first
    layer's [x, x, σ(x − a), 1]. After k steps the output is
    :math:`x \mp \sum_{i \le k-2} r^{i+1} W_i` (:math:`2^{k-1}` pieces). With a = 1/2 and
    r = 1/4 this is Yarotsky's f_{k−1}.
    """
    (a,) = _check_peaks([peak])
    if not ratio > 0:
        raise BendsError("the scale ratio must be positive")
    layers = compositional_layers(np.array([a, a]), np.array([ratio, ratio * ratio]), subtract)
    weight = layers[1][0]
    start = np.array([0.0, 0.0, 0.0, 1.0 / ratio])
    end = np.array([2.0 if subtract else 0.0, a / ratio, 0.0, 1.0 / ratio])
    return TiedRNN(weight, steps, 0, segment=(start, end))


def compositional_value(x, peaks, scales, subtract: bool = True) -> np.ndarray:
    """x ∓ Σ s_i W_i(x) evaluated directly from the triangles (the tests' reference)."""
    x = np.asarray(x, dtype=np.float64)
    wave, total = x, x.copy()
    sign = -1.0 if subtract else 1.0
    for a, s in zip(_check_peaks(peaks), np.atleast_1d(scales), strict=True):
        wave = np.maximum(wave, 0) / a - np.maximum(wave - a, 0) / (a - a * a)
        total += sign * s * wave
    return total


def bend_depth(switches: list[int]) -> int:
    """How many leading layers keep the doubling of a compositional network.

    In x ∓ Σ s_i W_i the neurons of hidden layer k (k = 0, 1, …) switch 2^k times on (0, 1)
    (the preimages of the next peak under W_{k−1}); the bend depth is the number of leading
    layers with at least that many switches, i.e. how deep the triangle structure survives.

    >>> bend_depth([1, 2, 4, 8, 16]), bend_depth([1, 2, 3, 9, 20]), bend_depth([0, 5])
    (5, 2, 0)
    """
    depth = 0
    while depth < len(switches) and switches[depth] >= 2**depth:
        depth += 1
    return depth
