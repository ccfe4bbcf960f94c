r"""The one training loop: full-batch Adam or gradient descent on many models at once.

Every trainer in bends (MLPs, manifold stages, linear RNNs, tied RNNs) runs this loop. The
objective is the sum of the models' own losses, :math:`L = \sum_m L_m(\theta_m)`, whose
gradient with respect to :math:`\theta_m` is :math:`\nabla L_m(\theta_m)`; both updates are
elementwise, so each model follows exactly the trajectory it would follow alone.

**The recording rule** (one for all): a curve holds the loss *before* each recorded step
(every step by default; :func:`every` and :func:`geometric` choose others) and, last, the loss
*after* the final step. A non-finite loss stops the run (``stopped == "diverged"``).

Example:
    >>> import torch
    >>> w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    >>> target = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    >>> run = descend([w], lambda: (w - target) ** 2, steps=2000, lr=0.05)
    >>> run.curve.shape, [round(v, 3) for v in w.tolist()]
    ((3, 2001), [1.0, 2.0, 3.0])
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from bends.errors import BendsError

Method = Literal["adam", "gd"]
Schedule = Literal["constant", "cosine"]


@dataclass
class Descent:
    """A run of :func:`descend`: ``curve`` (models, records) and the ``steps`` at which each
    record was taken (the last: the number of steps taken), ``snapshots`` of the parameters
    at the same records (when asked for) and why the run ``stopped``."""

    curve: np.ndarray
    steps: np.ndarray
    stopped: str = "steps"
    snapshots: list[np.ndarray] = field(default_factory=list)


def every(steps: int, interval: int) -> range:
    """Record every ``interval``-th step."""
    return range(0, steps, interval)


def geometric(steps: int, count: int) -> set[int]:
    """About ``count`` steps spaced geometrically in [0, steps), the first included."""
    return set((np.unique(np.geomspace(1, steps, count).astype(int)) - 1).tolist()) | {0}


def descend(
    parameters: Sequence[torch.Tensor],
    losses: Callable[[], torch.Tensor],
    steps: int,
    lr: float,
    method: Method = "adam",
    record: Collection[int] | None = None,
    after_step: Callable[[], None] | None = None,
    snapshot: Callable[[], np.ndarray] | None = None,
    clip: float = 0.0,
    schedule: Schedule = "constant",
) -> Descent:
    """Minimise ``losses().sum()`` over ``parameters`` (``losses`` returns the per-model
    losses at the current parameters) by ``steps`` steps of Adam or GD with rate ``lr``.

    ``after_step`` runs after every step (e.g. a projection), under ``torch.no_grad``;
    ``snapshot`` is called at every record and its copies returned in ``snapshots``; ``clip``
    > 0 clips the gradient's norm to it before each step (the usual guard for RNNs);
    ``schedule="cosine"`` lowers the rate from ``lr`` to 0 along half a cosine over the
    ``steps`` (Loshchilov & Hutter's annealing without restarts), the usual way to let Adam
    settle into a minimum instead of hovering at the noise floor its constant rate sets.
    """
    if method not in ("adam", "gd"):
        raise BendsError(f"the optimiser must be adam or gd, got {method!r}")
    if schedule not in ("constant", "cosine"):
        raise BendsError(f"the schedule must be constant or cosine, got {schedule!r}")
    optimiser = (torch.optim.Adam if method == "adam" else torch.optim.SGD)(parameters, lr=lr)
    annealing = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=steps)
        if schedule == "cosine"
        else None
    )
    curve, taken, snapshots, stopped = [], [], [], "steps"
    step = 0
    for step in range(steps):
        optimiser.zero_grad(set_to_none=True)
        loss = losses()
        if record is None or step in record:
            curve.append(loss.detach().clone())
            taken.append(step)
            if snapshot is not None:
                snapshots.append(snapshot().copy())
        if not bool(torch.isfinite(loss).all()):
            stopped = "diverged"
            break
        loss.sum().backward()
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(parameters, clip)
        optimiser.step()
        if annealing is not None:
            annealing.step()
        if after_step is not None:
            with torch.no_grad():
                after_step()
    else:
        step = steps
    with torch.no_grad():
        curve.append(losses().detach().clone())
    taken.append(step)
    if snapshot is not None:
        snapshots.append(snapshot().copy())
    return Descent(torch.stack(curve, dim=-1).numpy(), np.array(taken), stopped, snapshots)


class Minibatches:
    """Index tensors of minibatches of ``points`` points, epoch after epoch, one shuffle per
    epoch. The order depends only on ``seed``, so every model (and every grouping of models)
    sees the same batches.

    >>> batches = Minibatches(0, points=5, size=2)
    >>> batches.per_epoch, sorted(torch.cat([next(batches) for _ in range(3)]).tolist())
    (3, [0, 1, 2, 3, 4])
    """

    def __init__(self, seed: int, points: int, size: int) -> None:
        self.generator = torch.Generator().manual_seed(seed)
        self.points, self.size = points, min(size, points)
        self.per_epoch = -(-points // self.size)
        self.pending: list[torch.Tensor] = []

    def __iter__(self):
        return self

    def __next__(self) -> torch.Tensor:
        if not self.pending:
            order = torch.randperm(self.points, generator=self.generator)
            self.pending = list(order.split(self.size))[::-1]
        return self.pending.pop()
