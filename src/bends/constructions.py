r"""Closed-form networks from the theory, with their exact piece counts.

Example:
    >>> from bends import trace
    >>> trace(sawtooth(5)).pieces == 2**5
    True
"""

from __future__ import annotations

import numpy as np

from bends.errors import BendsError
from bends.nets import MLP

#: The tent map g(x) = 2x on [0, 1/2], 2 − 2x on [1/2, 1] as g = 2 relu(x) − 4 relu(x − 1/2).
TENT_OUT = np.array([[2.0, -4.0]])
TENT_IN_BIAS = np.array([0.0, -0.5])


def sawtooth(depth: int) -> MLP:
    r"""Telgarsky's sawtooth :math:`g^{L}` on [0, 1] as a width-2 MLP with L hidden layers.

    g is the tent map; :math:`g^L` has exactly :math:`2^L` affine pieces on [0, 1], with
    breakpoints :math:`j / 2^L`, and takes values 0 at even and 1 at odd breakpoints.
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise BendsError(f"depth must be a positive integer, got {depth!r}")
    layers = [(np.ones((2, 1)), TENT_IN_BIAS)]
    layers += [(np.repeat(TENT_OUT, 2, axis=0), TENT_IN_BIAS)] * (depth - 1)
    layers.append((TENT_OUT, np.zeros(1)))
    return MLP.from_layers(layers)
