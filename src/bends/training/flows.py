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

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.integrate import DOP853, RK23, RK45

from bends.errors import BendsError, ResolutionWarning
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


def follow_flow(
    problem: TiedProblem,
    starts: np.ndarray,
    loss_threshold: float = 1e-10,
    gradient_tol: float = 1e-12,
    step: float = 1e-2,
    stall_steps: int = 2000,
    stall_rtol: float = 1e-6,
    max_steps: int = 20_000,
    record: int = 32,
    pieces=None,
) -> list[Run]:
    r"""Gradient flow followed to its end, for many W at once (``starts``: (seeds, w, w)).

    The flow's trajectory does not depend on its time parameter; this follows
    :math:`dW/ds = -\nabla L / (1 + L)`, the flow :math:`dW/dt = -\nabla L` at
    :math:`dt = ds / (1 + L)`: where L is huge (a random W's output grows like its spectral
    radius to the k) the field is :math:`-\nabla \log L`, of size about k / ‖W‖ (f_k is
    homogeneous of degree k in W), and near a minimum it is the plain flow. Explicit Euler
    steps, each moving W by at most ``step`` · ‖W‖, with a per-run step size that halves when
    a step raises the loss (the step is undone) and grows by 10 % after each accepted one: on
    a switching surface (a pre-activation at a data point = 0) the steps shrink until they
    zig-zag across it by a vanishing amount, which converges to the sliding (Filippov) motion
    as the steps go to 0 (``tests/test_tied_training.py``: halving ``step`` keeps where six
    random W₀ end, loss to 10⁻³ and pieces exactly; at a quarter, two of them end elsewhere
    or run out of steps: near switching surfaces the end is sensitive).

    A run ends by the first criterion it meets (``stopped``): ``threshold`` (L below
    ``loss_threshold``), ``critical`` (‖∇L‖ ≤ ``gradient_tol`` · (1 + L): a critical point,
    such as a network whose output is 0 on every data point), ``stalled`` (over the last
    ``stall_steps`` accepted steps L fell by less than ``stall_rtol`` · L and the piece count
    ``pieces(W)`` did not change; without ``pieces``, the activation pattern on the data did
    not), or ``budget`` (``max_steps`` steps). ``times`` are flow times t.
    """
    weight = np.array(starts, dtype=np.float64)
    runs = len(weight)
    loss, gradient = problem.loss_and_gradient(weight)
    rate = np.full(runs, 1.0)  # the step size per unit of field, adapted per run
    time = np.zeros(runs)
    stopped = np.array([""] * runs, dtype=object)
    marks = np.unique(np.geomspace(1, max_steps, record - 1).astype(int))
    history = [[(0.0, float(loss[i]), weight[i].copy())] for i in range(runs)]
    # the stretch's start; the pattern on the data is compared only without a piece count
    anchor = (weight.copy(), loss.copy(), None if pieces else _pattern(problem, weight))
    accepted = np.zeros(runs, dtype=np.int64)
    evaluations = np.ones(runs, dtype=np.int64)  # per run: its gradient evaluations
    recent = np.tile(loss, (WINDOW, 1))  # the losses of the last WINDOW accepted steps
    for count in range(1, max_steps + 1):
        live = stopped == ""
        size = np.sqrt((gradient**2).sum(axis=(-2, -1)))
        stopped[live & (loss < loss_threshold)] = "threshold"
        stopped[(stopped == "") & (size <= gradient_tol * (1 + loss))] = "critical"
        live = stopped == ""
        if not live.any():
            break
        field = gradient / (1 + loss)[:, None, None]
        norm = np.sqrt((field**2).sum(axis=(-2, -1)))
        reach = step * np.sqrt((weight**2).sum(axis=(-2, -1))) / np.maximum(norm, 1e-300)
        h = np.where(live, np.minimum(rate, reach), 0.0)
        proposal = weight - h[:, None, None] * field
        new_loss, new_gradient = problem.loss_and_gradient(proposal)
        evaluations += live
        better = live & (new_loss <= recent.max(axis=0))
        rate = np.where(better, np.minimum(rate * 1.1, 1e12), np.where(live, rate / 2, rate))
        time += np.where(better, h / (1 + loss), 0.0)
        weight[better], loss[better], gradient[better] = (proposal[better], new_loss[better],
                                                          new_gradient[better])  # fmt: skip
        accepted += better
        recent[count % WINDOW, better] = loss[better]
        if count in marks:
            for i in np.flatnonzero(live):
                history[i].append((time[i], float(loss[i]), weight[i].copy()))
        due = live & (accepted >= stall_steps)
        if due.any():
            _check_stall(problem, weight, loss, anchor, due, stall_rtol, pieces, stopped)
            accepted[due] = 0
    stopped[stopped == ""] = "budget"
    result = []
    for i in range(runs):
        if history[i][-1][0] != time[i] or len(history[i]) == 1:
            history[i].append((time[i], float(loss[i]), weight[i].copy()))
        times, losses, weights = zip(*history[i], strict=True)
        result.append(Run(weight[i].copy(), float(loss[i]), np.array(times), np.array(losses),
                          str(stopped[i]), int(evaluations[i]), np.array(weights)))  # fmt: skip
    return result


#: A step is accepted when the loss stays at most the largest of the last WINDOW accepted
#: losses: across a switching surface the zig-zag that approximates sliding may raise the
#: loss a little, which a strictly monotone rule would refuse until the steps vanish.
WINDOW = 8


def _pieces_of(problem: TiedProblem):
    """W ↦ the pieces of f_k(W, ·) on the data's range; −1 where the trace is over the memory
    budget (then a stall compares −1 with −1: the pattern on the data decides nothing)."""
    from bends.tracing import trace

    def pieces(weight: np.ndarray) -> int:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ResolutionWarning)
                return trace(problem.network(weight)).pieces
        except BendsError:
            return -1

    return pieces


def _pattern(problem: TiedProblem, weight: np.ndarray) -> np.ndarray:
    """Every pre-activation's sign at every data point and step: (runs, k, w, n) booleans."""
    h, signs = np.broadcast_to(problem.inputs, (len(weight), *problem.inputs.shape)), []
    for _ in range(problem.steps):
        z = weight @ h
        signs.append(z > 0)
        h = z.clip(min=0)
    return np.stack(signs, axis=1)


def _check_stall(problem, weight, loss, anchor, due, rtol, pieces, stopped) -> None:
    """Runs ``due`` whose stretch since ``anchor`` left L and the pieces (or the pattern on
    the data) unchanged are ``stalled``; the stretch restarts at the current W either way."""
    then_weight, then_loss, then_pattern = anchor
    now_pattern = None if pieces else _pattern(problem, weight)
    for i in np.flatnonzero(due):
        flat = then_loss[i] - loss[i] <= rtol * loss[i]
        if pieces is None:
            same = bool(np.array_equal(then_pattern[i], now_pattern[i]))
        else:
            same = flat and pieces(then_weight[i]) == pieces(weight[i])
        if flat and same:
            stopped[i] = "stalled"
        then_weight[i], then_loss[i] = weight[i], loss[i]
        if now_pattern is not None:
            then_pattern[i] = now_pattern[i]


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
    step: float = 1e-2,
    max_steps: int = 20_000,
    stall_steps: int = 2000,
    stall_rtol: float = 1e-6,
    gradient_tol: float = 1e-12,
) -> list[Run]:
    """Train each W in ``starts`` (seeds, w, w): the flow one seed at a time (its steps adapt
    per seed), the flow to its end (``limit``: :func:`follow_flow`), GD and Adam all seeds as
    one batch; one :class:`Run` per seed."""
    if trainer == "limit":
        return follow_flow(problem, starts, loss_threshold, gradient_tol, step, stall_steps,
                           stall_rtol, max_steps, record, pieces=_pieces_of(problem))  # fmt: skip
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
