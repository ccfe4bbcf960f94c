r"""Training tied ReLU RNNs on a line: the setting of the affine-pieces conjecture.

The model is :math:`f_k(W, x) = ((\mathrm{ReLU} \circ W)^k x)_0` with one square
:math:`W \in \mathbb{R}^{w \times w}` and no biases. Inputs lie on an affine line
:math:`x(t) = a + t\,d` that misses the origin (default :math:`a = e_1`, :math:`d = e_0`, i.e.
x(t) = (t, 1, 0, …, 0)); a data set is n pairs :math:`(t_i, y_i)` and the loss is

.. math:: L(W) = \frac1n \sum_i \bigl(f_k(W, x(t_i)) - y_i\bigr)^2 .

Its gradient is back-propagated through the k tied steps by hand (NumPy, many W at once):
with :math:`h_j = \mathrm{ReLU}(W h_{j-1})`, :math:`h_0 = x` and
:math:`\delta_k = \tfrac2n (h_k^{(0)} - y)\,e_0`,

.. math:: g_j = \delta_j \odot [W h_{j-1} > 0],\qquad
          \nabla L = \sum_j g_j h_{j-1}^\top,\qquad \delta_{j-1} = W^\top g_j .

Training is *gradient flow* :math:`\dot W = -\nabla L(W)`, integrated by SciPy's adaptive
Runge–Kutta solvers until the loss falls below a threshold or the time limit (the vector field is
only piecewise smooth — it jumps where a neuron changes sign on a data point — so a low-order
method with moderate tolerances is the default), or plain gradient descent, or Adam (PyTorch's,
fed with the same gradient). The Hessian comes from PyTorch autograd on the same forward pass.

Example:
    >>> problem = TiedProblem.from_target("cantor", width=3, steps=2, points=16)
    >>> W = np.random.default_rng(0).standard_normal((3, 3))
    >>> loss, gradient = problem.loss_and_gradient(W)
    >>> gradient.shape, bool(loss > 0)
    ((3, 3), True)
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from scipy.integrate import DOP853, RK23, RK45

from bends.constructions.staircase import cantor_iterate
from bends.constructions.yarotsky import blog_candidate
from bends.errors import BendsError
from bends.nets import TiedRNN
from bends.training.loop import Method, descend, geometric

#: Cantor-function depth used for the limit: 2^-50 is below float64's resolution of [0, 1].
CANTOR_LIMIT = 50
Placement = Literal["uniform", "random", "avoid"]


def outputs(weight, inputs, steps: int):
    """f_k at the columns of ``inputs`` (w, n) for W of shape (..., w, w): shape (..., n).

    Works unchanged on NumPy arrays and torch tensors (the Hessian uses the torch path)."""
    h = inputs
    for _ in range(steps):
        h = (weight @ h).clip(min=0)
    return h[..., 0, :]


def target_values(name: str, t: np.ndarray) -> np.ndarray:
    """Named targets on [0, 1]: ``cantor`` (the Cantor function), ``cantor-J`` (its J-th
    iterate F_J), ``parabola`` (x(1 − x)), ``candidate`` (the blog's ¼t₁ + 1/32 t₂ + …), or
    a construction ``NAME-N`` (:func:`tied_construction`): its output along its own segment.

    Example:
        >>> t = np.array([0.0, 0.5, 1.0])
        >>> np.abs(target_values("staircase-3", t) - target_values("cantor-3", t)).max() < 1e-15
        np.True_
    """
    if name == "cantor":
        return cantor_iterate(t, CANTOR_LIMIT)
    if name.startswith("cantor-") and name[7:].isdigit():
        return cantor_iterate(t, int(name[7:]))
    if name == "parabola":
        return t * (1 - t)
    if name == "candidate":
        return blog_candidate(40)(t[:, None])[:, 0]
    if "-" in name and name.rpartition("-")[2].isdigit():
        net = tied_construction(name)  # its output along its own segment, at t
        start, end = net.segment
        return outputs(net.weight, start[:, None] + (end - start)[:, None] * t, net.steps)
    raise BendsError(
        f"unknown target {name!r}; use cantor, cantor-J, parabola, candidate, a tied-RNN "
        "construction NAME-N (e.g. staircase-3) or a CSV file"
    )


def placement_points(placement: Placement, points: int, seed: int = 0) -> np.ndarray:
    """Where the data sit on [0, 1]: evenly spaced, uniform random, or ``avoid``: centres of
    the Cantor set's removed middle thirds (level by level, left to right within a level),
    the points of the staircase farthest from its breakpoints, as the blog suggests."""
    if points < 1:
        raise BendsError(f"points must be positive, got {points}")
    if placement == "uniform":
        return np.linspace(0.0, 1.0, points)
    if placement == "random":
        return np.sort(np.random.default_rng(seed).uniform(0.0, 1.0, points))
    if placement == "avoid":
        centres: list[float] = []
        intervals = [(0.0, 1.0)]
        while len(centres) < points:
            next_level = []
            for a, b in intervals:
                third = (b - a) / 3
                centres.append(a + 1.5 * third)
                next_level += [(a, a + third), (b - third, b)]
            intervals = next_level
        return np.sort(np.array(centres[:points]))
    raise BendsError(f"unknown placement {placement!r}; use uniform, random or avoid")


def read_csv_data(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(t, y) from a CSV file with two numeric columns (a header line is skipped)."""
    path = Path(path)
    if not path.is_file():
        raise BendsError(f"data file not found: {path}")
    rows = []
    with path.open() as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            try:
                rows.append((float(row[0]), float(row[1])))
            except (ValueError, IndexError):
                if number > 1 or not row:
                    raise BendsError(f"{path}, line {number}: expected two numbers t, y") from None
    if not rows:
        raise BendsError(f"{path} holds no data rows")
    data = np.array(rows)
    if not np.all(np.isfinite(data)):
        raise BendsError(f"{path} holds non-finite values")
    return data[:, 0], data[:, 1]


@dataclass(frozen=True)
class TiedProblem:
    """Squared loss of f_k(W, ·) on data (t_i, y_i) on the line x(t) = origin + t·direction."""

    t: np.ndarray
    y: np.ndarray
    steps: int
    origin: np.ndarray
    direction: np.ndarray
    inputs: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        origin = np.asarray(self.origin, dtype=np.float64)
        direction = np.asarray(self.direction, dtype=np.float64)
        t, y = np.asarray(self.t, dtype=np.float64), np.asarray(self.y, dtype=np.float64)
        if origin.shape != direction.shape or origin.ndim != 1 or origin.size < 2:
            raise BendsError("origin and direction must be vectors of the same length ≥ 2")
        if t.shape != y.shape or t.ndim != 1 or t.size < 1:
            raise BendsError("t and y must be vectors of the same positive length")
        if self.steps < 1:
            raise BendsError(f"steps must be at least 1, got {self.steps}")
        # The line misses the origin iff origin and direction are linearly independent.
        if np.linalg.matrix_rank(np.stack([origin, direction])) < 2:
            raise BendsError("the line passes through the origin: every piece would be a cone")
        for name, value in (("origin", origin), ("direction", direction), ("t", t), ("y", y)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "inputs", origin[:, None] + direction[:, None] * t[None, :])

    @classmethod
    def from_target(
        cls,
        target: str,
        width: int,
        steps: int,
        points: int = 256,
        placement: Placement = "uniform",
        seed: int = 0,
        origin=None,
        direction=None,
    ) -> TiedProblem:
        """A named target (:func:`target_values`) or a CSV file on the default line."""
        if width < 2:
            raise BendsError(f"width must be at least 2, got {width}")
        if target.endswith(".csv"):
            t, y = read_csv_data(target)
        else:
            t = placement_points(placement, points, seed)
            y = target_values(target, t)
        origin = np.eye(width)[1] if origin is None else origin
        direction = np.eye(width)[0] if direction is None else direction
        return cls(t, y, steps, origin, direction)

    @classmethod
    def from_network(
        cls, net: TiedRNN, points: int = 256, placement: Placement = "uniform", seed: int = 0
    ) -> TiedProblem:
        """Data from a construction's own output on its segment (t ∈ [0, 1]), so that its
        weight W* has zero loss; its steps, line and output coordinate 0 are kept."""
        if net.segment is None or net.output != 0 or net.batch_shape:
            raise BendsError("need one tied RNN with a segment and output coordinate 0")
        start, end = net.segment
        t = placement_points(placement, points, seed)
        inputs = start[:, None] + (end - start)[:, None] * t[None, :]
        return cls(t, outputs(net.weight, inputs, net.steps), net.steps, start, end - start)

    @property
    def width(self) -> int:
        return self.origin.size

    def network(self, weight: np.ndarray) -> TiedRNN:
        """The tied RNN of ``weight``, traced by default on the data's range of t."""
        start = self.origin + self.t.min() * self.direction
        end = self.origin + self.t.max() * self.direction
        return TiedRNN(weight, self.steps, 0, segment=(start, end))

    def segment(self, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
        """Input-space end points of the line between t = low and t = high."""
        return self.origin + low * self.direction, self.origin + high * self.direction

    def losses(self, weight: np.ndarray) -> np.ndarray:
        """L(W) for W of shape (..., w, w)."""
        return np.mean((outputs(weight, self.inputs, self.steps) - self.y) ** 2, axis=-1)

    def loss_and_gradient(self, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """L(W) and ∇L(W) for W of shape (..., w, w), by back-propagation (module docstring)."""
        weight = np.asarray(weight, dtype=np.float64)
        states = [np.broadcast_to(self.inputs, (*weight.shape[:-2], *self.inputs.shape))]
        for _ in range(self.steps):
            states.append((weight @ states[-1]).clip(min=0))
        residual = states[-1][..., 0, :] - self.y
        delta = np.zeros_like(states[-1])
        delta[..., 0, :] = 2 * residual / self.y.size
        gradient = np.zeros_like(weight)
        transposed = np.swapaxes(weight, -1, -2)
        for j in range(self.steps, 0, -1):
            g = delta * (states[j] > 0)
            gradient += g @ np.swapaxes(states[j - 1], -1, -2)
            delta = transposed @ g
        return np.mean(residual**2, axis=-1), gradient

    def hessian(self, weight: np.ndarray) -> np.ndarray:
        """∇²L(W) as a (w², w²) matrix (row-major flattening of W), by PyTorch autograd."""
        import torch

        inputs, y = torch.from_numpy(self.inputs), torch.from_numpy(self.y)

        def loss(flat: torch.Tensor) -> torch.Tensor:
            out = outputs(flat.reshape(self.width, self.width), inputs, self.steps)
            return torch.mean((out - y) ** 2)

        flat = torch.from_numpy(np.asarray(weight, dtype=np.float64).ravel().copy())
        return torch.autograd.functional.hessian(loss, flat).numpy()


def tied_construction(spec: str) -> TiedRNN:
    """A tied-RNN construction from ``NAME-N``: N is its first parameter (``staircase-3`` is
    the devil's staircase with j = 3, ``candidate-4`` the blog's candidate RNN with m = 4,
    ``yarotsky-3``, ``parabola-3``, ``sawtooth-5``, ``compositional-rnn-5``).

    Example:
        >>> tied_construction("staircase-2").steps
        3
    """
    from bends.constructions import REGISTRY, build

    name, _, number = spec.rpartition("-")
    if name not in REGISTRY or not number.isdigit():
        raise BendsError(f"construction spec {spec!r}: expected NAME-N with NAME a construction")
    defaults = REGISTRY[name].defaults
    params = {next(iter(defaults)): int(number)} | ({"rnn": True} if "rnn" in defaults else {})
    net = build(name, **params)
    if not isinstance(net, TiedRNN):
        raise BendsError(f"{name} has no tied-RNN form")
    return net


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
