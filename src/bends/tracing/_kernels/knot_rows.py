"""Kernels of the rows-per-knot layout: arrays (knots, neurons), for wide networks, where
each new knot is one interpolation across all neurons (see :mod:`bends.tracing._line.tracer`)."""

from __future__ import annotations

import numba
import numpy as np

from bends.tracing._kernels.shared import (
    KERNEL,
    _advised,
    _count_zeros,
    _crosses,
    _interpolate,
    _largest_magnitude,
    _masked,
    _masked_on,
    _on_between,
    _share_knots,
    _write_positions,
)


@numba.njit(**KERNEL)
def _affine_rows(w, x, b):  # pragma: no cover - compiled
    """``x @ w.T + b`` for x of shape (points, in): one row per knot."""
    out = _advised(np.empty((x.shape[0], w.shape[0])))
    np.dot(x, w.T, out)
    for p in range(out.shape[0]):
        row = out[p]
        for j in range(row.size):
            row[j] += b[j]
    return out


@numba.njit(**KERNEL)
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
    # Where every input is flat, W·0 is exactly 0; the updates would leave their rounding
    # there, which no term size (all 0) could snap.
    for q in range(dh.shape[0]):
        if _count_zeros(dh[q]) == dh.shape[1]:
            dz[q] = 0.0
    return dz


@numba.njit(**KERNEL)
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


@numba.njit(**KERNEL)
def _insert_crossings_rows(t, z, dz, region_breaks, merge_gap, max_knots):  # pragma: no cover
    """:func:`_insert_crossings` with one row per knot: count, place, write; also returns
    where inside its old interval each new knot lies (``knot_frac``, slot order), with which
    other arrays are interpolated at the new knots (:mod:`bends.tracing._kernels.program`)."""
    n, width = z.shape
    offset = np.zeros(n, dtype=np.int64)
    for i in range(n - 1):
        a, b = z[i], z[i + 1]
        count = 0
        for j in range(width):
            count += ((a[j] > 0.0) & (b[j] < 0.0)) | ((a[j] < 0.0) & (b[j] > 0.0))
        offset[i + 1] = offset[i] + count
    total = offset[-1]
    if n + total > max_knots:
        raise MemoryError(n + total)
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
        switches, ever_on, always_on, merged, knot_frac,
    )  # fmt: skip


@numba.njit(**KERNEL)
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


@numba.njit(**KERNEL)
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
