r"""The steps of the flow followed to its end (:func:`bends.training.flows.follow_flow`): linearly
implicit Euler, constrained to the switching surfaces the flow slides along, and their error.

**Sliding.** L is continuous and piecewise smooth: its gradient jumps across each switching
surface :math:`z_a(W) = 0` (a pre-activation at a data point), by the jump
:math:`\partial L/\partial h_a` times the normal :math:`\nabla z_a`
(:meth:`~bends.training.tied.TiedProblem.switching`). Where the field points into a surface
from both sides, the gradient flow's solution (Filippov's; for a gradient flow, the
minimal-norm element of the Clarke subdifferential) slides along it: its velocity is
:math:`-(\nabla L_{\text{off}} + \sum_a \theta_a\,\text{jump}_a \nabla z_a)` with θ ∈ [0, 1]
chosen so that it is tangent to every surface it slides on. A step along such a surface solves
the implicit step's system with the surfaces' linearisation as constraints,

.. math::
   \begin{pmatrix} G + \tfrac{1+L}{h} I & N^\top \\ N & 0 \end{pmatrix}
   \begin{pmatrix} \Delta W \\ \lambda \end{pmatrix} =
   \begin{pmatrix} -\nabla L \\ -z \end{pmatrix},

(N: the normals as rows), whose multipliers give :math:`\theta_a = [z_a > 0] + \lambda_a /
\text{jump}_a`. A surface slides while its θ stays in [0, 1]; outside, the field crosses it
or leaves it, and it is released. A run joins a surface when a step that crossed it (and few
others) was rejected: the zig-zag across it is what collapses the steps. The local error is
measured on the field's component along the surfaces (the jump across them is normal to them).
"""

from __future__ import annotations

import numpy as np

#: A rejected step that crossed at most this many surfaces (not yet held) joins them.
JOIN = 4
#: θ may leave [0, 1] by this much (the linearisation's error) before a surface is released.
SLACK = 0.05


class Surfaces:
    """The switching surfaces each run slides along: rows (step s, neuron j, data point i)."""

    def __init__(self, runs: int, width: int):
        self.held = [np.empty((0, 3), dtype=np.int64) for _ in range(runs)]
        self.most = width * width - 1  # more constraints than that leave no motion

    def any(self, runs: np.ndarray) -> bool:
        return any(len(self.held[r]) for r in runs)

    def constraints(self, problem, weight: np.ndarray, runs: np.ndarray) -> dict:
        """The held surfaces of ``runs`` (whose W are ``weight``), padded to a common count:
        normals (runs, m, w²), values and jumps (runs, m), sides (runs, m: z > 0) and which
        entries are real (``valid``)."""
        counts = [len(self.held[r]) for r in runs]
        m, d = max(counts), weight[0].size
        rows = np.array([(n, *surface) for n, r in enumerate(runs) for surface in self.held[r]],
                        dtype=np.int64).reshape(-1, 4)  # fmt: skip
        slot = np.concatenate([np.arange(c) for c in counts]).astype(np.int64)
        values, normals, jumps, sides = problem.switching(weight, rows)
        out = {"normals": np.zeros((len(runs), m, d)), "valid": np.zeros((len(runs), m), bool)}
        for name, given in (("values", values), ("jumps", jumps), ("sides", sides)):
            out[name] = np.zeros((len(runs), m), dtype=given.dtype)
            out[name][rows[:, 0], slot] = given
        out["normals"][rows[:, 0], slot] = normals.reshape(len(rows), d)
        out["valid"][rows[:, 0], slot] = True
        return out

    def release(self, runs: np.ndarray, constraints: dict, multipliers: np.ndarray) -> bool:
        """Release the surfaces whose θ left [0, 1] (the field crosses or leaves them);
        whether any was released (then ``constraints`` is updated in place)."""
        valid, jumps = constraints["valid"], constraints["jumps"]
        theta = constraints["sides"] + np.divide(
            multipliers, jumps, out=np.full_like(multipliers, np.inf), where=jumps != 0
        )
        out = valid & ((theta < -SLACK) | (theta > 1 + SLACK))
        if not out.any():
            return False
        for n in np.flatnonzero(out.any(axis=1)):
            r = runs[n]
            self.held[r] = self.held[r][~out[n, : len(self.held[r])]]
        valid &= ~out
        constraints["normals"][out] = 0.0
        return True

    def join(self, run: int, crossed: np.ndarray) -> None:
        """Hold the surfaces ``crossed`` ((c, 3) rows) of a run whose step was rejected, if
        they are few and new."""
        held = {tuple(s) for s in self.held[run]}
        new = [s for s in map(tuple, crossed) if s not in held]
        if 0 < len(new) <= JOIN and len(held) + len(new) <= self.most:
            self.held[run] = np.vstack([self.held[run], np.array(new, dtype=np.int64)])


def implicit_step(weight, loss, gradient, curvature, rate, step, constraints=None):
    """W + ΔW with (G + (1 + L)/h I) ΔW = −∇L − Nᵀλ and N ΔW = −z on the held surfaces, h
    lowered until |ΔW| ≤ step·|W|; the h used and the part of the multipliers λ that keeps
    the motion along the surfaces (None without surfaces; the rest pulls W back onto them).
    With G = 0 and no surfaces this is the explicit step −h ∇L/(1 + L)."""
    runs, d = len(weight), curvature.shape[-1]
    flat = gradient.reshape(runs, d, 1)
    radius = step * np.sqrt((weight**2).sum(axis=(-2, -1)))
    damping = np.maximum((1 + loss) / rate, _least_damping(curvature))
    multipliers = None
    delta = np.empty_like(flat)
    for _ in range(3):  # |ΔW| falls like 1/damping where damping dominates G
        matrix = curvature + damping[:, None, None] * np.eye(d)
        if constraints is None:
            delta = -np.linalg.solve(matrix, flat)
        else:
            normals, valid = constraints["normals"], constraints["valid"]
            solved = np.linalg.solve(matrix, np.concatenate([flat, np.swapaxes(normals, 1, 2)],
                                                            axis=-1))  # fmt: skip
            along, across = solved[..., :1], solved[..., 1:]
            schur = normals @ across + np.eye(valid.shape[1]) * ~valid[:, None, :]
            inverse = np.linalg.pinv(schur)
            # the force that keeps the motion along the surfaces (what θ is read from),
            # and the pull that puts W back on them
            multipliers = -(inverse @ (normals @ along))[..., 0] * valid
            glide = -(along + across @ multipliers[..., None])
            # the pull goes at most as far as the glide does: a step that reached a surface
            # from afar in one go would not shrink with h, and could never be accepted
            reach = np.sqrt((glide**2).sum(axis=(-2, -1)))[:, None]
            # the share of each surface's distance |z|/|∇z| that one glide covers
            share = np.minimum(1.0, np.divide(
                reach * np.sqrt((normals**2).sum(axis=-1)), np.abs(constraints["values"]),
                out=np.ones_like(reach * valid), where=constraints["values"] != 0))  # fmt: skip
            pull = (inverse @ (constraints["values"] * share * valid)[..., None])[..., 0]
            delta = glide - across @ (pull * valid)[..., None]
        length = np.sqrt((delta**2).sum(axis=(-2, -1)))
        over = length > radius
        if not over.any():
            break
        damping = np.where(over, damping * length / np.maximum(radius, 1e-300), damping)
    length = np.sqrt((delta**2).sum(axis=(-2, -1)))
    delta *= np.minimum(1.0, radius / np.maximum(length, 1e-300))[:, None, None]
    return weight + delta.reshape(weight.shape), (1 + loss) / damping, multipliers


def glide_share(gradient: np.ndarray, constraints: dict) -> np.ndarray:
    """|P∇L| / |∇L| per run, P the projection onto the tangent space of its held surfaces:
    where ≈ 0 (and every θ in [0, 1]) the minimal-norm element of the Clarke subdifferential
    is 0 and the sliding flow has reached a kink (a Clarke critical point)."""
    flat = gradient.reshape(len(gradient), -1, 1)
    along = _along(flat, constraints)
    size = np.sqrt((flat**2).sum(axis=(-2, -1)))
    return np.sqrt((along**2).sum(axis=(-2, -1))) / np.maximum(size, 1e-300)


def _along(vectors: np.ndarray, constraints: dict) -> np.ndarray:
    """``vectors`` (runs, w², 1) projected onto the tangent space of each run's held surfaces
    (Euclidean: minus their component along the normals' span)."""
    normals, valid = constraints["normals"], constraints["valid"]
    gram = normals @ np.swapaxes(normals, 1, 2) + np.eye(valid.shape[1]) * ~valid[:, None, :]
    return vectors - np.swapaxes(normals, 1, 2) @ (np.linalg.pinv(gram) @ (normals @ vectors))


def _least_damping(curvature: np.ndarray) -> np.ndarray:
    """The smallest damping that keeps G + damping·I solvable in float64 (condition ≤ 10¹⁰)."""
    return 1e-10 * np.diagonal(curvature, axis1=-2, axis2=-1).max(axis=-1) + 1e-300


def local_error(weight, loss, gradient, curvature, h, new_loss, new_gradient, constraints=None):
    """The step's local error relative to |W|: h/2 times the change of the field F = dW/ds
    along it, filtered through the step's own matrix, (I + hG/(1 + L))⁻¹ (h/2) ΔF (Shampine's
    estimate for stiff problems: unfiltered, the stiff components' decay to 0 within one
    implicit step reads as a large error and forces explicit-sized steps). On held surfaces
    only the change along them counts: the jump across a surface is normal to it."""
    d = curvature.shape[-1]
    change = (
        gradient / (1 + loss)[:, None, None] - new_gradient / (1 + new_loss)[:, None, None]
    ).reshape(len(weight), d, 1)
    if constraints is not None:
        change = _along(change, constraints)
    damping = np.maximum((1 + loss) / h, _least_damping(curvature))
    filtered = np.linalg.solve(curvature + damping[:, None, None] * np.eye(d), change)
    size = (1 + loss) / 2 * np.sqrt((filtered**2).sum(axis=(-2, -1)))
    return size / np.maximum(np.sqrt((weight**2).sum(axis=(-2, -1))), 1e-300)
