r"""Exact 1-D tracing of a ReLU network along a segment: knots, pieces, activation regions.

The segment is :math:`x(t) = a + t\,(b - a)`, :math:`t \in [0, 1]`. Between consecutive
*knots* every pre-activation is affine in t, so its values at the knots are the whole truth.
The tracer pushes the knots through the network one hidden layer at a time:

1. pre-activations at the knots, :math:`z = W h + b`;
2. wherever a neuron *strictly* changes sign between two consecutive knots, insert the crossing
   :math:`t^* = t_i + (t_{i+1} - t_i)\, z_i / (z_i - z_{i+1})` (exact: z is affine there);
   coincident crossings become one knot;
3. apply ReLU.

Insertion needs no global sort: each interval's crossings are counted, a prefix sum gives
every interval its place in the output, and each neuron's row is then written in one pass
(compiled with numba); only intervals holding several crossings are ordered, by insertion
sort. The cost per layer is linear in the number of knots times the width.

Two array layouts, one result. Narrow networks (sawtooths, tied RNNs) keep one row per
neuron: rows are millions of knots long, and every step is a long contiguous pass. Networks
whose hidden layers all have at least ``WIDE`` neurons keep one row per knot: each new knot
is then one interpolation across all neurons, a loop the compiler turns into vector
instructions (the per-neuron layout would need gathers, which it does not vectorise). The
``*_rows`` kernels are the knot-row counterparts of the per-neuron ones; the tests trace every
generated network in both layouts against exact arithmetic.

Two counts, never confused:

* ``regions``: maximal intervals on which the activation pattern (z > 0 per hidden neuron)
  is constant. The pattern on each interval is built combinatorially: a neuron's state on an
  interval is fixed by the signs at its ends, and changes exactly at its own crossing, so no
  sign is ever read off an interpolated value that rounding may have pushed across zero.
* ``pieces``: maximal intervals on which the output is affine (equal slopes merged). Slopes
  :math:`dy/dt` are propagated forward per interval (:math:`\dot z = W \dot h`,
  :math:`\dot h = \dot z \cdot [z > 0]`), never taken as differences of nearly equal values.
  In wide layers most of :math:`W \dot h` follows from the previous interval by one column
  update per crossing (only the neuron that switches changes :math:`\dot h`).

The regions need only the values at the knots, so ``trace(..., pieces=False)`` skips the
slopes: one matrix product per layer instead of two, about half the time for wide networks.

**Tolerance policy (float64).** Constructed networks are degenerate on purpose: crossings land
exactly on knots, neurons are identically zero on intervals, duplicated neurons cross together.

* A pre-activation at a knot is taken as exactly zero when
  :math:`|z_j| \le \text{zero\_tol}\cdot(|W_j|\,\max_k |h_k| + |b_j|)`, the size of the terms
  whose sum it is (``zero_tol = 2^{-40}`` by default). ``Trace.snapped`` counts how often a
  nonzero value was snapped.
* A slope :math:`\dot z_j = W_j \dot h` is taken as exactly zero when it is at most
  ``slope_rtol`` (1e-9) times :math:`|W_j|\,|\dot h|`, the size of the terms it sums; two
  output slopes are equal when they differ by at most ``slope_rtol`` times the larger of
  their term sizes :math:`|W|\,|\dot h|`. (Sizes are local to one layer: a bound carried
  through all layers grows like :math:`\prod \|W_\ell\|` and would swallow real bends in
  deep networks.)
* Crossings of several neurons inside one interval that lie at most ``MERGE_GAP = 2^{-46}``
  (about 64 units in the last place of t ≤ 1) apart are one knot: neurons that vanish at the
  same point do so in float64 only up to rounding. ``Trace.merged`` counts such merges.
* When two knots that were not merged come closer than ``RESOLUTION``, float64 cannot locate
  them reliably any more and a :class:`~bends.errors.ResolutionWarning` says so; ``exact=True``
  (rational arithmetic, :mod:`bends.tracing._line.exact`) settles such cases for small networks.
* ``exact=True`` counts the pieces of the network *as stored*: weights meant to be 1/3 or
  1/(a − a²) are binary fractions near them, and where the ideal network has an exact zero the
  stored one may have slivers of width ~1e-17, finer than float64 can represent in t. The
  float tracer then counts the intended pieces and cannot see (or flag) those slivers.

Bias-free networks (tied RNNs) are renormalised by the largest |h| at the knots whenever it
leaves [2^-64, 2^64]: the partition is invariant under positive rescaling, so k = 1000 steps
neither overflow nor underflow. Output values and slopes are then reported as
``values * exp(log_scale)``; ``Trace.__call__`` applies the scale.

Example:
    >>> import numpy as np
    >>> from bends import MLP, trace
    >>> tent = MLP.from_layers([(np.array([[1.0], [1.0]]), np.array([0.0, -0.5])),
    ...                         (np.array([[2.0, -4.0]]), np.array([0.0]))])
    >>> tr = trace(tent)
    >>> tr.pieces, tr.regions, tr.breakpoints.tolist()
    (2, 2, [0.5])
"""

from __future__ import annotations

import warnings
import weakref

import numpy as np

from bends.budget import check_memory, memory_budget, outgrown
from bends.errors import ResolutionWarning
from bends.nets import Network
from bends.tracing._kernels.push import pack_network, push_segments, push_through, subnormal
from bends.tracing._results.trace import Trace
from bends.tracing._results.traces import Traces, warn_unresolved
from bends.tracing.tolerance import MERGE_GAP, RESOLUTION


def estimated_bytes(net: Network, knots: float) -> float:
    """What a float64 trace of ``net`` needs at its peak when it has ``knots`` knots.

    Measured (``benchmarks/memory_per_piece.py``): the layer being pushed through holds, per
    knot and per neuron, its pre-activations, post-activations and both slopes, old and new
    arrays overlapping (about 36 bytes per neuron), plus about 20 bytes of knot bookkeeping
    per knot; every hidden layer also keeps 10 bytes per neuron (switches, dead, always on)
    and its index. Rounded up: the estimate errs on the side of refusing."""
    layers, width = _layers_and_width(net)
    per_knot = BYTES_PER_KNOT_NEURON * width + BYTES_PER_KNOT
    return float(knots) * per_knot + float(layers) * (10.0 * width + 48.0)


BYTES_PER_KNOT_NEURON = 40
BYTES_PER_KNOT = 32


def _layers_and_width(net: Network) -> tuple[int, int]:
    """Hidden layers and the widest of them, read without expanding a tied RNN's steps."""
    if hasattr(net, "steps"):
        return int(net.steps), int(net.width)
    widths = [w.shape[0] for w in net.weights[:-1]] or [1]
    return len(widths), max([*widths, net.input_dim])


def _check_budget(net: Network) -> int:
    """Refuse a trace whose fixed part alone is over the memory budget; the most knots the
    rest of the budget holds (the kernels stop with MemoryError beyond it). The network's
    two sizes are computed once (networks are immutable)."""
    if (sizes := _SIZES.get(net)) is None:
        width = _layers_and_width(net)[1]
        sizes = _SIZES[net] = (
            estimated_bytes(net, 0),
            BYTES_PER_KNOT_NEURON * width + BYTES_PER_KNOT,
        )
    fixed, per_knot = sizes
    budget = memory_budget()
    if fixed + 2 * per_knot > budget:
        check_memory(fixed + 2 * per_knot, f"tracing {net!r}")
    return int(min((budget - fixed) / per_knot, 2**62))


_SIZES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _subnormal_segment(start: np.ndarray, end: np.ndarray) -> bool:
    if start.size <= 8:  # the common case, a few coordinates: cheaper without NumPy
        tiny = 2.2250738585072014e-308
        return any(0.0 < abs(v) < tiny for v in (*start.ravel().tolist(), *end.ravel().tolist()))
    return subnormal(start, end)


def compiled_push(net, kernel, start, end, zero_tol, slope_rtol, layout, pieces):
    """``kernel`` (:func:`push_through`, or ``push_segments`` on arrays of ends) on the packed
    ``net`` within the memory budget: (the packed network, the kernel's result). Warns when the
    network or the ends hold subnormal numbers."""
    max_knots = _check_budget(net)
    packed = pack_network(net)
    try:
        traced = kernel(*packed.arrays, start, end, zero_tol, slope_rtol, MERGE_GAP, layout,
                        pieces, max_knots)  # fmt: skip
    except MemoryError as err:
        outgrown(err, max_knots, lambda knots: estimated_bytes(net, knots),
                 lambda: f"tracing {net!r}")  # fmt: skip
    if packed.subnormal or _subnormal_segment(start, end):
        warnings.warn(
            "the network or segment holds subnormal numbers (below 2.2e-308), which float64 "
            "stores with fewer significant bits: counts may be off; try exact=True",
            ResolutionWarning,
            stacklevel=4,
        )
    return packed, traced


def float_trace(
    net, start, end, zero_tol, slope_rtol, knot_rows: bool | None = None, *, pieces: bool = True
) -> Trace:
    """:func:`~bends.tracing.trace` in float64 on a checked segment. ``knot_rows`` picks the
    array layout of :func:`push_through` (both give the same trace; tests run both); by
    default rows are knots when every hidden layer has at least WIDE neurons."""
    layout = -1 if knot_rows is None else int(knot_rows)
    packed, traced = compiled_push(net, push_through, start, end, zero_tol, slope_rtol, layout,
                                   pieces)  # fmt: skip
    t, values, slopes, region_breaks, piece_breaks = traced[:5]
    switches, ever_on, always, snapped, merged, log_scale, smallest_gap, by_output = traced[5:]
    never_on = ~ever_on
    per_neuron = [switches[layer] for layer in packed.layers]
    dead = [never_on[layer] for layer in packed.layers]
    always_on = [always[layer] for layer in packed.layers]
    if smallest_gap < RESOLUTION:
        warnings.warn(
            f"breakpoints closer than {RESOLUTION:.1e} in t (smallest gap {smallest_gap:.1e}): "
            "float64 cannot resolve them, counts may be off; try exact=True for small networks",
            ResolutionWarning,
            stacklevel=3,
        )
    return Trace(
        network=net,
        start=start,
        end=end,
        knots=t,
        values=values.T,
        slopes=slopes.T if pieces else None,
        region_breaks=region_breaks,
        piece_breaks=piece_breaks if pieces else None,
        switches=per_neuron,
        dead=dead,
        always_on=always_on,
        log_scale=log_scale,
        snapped=int(snapped),
        merged=int(merged),
        output_breaks=by_output.T if pieces else None,
    )


def compiled_segments(
    net, starts, ends, zero_tol: float, slope_rtol: float, pieces: bool
) -> Traces:
    """An MLP's or tied RNN's segments through the compiled tracer, all in one call."""
    packed, traced = compiled_push(net, push_segments, starts, ends, zero_tol, slope_rtol, -1,
                                   pieces)  # fmt: skip
    knots, values, slopes, region_breaks, piece_breaks = traced[:5]
    switches, ever_on, always_on, counters, by_output = traced[5:]
    offsets = np.cumsum([0] + [len(k) for k in knots])
    knots = np.concatenate(knots)
    warn_unresolved(knots, offsets, stacklevel=3)
    switches, ever_on, always_on = np.stack(switches), np.stack(ever_on), np.stack(always_on)
    return Traces(
        network=net,
        starts=starts,
        ends=ends,
        offsets=offsets,
        knots=knots,
        values=np.concatenate([v.T for v in values]),
        slopes=np.concatenate([d.T for d in slopes]) if pieces else None,
        region_breaks=np.concatenate(region_breaks),
        piece_breaks=np.concatenate(piece_breaks) if pieces else None,
        output_breaks=np.concatenate([o.T for o in by_output]) if pieces else None,
        switches=[switches[:, layer] for layer in packed.layers],
        dead=[~ever_on[:, layer] for layer in packed.layers],
        always_on=[always_on[:, layer] for layer in packed.layers],
        log_scale=counters[:, 2].copy(),
        snapped=counters[:, 0].astype(np.int64),
        merged=counters[:, 1].astype(np.int64),
    )
