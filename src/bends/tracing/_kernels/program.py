r"""Residual MLPs in one compiled call: a straight-line program over vectors, pushed through
with the rows-per-knot kernels of the MLP tracer (:mod:`bends.tracing._kernels.knot_rows`).

A graph network whose nodes are affine maps of vectors (``Linear``), elementwise kinks at 0
(ReLU, LeakyReLU: :math:`h = z` for :math:`z > 0`, else :math:`\alpha z`) and sums of two
vectors is lowered (:mod:`bends.tracing._graph.lowering`) to a program of three instructions over
registers, each register holding a vector's values at the knots (K, n) and its slopes on
the intervals (K − 1, n):

* ``LINEAR dst, a``: :math:`V_{dst} = V_a W^T + b`, :math:`D_{dst} = D_a W^T`;
* ``ADD dst, a, b``: :math:`V_{dst} = V_a + V_b`, :math:`D_{dst} = D_a + D_b`;
* ``KINK dst, a``: insert a knot wherever a coordinate of :math:`V_a` strictly changes sign
  inside an interval (the MLP tracer's kernel: same merging, same statistics), then every
  register still needed later is interpolated at the new knots (exact: each is affine between
  the old ones) and :math:`V_{dst} = h + \alpha (z - h)` with h = ReLU(z), which is z where
  z > 0 and αz elsewhere without rounding.

The tolerance policy is the graph tracer's: a kink input within ``zero_tol`` times the size
of its terms (:math:`|W|\,|V_a|_{max} + |b|` for an affine input, the sum of the two sizes
for a sum) of 0 is 0. Everything runs in one compiled call, so a small residual MLP costs
microseconds, not the hundred torch calls per node of the general graph tracer.
"""

from __future__ import annotations

import numba
import numpy as np
from numba.typed import List

from bends.tracing._kernels.knot_rows import _affine_rows, _insert_crossings_rows
from bends.tracing._kernels.shared import KERNEL

LINEAR, KINK, ADD = 0, 1, 2


@numba.njit(**KERNEL)
def _spread(values, start, offset, knot_frac):  # pragma: no cover - compiled
    """A register's values at the merged knots: old knots copied, new ones interpolated."""
    n, width = values.shape
    size = start[-1] + 1
    out = np.empty((size, width))
    for i in range(n - 1):
        pos = start[i]
        out[pos] = values[i]
        a, b = values[i], values[i + 1]
        for r in range(start[i + 1] - pos - 1):
            frac = knot_frac[offset[i] + r]
            row = out[pos + 1 + r]
            for j in range(width):
                row[j] = a[j] + (b[j] - a[j]) * frac
    out[size - 1] = values[n - 1]
    return out


@numba.njit(**KERNEL)
def _inherit(slopes, start):  # pragma: no cover - compiled
    """Slopes on the merged intervals: each piece of an old interval keeps its slope."""
    out = np.empty((start[-1], slopes.shape[1]))
    for i in range(slopes.shape[0]):
        for p in range(start[i], start[i + 1]):
            out[p] = slopes[i]
    return out


@numba.njit(**KERNEL)
def _leaky(z, alpha):  # pragma: no cover - compiled
    """LeakyReLU of every value (z where z > 0, else αz: torch's rounding) and the largest
    magnitude per neuron."""
    h = np.empty_like(z)
    top = np.zeros(z.shape[1])
    for i in range(z.shape[0]):
        row, out = z[i], h[i]
        for j in range(row.size):
            value = row[j] if row[j] > 0.0 else alpha * row[j]
            out[j] = value
            top[j] = max(top[j], abs(value))
    return h, top


@numba.njit(**KERNEL)
def _leaky_slopes(dz, relu_slopes, alpha):  # pragma: no cover - compiled
    """Slopes through LeakyReLU from those through ReLU (dz where on, 0 where off): dz on,
    α dz off, told apart by the ReLU slope, which is dz or exactly 0 (a flat neuron that is
    off has dz = 0 either way)."""
    out = np.empty_like(dz)
    for i in range(dz.shape[0]):
        for j in range(dz.shape[1]):
            on = relu_slopes[i, j] == dz[i, j] and relu_slopes[i, j] != 0.0
            out[i, j] = dz[i, j] if on else alpha * dz[i, j]
    return out


@numba.njit(**KERNEL)
def _column_maxima(values):  # pragma: no cover - compiled
    top = np.zeros(values.shape[1])
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            top[j] = max(top[j], abs(values[i, j]))
    return top


@numba.njit(**KERNEL)
def run_program(
    ops, flat_w, flat_b, w_at, b_at, rows, cols, alphas, widths, last_use, output,
    start, end, zero_tol, merge_gap, pieces, max_knots,
):  # pragma: no cover - compiled  # fmt: skip
    """Run the program ``ops`` (rows: kind, dst, a, b, parameter) on the segment; returns the
    knots, the output's values and slopes, the region breaks, the per-neuron statistics of
    every kink (concatenated in program order) and how many crossings were merged."""
    dim, registers = start.size, widths.size
    t = np.array([0.0, 1.0])
    values, slopes, tops = List(), List(), List()
    for _ in range(registers):
        values.append(np.empty((0, 0)))
        slopes.append(np.empty((0, 0)))
        tops.append(np.empty(0))
    first = np.empty((2, dim))
    first[0] = start
    first[1] = end
    values[0] = first
    slopes[0] = (end - start).reshape(1, dim).copy() if pieces else np.empty((0, dim))
    tops[0] = _column_maxima(first)
    region_breaks = np.zeros(2, dtype=np.bool_)
    neurons = 0
    for k in range(ops.shape[0]):
        if ops[k, 0] == KINK:
            neurons += widths[ops[k, 2]]
    switches = np.empty(neurons, np.int64)
    ever_on, always_on = np.empty(neurons, np.bool_), np.empty(neurons, np.bool_)
    done, merged = 0, 0
    for k in range(ops.shape[0]):
        kind, dst, a, b, p = ops[k, 0], ops[k, 1], ops[k, 2], ops[k, 3], ops[k, 4]
        if kind == LINEAR:
            w = flat_w[w_at[p] : w_at[p + 1]].reshape(rows[p], cols[p])
            bias = flat_b[b_at[p] : b_at[p + 1]]
            values[dst] = _affine_rows(w, values[a], bias)
            tops[dst] = np.dot(np.abs(w), tops[a]) + np.abs(bias)
            if pieces:
                slopes[dst] = _affine_rows(w, slopes[a], np.zeros(rows[p]))
            else:
                slopes[dst] = np.empty((0, rows[p]))
        elif kind == ADD:
            values[dst] = values[a] + values[b]
            tops[dst] = tops[a] + tops[b]
            slopes[dst] = slopes[a] + slopes[b]
        else:
            z = values[a]
            zero_at = zero_tol * tops[a]
            for i in range(z.shape[0]):
                for j in range(z.shape[1]):
                    if abs(z[i, j]) <= zero_at[j]:
                        z[i, j] = 0.0
            dz = slopes[a]
            inserted = _insert_crossings_rows(t, z, dz, region_breaks, merge_gap, max_knots)
            t, h, _, dh, _, region_breaks = inserted[:6]
            where, offset, knot_of, c_neuron = inserted[6], inserted[7], inserted[9], inserted[10]
            knot_frac = inserted[15]
            width = z.shape[1]
            layer = slice(done, done + width)
            switches[layer], ever_on[layer], always_on[layer] = inserted[11:14]
            merged += inserted[14]
            done += width
            alpha, top = alphas[k], inserted[2]
            needed = alpha != 0.0 or last_use[a] > k
            z_new = _spread(z, where, offset, knot_frac) if needed else z
            if needed:
                for i in range(offset.size - 1):  # a neuron is exactly 0 at its own crossing
                    for m in range(offset[i], offset[i + 1]):
                        z_new[where[i] + 1 + knot_of[m], c_neuron[m]] = 0.0
            dz_new = _inherit(dz, where) if pieces and needed else dz
            if alpha != 0.0:
                h, top = _leaky(z_new, alpha)
                if pieces:
                    dh = _leaky_slopes(dz_new, dh, alpha)
            for r in range(registers):  # everything still needed lives on the new knots
                if r != dst and last_use[r] > k and values[r].shape[0] > 0:
                    if r == a:
                        values[r], slopes[r] = z_new, dz_new
                    else:
                        values[r] = _spread(values[r], where, offset, knot_frac)
                        if pieces:
                            slopes[r] = _inherit(slopes[r], where)
            values[dst], slopes[dst], tops[dst] = h, dh, top
        for r in range(registers):  # drop what no later instruction reads
            if last_use[r] <= k and r != output and values[r].shape[0] > 0:
                values[r], slopes[r] = np.empty((0, 0)), np.empty((0, 0))
    return (
        t, values[output], slopes[output], region_breaks, switches, ever_on, always_on, merged,
    )  # fmt: skip
