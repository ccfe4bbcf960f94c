"""Compiled helpers the kernels share: kernel options, fresh arrays on huge pages, serial and
parallel compiles of one kernel, the crossing test, merging of coincident crossings into
knots, and small inline loops."""

from __future__ import annotations

import sys
from types import FunctionType

import numba
import numpy as np
from numba.core import types

#: numba options of every tracing kernel (cached next to the package after the first call).
KERNEL = {"cache": True, "error_model": "numpy", "boundscheck": False}
HUGE_PAGE, MADV_HUGEPAGE = 2**21, 14


if sys.platform.startswith("linux"):
    _madvise = types.ExternalFunction("madvise", types.int32(types.intp, types.intp, types.int32))

    @numba.njit(inline="always", **KERNEL)
    def _advised(array):  # pragma: no cover - compiled
        """A fresh array with transparent huge pages asked for, as NumPy asks: touching fresh
        memory is much of a deep trace's cost (benchmarks/README.md). An external symbol,
        not a ctypes pointer, so that numba can cache the code calling it."""
        nbytes = array.size * array.itemsize
        if nbytes >= 4 * HUGE_PAGE:
            begin = array.ctypes.data
            first = (begin + HUGE_PAGE - 1) // HUGE_PAGE * HUGE_PAGE
            last = (begin + nbytes) // HUGE_PAGE * HUGE_PAGE
            _madvise(first, last - first, MADV_HUGEPAGE)
        return array
else:  # pragma: no cover - other systems manage pages their own way

    @numba.njit(inline="always", **KERNEL)
    def _advised(array):
        return array


@numba.njit(inline="always", **KERNEL)
def _crosses(a: float, b: float) -> bool:  # pragma: no cover - compiled
    return (a > 0.0 and b < 0.0) or (a < 0.0 and b > 0.0)


@numba.njit(**KERNEL)
def _share_knots(
    offset, order, c_where, c_frac, merge_gap, knot_where, knot_frac, knot_of, start
):  # pragma: no cover - compiled
    """Crossings of interval i (crossing order[m] in slot m, slots offset[i] .. offset[i+1] − 1
    by position) at most ``merge_gap`` apart share one knot: neurons that vanish together do
    so in float64 only up to rounding. Each knot's position and fraction of its interval go
    to knot_where/knot_frac, which knot each crossing is to knot_of, and where old knot i
    goes to start[i]. Returns the number of crossings merged into a knot at another position."""
    merged, placed = 0, 0
    n = offset.size
    for i in range(n - 1):
        rank = -1
        for m in range(offset[i], offset[i + 1]):
            k = order[m]
            if rank < 0 or c_where[k] - knot_where[offset[i] + rank] > merge_gap:
                rank += 1
                knot_where[offset[i] + rank] = c_where[k]
                knot_frac[offset[i] + rank] = c_frac[k]
            else:  # an exact coincidence is no approximation: only near ones are counted
                merged += c_where[k] != knot_where[offset[i] + rank]
            knot_of[k] = rank
        start[i] = i + placed
        placed += rank + 1
    start[n - 1] = n - 1 + placed
    return merged


@numba.njit(**KERNEL)
def _write_positions(
    t, region_breaks, offset, knot_where, start, t_out, breaks
):  # pragma: no cover
    """Write the merged knots and their region flags (an inserted knot always breaks); the
    write kernels add the breaks of the layer's old knots."""
    n, size = t.size, t_out.size
    for i in range(n - 1):
        t_out[start[i]] = t[i]
        breaks[start[i]] = region_breaks[i]
        for r in range(start[i + 1] - start[i] - 1):
            t_out[start[i] + 1 + r] = knot_where[offset[i] + r]
            breaks[start[i] + 1 + r] = True
    t_out[size - 1] = t[n - 1]
    breaks[size - 1] = region_breaks[n - 1]


@numba.njit(inline="always", **KERNEL)
def _interpolate(a, b, frac, out, top):  # pragma: no cover - compiled
    """out = ReLU(a + (b − a) frac) (exactly ReLU(a) at frac = 0); top: running maxima."""
    for j in range(out.size):
        value = a[j] + (b[j] - a[j]) * frac
        out[j] = value if value > 0.0 else 0.0
        top[j] = value if value > top[j] else top[j]


@numba.njit(inline="always", **KERNEL)
def _masked(slope, on, out):  # pragma: no cover - compiled
    """out = slope where the neuron is on, else 0."""
    for j in range(out.size):
        out[j] = slope[j] if on[j] else 0.0


@numba.njit(inline="always", **KERNEL)
def _masked_on(a, b, slope, out):  # pragma: no cover - compiled
    """out = slope where the neuron is on between values a and b at an interval's ends."""
    for j in range(out.size):
        out[j] = slope[j] if _on_between(a[j], b[j]) else 0.0


@numba.njit(inline="always", **KERNEL)
def _on_between(a, b):  # pragma: no cover - compiled
    """Whether a neuron whose pre-activation is a and b at an interval's ends is on inside it
    (affine in between: positive there, or zero at a and rising)."""
    return (a > 0.0) | ((a == 0.0) & (b > 0.0))


@numba.njit(inline="always", **KERNEL)
def _count_zeros(x):  # pragma: no cover - compiled
    count = 0
    for j in range(x.size):
        count += x[j] == 0.0
    return count


@numba.njit(inline="always", **KERNEL)
def _largest_magnitude(x):  # pragma: no cover - compiled
    """max |x|, in eight running maxima (independent chains run in parallel)."""
    lanes = np.zeros(8)
    whole = x.size // 8 * 8
    for p in range(0, whole, 8):
        for lane in range(8):
            value = abs(x[p + lane])
            lanes[lane] = value if value > lanes[lane] else lanes[lane]
    largest = 0.0
    for p in range(whole, x.size):
        value = abs(x[p])
        largest = value if value > largest else largest
    for lane in range(8):
        largest = lanes[lane] if lanes[lane] > largest else largest
    return largest


def on_cores(kernel, sized_by: int, least: int):
    """``kernel`` (a plain function with ``prange`` loops whose last argument is how many
    parts to split its work into: one per thread, each with its own scratch) compiled twice,
    serial and on every core; a call takes the parallel one when its argument ``sized_by`` is
    longer than ``least`` (below, a parallel region's start and join cost more than the
    work, and only what runs is compiled: the parallel compile is the slow one)."""
    serial = numba.njit(**KERNEL)(kernel)
    # a copy under its own name: numba's cache is keyed by the function's name and line, and
    # would hand one variant the other's code
    twin = FunctionType(kernel.__code__, kernel.__globals__, kernel.__name__ + "_on_cores")
    twin.__qualname__ = twin.__name__
    parallel = numba.njit(parallel=True, **KERNEL)(twin)

    def run(*args):
        if len(args[sized_by]) > least:
            return parallel(*args, numba.get_num_threads())
        return serial(*args, 1)

    run.__doc__, run.__name__ = kernel.__doc__, kernel.__name__.lstrip("_")
    return run
