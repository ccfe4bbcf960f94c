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
  (rational arithmetic, :mod:`bends.exact`) settles such cases for small networks.
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
    >>> from bends.nets import MLP
    >>> tent = MLP.from_layers([(np.array([[1.0], [1.0]]), np.array([0.0, -0.5])),
    ...                         (np.array([[2.0, -4.0]]), np.array([0.0]))])
    >>> tr = trace(tent)
    >>> tr.pieces, tr.regions, tr.breakpoints.tolist()
    (2, 2, [0.5])
"""

from __future__ import annotations

import itertools
import math
import sys
import warnings
import weakref
from dataclasses import dataclass, field
from fractions import Fraction
from typing import NamedTuple

import numba
import numpy as np
from numba.core import types

from bends.errors import BendsError, ResolutionWarning
from bends.nets import Network, TiedRNN, require_unbatched

ZERO_TOL = 2.0**-40
SLOPE_RTOL = 1e-9
RESOLUTION = 2.0**-40
MERGE_GAP = 2.0**-46
RESCALE_ABOVE, RESCALE_BELOW = 2.0**64, 2.0**-64


@dataclass(frozen=True, eq=False)
class Trace:
    """What a segment looks like after passing through a network.

    Attributes:
        network: the traced network; ``start``/``end``: the segment's end points.
        knots: sorted t positions of every knot (ends, and every crossing of every neuron).
        values: output at the knots, shape (n_knots, output_dim), times ``exp(log_scale)``.
        slopes: d output / dt on each interval between knots, same scale as ``values``
            (None when traced with ``pieces=False``).
        region_breaks / piece_breaks: boolean per knot, True where the activation pattern
            (resp. the output's slope) changes (``piece_breaks`` is None when traced with
            ``pieces=False``).
        crossings: per hidden layer, how often each neuron switches on or off (its bends).
        dead / always_on: per hidden layer, neurons that are off (resp. on) on the whole segment.
        snapped: pre-activations at knots that were snapped to exactly zero (see module doc).
        merged: crossings that shared a knot with a crossing at most MERGE_GAP away.
        exact_knots: the knots as Fractions when traced with ``exact=True``.
    """

    network: Network
    start: np.ndarray
    end: np.ndarray
    knots: np.ndarray
    values: np.ndarray
    slopes: np.ndarray | None
    region_breaks: np.ndarray
    piece_breaks: np.ndarray | None
    crossings: list[np.ndarray]
    dead: list[np.ndarray]
    always_on: list[np.ndarray]
    log_scale: float = 0.0
    snapped: int = 0
    merged: int = 0
    exact_knots: tuple[Fraction, ...] | None = field(default=None, repr=False)

    @property
    def exact(self) -> bool:
        return self.exact_knots is not None

    @property
    def has_pieces(self) -> bool:
        """False when traced with ``pieces=False`` (regions only)."""
        return self.piece_breaks is not None

    @property
    def pieces(self) -> int:
        """Maximal intervals on which the output is affine."""
        return int(np.count_nonzero(self._require_pieces())) + 1

    def _require_pieces(self) -> np.ndarray:
        if self.piece_breaks is None:
            raise BendsError("this trace has regions only (pieces=False): trace with pieces=True")
        return self.piece_breaks

    @property
    def regions(self) -> int:
        """Maximal intervals on which the activation pattern is constant."""
        return int(np.count_nonzero(self.region_breaks)) + 1

    def describe(self) -> str:
        """'P pieces, R activation regions' (the regions alone for a regions-only trace)."""
        pieces = f"{self.pieces} pieces, " if self.has_pieces else ""
        return f"{pieces}{self.regions} activation regions"

    @property
    def resolved(self) -> bool:
        """False when two knots lie closer than float64 can resolve (see ResolutionWarning)."""
        return self.exact or len(self.knots) < 2 or float(np.diff(self.knots).min()) >= RESOLUTION

    @property
    def breakpoints(self) -> np.ndarray:
        """t positions where the output bends."""
        return self.knots[self._require_pieces()]

    @property
    def region_boundaries(self) -> np.ndarray:
        """t positions where the activation pattern changes."""
        return self.knots[self.region_breaks]

    def points(self, t: np.ndarray | None = None) -> np.ndarray:
        """Input-space points x(t) (at the knots by default)."""
        t = self.knots if t is None else np.asarray(t, dtype=np.float64)
        return self.start + np.multiply.outer(t, self.end - self.start)

    def __call__(self, t: np.ndarray) -> np.ndarray:
        """The output at t, read off the piecewise-linear trace, at true scale (which can
        overflow to inf for long tied RNNs: then use ``values`` and ``log_scale``)."""
        t = np.asarray(t, dtype=np.float64)
        columns = [np.interp(t, self.knots, v) for v in self.values.T]
        return np.stack(columns, axis=-1) * np.exp(self.log_scale)

    def layer_values(self, layer: int) -> np.ndarray:
        """Pre-activations of hidden layer ``layer`` at the knots, shape (n_knots, width).

        For bias-free networks (tied RNNs) the values are divided by a positive factor
        whenever they would leave [2^-64, 2^64], as in the trace: signs, and so the
        pattern, are unchanged, and k = 1000 steps do not overflow.
        """
        hidden = list(self.network.hidden_layers())
        if not 0 <= layer < len(hidden):
            raise BendsError(f"layer {layer} is not a hidden layer (there are {len(hidden)})")
        h = self.points()
        for w, b in hidden[:layer]:
            h = np.maximum(h @ w.T + b, 0.0)
            top = float(h.max())
            if not self.network.has_bias and top > 0 and not RESCALE_BELOW <= top <= RESCALE_ABOVE:
                h /= top
        w, b = hidden[layer]
        return h @ w.T + b

    def summary(self) -> dict:
        """A JSON-ready summary: counts, breakpoints and per-layer neuron statistics."""
        return {
            "pieces": self.pieces if self.has_pieces else None,
            "regions": self.regions,
            "breakpoints": self.breakpoints.tolist() if self.has_pieces else None,
            "knots": len(self.knots),
            "exact": self.exact,
            "resolved": self.resolved,
            "snapped": self.snapped,
            "merged": self.merged,
            "start": self.start.tolist(),
            "end": self.end.tolist(),
            "crossings_per_layer": [int(c.sum()) for c in self.crossings],
            "dead_per_layer": [int(d.sum()) for d in self.dead],
            "always_on_per_layer": [int(a.sum()) for a in self.always_on],
        }


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


def trace(
    net: Network,
    start=None,
    end=None,
    *,
    exact: bool = False,
    zero_tol: float = ZERO_TOL,
    slope_rtol: float = SLOPE_RTOL,
    progress: bool = False,
    pieces: bool = True,
) -> Trace:
    """Trace ``net`` along the segment from ``start`` to ``end`` (see module docstring).

    Args:
        net: an unbatched MLP or TiedRNN (iterate over a batched one).
        start, end: input-space end points; default: :func:`default_segment`.
        exact: use rational arithmetic (:mod:`bends.exact`); slow, for small networks.
        zero_tol, slope_rtol: the float64 tolerances (module docstring).
        progress: show a progress bar in exact mode (which can take minutes).
        pieces: False skips the slopes, which only the pieces need: regions, knots, values,
            crossings, dead and always-on neurons are the same, about twice as fast for
            wide networks; ``pieces`` and ``breakpoints`` then raise. (Exact mode always
            finds both.)

    Example:
        >>> from bends.constructions import sawtooth
        >>> trace(sawtooth(4), pieces=False).regions
        16
    """
    require_unbatched(net)
    start, end = _segment(net, start, end)
    if exact:
        from bends.exact import trace_exact

        return trace_exact(net, start, end, progress=progress)
    return _float_trace(net, start, end, zero_tol, slope_rtol, pieces=pieces)


def _float_trace(
    net, start, end, zero_tol, slope_rtol, knot_rows: bool | None = None, *, pieces: bool = True
) -> Trace:
    """:func:`trace` in float64 on a checked segment. ``knot_rows`` picks the array layout
    of :func:`_push_through` (both give the same trace; tests run both); by default rows are
    knots when every hidden layer has at least WIDE neurons."""
    packed = _packed(net)
    layout = -1 if knot_rows is None else int(knot_rows)
    traced = _push_through(
        *packed.arrays, start, end, zero_tol, slope_rtol, MERGE_GAP, layout, pieces
    )
    t, values, slopes, region_breaks, piece_breaks = traced[:5]
    switches, ever_on, always, snapped, merged, log_scale, smallest_gap = traced[5:]
    never_on = ~ever_on
    crossings = [switches[layer] for layer in packed.layers]
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
        crossings=crossings,
        dead=dead,
        always_on=always_on,
        log_scale=log_scale,
        snapped=int(snapped),
        merged=int(merged),
    )


SMALL_FAN_IN = 4
WIDE = 32  # hidden widths from which rows per knot are faster (benchmarks/README.md)
HUGE_PAGE, MADV_HUGEPAGE = 2**21, 14
_KERNEL = {"cache": True, "error_model": "numpy", "boundscheck": False}
_EMPTY = np.zeros(0)


class _Packed(NamedTuple):
    """A network as :func:`_push_through` takes it: ``arrays`` are the distinct hidden
    layers' weights and biases, flat (a tied RNN stores one), their columns and rows, which
    one every step applies, and the readout; ``layers`` slice per-neuron results by layer."""

    arrays: tuple[np.ndarray, ...]
    layers: tuple[slice, ...]


# Networks are immutable (read-only arrays), so each is packed once, on its first trace.
_PACKED: weakref.WeakKeyDictionary[Network, _Packed] = weakref.WeakKeyDictionary()


def _packed(net: Network) -> _Packed:
    if (packed := _PACKED.get(net)) is not None:
        return packed
    index, stored, layer_of = {}, [], []
    for w, b in net.hidden_layers():
        layer_of.append(index.setdefault((id(w), id(b)), len(stored)))
        if layer_of[-1] == len(stored):
            stored.append((w, b))
    rows = np.array([w.shape[0] for w, _ in stored], dtype=np.int64)
    cols = np.array([w.shape[1] for w, _ in stored], dtype=np.int64)
    flat_w = np.concatenate([w.ravel() for w, _ in stored] + [_EMPTY], dtype=np.float64)
    flat_b = np.concatenate([b for _, b in stored] + [_EMPTY], dtype=np.float64)
    readout = (np.ascontiguousarray(a, np.float64) for a in net.readout())
    bounds = itertools.pairwise([0, *itertools.accumulate(rows[layer_of].tolist())])
    packed = _Packed(
        (flat_w, flat_b, cols, rows, np.array(layer_of, dtype=np.int64), *readout),
        tuple(itertools.starmap(slice, bounds)),
    )
    _PACKED[net] = packed
    return packed


if sys.platform.startswith("linux"):
    _madvise = types.ExternalFunction("madvise", types.int32(types.intp, types.intp, types.int32))

    @numba.njit(inline="always", **_KERNEL)
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

    @numba.njit(inline="always", **_KERNEL)
    def _advised(array):
        return array


@numba.njit(**_KERNEL)
def _push_through(
    flat_w,
    flat_b,
    cols,
    rows,
    layer_of,
    readout_w,
    readout_b,
    start,
    end,
    zero_tol,
    slope_rtol,
    merge_gap,
    layout,
    pieces,
):  # pragma: no cover - compiled
    """:func:`trace` in one compiled call: the hidden layers (stored once each, applied in the
    order ``layer_of``), then the readout and its pieces (see the module docstring).
    ``layout``: 1 for rows per knot, 0 for rows per neuron, −1 to choose by width. Without
    ``pieces`` no slopes are propagated (they only serve the pieces): every slope array
    is then empty."""
    dim = start.size
    knot_rows = layout == 1
    if layout < 0:
        knot_rows = True
        for u in layer_of:
            knot_rows &= rows[u] >= WIDE
    renormalise = True  # bias-free: the partition is invariant under positive rescaling
    for bias in flat_b:
        renormalise &= bias == 0.0
    for bias in readout_b:
        renormalise &= bias == 0.0
    # Narrow networks keep arrays (neurons, knots): every step is then a long contiguous row
    # operation. Wide ones keep (knots, neurons): each knot is then one vector operation.
    t = np.array([0.0, 1.0])
    h = np.empty((2, dim) if knot_rows else (dim, 2))  # post-activations at the knots
    dh = np.empty((1, dim) if knot_rows else (dim, 1))  # d h / dt on each interval
    h_top = np.empty(dim)  # max over knots of |h| for each neuron
    for j in range(dim):
        if knot_rows:
            h[0, j], h[1, j], dh[0, j] = start[j], end[j], end[j] - start[j]
        else:
            h[j, 0], h[j, 1], dh[j, 0] = start[j], end[j], end[j] - start[j]
        h_top[j] = max(abs(start[j]), abs(end[j]))
    dh_top = np.full(1, np.abs(dh).max())  # max over neurons of |dh| on each interval
    region_breaks = np.zeros(2, dtype=np.bool_)
    w_at, b_at = np.zeros(rows.size + 1, np.int64), np.zeros(rows.size + 1, np.int64)
    for u in range(rows.size):
        w_at[u + 1], b_at[u + 1] = w_at[u] + rows[u] * cols[u], b_at[u] + rows[u]
    neurons = 0
    for u in layer_of:
        neurons += rows[u]
    switches = np.empty(neurons, np.int64)
    ever_on, always_on = np.empty(neurons, np.bool_), np.empty(neurons, np.bool_)
    # Where the last layer's crossings went (see _slopes); none before the first layer.
    start_of, offset = np.zeros(1, np.int64), np.zeros(1, np.int64)
    order, knot_of, c_neuron = np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0, np.int32)
    snapped, merged, log_scale, done = 0, 0, 0.0, 0
    for step in range(layer_of.size):
        u = layer_of[step]
        w = flat_w[w_at[u] : w_at[u + 1]].reshape(rows[u], cols[u])
        b = flat_b[b_at[u] : b_at[u + 1]]
        abs_w = np.abs(w)
        zero_at = zero_tol * (np.dot(abs_w, h_top) + np.abs(b))
        if knot_rows:
            z = _affine_rows(w, h, b)
            if pieces:
                dz = _slopes_rows(w, dh, start_of, offset, knot_of, c_neuron)
            else:
                dz = np.empty((0, rows[u]))
            snapped += _snap_rows(z, zero_at, dz, abs_w, dh, dh_top, slope_rtol)
            inserted = _insert_crossings_rows(t, z, dz, region_breaks, merge_gap)
        else:
            z = _affine(w, h, b)
            if pieces:
                dz = _slopes(w, dh, start_of, offset, order, knot_of, c_neuron)
            else:
                dz = np.empty((rows[u], 0))
            snapped += _snap(z, zero_at, dz, abs_w, dh, dh_top, slope_rtol)
            inserted = _insert_crossings(t, z, dz, region_breaks, merge_gap)
        t, h, h_top, dh, dh_top, region_breaks = inserted[:6]
        start_of, offset, order, knot_of, c_neuron = inserted[6:11]
        layer = slice(done, done + rows[u])
        switches[layer], ever_on[layer], always_on[layer] = inserted[11:14]
        merged += inserted[14]
        done += rows[u]
        if renormalise:
            top = h_top.max()
            if top > 0.0 and not RESCALE_BELOW <= top <= RESCALE_ABOVE:
                h /= top
                h_top /= top
                dh /= top
                dh_top /= top
                log_scale += np.log(top)

    if knot_rows:
        values = np.ascontiguousarray(_affine_rows(readout_w, h, readout_b).T)
    else:
        values = _affine(readout_w, h, readout_b)
    slopes = np.empty((readout_w.shape[0], 0))
    piece_breaks = np.zeros(t.size if pieces else 0, np.bool_)
    if pieces:
        no_bias = np.zeros(readout_w.shape[0])
        if knot_rows:
            slopes = np.ascontiguousarray(_affine_rows(readout_w, dh, no_bias).T)
            size = np.ascontiguousarray(np.dot(np.abs(dh), np.abs(readout_w).T).T)
        else:
            slopes, size = _affine(readout_w, dh, no_bias), _term_sizes(readout_w, dh)
        _piece_breaks(slopes, size, region_breaks, slope_rtol, piece_breaks)
    smallest_gap = np.inf
    for i in range(t.size - 1):
        smallest_gap = min(smallest_gap, t[i + 1] - t[i])
    return (
        t, values, slopes, region_breaks, piece_breaks, switches, ever_on, always_on, snapped,
        merged, log_scale, smallest_gap,
    )  # fmt: skip


@numba.njit(**_KERNEL)
def _affine(w, x, b):  # pragma: no cover - compiled
    """``w @ x + b`` for x of shape (in, points), into a fresh array.

    At fan-in ≤ SMALL_FAN_IN (deep narrow networks, long rows) passes over memory are the
    cost, not arithmetic: a compiled loop writes each entry once, summing in the order
    BLAS-free NumPy would.
    """
    out = _advised(np.empty((w.shape[0], x.shape[1])))
    if w.shape[1] <= SMALL_FAN_IN:
        _small_affine(w, x, b, out)
        return out
    np.dot(w, np.ascontiguousarray(x), out)
    for j in range(out.shape[0]):
        out[j] += b[j]
    return out


@numba.njit(**_KERNEL)
def _slopes(w, dh, start, offset, order, knot_of, c_neuron):  # pragma: no cover - compiled
    r"""``w @ dh``, the pre-activation slopes on every interval.

    The previous layer split each old interval i into the sub-intervals start[i] ..
    start[i + 1] − 1 at its crossings (order[offset[i] : offset[i + 1]] by position, crossing
    k of neuron c_neuron[k] at the knot_of[k]-th new knot), and its slopes :math:`\dot h`
    differ from one sub-interval to the next only in the neurons that switch there
    (:math:`\dot h_j` turns into 0 or back). So only each old interval's first sub-interval
    needs the product; the others follow by one column update per crossing,
    :math:`\dot z_{q} = \dot z_{q-1} + W_{:, j}\,(\dot h_{j, q} - \dot h_{j, q-1})`. For wide
    layers this replaces most of the second matrix product; values z are always a product
    (accumulating them would carry rounding into crossing positions).
    """
    old_intervals = start.size - 1
    # An update costs ~100 multiply-adds of a BLAS product and the gathered product is less
    # efficient than the full one: worth it where at least half of the sub-intervals are new.
    if w.shape[1] <= SMALL_FAN_IN or not 0 < 2 * old_intervals <= dh.shape[1]:
        return _affine(w, dh, np.zeros(w.shape[0]))
    gathered = np.empty((dh.shape[0], old_intervals))  # the first sub-interval of each
    for j in range(dh.shape[0]):
        for i in range(old_intervals):
            gathered[j, i] = dh[j, start[i]]
    dz = _advised(np.empty((w.shape[0], dh.shape[1])))
    _update_slopes(w, dh, np.dot(w, gathered), dz, start, offset, order, knot_of, c_neuron)
    return dz


@numba.njit(inline="always", **_KERNEL)
def _crosses(a: float, b: float) -> bool:  # pragma: no cover - compiled
    return (a > 0.0 and b < 0.0) or (a < 0.0 and b > 0.0)


@numba.njit(**_KERNEL)
def _snap(z, zero_at, dz, abs_w, dh, dh_top, slope_rtol):  # pragma: no cover - compiled
    """In place: z[j, k] → 0 where |z[j, k]| <= zero_at[j]; dz[j, i] → 0 where
    |dz[j, i]| <= slope_rtol · Σ_k |W[j, k]| |dh[k, i]| (the size of the terms it sums).
    Returns how many nonzero values of z were snapped."""
    snapped = 0
    for j in range(z.shape[0]):
        snapped += _snap_row(j, z[j], zero_at[j], dz[j], abs_w, dh, dh_top, slope_rtol)
    return snapped


@numba.njit(inline="always", **_KERNEL)
def _snap_row(j, z_row, zero_at, dz_row, abs_w, dh, dh_top, slope_rtol):  # pragma: no cover
    """:func:`_snap` for neuron j. The cheap bound ‖W_j‖₁ · max_k |dh[k, i]| picks the
    candidate slopes; only those pay for the exact size."""
    snapped = 0
    fan_in = abs_w.shape[1]
    for k in range(z_row.size):
        if abs(z_row[k]) <= zero_at and z_row[k] != 0.0:
            z_row[k] = 0.0
            snapped += 1
    row_sum = 0.0
    for k in range(fan_in):
        row_sum += abs_w[j, k]
    for i in range(dz_row.size):
        slope = abs(dz_row[i])
        if slope <= slope_rtol * row_sum * dh_top[i]:
            size = 0.0
            for k in range(fan_in):
                size += abs_w[j, k] * abs(dh[k, i])
            if slope <= slope_rtol * size:
                dz_row[i] = 0.0
    return snapped


@numba.njit(**_KERNEL)
def _term_sizes(w, x):  # pragma: no cover - compiled
    """|W| |x| without materialising |x| (the readout has few rows; x can be 4M knots long)."""
    size = _advised(np.empty((w.shape[0], x.shape[1])))
    size[:] = 0.0
    for o in range(w.shape[0]):
        row = size[o]
        for j in range(w.shape[1]):
            weight = abs(w[o, j])
            if weight != 0.0:
                for p in range(row.size):
                    row[p] += weight * abs(x[j, p])
    return size


@numba.njit(**_KERNEL)
def _piece_breaks(slopes, size, region_breaks, slope_rtol, breaks):  # pragma: no cover
    """breaks[p] = region_breaks[p] and the output's slope changes at inner knot p by more
    than slope_rtol times the larger term size |W||dh| of the two intervals (any output)."""
    outputs, intervals = slopes.shape
    for p in range(1, intervals):
        if not region_breaks[p]:
            continue
        change, scale = 0.0, 0.0
        for o in range(outputs):
            change = max(change, abs(slopes[o, p] - slopes[o, p - 1]))
            scale = max(scale, size[o, p], size[o, p - 1])
        breaks[p] = change > slope_rtol * scale


@numba.njit(**_KERNEL)
def _small_affine(w, x, b, out):  # pragma: no cover - compiled
    """out = W x + b, row by row (see :func:`_affine`)."""
    for j in range(w.shape[0]):
        row = out[j]
        for k in range(row.size):
            acc = w[j, 0] * x[0, k]
            for i in range(1, w.shape[1]):
                acc += w[j, i] * x[i, k]
            row[k] = acc + b[j]


@numba.njit(**_KERNEL)
def _update_slopes(w, dh, firsts, dz, start, offset, order, knot_of, c_neuron):  # pragma: no cover
    """Fill dz row by row (see :func:`_slopes`): each old interval's first sub-interval from
    ``firsts`` (its product), every later one from the one before plus one term per
    crossing at the knot that opens it."""
    slots = order.size  # crossings in slot order: by interval, then by position
    column, neuron, delta = np.empty(slots, np.int64), np.empty(slots, np.int64), np.empty(slots)
    for i in range(start.size - 1):
        for m in range(offset[i], offset[i + 1]):
            k = order[m]
            column[m], neuron[m] = start[i] + 1 + knot_of[k], c_neuron[k]
            delta[m] = dh[neuron[m], column[m]] - dh[neuron[m], column[m] - 1]  # ±(its slope)
    for o in range(w.shape[0]):
        row, weights = dz[o], w[o]
        for i in range(start.size - 1):
            value, filled = firsts[o, i], start[i]  # the running slope stays in a register
            for m in range(offset[i], offset[i + 1]):
                if column[m] != filled:
                    row[filled] = value
                    filled = column[m]
                value += weights[neuron[m]] * delta[m]
            row[filled] = value


@numba.njit(**_KERNEL)
def _insert_crossings(t, z, dz, region_breaks, merge_gap):  # pragma: no cover - compiled
    """Insert the strict sign changes of every row of ``z`` (pre-activations at knots ``t``).

    ``dz`` holds each neuron's slope dz/dt on every interval, ``region_breaks`` flags the knots
    where an earlier layer's pattern changes. Returns the merged knots, the post-activations
    there (ReLU of the pre-activations; exactly 0 for a neuron at its own crossing) and their
    largest value per neuron, the post-activation slopes on every new interval and their
    largest magnitude per interval, the updated region breaks; where the crossings went
    (start, offset, order, knot_of, c_neuron: see :func:`_slopes`); per neuron how often it
    switches, whether it is ever on and whether it is always on; and how many crossings were
    merged. Three steps: count, place, write; large arrays ask for huge pages.
    """
    width, n = z.shape
    offset = np.zeros(n, dtype=np.int64)  # crossings of interval i: slots offset[i]..offset[i+1]-1
    _count_crossings(z, offset)
    total = offset[-1]
    c_neuron, c_interval = _advised(np.empty(total, np.int32)), _advised(np.empty(total, np.int32))
    c_where, c_frac = _advised(np.empty(total)), _advised(np.empty(total))
    order, knot_of = _advised(np.empty(total, np.int32)), _advised(np.empty(total, np.int32))
    knot_where, knot_frac = _advised(np.empty(total)), _advised(np.empty(total))
    fill, start = np.zeros(n, dtype=np.int64), _advised(np.empty(n, np.int64))
    merged = _place_crossings(
        t, z, merge_gap, offset, c_neuron, c_interval, c_where, c_frac, order, knot_of,
        knot_where, knot_frac, fill, start,
    )  # fmt: skip
    size = start[-1] + 1
    t_out, breaks = _advised(np.empty(size)), _advised(np.empty(size, np.bool_))
    breaks[:] = False
    intervals = size - 1 if dz.shape[1] > 0 else 0  # no slopes: regions only
    h_out, dh_out = _advised(np.empty((width, size))), _advised(np.empty((width, intervals)))
    h_top, dh_top = np.empty(width), _advised(np.empty(intervals))
    dh_top[:] = 0.0
    switches = np.zeros(width, dtype=np.int64)
    ever_on, always_on = np.zeros(width, dtype=np.bool_), np.ones(width, dtype=np.bool_)
    _write_knots(
        t, z, dz, region_breaks, offset, c_neuron, c_interval, knot_of, knot_where, knot_frac,
        start, t_out, breaks, h_out, h_top, dh_out, dh_top, switches, ever_on, always_on,
    )  # fmt: skip
    return (
        t_out, h_out, h_top, dh_out, dh_top, breaks, start, offset, order, knot_of, c_neuron,
        switches, ever_on, always_on, merged,
    )  # fmt: skip


@numba.njit(**_KERNEL)
def _count_crossings(z, offset):  # pragma: no cover - compiled
    """Count: offset[i + 1] = crossings in intervals 0..i, neuron by neuron (contiguous rows)."""
    width, n = z.shape
    for j in range(width):
        for i in range(n - 1):
            if _crosses(z[j, i], z[j, i + 1]):
                offset[i + 1] += 1
    for i in range(1, n):
        offset[i] += offset[i - 1]


@numba.njit(**_KERNEL)
def _place_crossings(
    t,
    z,
    merge_gap,
    offset,
    c_neuron,
    c_interval,
    c_where,
    c_frac,
    order,
    knot_of,
    knot_where,
    knot_frac,
    fill,
    start,
):  # pragma: no cover - compiled
    """Place: list the crossings neuron by neuron; order each interval's crossings by position
    (insertion sort: an interval rarely holds more than a few); then :func:`_share_knots`.
    Returns the number of merged crossings."""
    width, n = z.shape
    k = 0
    for j in range(width):
        for i in range(n - 1):
            a, b = z[j, i], z[j, i + 1]
            if _crosses(a, b):
                c_neuron[k], c_interval[k] = j, i
                c_frac[k] = a / (a - b)
                c_where[k] = t[i] + (t[i + 1] - t[i]) * c_frac[k]
                k += 1
    for k in range(offset[n - 1]):  # order: slot -> crossing
        i = c_interval[k]
        m = offset[i] + fill[i]
        while m > offset[i] and c_where[order[m - 1]] > c_where[k]:
            order[m] = order[m - 1]
            m -= 1
        order[m] = k
        fill[i] += 1
    return _share_knots(
        offset, order, c_where, c_frac, merge_gap, knot_where, knot_frac, knot_of, start
    )


@numba.njit(**_KERNEL)
def _share_knots(
    offset, order, c_where, c_frac, merge_gap, knot_where, knot_frac, knot_of, start
):  # pragma: no cover - compiled
    """Crossings of interval i (crossing order[m] in slot m, slots offset[i] .. offset[i+1] − 1
    by position) at most ``merge_gap`` apart share one knot: neurons that vanish together do
    so in float64 only up to rounding. Each knot's position and fraction of its interval go
    to knot_where/knot_frac, which knot each crossing is to knot_of, and where old knot i
    goes to start[i]. Returns the number of merged crossings."""
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
            else:
                merged += 1
            knot_of[k] = rank
        start[i] = i + placed
        placed += rank + 1
    start[n - 1] = n - 1 + placed
    return merged


@numba.njit(**_KERNEL)
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


@numba.njit(**_KERNEL)
def _write_knots(
    t,
    z,
    dz,
    region_breaks,
    offset,
    c_neuron,
    c_interval,
    knot_of,
    knot_where,
    knot_frac,
    start,
    t_out,
    breaks,
    h_out,
    h_top,
    dh_out,
    dh_top,
    switches,
    ever_on,
    always_on,
):  # pragma: no cover - compiled
    """Write: knots and flags, then each neuron's row interval by interval, after ReLU. A
    neuron's state on the first and last part of an interval is fixed by the signs at the
    interval's ends, and it switches exactly at its own crossing, so no sign is ever read off
    an interpolated value."""
    width, n = z.shape
    size = t_out.size
    with_slopes = dz.shape[1] > 0
    _write_positions(t, region_breaks, offset, knot_where, start, t_out, breaks)
    total = offset[n - 1]
    k = 0  # crossings come neuron by neuron, each neuron's in interval order
    for j in range(width):
        row, slope_row, out, dh_row = z[j], dz[j], h_out[j], dh_out[j]
        # Per-neuron tallies live in locals: stores to arrays that might alias the rows
        # would keep the compiler from holding them in registers.
        flips, anywhere_on, everywhere_on, top = 0, False, True, 0.0
        on_before = False  # the neuron's state just left of knot i
        next_crossing = c_interval[k] if k < total and c_neuron[k] == j else -1
        for i in range(n - 1):
            a, b = row[i], row[i + 1]
            pos = start[i]
            out[pos] = max(a, 0.0)
            top = max(top, a)
            on = a > 0.0 or (a == 0.0 and b > 0.0)
            if i > 0 and on != on_before:
                breaks[pos] = True
                flips += 1
            last = b > 0.0 or (b == 0.0 and a > 0.0)
            anywhere_on |= on or last
            everywhere_on &= on and last
            slope = slope_row[i] if with_slopes else 0.0
            if with_slopes:
                dh_row[pos] = slope if on else 0.0
                if on and abs(slope) > dh_top[pos]:
                    dh_top[pos] = abs(slope)
            new_knots = start[i + 1] - pos - 1
            if new_knots > 0:
                crossing = -1
                if next_crossing == i:
                    crossing = knot_of[k]
                    flips += 1
                    k += 1
                    next_crossing = c_interval[k] if k < total and c_neuron[k] == j else -1
                for r in range(new_knots):
                    p = pos + 1 + r
                    if r == crossing:
                        out[p] = 0.0
                        on = last
                    else:
                        value = a + (b - a) * knot_frac[offset[i] + r]
                        out[p] = max(value, 0.0)
                        top = max(top, value)
                    if with_slopes:
                        dh_row[p] = slope if on else 0.0
                        if on and abs(slope) > dh_top[p]:
                            dh_top[p] = abs(slope)
            on_before = last
        out[size - 1] = max(row[n - 1], 0.0)
        h_top[j] = max(top, row[n - 1])
        switches[j] = flips
        ever_on[j] = anywhere_on
        always_on[j] = everywhere_on


# --- Wide layers: knot-major layout ----------------------------------------------------------


@numba.njit(**_KERNEL)
def _affine_rows(w, x, b):  # pragma: no cover - compiled
    """``x @ w.T + b`` for x of shape (points, in): one row per knot."""
    out = _advised(np.empty((x.shape[0], w.shape[0])))
    np.dot(x, w.T, out)
    for p in range(out.shape[0]):
        row = out[p]
        for j in range(row.size):
            row[j] += b[j]
    return out


@numba.njit(**_KERNEL)
def _slopes_rows(w, dh, start, offset, knot_of, c_neuron):  # pragma: no cover - compiled
    """:func:`_slopes` with one row per interval; crossings are in slot order."""
    old_intervals = start.size - 1
    if not 0 < 2 * old_intervals <= dh.shape[0]:
        return _affine_rows(w, dh, np.zeros(w.shape[0]))
    gathered = np.empty((old_intervals, dh.shape[1]))
    for i in range(old_intervals):
        gathered[i] = dh[start[i]]
    firsts = np.dot(gathered, w.T)
    columns = np.ascontiguousarray(w.T)  # row j: how each output moves with input j
    dz = _advised(np.empty((dh.shape[0], w.shape[0])))
    for i in range(old_intervals):
        value, filled = firsts[i], start[i]
        for m in range(offset[i], offset[i + 1]):
            at, j = start[i] + 1 + knot_of[m], c_neuron[m]
            if at != filled:
                dz[filled] = value
                filled = at
            delta = dh[at, j] - dh[at - 1, j]
            weights = columns[j]
            for o in range(value.size):
                value[o] += weights[o] * delta
        dz[filled] = value
    return dz


@numba.njit(**_KERNEL)
def _snap_rows(z, zero_at, dz, abs_w, dh, dh_top, slope_rtol):  # pragma: no cover - compiled
    """:func:`_snap` with one row per knot (resp. interval)."""
    snapped = 0
    width = z.shape[1]
    for i in range(z.shape[0]):
        row = z[i]
        for j in range(width):
            value = row[j]
            small = abs(value) <= zero_at[j]
            snapped += small & (value != 0.0)
            row[j] = 0.0 if small else value
    if dz.shape[0] == 0:
        return snapped  # no slopes (regions only)
    row_sum = np.zeros(width)
    for j in range(width):
        for k in range(abs_w.shape[1]):
            row_sum[j] += abs_w[j, k]
    for i in range(dz.shape[0]):
        row, bound = dz[i], dh_top[i]
        candidates = 0
        for j in range(width):
            candidates += abs(row[j]) <= slope_rtol * row_sum[j] * bound
        if candidates == 0:
            continue
        for j in range(width):
            slope = abs(row[j])
            if slope <= slope_rtol * row_sum[j] * bound:
                size = 0.0
                for k in range(abs_w.shape[1]):
                    size += abs_w[j, k] * abs(dh[i, k])
                if slope <= slope_rtol * size:
                    row[j] = 0.0
    return snapped


@numba.njit(**_KERNEL)
def _insert_crossings_rows(t, z, dz, region_breaks, merge_gap):  # pragma: no cover - compiled
    """:func:`_insert_crossings` with one row per knot: count, place, write."""
    n, width = z.shape
    offset = np.zeros(n, dtype=np.int64)
    for i in range(n - 1):
        a, b = z[i], z[i + 1]
        count = 0
        for j in range(width):
            count += ((a[j] > 0.0) & (b[j] < 0.0)) | ((a[j] < 0.0) & (b[j] > 0.0))
        offset[i + 1] = offset[i] + count
    total = offset[-1]
    c_neuron, c_where, c_frac = np.empty(total, np.int32), np.empty(total), np.empty(total)
    order, knot_of = np.arange(total, dtype=np.int32), np.empty(total, np.int32)
    knot_where, knot_frac = np.empty(total), np.empty(total)
    start = np.empty(n, np.int64)
    _list_crossings_rows(t, z, offset, c_neuron, c_where, c_frac)
    merged = _share_knots(
        offset, order, c_where, c_frac, merge_gap, knot_where, knot_frac, knot_of, start
    )
    size = start[-1] + 1
    t_out, breaks = _advised(np.empty(size)), _advised(np.empty(size, np.bool_))
    intervals = size - 1 if dz.shape[0] > 0 else 0  # no slopes: regions only
    h_out, dh_out = _advised(np.empty((size, width))), _advised(np.empty((intervals, width)))
    h_top, dh_top = np.empty(width), _advised(np.empty(intervals))
    switches = np.zeros(width, dtype=np.int64)
    ever_on, always_on = np.zeros(width, dtype=np.bool_), np.ones(width, dtype=np.bool_)
    _write_knots_rows(
        t, z, dz, region_breaks, offset, c_neuron, knot_of, knot_where, knot_frac, start,
        t_out, breaks, h_out, h_top, dh_out, dh_top, switches, ever_on, always_on,
    )  # fmt: skip
    return (
        t_out, h_out, h_top, dh_out, dh_top, breaks, start, offset, order, knot_of, c_neuron,
        switches, ever_on, always_on, merged,
    )  # fmt: skip


@numba.njit(**_KERNEL)
def _list_crossings_rows(t, z, offset, c_neuron, c_where, c_frac):  # pragma: no cover
    """The crossings of each interval straight into its slots, in order of position (ties in
    neuron order, as :func:`_place_crossings` orders them)."""
    n, width = z.shape
    for i in range(n - 1):
        first = offset[i]
        if offset[i + 1] == first:
            continue
        a, b = z[i], z[i + 1]
        k = first
        for j in range(width):
            if _crosses(a[j], b[j]):
                frac = a[j] / (a[j] - b[j])
                where = t[i] + (t[i + 1] - t[i]) * frac
                m = k
                while m > first and c_where[m - 1] > where:
                    c_where[m], c_frac[m], c_neuron[m] = (
                        c_where[m - 1],
                        c_frac[m - 1],
                        c_neuron[m - 1],
                    )
                    m -= 1
                c_where[m], c_frac[m], c_neuron[m] = where, frac, j
                k += 1


@numba.njit(**_KERNEL)
def _write_knots_rows(
    t,
    z,
    dz,
    region_breaks,
    offset,
    c_neuron,
    knot_of,
    knot_where,
    knot_frac,
    start,
    t_out,
    breaks,
    h_out,
    h_top,
    dh_out,
    dh_top,
    switches,
    ever_on,
    always_on,
):  # pragma: no cover - compiled
    """:func:`_write_knots` with one row per knot, each written across all neurons at once
    (loops the compiler vectorises). ``dh_top`` is bounded by the largest |slope| of the
    old interval over all neurons: it only pre-selects slopes for snapping.

    The pattern needs no per-interval bookkeeping: z is continuous, so a neuron's state
    changes at an old knot only where it is exactly 0 there (then it is on before iff z > 0 at
    the knot before, and after iff z > 0 at the knot after), and inside an interval only at
    its own crossing. Hence a neuron is ever on iff z > 0 at some knot, and always on iff on
    at t = 0 and it never switches."""
    n, width = z.shape
    size = t_out.size
    _write_positions(t, region_breaks, offset, knot_where, start, t_out, breaks)
    # Small loops over few arrays each: the compiler vectorises a loop only when it can check
    # cheaply that its arrays do not overlap.
    on = np.empty(width, np.bool_)
    top = np.zeros(width)
    flips = np.zeros(width, np.int64)
    with_slopes, bound = dz.shape[0] > 0, 0.0
    for i in range(n - 1):
        a, b = z[i], z[i + 1]
        pos = start[i]
        _interpolate(a, b, 0.0, h_out[pos], top)
        if with_slopes:
            _masked_on(a, b, dz[i], dh_out[pos])
            bound = _largest_magnitude(dz[i])
            dh_top[pos] = bound
        if i > 0 and _count_zeros(a) > 0:
            before = z[i - 1]
            changed = 0
            for j in range(width):
                switched = (a[j] == 0.0) & ((before[j] > 0.0) != (b[j] > 0.0))
                flips[j] += switched
                changed += switched
            breaks[pos] |= changed > 0
        if start[i + 1] == pos + 1:
            continue
        for j in range(width):
            on[j] = _on_between(a[j], b[j])
        m = offset[i]
        for r in range(start[i + 1] - pos - 1):
            p = pos + 1 + r
            while m < offset[i + 1] and knot_of[m] == r:
                on[c_neuron[m]] ^= True
                m += 1
            _interpolate(a, b, knot_frac[offset[i] + r], h_out[p], top)
            if with_slopes:
                _masked(dz[i], on, dh_out[p])
                dh_top[p] = bound
        for m in range(offset[i], offset[i + 1]):  # exactly zero at its own crossing
            h_out[pos + 1 + knot_of[m], c_neuron[m]] = 0.0
            flips[c_neuron[m]] += 1
    _interpolate(z[n - 1], z[n - 1], 0.0, h_out[size - 1], top)
    for j in range(width):
        h_top[j] = top[j]
        switches[j] = flips[j]
        ever_on[j] = top[j] > 0.0
        always_on[j] = _on_between(z[0, j], z[1, j]) & (flips[j] == 0)


@numba.njit(inline="always", **_KERNEL)
def _interpolate(a, b, frac, out, top):  # pragma: no cover - compiled
    """out = ReLU(a + (b − a) frac) (exactly ReLU(a) at frac = 0); top: running maxima."""
    for j in range(out.size):
        value = a[j] + (b[j] - a[j]) * frac
        out[j] = value if value > 0.0 else 0.0
        top[j] = value if value > top[j] else top[j]


@numba.njit(inline="always", **_KERNEL)
def _masked(slope, on, out):  # pragma: no cover - compiled
    """out = slope where the neuron is on, else 0."""
    for j in range(out.size):
        out[j] = slope[j] if on[j] else 0.0


@numba.njit(inline="always", **_KERNEL)
def _masked_on(a, b, slope, out):  # pragma: no cover - compiled
    """out = slope where the neuron is on between values a and b at an interval's ends."""
    for j in range(out.size):
        out[j] = slope[j] if _on_between(a[j], b[j]) else 0.0


@numba.njit(inline="always", **_KERNEL)
def _on_between(a, b):  # pragma: no cover - compiled
    """Whether a neuron whose pre-activation is a and b at an interval's ends is on inside it
    (affine in between: positive there, or zero at a and rising)."""
    return (a > 0.0) | ((a == 0.0) & (b > 0.0))


@numba.njit(inline="always", **_KERNEL)
def _count_zeros(x):  # pragma: no cover - compiled
    count = 0
    for j in range(x.size):
        count += x[j] == 0.0
    return count


@numba.njit(inline="always", **_KERNEL)
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
