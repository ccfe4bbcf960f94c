r"""The loss landscape of a tied RNN (:mod:`bends.training.tied`) around a weight W:
the Hessian's zero eigenvalues against the flat directions the structure explains, and how the
loss grows along each zero direction.

Example:
    >>> from bends.training.tied import tied_construction
    >>> net = tied_construction("yarotsky-2")
    >>> problem = TiedProblem.from_network(net, 32, "uniform", 0)
    >>> local = analyse_minimum(problem, net.weight, zero_tol=1e-9)
    >>> local["loss"], local["zero_eigenvalues"] >= local["symmetry"]
    (0.0, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bends.training.tied import TiedProblem

#: Perturbation sizes δ whose losses L(W + δv) give the growth order along a direction v.
PROBE_STEPS = (1e-3, 1e-2)
#: A loss below this along both probes is round-off: the direction is exactly flat.
FLAT_LOSS = 1e-25


@dataclass(frozen=True)
class FlatDirections:
    r"""Directions in W-space along which the loss is locally constant, by cause.

    ``symmetry``: the rank of the tangents :math:`E_{ii}W - WE_{ii}` of the rescalings
    :math:`W \mapsto DWD^{-1}` (D positive diagonal, :math:`D_{ii} = 1` on the output and on
    every coordinate the input line uses), which leave f_k unchanged exactly;
    ``inactive``: entries :math:`W_{ij}` the loss does not see near W, because coordinate j is
    zero in every state :math:`h_0, …, h_{k-1}` at every data point, or neuron i's
    pre-activation is negative at every step and point; ``explained``: the rank of both
    together — zero Hessian eigenvalues beyond it have another cause.
    """

    symmetry: int
    inactive: int
    explained: int


def flat_directions(problem: TiedProblem, weight: np.ndarray) -> FlatDirections:
    """Count the loss's known flat directions at ``weight`` (see :class:`FlatDirections`)."""
    w = problem.width
    states, pre = [problem.inputs], []
    for _ in range(problem.steps):
        pre.append(weight @ states[-1])
        states.append(pre[-1].clip(min=0))
    unused_input = np.all(np.abs(np.concatenate(states[:-1], axis=1)) == 0, axis=1)
    never_active = np.all(np.concatenate(pre, axis=1) < 0, axis=1)
    inactive = never_active[:, None] | unused_input[None, :]
    fixed = (np.abs(problem.origin) + np.abs(problem.direction)) > 0
    fixed[0] = True
    tangents = []
    for i in np.flatnonzero(~fixed):
        unit = np.zeros((w, w))
        unit[i, i] = 1.0
        tangents.append((unit @ weight - weight @ unit).ravel())
    units = list(np.eye(w * w)[inactive.ravel()])

    def rank(vectors: list[np.ndarray]) -> int:
        return int(np.linalg.matrix_rank(np.array(vectors))) if vectors else 0

    return FlatDirections(rank(tangents), int(inactive.sum()), rank(tangents + units))


def analyse_minimum(problem: TiedProblem, weight: np.ndarray, zero_tol: float) -> dict:
    r"""The landscape at ``weight``: loss, gradient norm, the Hessian spectrum (``eigenvalues``)
    and its zero eigenvalues (:math:`|\lambda| \le` ``zero_tol`` · max |λ|) beside the
    explained flat directions, and along each zero direction v the growth order p of
    :math:`L(W + \delta v) \propto \delta^p` from δ in PROBE_STEPS: ``flat`` (round-off),
    ``second_order`` (p < 2.5: the Hessian is blind where a pre-activation is exactly 0 at a
    data point) and ``higher_order``; ``zero_preactivations`` counts those exact zeros."""
    loss, gradient = problem.loss_and_gradient(weight)
    eigenvalues, vectors = np.linalg.eigh(problem.hessian(weight))
    tol = zero_tol * np.abs(eigenvalues).max()
    null = vectors[:, np.abs(eigenvalues) <= tol].T
    probes = np.array(
        [
            [problem.losses(weight + step * v.reshape(weight.shape)) for step in PROBE_STEPS]
            for v in null
        ]
    ).reshape(-1, len(PROBE_STEPS))
    flat = np.all(probes < FLAT_LOSS, axis=1)
    floor = np.maximum(probes, 1e-300)
    order = np.log(floor[:, 1] / floor[:, 0]) / np.log(PROBE_STEPS[1] / PROBE_STEPS[0])
    directions = flat_directions(problem, weight)
    states, zero_pre = problem.inputs, 0
    for _ in range(problem.steps):
        pre = weight @ states
        zero_pre += int(np.sum(pre == 0))
        states = pre.clip(min=0)
    return {
        "loss": float(loss),
        "gradient_norm": float(np.linalg.norm(gradient)),
        "largest": float(eigenvalues.max()),
        "zero_eigenvalues": len(null),
        "negative": int(np.sum(eigenvalues < -tol)),
        "symmetry": directions.symmetry,
        "inactive": directions.inactive,
        "explained": directions.explained,
        "flat": int(flat.sum()),
        "second_order": int(np.sum(~flat & (order < 2.5))),
        "higher_order": int(np.sum(~flat & (order >= 2.5))),
        "zero_preactivations": zero_pre,
        "eigenvalues": eigenvalues,
    }
