"""The compiled driver: a packed network pushed through layer by layer in either layout,
then the readout and its pieces (see :mod:`bends.tracing._line.tracer`)."""

from __future__ import annotations

import itertools
import weakref
from typing import NamedTuple

import numba
import numpy as np

from bends.nets import Network
from bends.tracing._kernels.knot_rows import (
    _affine_rows,
    _insert_crossings_rows,
    _slopes_rows,
    _snap_rows,
)
from bends.tracing._kernels.neuron_rows import _affine, _insert_crossings, _slopes, _snap
from bends.tracing._kernels.shared import KERNEL, _advised
from bends.tracing.tolerance import RESCALE_ABOVE, RESCALE_BELOW

WIDE = 32  # hidden widths from which rows per knot are faster (benchmarks/README.md)
_EMPTY = np.zeros(0)

# Networks are immutable (read-only arrays), so each is packed once, on its first trace.
_PACKED: weakref.WeakKeyDictionary[Network, _Packed] = weakref.WeakKeyDictionary()


class _Packed(NamedTuple):
    """A network as :func:`push_through` takes it: ``arrays`` are the distinct hidden
    layers' weights and biases, flat (a tied RNN stores one), their columns and rows, which
    one every step applies, and the readout; ``layers`` slice per-neuron results by layer;
    ``subnormal``: whether a weight or bias is subnormal (float64 holds it with fewer bits)."""

    arrays: tuple[np.ndarray, ...]
    layers: tuple[slice, ...]
    subnormal: bool


def subnormal(*arrays: np.ndarray) -> bool:
    """Whether any value of ``arrays`` is subnormal: nonzero and below 2.2e-308."""
    tiny = np.finfo(np.float64).tiny
    return any(bool(np.any((a != 0) & (np.abs(a) < tiny))) for a in arrays)


def pack_network(net: Network) -> _Packed:
    if (found := _PACKED.get(net)) is not None:
        return found
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
    readout = tuple(readout)
    packed = _Packed(
        (flat_w, flat_b, cols, rows, np.array(layer_of, dtype=np.int64), *readout),
        tuple(itertools.starmap(slice, bounds)),
        subnormal(flat_w, flat_b, *readout),
    )
    _PACKED[net] = packed
    return packed


@numba.njit(**KERNEL)
def push_through(
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
    max_knots,
):  # pragma: no cover - compiled
    """:func:`trace` in one compiled call: the hidden layers (stored once each, applied in the
    order ``layer_of``), then the readout and its pieces (see the module docstring).
    ``layout``: 1 for rows per knot, 0 for rows per neuron, −1 to choose by width. Without
    ``pieces`` no slopes are propagated (they only serve the pieces): every slope array
    is then empty. A layer that would make more than ``max_knots`` knots raises
    MemoryError(knots) (the memory budget, :mod:`bends.budget`)."""
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
            inserted = _insert_crossings_rows(t, z, dz, region_breaks, merge_gap, max_knots)
        else:
            z = _affine(w, h, b)
            if pieces:
                dz = _slopes(w, dh, start_of, offset, order, knot_of, c_neuron)
            else:
                dz = np.empty((rows[u], 0))
            snapped += _snap(z, zero_at, dz, abs_w, dh, dh_top, slope_rtol)
            inserted = _insert_crossings(t, z, dz, region_breaks, merge_gap, max_knots)
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
    output_breaks = np.zeros((readout_w.shape[0], t.size if pieces else 0), np.bool_)
    if pieces:
        no_bias = np.zeros(readout_w.shape[0])
        if knot_rows:
            slopes = np.ascontiguousarray(_affine_rows(readout_w, dh, no_bias).T)
            size = np.ascontiguousarray(np.dot(np.abs(dh), np.abs(readout_w).T).T)
        else:
            slopes, size = _affine(readout_w, dh, no_bias), _term_sizes(readout_w, dh)
        _piece_breaks(slopes, size, region_breaks, slope_rtol, piece_breaks, output_breaks)
    smallest_gap = np.inf
    for i in range(t.size - 1):
        smallest_gap = min(smallest_gap, t[i + 1] - t[i])
    return (
        t, values, slopes, region_breaks, piece_breaks, switches, ever_on, always_on, snapped,
        merged, log_scale, smallest_gap, output_breaks,
    )  # fmt: skip


@numba.njit(**KERNEL)
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


@numba.njit(**KERNEL)
def _piece_breaks(slopes, size, region_breaks, slope_rtol, breaks, per_output):  # pragma: no cover
    """breaks[p] = region_breaks[p] and the output's slope changes at inner knot p by more
    than slope_rtol times the larger term size |W||dh| of the two intervals (any output);
    per_output[o, p] the same for output o alone."""
    outputs, intervals = slopes.shape
    for p in range(1, intervals):
        if not region_breaks[p]:
            continue
        change, scale = 0.0, 0.0
        for o in range(outputs):
            mine = abs(slopes[o, p] - slopes[o, p - 1])
            own = max(size[o, p], size[o, p - 1])
            per_output[o, p] = mine > slope_rtol * own
            change = max(change, mine)
            scale = max(scale, own)
        breaks[p] = change > slope_rtol * scale


@numba.njit(**KERNEL)
def push_segments(
    flat_w,
    flat_b,
    cols,
    rows,
    layer_of,
    readout_w,
    readout_b,
    starts,
    ends,
    zero_tol,
    slope_rtol,
    merge_gap,
    layout,
    pieces,
    max_knots,
):  # pragma: no cover - compiled
    """:func:`push_through` on every segment ``starts[s]`` → ``ends[s]`` in one compiled
    call (no Python between segments); per field, the list of the segments' results."""
    counters = np.empty((starts.shape[0], 4))  # snapped, merged, log_scale, smallest gap
    out = push_through(
        flat_w, flat_b, cols, rows, layer_of, readout_w, readout_b, starts[0], ends[0],
        zero_tol, slope_rtol, merge_gap, layout, pieces, max_knots,
    )  # fmt: skip
    knots, values, slopes, region_breaks = [out[0]], [out[1]], [out[2]], [out[3]]
    piece_breaks, switches, ever_on, always_on = [out[4]], [out[5]], [out[6]], [out[7]]
    by_output = [out[12]]
    counters[0, 0], counters[0, 1], counters[0, 2], counters[0, 3] = (
        out[8], out[9], out[10], out[11])  # fmt: skip
    for s in range(1, starts.shape[0]):
        out = push_through(
            flat_w, flat_b, cols, rows, layer_of, readout_w, readout_b, starts[s], ends[s],
            zero_tol, slope_rtol, merge_gap, layout, pieces, max_knots,
        )  # fmt: skip
        knots.append(out[0])
        values.append(out[1])
        slopes.append(out[2])
        region_breaks.append(out[3])
        piece_breaks.append(out[4])
        switches.append(out[5])
        ever_on.append(out[6])
        always_on.append(out[7])
        counters[s, 0], counters[s, 1], counters[s, 2], counters[s, 3] = (
            out[8], out[9], out[10], out[11])  # fmt: skip
        by_output.append(out[12])
    return (knots, values, slopes, region_breaks, piece_breaks, switches, ever_on, always_on,
            counters, by_output)  # fmt: skip
