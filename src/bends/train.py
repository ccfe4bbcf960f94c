r"""The batched trainer: many small models as one tensor program.

Models share an architecture and carry a leading model axis M in every parameter: layer k is
``W_k`` of shape (M, out, in) and ``b_k`` of shape (M, out), applied with ``torch.baddbmm``.
The loss minimised is the sum of the models' own losses,

.. math:: L(\theta_1, \dots, \theta_M) = \sum_m L_m(\theta_m),

whose gradient with respect to :math:`\theta_m` is :math:`\nabla L_m(\theta_m)`; Adam's update
is elementwise, so every model follows exactly the trajectory it would follow alone, and
results do not depend on how models are grouped (up to float64 round-off in the matmuls).

Example:
    >>> import torch
    >>> w = torch.zeros(3, 1, 1, dtype=torch.float64, requires_grad=True)
    >>> b = torch.zeros(3, 1, dtype=torch.float64, requires_grad=True)
    >>> x = torch.linspace(0, 1, 8, dtype=torch.float64)[:, None]
    >>> y = torch.stack([k * x[:, 0] for k in (1.0, 2.0, 3.0)])
    >>> curve = adam([w, b], lambda: mse(mlp_forward([(w, b)], x)[..., 0], y), 2000, lr=0.05)
    >>> [round(v, 2) for v in w[:, 0, 0].tolist()]
    [1.0, 2.0, 3.0]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

Layers = Sequence[tuple[torch.Tensor, torch.Tensor]]


def mlp_forward(layers: Layers, x: torch.Tensor) -> torch.Tensor:
    """Outputs (M, N, out) of M ReLU MLPs on the shared inputs ``x`` (N, in)."""
    models = layers[0][0].shape[0]
    # Features first, points last: W @ h multiplies (out, in) by a long (in, N) matrix,
    # which batched BLAS does several times faster than the (N, in) @ (in, out) layout.
    h = x.T.expand(models, *x.T.shape)
    for k, (w, b) in enumerate(layers):
        h = torch.baddbmm(b.unsqueeze(2), w, h)
        if k < len(layers) - 1:
            h = torch.relu(h)
    return h.transpose(1, 2)


def mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error per model: (M, N) against (M, N) → (M,)."""
    return ((prediction - target) ** 2).mean(dim=-1)


def adam(
    parameters: Sequence[torch.Tensor],
    losses: Callable[[], torch.Tensor],
    epochs: int,
    lr: float = 1e-3,
    after_step: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Full-batch Adam on the summed per-model ``losses()``; the (M, epochs) loss curves.

    ``losses`` returns the (M,) losses at the current parameters; entry e of a curve is the
    loss before step e. ``after_step`` runs after every step (e.g. a projection).
    """
    optimiser = torch.optim.Adam(parameters, lr=lr)
    curve = []
    for _ in range(epochs):
        optimiser.zero_grad(set_to_none=True)
        loss = losses()
        loss.sum().backward()
        optimiser.step()
        if after_step is not None:
            with torch.no_grad():
                after_step()
        curve.append(loss.detach())
    if not curve:
        return torch.empty(0, 0)
    return torch.stack(curve, dim=-1)
