"""The segment a network is traced along: its default, and checked user-given ends.

Example:
    >>> from bends import TiedRNN
    >>> import numpy as np
    >>> [end.tolist() for end in default_segment(TiedRNN(np.eye(3), steps=2, output=0))]
    [[0.0, 1.0, 0.0], [1.0, 1.0, 0.0]]
"""

from __future__ import annotations

import math

import numpy as np

from bends.errors import BendsError
from bends.nets import Network, TiedRNN


def default_segment(net: Network) -> tuple[np.ndarray, np.ndarray]:
    """The network's own ``segment`` if it has one; else [0, 1] for 1-D input, and for a tied
    RNN the line x(t) = (t, 1, 0, …, 0), t ∈ [0, 1].

    A bias-free network's regions are cones through the origin, so its pieces are counted on
    an affine line that misses the origin; coordinate 1 then acts as a constant.
    """
    if net.segment is not None:
        return net.segment
    if net.input_dim == 1:
        return np.zeros(1), np.ones(1)
    if isinstance(net, TiedRNN):
        start = np.zeros(net.width)
        start[1] = 1.0
        end = start.copy()
        end[0] = 1.0
        return start, end
    raise BendsError(f"the network takes {net.input_dim} inputs: give the segment's start and end")


def _segment(net: Network, start, end) -> tuple[np.ndarray, np.ndarray]:
    if start is None and end is None:
        return default_segment(net)
    if start is None or end is None:
        raise BendsError("give both ends of the segment, or neither")
    try:  # both ends in one conversion: this runs on every trace
        points = np.array((start, end), dtype=np.float64)
    except (TypeError, ValueError):
        points = None
    scalars = points is not None and points.shape == (2,) and net.input_dim == 1
    if scalars or (points is not None and points.shape == (2, net.input_dim)):
        points = points.reshape(2, net.input_dim)
        first, last = points.tolist()  # floats: cheaper to check than NumPy's small reductions
        steps = [b - a for a, b in zip(first, last, strict=True)]
        if first != last and all(map(math.isfinite, first + last + steps)):
            return points[0], points[1]
    return _check_ends(net, start, end)


def _check_ends(net: Network, start, end) -> tuple[np.ndarray, np.ndarray]:
    """The ends one at a time, to say which one is wrong and how."""
    points = []
    for name, value in (("start", start), ("end", end)):
        try:
            point = np.array(value, dtype=np.float64, ndmin=1)
        except (TypeError, ValueError):
            raise BendsError(f"{name} must be a list of numbers, got {value!r}") from None
        if point.shape != (net.input_dim,):
            inputs = f"{net.input_dim} input" + "s" * (net.input_dim != 1)
            given = f"shape {point.shape}"
            if point.ndim == 1:
                given = f"{point.size} coordinate" + "s" * (point.size != 1)
            raise BendsError(f"{name} has {given} but the network takes {inputs}")
        if not np.isfinite(point).all():
            raise BendsError(f"{name} contains NaN or infinite values")
        points.append(point)
    if (points[0] == points[1]).all():
        raise BendsError("start and end are the same point: the segment is empty")
    with np.errstate(over="ignore"):
        if not np.isfinite(points[1] - points[0]).all():
            raise BendsError("end − start overflows float64: the segment is too long")
    return points[0], points[1]
