"""The whole-space certificate's float64 check of the rays, compiled
(:func:`bends.tracing._box.whole._farthest_beyond` states the rule; this is its float64 arm,
one ray at a time, on every core)."""

from __future__ import annotations

import numba
import numpy as np

from bends.tracing._kernels.shared import on_cores

#: Rays from which the check runs on every core (a ray costs about 3 us).
PARALLEL_RAYS = 1024


def _ray_failures(weights, magnitudes, biases, shapes, basis, h, zeros, first_bit, inner,
                  outer, points, rounding, flat, misplaced, guess,
                  threads):  # pragma: no cover - compiled  # fmt: skip
    """For each ray (an edge from vertex ``inner[r]`` inside the box out through ``outer[r]``
    on its boundary; rows of ``h`` (input-space points) and ``zeros`` (zero sets), and of
    ``points`` (box coordinates)), layer by layer (``weights``, their ``magnitudes`` |W| and
    ``biases`` packed flat, layer k's matrix of shape ``shapes[k]``, input space; ``basis``
    maps box coordinates to it): the farthest max-norm
    point past the box where a neuron of that layer changes sign along the ray, or −1 where
    none does.

    Per ray: a neuron's values at the ends are the network's, 0 where the end's zero set holds
    it; its sign inside the edge is that of their sum beyond ``rounding`` times the ends'
    term sizes plus ``misplaced`` times its gradient's size; its gradient (box coordinates)
    is taken under the signs inside the edge. The ray's direction is the eigenvector of the
    least eigenvalue of Σ u uᵀ over the unit gradients u of the neurons 0 at both ends,
    scaled to the edge's length and pointed outward; a slope along it is 0 within ``flat``
    times the gradient's size times the direction's reach over the gap to the next
    eigenvalue. A neuron on at the ray's end fails where its value there is negative or its
    slope is; off, where positive. With ``guess``, a failure whose slope is 0 within that
    rounding is passed over: it places no sign change (a first guess on a cut by fewer layers
    than the network's, where a later neuron may be on inside a ray with its inputs off).
    The rays are split into ``threads`` parts, one per core,
    each with its own scratch arrays."""
    rays, d, inputs = inner.size, basis.shape[1], basis.shape[0]
    layers = shapes.shape[0]
    neurons = widest = 0
    for k in range(layers):
        neurons += shapes[k, 0]
        widest = max(widest, shapes[k, 0])
    found = np.full((rays, layers), -1.0)
    per = (rays + threads - 1) // threads
    for part in numba.prange(threads):
        # scratch, once per thread: a ray's work allocates nothing
        width = max(widest, inputs)
        hx, hy, sx, sy = np.empty(width), np.empty(width), np.empty(width), np.empty(width)
        zx, zy, tx, ty = np.empty(width), np.empty(width), np.empty(width), np.empty(width)
        gradient, product = np.empty((width, d)), np.empty((width, d))
        normal = np.empty((d, d))
        at_y, tol, size = np.empty(neurons), np.empty(neurons), np.empty(neurons)
        up, down = np.empty(neurons, np.bool_), np.empty(neurons, np.bool_)
        kept = np.empty((neurons, d))
        layer_of = np.empty(neurons, np.int64)
        for r in range(part * per, min(rays, (part + 1) * per)):
            x, y = inner[r], outer[r]
            n = inputs
            for i in range(n):
                hx[i], hy[i] = h[x, i], h[y, i]
                sx[i], sy[i] = abs(hx[i]), abs(hy[i])
                for c in range(d):
                    gradient[i, c] = basis[i, c]
            normal[:] = 0.0
            n0 = w0 = 0
            for k in range(layers):
                m = shapes[k, 0]
                w = weights[w0 : w0 + m * n].reshape(m, n)
                aw = magnitudes[w0 : w0 + m * n].reshape(m, n)
                b = biases[n0 : n0 + m]
                w0 += m * n
                for j in range(m):
                    zx[j] = zy[j] = b[j]
                    tx[j] = ty[j] = abs(b[j])
                    for c in range(d):
                        product[j, c] = 0.0
                    for i in range(n):
                        zx[j] += w[j, i] * hx[i]
                        zy[j] += w[j, i] * hy[i]
                        tx[j] += aw[j, i] * sx[i]
                        ty[j] += aw[j, i] * sy[i]
                        for c in range(d):
                            product[j, c] += w[j, i] * gradient[i, c]
                for j in range(m):
                    at = n0 + j
                    bit = first_bit + at
                    word, mask = bit // 64, np.uint64(1) << np.uint64(bit % 64)
                    if zeros[x, word] & mask:
                        zx[j] = 0.0
                    if zeros[y, word] & mask:
                        zy[j] = 0.0
                    total = norm = 0.0
                    for c in range(d):
                        total += abs(product[j, c])
                        norm += product[j, c] * product[j, c]
                        kept[at, c] = product[j, c]
                    size[at] = total
                    tol[at] = rounding * max(tx[j], ty[j]) + misplaced * total
                    middle = zx[j] + zy[j]
                    up[at], down[at] = middle > tol[at], middle < -tol[at]
                    at_y[at], layer_of[at] = zy[j], k
                    if zeros[x, word] & zeros[y, word] & mask:  # holds the edge
                        norm = max(np.sqrt(norm), 1e-300)
                        for c in range(d):
                            for e in range(d):
                                normal[c, e] += (product[j, c] / norm) * (product[j, e] / norm)
                for j in range(m):  # the next layer's inputs, terms and gradients
                    hx[j], hy[j] = max(zx[j], 0.0), max(zy[j], 0.0)
                    sx[j], sy[j] = tx[j], ty[j]
                    on = up[n0 + j]
                    for c in range(d):
                        gradient[j, c] = product[j, c] if on else 0.0
                n, n0 = m, n0 + m
            spectrum, vectors = np.linalg.eigh(normal)
            length = 0.0
            for c in range(d):
                length += (points[y, c] - points[x, c]) ** 2
            length, along = np.sqrt(length), 0.0
            for c in range(d):
                along += vectors[c, 0] * (points[y, c] - points[x, c])
            sign = -length if along < 0 else length
            gap = spectrum[1] if d > 1 else 1.0
            reach = 0.0
            for c in range(d):
                reach = max(reach, abs(vectors[c, 0] * sign))
            reach /= min(max(gap, 1e-12), 1.0)
            for at in range(neurons):
                slope = 0.0
                for c in range(d):
                    slope += kept[at, c] * vectors[c, 0] * sign
                slack = flat * size[at] * reach
                fails = (up[at] and (at_y[at] < -tol[at] or slope < -slack)) or (
                    down[at] and (at_y[at] > tol[at] or slope > slack))  # fmt: skip
                if fails and not (guess and abs(slope) <= slack):
                    ahead = min(abs(at_y[at]) / max(abs(slope), 1e-300), 1e12)
                    beyond = 0.0
                    for c in range(d):
                        beyond = max(beyond, abs(points[y, c] + ahead * vectors[c, 0] * sign))
                    found[r, layer_of[at]] = max(found[r, layer_of[at]], beyond)
    return found


ray_failures = on_cores(_ray_failures, 8, PARALLEL_RAYS)
