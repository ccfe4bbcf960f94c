r"""Training runs of tied ReLU RNNs (:mod:`bends.training.tied`): gradient flow, GD and Adam.

*Gradient flow* :math:`\dot W = -\nabla L(W)` is integrated by SciPy's adaptive Runge–Kutta
solvers until the loss falls below a threshold or the time limit (the vector field is only
piecewise smooth — it jumps where a neuron changes sign on a data point — so a low-order method
with moderate tolerances is the default). GD and Adam run :func:`bends.training.loop.descend`,
fed with the same hand-derived gradient.

Example:
    >>> problem = TiedProblem.from_target("cantor", width=3, steps=2, points=16)
    >>> starts = np.random.default_rng(0).standard_normal((2, 3, 3))
    >>> runs = train_tied(problem, starts, "adam", lr=1e-2, train_steps=50)
    >>> [bool(run.loss <= run.losses[0]) for run in runs]
    [True, True]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.integrate import DOP853, RK23, RK45

from bends.errors import BendsError
from bends.training.loop import Method, descend, geometric
from bends.training.tied import TiedProblem


@dataclass
class Run:
    """One training run: the final W, its loss, the loss trajectory and why it stopped."""

    weight: np.ndarray
    loss: float
    times: np.ndarray  # flow time (or step number) of each recorded loss
    losses: np.ndarray
    stopped: str  # "threshold", "time limit", "evaluations", "stalled", "diverged"
    evaluations: int
    weights: np.ndarray  # W at each recorded time, shape (records, ..., w, w)


def gradient_flow(
    problem: TiedProblem,
    weight: np.ndarray,
    time_limit: float = 100.0,
    loss_threshold: float = 1e-10,
    rtol: float = 1e-3,
    method: str = "RK23",
    max_evaluations: int = 200_000,
    record: int = 64,
) -> Run:
    """Integrate dW/dt = −∇L(W) from ``weight`` with a SciPy adaptive Runge–Kutta solver.

    Stops when L < ``loss_threshold`` (checked after every step), at ``time_limit``, or after
    ``max_evaluations`` gradient evaluations (which guards against the crawl of adaptive steps
    along the vector field's discontinuities; ``stopped`` says which). The loss is recorded
    at the first step past each of ``record`` times spaced geometrically in (0, time_limit].
    """
    solvers = {"RK23": RK23, "RK45": RK45, "DOP853": DOP853}
    if method not in solvers:
        raise BendsError(f"method must be one of {', '.join(solvers)}, got {method!r}")
    width = problem.width
    last: dict[str, object] = {}  # the loss at the field's latest point (SciPy's RK are FSAL)

    def field_(_: float, flat: np.ndarray) -> np.ndarray:
        loss, gradient = problem.loss_and_gradient(flat.reshape(width, width))
        last["at"], last["loss"] = flat.copy(), float(loss)
        return -gradient.ravel()

    def loss_at(flat: np.ndarray) -> float:
        at = last.get("at")
        if at is not None and np.array_equal(at, flat):
            return last["loss"]  # type: ignore[return-value]
        return float(problem.losses(flat.reshape(width, width)))

    start = np.asarray(weight, dtype=np.float64).ravel()
    solver = solvers[method](field_, 0.0, start, time_limit, rtol=rtol, atol=rtol * 1e-3)
    marks = iter(np.geomspace(time_limit * 1e-6, time_limit, record - 1))
    mark = next(marks)
    loss = loss_at(start)
    times, losses, weights = [0.0], [loss], [start]
    stopped = "time limit"
    while solver.status == "running":
        if loss < loss_threshold:
            stopped = "threshold"
            break
        if solver.nfev >= max_evaluations:
            stopped = "evaluations"
            break
        solver.step()
        loss = loss_at(solver.y)
        if solver.t >= mark:
            times.append(solver.t)
            losses.append(loss)
            weights.append(solver.y.copy())
            while solver.t >= mark:
                mark = next(marks, np.inf)
    if solver.status == "failed":
        stopped = "stalled"
    if times[-1] != solver.t:
        times.append(solver.t)
        losses.append(loss)
        weights.append(solver.y.copy())
    final = solver.y.reshape(width, width).copy()
    recorded = np.array(weights).reshape(-1, width, width)
    return Run(final, loss, np.array(times), np.array(losses), stopped, solver.nfev, recorded)


def descend_tied(
    problem: TiedProblem,
    weight: np.ndarray,
    method: Method,
    lr: float,
    steps: int,
    record: int = 64,
) -> Run:
    """Adam or GD (:func:`bends.training.loop.descend`) on a batch of W (..., w, w), fed by
    :meth:`TiedProblem.loss_and_gradient`; loss and W recorded at ``record`` geometric steps."""
    import torch

    parameter = torch.tensor(np.array(weight, dtype=np.float64), requires_grad=True)

    class Loss(torch.autograd.Function):
        @staticmethod
        def forward(ctx, w):
            loss, gradient = problem.loss_and_gradient(w.detach().numpy())
            ctx.gradient = torch.from_numpy(gradient)
            return torch.as_tensor(loss)

        @staticmethod
        def backward(ctx, upstream):
            return upstream[..., None, None] * ctx.gradient

    run = descend(
        [parameter], lambda: Loss.apply(parameter), steps, lr, method,
        record=geometric(steps, record), snapshot=lambda: parameter.detach().numpy(),
    )  # fmt: skip
    final_weight = run.snapshots[-1]
    stopped = "time limit" if run.stopped == "steps" else run.stopped
    return Run(final_weight, run.curve[..., -1], run.steps, np.moveaxis(run.curve, -1, 0),
               stopped, int(run.steps[-1]), np.array(run.snapshots))  # fmt: skip


def train_tied(
    problem: TiedProblem,
    starts: np.ndarray,
    trainer: Literal["flow", "gd", "adam"],
    *,
    time_limit: float = 100.0,
    loss_threshold: float = 1e-10,
    rtol: float = 1e-3,
    method: str = "RK23",
    max_evaluations: int = 3000,
    lr: float = 1e-3,
    train_steps: int = 3000,
    record: int = 32,
) -> list[Run]:
    """Train each W in ``starts`` (seeds, w, w): the flow one seed at a time (its steps adapt
    per seed), GD and Adam all seeds as one batch; one :class:`Run` per seed."""
    if trainer == "flow":
        return [
            gradient_flow(problem, start, time_limit, loss_threshold, rtol, method,
                          max_evaluations, record)
            for start in starts
        ]  # fmt: skip
    batch = descend_tied(problem, starts, trainer, lr, train_steps, record)
    return [
        Run(batch.weight[i], float(batch.loss[i]), batch.times, batch.losses[:, i],
            batch.stopped, batch.evaluations, batch.weights[:, i])
        for i in range(len(starts))
    ]  # fmt: skip
