"""Every argument check of the entry points (:mod:`bends.tracing._entry`), side by side: the
default segment and checked ends of one segment, many segments, a plane's corners, the float64
tolerances, flags and devices. Each raises a one-line :class:`~bends.errors.BendsError` (a
``TypeError`` for an argument of the wrong kind).

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


def segment(net: Network, start, end) -> tuple[np.ndarray, np.ndarray]:
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


def tolerance(value, name: str) -> float:
    """A tolerance is a real number in [0, 1): a relative size, never negative or NaN."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not 0.0 <= float(value) < 1.0:
        raise BendsError(f"{name} must lie in [0, 1), got {value}")
    return float(value)


def tolerances(zero_tol, slope_rtol) -> tuple[float, float]:
    """Both float64 tolerances (:mod:`bends.tracing.tolerance`), checked."""
    return tolerance(zero_tol, "zero_tol"), tolerance(slope_rtol, "slope_rtol")


def flags(**given) -> None:
    """Each flag is True or False (NumPy's booleans too), never a truthy stand-in."""
    for name, flag in given.items():
        if not isinstance(flag, bool | np.bool_):
            raise TypeError(f"{name} must be True or False, got {flag!r}")


def point_array(points, name: str) -> np.ndarray:
    try:
        array = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        raise BendsError(f"{name} must be an array of numbers") from None
    if array.ndim < 2 or len(array) == 0:
        raise BendsError(f"{name} must hold one point per segment, shape (segments, …); "
                         f"got shape {array.shape}")  # fmt: skip
    return array


def segments(starts: np.ndarray, ends: np.ndarray, shape: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Both ends as (segments, *shape): same count, finite, no segment of length zero."""
    if starts.shape != ends.shape:
        raise BendsError(f"starts {starts.shape} and ends {ends.shape} differ in shape")
    count = len(starts)
    if starts[0].size != int(np.prod(shape)):
        raise BendsError(f"each point has {starts[0].size} coordinates but the network takes "
                         f"{int(np.prod(shape))}")  # fmt: skip
    starts, ends = starts.reshape(count, *shape), ends.reshape(count, *shape)
    flat = (starts.reshape(count, -1), ends.reshape(count, -1))
    if not (np.isfinite(flat[0]).all() and np.isfinite(flat[1]).all()):
        raise BendsError("the segments' ends contain NaN or infinite values")
    with np.errstate(over="ignore"):
        if not np.isfinite(flat[1] - flat[0]).all():
            raise BendsError("end − start overflows float64: a segment is too long")
    empty = np.flatnonzero((flat[0] == flat[1]).all(axis=1))
    if len(empty):
        raise BendsError(f"segment {int(empty[0])} starts where it ends: it is empty")
    return starts, ends


def checked_device(device):
    """``device`` as a torch device; a BendsError if torch does not know it or this machine
    lacks it (a GPU torch cannot see)."""
    import torch

    try:
        found = torch.device(device)
    except (RuntimeError, TypeError):
        raise BendsError(f"unknown torch device {device!r} (cpu, cuda, cuda:1, mps, …)") from None
    if found.type == "cuda" and not torch.cuda.is_available():
        raise BendsError(f"device {device!r}: torch sees no CUDA GPU on this machine")
    if found.type == "mps" and not torch.backends.mps.is_available():
        raise BendsError(f"device {device!r}: torch sees no MPS device on this machine")
    return found


def plane_corners(net, a, b, c) -> np.ndarray:
    """The three corners A, B, C (3, input_dim) of a plane of ``net``'s input space, checked."""
    dim = _input_dim(net)
    corners = np.array([_point(p, dim, n) for p, n in ((a, "A"), (b, "B"), (c, "C"))])
    span = np.stack([corners[1] - corners[0], corners[2] - corners[0]], axis=1)  # (dim, 2)
    if np.linalg.matrix_rank(span) < 2:
        raise BendsError("A, B and C lie on one line: they span no plane")
    return corners


def _point(p, dim: int, name: str) -> np.ndarray:
    try:
        point = np.asarray(p, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise BendsError(f"{name} must be a point (a list of numbers), got {p!r}") from None
    if point.size != dim:
        raise BendsError(f"{name} has {point.size} coordinates but the network takes {dim}")
    if not np.all(np.isfinite(point)):
        raise BendsError(f"{name} contains NaN or infinite values")
    return point


#: The largest domain dimension :func:`~bends.tracing.trace_box` traces.
MOST_BOX_DIMS = 8


def box_bounds(net, low, high) -> tuple[np.ndarray, np.ndarray]:
    """An axis box [low, high] of ``net``'s input space, checked."""
    dim = _input_dim(net)
    low, high = _point(low, dim, "low"), _point(high, dim, "high")
    if not np.all(low < high):
        raise BendsError("need low < high in every coordinate of the box")
    box_dims(dim)
    return low, high


def box_corners(net, corners) -> np.ndarray:
    """d + 1 corners (d + 1, input_dim) of a d-dimensional slice of ``net``'s input space,
    checked: affinely independent, d ≤ MOST_BOX_DIMS."""
    dim = _input_dim(net)
    try:
        count = len(corners)
    except TypeError:
        raise BendsError(f"corners must be a list of points, got {corners!r}") from None
    points = np.array([_point(p, dim, f"corner {i}") for i, p in enumerate(corners)])
    if count < 2:
        raise BendsError("a slice needs at least 2 corners (d + 1 for d dimensions)")
    box_dims(count - 1)
    if np.linalg.matrix_rank(points[1:] - points[0]) < count - 1:
        raise BendsError(f"the {count} corners lie in fewer than {count - 1} dimensions")
    return points


def box_dims(d: int) -> None:
    """Refuse a domain of more than MOST_BOX_DIMS dimensions."""
    if d > MOST_BOX_DIMS:
        raise BendsError(f"trace_box traces domains of up to {MOST_BOX_DIMS} dimensions, "
                         f"this one has {d}: take a slice through d + 1 corners")  # fmt: skip


def _input_dim(net) -> int:
    return int(np.prod(net.input_shape)) if hasattr(net, "input_shape") else net.input_dim
