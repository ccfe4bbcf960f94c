r"""The devil's staircase: a width-7 bias-free tied ReLU RNN computing Cantor-function iterates.

The iterates are :math:`F_0(y) = y` and

.. math:: F_{j+1}(y) = \begin{cases} F_j(3y)/2 & y \le 1/3,\\ 1/2 & 1/3 \le y \le 2/3,\\
          1/2 + F_j(3y - 2)/2 & y \ge 2/3, \end{cases}

with :math:`2^j` rising pieces of slope :math:`(3/2)^j` and :math:`2^j - 1` flat ones:
:math:`2^{j+1} - 1` pieces.

**Construction.** The state carries an accumulator and the current branch only through
homogeneous coordinates: a scale c and :math:`\zeta = c z` with z ∈ [0, 1] the branch's
argument, so that the final output is :math:`\text{acc} + c\,F_r(\zeta / c)`. One step applies
one level of the recursion, keeping that quantity fixed:

* left third: c halves, z ↦ 3z;
* middle third, first half: c and ζ shrink together to 0 (z' = 1) while acc takes over c/2;
  second half: c regrows from 0 with ζ = 0 (z' = 0);
* right third: acc gains c/2, c halves, z ↦ 3z − 2.

In units of c these are piecewise linear in z with kinks at 1/3, 1/2, 2/3. The kink
neurons are kept homogeneous and with integer weights, :math:`\rho_1 = \sigma(3\zeta - c)`,
:math:`\rho_2 = \sigma(2\zeta - c)`, :math:`\rho_3 = \sigma(3\zeta - 2c)` (that is,
:math:`3c\,\sigma(z - 1/3)`, :math:`2c\,\sigma(z - 1/2)`, :math:`3c\,\sigma(z - 2/3)`), so every
weight below is a binary fraction and the stored network is exactly the ideal one:

.. math::
    c' = c/2 - \rho_1 + 3\rho_2 - \rho_3,\quad
    \zeta' = \tfrac32\zeta - \tfrac32\rho_1 + \tfrac32\rho_2 + \tfrac12\rho_3,\quad
    \text{acc}' = \text{acc} + \rho_1 - \tfrac32\rho_2.

The state is :math:`[\text{out}, c, \zeta, \rho_1, \rho_2, \rho_3, \text{acc}]`; one step
computes the new c, ζ, acc from the old ρ's and the new ρ's (and out = acc + ζ) from the same
linear forms, all non-negative, so ReLU changes nothing it should not. A first step from the
input line :math:`y \mapsto (0, 2, 2y/3, 0, 0, 0, 0)` produces the split of (c, ζ) = (1, y);
after k steps the output coordinate is :math:`F_{k-1}(y)` exactly, y ∈ [0, 1].

Example:
    >>> from bends import trace
    >>> trace(devils_staircase(4)).pieces == 2 ** (4 + 1) - 1
    True
"""

from __future__ import annotations

import numpy as np

from bends.errors import BendsError
from bends.nets import TiedRNN

#: Each kink neuron ρ = σ(p ζ − q c): (p, q) for the kinks at 1/3, 1/2, 2/3.
_KINKS = ((3.0, 1.0), (2.0, 1.0), (3.0, 2.0))
OUT, C, ZETA, R1, R2, R3, ACC = range(7)


def devils_staircase(j: int) -> TiedRNN:
    """The width-7 tied RNN whose output after j + 1 steps is the Cantor iterate F_j on [0, 1]."""
    if isinstance(j, bool) or not isinstance(j, int | np.integer) or j < 0:
        raise BendsError(f"j must be a non-negative integer, got {j!r}")
    new_c, new_zeta, new_acc = np.zeros(7), np.zeros(7), np.zeros(7)
    new_c[[C, R1, R2, R3]] = [0.5, -1.0, 3.0, -1.0]
    new_zeta[[ZETA, R1, R2, R3]] = [1.5, -1.5, 1.5, 0.5]
    new_acc[[ACC, R1, R2]] = [1.0, 1.0, -1.5]
    weight = np.zeros((7, 7))
    weight[C], weight[ZETA], weight[ACC] = new_c, new_zeta, new_acc
    for row, (p, q) in zip((R1, R2, R3), _KINKS, strict=True):
        weight[row] = p * new_zeta - q * new_c
    weight[OUT] = new_acc + new_zeta
    start = np.zeros(7)
    start[C] = 2.0
    end = start.copy()
    end[ZETA] = 2.0 / 3.0
    return TiedRNN(weight, int(j) + 1, OUT, segment=(start, end))


def cantor_iterate(y, j: int) -> np.ndarray:
    """F_j(y) by unrolling the recursion one ternary digit at a time (O(j) per point).

    Level i adds 2^{−i−1} on the right third, 2^{−i−1} and stops on the middle third, and
    zooms into the chosen third; after j levels the remaining branch is the identity F_0.
    Large j (≈ 50) gives the Cantor function itself to float64 precision.

    >>> cantor_iterate([0.0, 0.25, 1 / 3, 0.5, 0.75, 1.0], 2).tolist()
    [0.0, 0.3125, 0.5, 0.5, 0.6875, 1.0]
    """
    y = np.array(y, dtype=np.float64)
    value = np.zeros_like(y)
    active = np.ones(y.shape, dtype=bool)
    scale = 1.0
    for _ in range(j):
        left, right = y <= 1 / 3, y >= 2 / 3
        middle = active & ~left & ~right
        value[middle | (active & right)] += scale / 2
        active &= ~middle
        y = np.clip(np.where(right, 3 * y - 2, 3 * y), 0.0, 1.0)
        scale /= 2
    value[active] += scale * y[active]
    return value
