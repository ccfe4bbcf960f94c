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
from bends.training._sliding import JOIN, Surfaces, glide_share, implicit_step, local_error
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
    gradient_tol: float = 1e-10,
    step: float = 0.1,
    stall_steps: int = 200,
    stall_rtol: float = 1e-6,
    max_steps: int = 10_000,
    record: int = 32,
    pieces=None,
    integrator: Literal["implicit", "explicit"] = "implicit",
    tolerance: float = 1e-2,
    slide: bool = True,
    stall_windows: int = 0,
) -> list[Run]:
    r"""Gradient flow followed to its end, for many W at once (``starts``: (seeds, w, w)).

    The flow's trajectory does not depend on its time parameter; this follows
    :math:`dW/ds = -\nabla L / (1 + L)`, the flow :math:`dW/dt = -\nabla L` at
    :math:`dt = ds / (1 + L)`: where L is huge (a random W's output grows like its spectral
    radius to the k) the field is :math:`-\nabla \log L`, of size about k / ‖W‖ (f_k is
    homogeneous of degree k in W), and near a minimum it is the plain flow.

    Each step of size h is *linearly implicit* Euler (``integrator="implicit"``):

    .. math:: \Bigl(G + \tfrac{1 + L}{h} I\Bigr)\,\Delta W = -\nabla L,

    with G the Gauss–Newton matrix (2/n) JᵀJ of the residuals' Jacobian J. For small h this
    is the explicit Euler step −h ∇L/(1 + L); for large h it stays stable on the stiff
    directions, where explicit steps must stay below 2/λ_max and then crawl along the soft
    ones (any matrix in place of the exact Hessian keeps the method first-order consistent:
    a W-method; G is positive semi-definite, so the system is always solvable). The step size h
    is per run, chosen by the local error: a step is accepted when the error estimate (h/2
    times the change of the field along the step, filtered through the step's own matrix —
    Shampine's estimate for stiff problems) is at most ``tolerance`` · ‖W‖ and the loss stays
    at most the largest of the last 8 accepted losses; then h scales by 0.9·√(tolerance /
    error) (within ×¼…×4; first order: the error grows like h²); a rejected step is undone
    and h shrinks. No step moves W by more than ``step`` · ‖W‖. Across a switching surface (a
    pre-activation at a data point = 0) the field jumps. Where it points into the surface
    from both sides, the zig-zag across it would collapse the steps; with ``slide`` (the
    default) a run whose rejected step crossed such a surface holds it and slides along it
    (Filippov's motion: :mod:`bends.training._sliding`) until the field leaves it.
    ``integrator="explicit"`` (G = 0) is explicit Euler under the same control.
    ``benchmarks/conjecture_speed.py`` measures how the ends move with the tolerance.

    A run ends by the first criterion it meets (``stopped``): ``threshold`` (L below
    ``loss_threshold``), ``critical`` (‖∇L‖ ≤ ``gradient_tol`` · (1 + L): a critical point,
    such as a network whose output is 0 on every data point), ``stalled`` (over the last
    ``stall_steps`` accepted steps L fell by less than ``stall_rtol`` · L and the piece count
    ``pieces(W)`` did not change — without ``pieces``, the activation pattern on the data did
    not — while the flow time t at least doubled, or, with ``stall_windows`` > 0, through
    that many such checks in a row (``stall_windows`` · ``stall_steps`` accepted steps) at
    flow time t ≥ 1 without the doubling: a run creeping towards a degenerate minimum, whose
    time grows too slowly to double, stands still as surely), ``kink`` (the same, without the
    doubling, where the last 16 gradients have a convex combination shorter than 5 % of their mean
    length: the flow sits at a kink minimum, a Clarke critical point, and the steps zig-zag
    on the spot; or, sliding, where the field's component along the held surfaces is below
    10⁻³ of its length — at once below 10⁻⁶), or ``budget`` (``max_steps`` steps: among
    them runs whose steps collapse while the flow still moves). ``times`` are flow times t.
    """
    implicit = integrator == "implicit"
    weight = np.array(starts, dtype=np.float64)
    runs = len(weight)
    loss, gradient, curvature = _linearised(problem, weight, implicit)
    rate = np.full(runs, 1.0)  # the step size h per run
    time = np.zeros(runs)
    stopped = np.array([""] * runs, dtype=object)
    marks = np.unique(np.geomspace(1, max_steps, record - 1).astype(int))
    history = [[(0.0, float(loss[i]), weight[i].copy())] for i in range(runs)]
    anchor = _Stretch(weight.copy(), loss.copy(), np.zeros(runs), np.full(runs, UNKNOWN),
                      None if pieces else _pattern(problem, weight))  # fmt: skip
    accepted = np.zeros(runs, dtype=np.int64)
    total = np.zeros(runs, dtype=np.int64)  # accepted steps in all
    sampled = np.zeros((runs, SAMPLES, weight[0].size))  # ∇L at the last accepted points
    evaluations = np.ones(runs, dtype=np.int64)  # per run: its gradient evaluations
    recent = np.tile(loss, (WINDOW, 1))  # the losses of the last WINDOW accepted steps
    surfaces = Surfaces(runs, problem.width) if slide else None
    pattern = _pattern(problem, weight) if slide else None
    glide = np.ones(runs)  # |P∇L| / |∇L| on the held surfaces (1: none held)
    standing = np.zeros(runs, dtype=np.int64)  # stall checks in a row that found L still
    for count in range(1, max_steps + 1):
        size = np.sqrt((gradient**2).sum(axis=(-2, -1)))
        stopped[(stopped == "") & (loss < loss_threshold)] = "threshold"
        stopped[(stopped == "") & (size <= gradient_tol * (1 + loss))] = "critical"
        live = np.flatnonzero(stopped == "")  # ended runs are computed no further
        if not live.size:
            break
        held = surfaces.constraints(problem, weight[live], live) if slide and surfaces.any(
            live) else None  # fmt: skip
        for _ in range(3):  # release the surfaces the field no longer slides along
            proposal, h, multipliers = implicit_step(
                weight[live], loss[live], gradient[live], curvature[live], rate[live], step, held
            )
            if held is None or not surfaces.release(live, held, multipliers):
                break
        glide[live] = 1.0
        if held is not None:  # the surfaces' glide has stopped: a kink reached by sliding
            glide[live] = np.where(held["valid"].any(axis=1), glide_share(gradient[live], held),
                                   1.0)  # fmt: skip
            stopped[live[glide[live] <= GLIDE_STOPPED]] = "kink"
        new_loss, new_gradient, new_curvature = _linearised(problem, proposal, implicit)
        evaluations[live] += 1
        error = local_error(weight[live], loss[live], gradient[live], curvature[live], h,
                            new_loss, new_gradient, held)  # fmt: skip
        better = (new_loss <= recent.max(axis=0)[live]) & (error <= tolerance)
        # first order: the error grows like h², so h scales by the square root
        factor = np.clip(0.9 * np.sqrt(tolerance / np.maximum(error, 1e-300)), 0.25, 4.0)
        rate[live] = np.clip(h * np.where(better, factor, np.minimum(factor, 0.5)), 1e-200, 1e12)
        won = live[better]
        if slide:
            lost = live[~better]
            reach = np.sqrt(((proposal[~better] - weight[lost]) ** 2).sum(axis=(-2, -1)))
            _join_crossed(surfaces, problem, weight[lost], reach, lost, pattern[lost],
                          _pattern(problem, proposal[~better]))  # fmt: skip
            pattern[won] = _pattern(problem, proposal[better])
        time[won] += h[better] / (1 + loss[won])
        weight[won] = proposal[better]
        loss[won], gradient[won], curvature[won] = (new_loss[better], new_gradient[better],
                                                    new_curvature[better])  # fmt: skip
        accepted[won] += 1
        sampled[won, total[won] % SAMPLES] = gradient[won].reshape(len(won), sampled.shape[-1])
        total[won] += 1
        recent[count % WINDOW, won] = loss[won]
        if count in marks:
            for i in live:
                history[i].append((time[i], float(loss[i]), weight[i].copy()))
        due = (stopped == "") & (accepted >= stall_steps)
        if due.any():
            still, now = _check_stall(problem, weight, loss, anchor, due, stall_rtol, pieces)
            # the flow, not the integrator, stood still: its time at least doubled (steps
            # that collapse advance no time), or it sits at a kink: gradients sampled on
            # both sides of a switching surface cancel (a Clarke critical point)
            doubled = time >= 2 * anchor.time
            stopped[still & doubled] = "stalled"
            at_kink = still & ~doubled
            stopped[np.flatnonzero(at_kink)[_cancels(sampled[at_kink])]] = "kink"
            stopped[at_kink & (glide <= GLIDE_STALLED)] = "kink"
            restart = due & (doubled | ~still)
            standing[due] = np.where(restart[due], 0, standing[due] + 1)
            if stall_windows:
                stopped[(stopped == "") & (standing >= stall_windows) & (time >= 1)] = "stalled"
            anchor.restart(restart, weight, loss, time, now, problem, pieces is None)
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


#: A sliding run is at a kink when its glide (|P∇L| / |∇L|) is below GLIDE_STOPPED, or below
#: GLIDE_STALLED while L and the pieces stand still (the kink test of sampled gradients).
GLIDE_STOPPED, GLIDE_STALLED = 1e-6, 1e-3

#: A step is accepted when the loss stays at most the largest of the last WINDOW accepted
#: losses: across a switching surface the zig-zag that approximates sliding may raise the
#: loss a little, which a strictly monotone rule would refuse until the steps vanish.
WINDOW = 8


def _linearised(problem: TiedProblem, weight: np.ndarray, implicit: bool):
    """L, ∇L (runs, w, w) and the Gauss–Newton matrix (runs, w², w²) at each W (zeros for
    the explicit integrator, which needs no matrix)."""
    runs, d = len(weight), weight[0].size
    if not implicit:
        loss, gradient = problem.loss_and_gradient(weight)
        return loss, gradient, np.zeros((runs, d, d))
    residual, jacobian = problem.residuals_and_jacobian(weight)
    jacobian = jacobian.reshape(runs, -1, d)
    scale = 2 / residual.shape[-1]
    gradient = scale * np.einsum("ri,rid->rd", residual, jacobian).reshape(weight.shape)
    curvature = scale * np.swapaxes(jacobian, -1, -2) @ jacobian
    return np.mean(residual**2, axis=-1), gradient, curvature


def _join_crossed(surfaces: Surfaces, problem, weight, reach, runs, before, after) -> None:
    """Runs whose step was rejected hold the switching surfaces it crossed across which the
    gradient jumps most (at most JOIN of them): the zig-zag across those is what collapses
    the steps; surfaces whose jump is nil (a neuron whose output nothing downstream reads at
    that point) are crossed freely."""
    crossed = [np.argwhere(b != a)[: 16 * JOIN] for b, a in zip(before, after, strict=True)]
    rows = np.array([(n, s + 1, j, i) for n, c in enumerate(crossed) for s, j, i in c],
                    dtype=np.int64).reshape(-1, 4)  # fmt: skip
    if not len(rows):
        return
    values, normals, jumps, _ = problem.switching(weight, rows)
    length = np.sqrt((normals**2).sum(axis=(-2, -1)))
    strength = np.abs(jumps) * length
    for n, r in enumerate(runs):
        mine = np.flatnonzero(rows[:, 0] == n)
        # the surfaces the step crossed in its linearisation, not by upstream flips
        near = np.abs(values[mine]) <= reach[n] * length[mine]
        mine = mine[near & (strength[mine] > 1e-3 * strength[mine].max(initial=0.0))]
        strongest = mine[np.argsort(-strength[mine])][:JOIN]
        surfaces.join(r, rows[strongest, 1:])


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


#: A piece count not taken yet.
UNKNOWN = -2


@dataclass
class _Stretch:
    """Where each run's current stretch began: W, L, flow time, the piece count there
    (``UNKNOWN`` until a check needs it) and, without a piece count, the pattern on the data."""

    weight: np.ndarray
    loss: np.ndarray
    time: np.ndarray
    pieces: np.ndarray
    pattern: np.ndarray | None

    def restart(self, which, weight, loss, time, pieces_now, problem, by_pattern) -> None:
        """Start the stretch of runs ``which`` anew at their current W (whose piece count,
        where a check just took it, is ``pieces_now``)."""
        self.weight[which], self.loss[which], self.time[which] = (weight[which], loss[which],
                                                                  time[which])  # fmt: skip
        self.pieces[which] = pieces_now[which]
        if by_pattern:
            self.pattern[which] = _pattern(problem, weight[which])


def _check_stall(problem, weight, loss, anchor: _Stretch, due, rtol, pieces):
    """Which runs ``due`` left L (to ``rtol``) and the pieces (or the pattern on the data)
    unchanged since the stretch's start, and the piece counts taken now (``UNKNOWN`` where
    none was needed). A stretch's first count is kept, so each W is traced once."""
    now_pattern = None if pieces else _pattern(problem, weight)
    still = np.zeros(len(weight), dtype=bool)
    now = np.full(len(weight), UNKNOWN)
    for i in np.flatnonzero(due):
        if anchor.loss[i] - loss[i] > rtol * loss[i]:
            continue
        if pieces is None:
            still[i] = bool(np.array_equal(anchor.pattern[i], now_pattern[i]))
            continue
        if anchor.pieces[i] == UNKNOWN:
            anchor.pieces[i] = pieces(anchor.weight[i])
        now[i] = pieces(weight[i])
        still[i] = anchor.pieces[i] == now[i]
    return still, now


#: Gradients sampled at the last SAMPLES accepted points, for the kink test.
SAMPLES = 16


def _cancels(sampled: np.ndarray, share: float = 0.05) -> np.ndarray:
    """Whether some convex combination of each run's sampled gradients is shorter than
    ``share`` of their mean length: a Clarke critical point of L (gradient sampling, Burke,
    Lewis & Overton 2005), where the flow reaches a kink minimum and zig-zags on the spot.
    The least convex combination is found by non-negative least squares, the simplex's sum
    constraint appended as a heavily weighted row."""
    from scipy.optimize import nnls

    result = np.zeros(len(sampled), dtype=bool)
    for i, gradients in enumerate(sampled):
        mean_length = np.sqrt((gradients**2).sum(axis=1)).mean()
        if mean_length == 0:
            continue
        scaled = gradients / mean_length
        weight = 1e3
        system = np.vstack([scaled.T, np.full(len(scaled), weight)])
        target = np.concatenate([np.zeros(scaled.shape[1]), [weight]])
        try:
            mix = nnls(system, target, maxiter=50 * len(scaled))[0]
        except RuntimeError:  # no convergence: no evidence of a kink
            continue
        if mix.sum() > 0:
            result[i] = np.linalg.norm(mix @ scaled / mix.sum()) <= share
    return result


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
    step: float = 0.1,
    tolerance: float = 1e-2,
    integrator: Literal["implicit", "explicit"] = "implicit",
    max_steps: int = 10_000,
    stall_steps: int = 200,
    stall_rtol: float = 1e-6,
    gradient_tol: float = 1e-10,
    slide: bool = True,
    stall_windows: int = 0,
) -> list[Run]:
    """Train each W in ``starts`` (seeds, w, w): the flow one seed at a time (its steps adapt
    per seed), the flow to its end (``limit``: :func:`follow_flow`), GD and Adam all seeds as
    one batch; one :class:`Run` per seed."""
    if trainer == "limit":
        return follow_flow(problem, starts, loss_threshold, gradient_tol, step, stall_steps,
                           stall_rtol, max_steps, record, _pieces_of(problem), integrator,
                           tolerance, slide, stall_windows)  # fmt: skip
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
