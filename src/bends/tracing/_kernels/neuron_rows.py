"""Kernels of the rows-per-neuron layout: arrays (neurons, knots), for narrow networks
(sawtooths, tied RNNs) whose rows are millions of knots long
(see :mod:`bends.tracing._line.tracer`)."""

from __future__ import annotations

import numba
import numpy as np

from bends.tracing._kernels.shared import (
    KERNEL,
    _advised,
    _crosses,
    _share_knots,
    _write_positions,
)

SMALL_FAN_IN = 4


@numba.njit(**KERNEL)
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


@numba.njit(**KERNEL)
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
    # Where every input is flat, W·0 is exactly 0; the updates would leave their rounding
    # there, which no term size (all 0) could snap.
    for q in range(dh.shape[1]):
        flat = True
        for j in range(dh.shape[0]):
            flat &= dh[j, q] == 0.0
        if flat:
            for o in range(w.shape[0]):
                dz[o, q] = 0.0
    return dz


@numba.njit(**KERNEL)
def _snap(z, zero_at, dz, abs_w, dh, dh_top, slope_rtol):  # pragma: no cover - compiled
    """In place: z[j, k] → 0 where |z[j, k]| <= zero_at[j]; dz[j, i] → 0 where
    |dz[j, i]| <= slope_rtol · Σ_k |W[j, k]| |dh[k, i]| (the size of the terms it sums).
    Returns how many nonzero values of z were snapped."""
    snapped = 0
    for j in range(z.shape[0]):
        snapped += _snap_row(j, z[j], zero_at[j], dz[j], abs_w, dh, dh_top, slope_rtol)
    return snapped


@numba.njit(inline="always", **KERNEL)
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


@numba.njit(**KERNEL)
def _small_affine(w, x, b, out):  # pragma: no cover - compiled
    """out = W x + b, row by row (see :func:`_affine`)."""
    for j in range(w.shape[0]):
        row = out[j]
        for k in range(row.size):
            acc = w[j, 0] * x[0, k]
            for i in range(1, w.shape[1]):
                acc += w[j, i] * x[i, k]
            row[k] = acc + b[j]


@numba.njit(**KERNEL)
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


@numba.njit(**KERNEL)
def _insert_crossings(t, z, dz, region_breaks, merge_gap, max_knots):  # pragma: no cover
    """Insert the strict sign changes of every row of ``z`` (pre-activations at knots ``t``).

    ``dz`` holds each neuron's slope dz/dt on every interval, ``region_breaks`` flags the knots
    where an earlier layer's pattern changes. Returns the merged knots, the post-activations
    there (ReLU of the pre-activations; exactly 0 for a neuron at its own crossing) and their
    largest value per neuron, the post-activation slopes on every new interval and their
    largest magnitude per interval, the updated region breaks; where the crossings went
    (start, offset, order, knot_of, c_neuron: see :func:`_slopes`); per neuron how often it
    switches, whether it is ever on and whether it is always on; and how many crossings were
    merged. Three steps: count, place, write; large arrays ask for huge pages. More than
    ``max_knots`` knots (the memory budget) raise MemoryError(knots) before any is written.
    """
    width, n = z.shape
    offset = np.zeros(n, dtype=np.int64)  # crossings of interval i: slots offset[i]..offset[i+1]-1
    _count_crossings(z, offset)
    total = offset[-1]
    if n + total > max_knots:
        raise MemoryError(n + total)
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
        switches, ever_on, always_on, merged, knot_frac,
    )  # fmt: skip


@numba.njit(**KERNEL)
def _count_crossings(z, offset):  # pragma: no cover - compiled
    """Count: offset[i + 1] = crossings in intervals 0..i, neuron by neuron (contiguous rows)."""
    width, n = z.shape
    for j in range(width):
        for i in range(n - 1):
            if _crosses(z[j, i], z[j, i + 1]):
                offset[i + 1] += 1
    for i in range(1, n):
        offset[i] += offset[i - 1]


@numba.njit(**KERNEL)
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


@numba.njit(**KERNEL)
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
