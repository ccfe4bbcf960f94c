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

Training runs (gradient flow, GD, Adam) are in :mod:`bends.training.flows`, the landscape
around a solution in :mod:`bends.training.landscape`. The Hessian comes from PyTorch autograd on
the same forward pass.

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

from bends.constructions.staircase import cantor_iterate
from bends.constructions.yarotsky import blog_candidate
from bends.errors import BendsError
from bends.nets import TiedRNN

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

    def residuals_and_jacobian(self, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r"""Residuals :math:`r_i = f_k(W, x_i) - y_i` (..., n) and their Jacobian
        :math:`\partial r_i / \partial W` (..., n, w, w): the back-propagation of
        :meth:`loss_and_gradient` with one δ per data point, its outer products not summed
        (so ∇L = (2/n) Σ r_i J_i and the Gauss–Newton matrix is (2/n) JᵀJ)."""
        weight = np.asarray(weight, dtype=np.float64)
        states = [np.broadcast_to(self.inputs, (*weight.shape[:-2], *self.inputs.shape))]
        for _ in range(self.steps):
            states.append((weight @ states[-1]).clip(min=0))
        delta = np.zeros_like(states[-1])
        delta[..., 0, :] = 1.0
        jacobian = np.zeros((*weight.shape[:-2], self.y.size, *weight.shape[-2:]))
        transposed = np.swapaxes(weight, -1, -2)
        for j in range(self.steps, 0, -1):
            g = delta * (states[j] > 0)
            jacobian += np.einsum("...ai,...bi->...iab", g, states[j - 1])
            delta = transposed @ g
        return states[-1][..., 0, :] - self.y, jacobian

    def switching(self, weight: np.ndarray, surfaces: np.ndarray):
        r"""The switching surfaces :math:`z_a(W) = (W h_{s-1}(x_i))_j = 0` named by
        ``surfaces`` (m, 4) rows (run r, step s ∈ 1…k, neuron j, data point i) of a batch of W
        (runs, w, w): their values :math:`z_a` (m,), normals :math:`\nabla_W z_a` (m, w, w),
        the loss's jump :math:`\partial L / \partial h_{s,j,i}` across each (m,) and which
        side W is on (m,: z_a > 0).

        ReLU makes L continuous and piecewise smooth; at :math:`z_a = 0` the forward states do
        not depend on the side, so the gradient with the neuron on minus the gradient with it
        off is exactly the jump times the normal: the Clarke subdifferential there is the
        segment :math:`\nabla L_{\text{off}} + \theta\,\text{jump}\,\nabla z_a`,
        θ ∈ [0, 1] (:mod:`bends.training.flows` slides along it).
        """
        run, step, neuron, point = np.asarray(surfaces, dtype=np.int64).reshape(-1, 4).T
        used, run = np.unique(run, return_inverse=True)  # only the runs that have surfaces
        weight = np.asarray(weight, dtype=np.float64)[used]
        states = [np.broadcast_to(self.inputs, (len(used), *self.inputs.shape))]
        for _ in range(self.steps):
            states.append((weight @ states[-1]).clip(min=0))
        delta = np.zeros_like(states[-1])
        delta[..., 0, :] = 2 * (states[-1][..., 0, :] - self.y) / self.y.size
        signals = [delta]  # ∂L/∂h_j for j = k, k − 1, …, 1
        transposed = np.swapaxes(weight, -1, -2)
        for j in range(self.steps, 1, -1):
            signals.append(transposed @ (signals[-1] * (states[j] > 0)))
        # (m, k + 1, w): the states at each surface's data point
        along = np.stack([h[run, :, point] for h in states], axis=1)
        rows = weight[run, neuron]  # (m, w): the row of W that makes z_a
        values = np.einsum("mw,mw->m", rows, along[np.arange(len(run)), step - 1])
        signal = np.array([g[run, neuron, point] for g in signals[::-1]])  # (k, m)
        jumps = signal[step - 1, np.arange(len(run))]
        normals = np.zeros((len(run), *weight.shape[-2:]))
        normals[np.arange(len(run)), neuron] = along[np.arange(len(run)), step - 1]
        adjoint, matrices = rows, weight[run]  # ∂z_a/∂h_q, for q = s − 1 first
        for q in range(self.steps - 1, 0, -1):
            reached = (q <= step - 1)[:, None]
            g = np.where(reached, adjoint * (along[:, q] > 0), 0.0)
            normals += g[:, :, None] * along[:, q - 1, None, :]
            adjoint = np.where(reached, np.einsum("mab,ma->mb", matrices, g), adjoint)
        return values, normals, jumps, values > 0

    def hessian(self, weight: np.ndarray) -> np.ndarray:
        """∇²L(W) as a (w², w²) matrix (row-major flattening of W), by PyTorch autograd."""
        import torch

        inputs, y = torch.from_numpy(self.inputs), torch.from_numpy(self.y)

        def loss(flat: torch.Tensor) -> torch.Tensor:
            out = outputs(flat.reshape(self.width, self.width), inputs, self.steps)
            return torch.mean((out - y) ** 2)

        flat = torch.from_numpy(np.asarray(weight, dtype=np.float64).ravel().copy())
        return torch.autograd.functional.hessian(loss, flat).numpy()


#: Data sets for the conjecture: (target, construction). A construction's own line carries its
#: target, and its weight W* (the same for every k: only the steps change) fits it: exactly
#: for ``staircase`` (the Cantor iterate F_{k−1}, which f_k(W*) is), ever better with k for
#: the limits (``cantor``: the Cantor function; the blog's candidate; x(1 − x));
#: ``control`` lies on the default line x(t) = (t, 1, 0, …), where no solution is known.
DATASETS = {
    "staircase": ("cantor-{j}", "staircase"),
    "cantor": ("cantor", "staircase"),
    "candidate": ("candidate", "candidate"),
    "parabola": ("parabola", "parabola"),
    "control": ("cantor", None),
}


def dataset_problem(
    name: str, width: int, steps: int, points: int = 256, placement: Placement = "uniform",
    seed: int = 0,
) -> tuple[TiedProblem, np.ndarray | None]:  # fmt: skip
    """Data set ``name`` (:data:`DATASETS`) for width w and k steps, and its known solution
    W* (the construction's weight, padded with zeros to width w: the extra neurons stay off),
    or None for the control.

    Example:
        >>> problem, solution = dataset_problem("staircase", 8, steps=5, points=64)
        >>> solution.shape, float(problem.losses(solution)) < 1e-25  # exact up to rounding
        ((8, 8), True)
    """
    if name not in DATASETS:
        raise BendsError(f"unknown data set {name!r}; use {', '.join(DATASETS)}")
    target, construction = DATASETS[name]
    t = placement_points(placement, points, seed)
    y = target_values(target.format(j=steps - 1), t)
    if construction is None:
        return TiedProblem(t, y, steps, np.eye(width)[1], np.eye(width)[0]), None
    net = tied_construction(f"{construction}-1")
    if width < net.width:
        raise BendsError(f"data set {name} needs width at least {net.width}, got {width}")
    start, end = (np.pad(p, (0, width - net.width)) for p in net.segment)
    solution = np.pad(net.weight, (0, width - net.width))
    return TiedProblem(t, y, steps, start, end - start), solution


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
