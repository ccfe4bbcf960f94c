r"""Batched MLPs as one tensor program: forward pass, MSE and its fused CPU kernel.

Models share an architecture and carry a leading model axis M in every parameter: layer k is
``W_k`` of shape (M, out, in) and ``b_k`` of shape (M, out), applied with ``torch.baddbmm``.
The loss minimised is the sum of the models' own losses,

.. math:: L(\theta_1, \dots, \theta_M) = \sum_m L_m(\theta_m),

whose gradient with respect to :math:`\theta_m` is :math:`\nabla L_m(\theta_m)`; Adam's update
is elementwise, so every model follows exactly the trajectory it would follow alone, and
results do not depend on how models are grouped (up to float64 round-off in the matmuls).

The training loss :func:`mlp_mse` has a fused CPU path for float64: a compiled kernel runs the
forward pass, the mean squared error and the back-propagation of every model in one call,
point block by point block so activations stay in cache,

.. math::
    \delta_L = \tfrac{2}{N}(h_L - y),\quad
    \nabla_{W_k} = \delta_k h_{k-1}^\top,\quad \nabla_{b_k} = \delta_k \mathbf 1,\quad
    \delta_{k-1} = (W_k^\top \delta_k) \odot [h_{k-1} > 0],

instead of ~10 tensor operations per layer, each too small to amortise PyTorch's dispatch.
Each model's sums run in a fixed order, so the fused path too is independent of grouping.
Parameters travel packed, one row of [W_1, b_1, W_2, b_2, ...] per model (:func:`pack`), so
Adam updates one tensor instead of two per layer.

Example:
    >>> import torch
    >>> w = torch.zeros(3, 1, 1, dtype=torch.float64, requires_grad=True)
    >>> b = torch.zeros(3, 1, dtype=torch.float64, requires_grad=True)
    >>> x = torch.linspace(0, 1, 8, dtype=torch.float64)[:, None]
    >>> y = torch.stack([k * x[:, 0] for k in (1.0, 2.0, 3.0)])
    >>> from bends.training.loop import descend
    >>> run = descend([w, b], lambda: mse(mlp_forward([(w, b)], x)[..., 0], y), 2000, lr=0.05)
    >>> [round(v, 2) for v in w[:, 0, 0].tolist()]
    [1.0, 2.0, 3.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np
import torch

from bends.nets import MLP
from bends.nets.packing import pack, unpack
from bends.training.loop import Schedule, descend

Layers = Sequence[tuple[torch.Tensor, torch.Tensor]]
POINT_BLOCK = 256


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


def layer_widths(layers: Layers) -> tuple[int, ...]:
    """Widths (in, hidden..., out) of batched layers."""
    return (layers[0][0].shape[2], *(w.shape[1] for w, _ in layers))


def mlp_mse(layers: Layers, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-model MSE (M,) of single-output MLPs on inputs x (N, in) against y (M, N).

    Equal to ``mse(mlp_forward(layers, x)[..., 0], y)``, fused on the CPU (see the module).
    """
    return packed_mse(pack(layers), layer_widths(layers), x, y)


def packed_mse(
    flat: torch.Tensor, widths: Sequence[int], x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """:func:`mlp_mse` of packed parameters (M, P): gradients reach ``flat`` directly."""
    if widths[-1] != 1:
        raise ValueError(f"mlp_mse fits single-output networks, these have {widths[-1]} outputs")
    fused = (
        torch.is_grad_enabled()
        and flat.requires_grad
        and flat.device.type == "cpu"
        and flat.dtype == x.dtype == y.dtype == torch.float64
    )
    if not fused:
        return mse(mlp_forward(unpack(flat, widths), x)[..., 0], y)
    return _FusedMSE.apply(flat, tuple(widths), x, y)


class _FusedMSE(torch.autograd.Function):
    """Per-model MSE whose gradient the kernel computes together with the loss."""

    @staticmethod
    def forward(ctx, flat, widths, x, y):
        params = np.ascontiguousarray(flat.detach().numpy())
        gradient, losses = np.empty_like(params), np.empty(params.shape[0])
        _mse_and_gradient(
            params,
            np.array(widths, dtype=np.int64),
            np.ascontiguousarray(x.detach().numpy().T),
            np.ascontiguousarray(y.detach().numpy().reshape(params.shape[0], 1, -1)),
            gradient,
            losses,
        )
        ctx.save_for_backward(torch.from_numpy(gradient))
        return torch.from_numpy(losses)

    @staticmethod
    def backward(ctx, grad_losses):
        (gradient,) = ctx.saved_tensors
        return gradient * grad_losses[:, None], None, None, None


# reassoc lets the compiler vectorise the sums over points; each model still sums in one
# fixed order, so results do not depend on which models share a call.
@numba.njit(cache=True, error_model="numpy", boundscheck=False, fastmath={"reassoc", "contract"})
def _mse_and_gradient(params, widths, x, y, gradient, losses):  # pragma: no cover - compiled
    models, points, depth = params.shape[0], x.shape[1], widths.shape[0] - 1
    rows = np.zeros(depth + 1, np.int64)  # first activation row of every layer
    for k in range(depth):
        rows[k + 1] = rows[k] + widths[k + 1]
    block = min(POINT_BLOCK, points)
    acts = np.empty((rows[depth], block))
    delta = np.empty((widths.max(), block))
    below = np.empty((widths.max(), block))
    outputs = widths[depth]
    scale = 2.0 / (points * outputs)
    for m in range(models):
        p, g = params[m], gradient[m]
        g[:] = 0.0
        total = 0.0
        for first in range(0, points, block):
            n_block = min(block, points - first)
            start = 0
            for k in range(depth):  # forward: acts = ReLU(W a + b), no ReLU on the output
                fan_in, fan_out = widths[k], widths[k + 1]
                for i in range(fan_out):
                    row = acts[rows[k] + i]
                    bias = p[start + fan_out * fan_in + i]
                    for n in range(n_block):
                        row[n] = bias
                    for j in range(fan_in):
                        w = p[start + i * fan_in + j]
                        a = x[j, first : first + n_block] if k == 0 else acts[rows[k - 1] + j]
                        for n in range(n_block):
                            row[n] += w * a[n]
                    if k < depth - 1:
                        for n in range(n_block):
                            row[n] = max(row[n], 0.0)
                start += fan_out * fan_in + fan_out
            for i in range(outputs):
                row = acts[rows[depth - 1] + i]
                for n in range(n_block):
                    residual = row[n] - y[m, i, first + n]
                    total += residual * residual
                    delta[i, n] = scale * residual
            for k in range(depth - 1, -1, -1):  # backward
                fan_in, fan_out = widths[k], widths[k + 1]
                start -= fan_out * fan_in + fan_out
                for i in range(fan_out):
                    s = 0.0
                    for n in range(n_block):
                        s += delta[i, n]
                    g[start + fan_out * fan_in + i] += s
                    for j in range(fan_in):
                        a = x[j, first : first + n_block] if k == 0 else acts[rows[k - 1] + j]
                        s = 0.0
                        for n in range(n_block):
                            s += delta[i, n] * a[n]
                        g[start + i * fan_in + j] += s
                if k > 0:
                    for j in range(fan_in):
                        a = acts[rows[k - 1] + j]
                        for n in range(n_block):
                            below[j, n] = 0.0
                        for i in range(fan_out):
                            w = p[start + i * fan_in + j]
                            for n in range(n_block):
                                below[j, n] += w * delta[i, n]
                        for n in range(n_block):
                            if a[n] <= 0.0:  # ReLU'(0) = 0, as in torch
                                below[j, n] = 0.0
                    delta, below = below, delta
        losses[m] = total / (points * outputs)


def stack_mlps(nets: list[MLP], dtype: torch.dtype = torch.float64, device: str = "cpu"):
    """Batched layers [(W (M, out, in), b (M, out)), ...] of MLPs with equal widths."""

    def stacked(arrays) -> torch.Tensor:
        return torch.from_numpy(np.stack(arrays)).to(dtype=dtype, device=device)

    return [
        (stacked([net.weights[k] for net in nets]), stacked([net.biases[k] for net in nets]))
        for k in range(len(nets[0].weights))
    ]


def trainable_layers(nets: list[MLP], dtype: torch.dtype = torch.float64, device: str = "cpu"):
    """:func:`stack_mlps` as leaves that require gradients (a batch of models to train)."""
    return [(w.requires_grad_(), b.requires_grad_()) for w, b in stack_mlps(nets, dtype, device)]


def networks_of(layers) -> list[MLP]:
    """One float64 MLP per model of batched layers (for the exact tracer)."""
    with torch.no_grad():
        arrays = [(w.double().cpu().numpy(), b.double().cpu().numpy()) for w, b in layers]
    models = arrays[0][0].shape[0]
    return [MLP.from_layers([(w[m], b[m]) for w, b in arrays]) for m in range(models)]


def fit_minibatches(layers: Layers, x: torch.Tensor, y: torch.Tensor, batches, epochs: int,
                    lr: float, schedule: Schedule = "constant") -> np.ndarray:  # fmt: skip
    """Train batched ``layers`` by Adam on minibatches of (x (N, in), y (M, N)) drawn from
    ``batches`` (:class:`bends.training.loop.Minibatches`) for ``epochs`` passes with the
    rate ``schedule`` of :func:`~bends.training.loop.descend`; the (M, epochs) curve of each
    epoch's mean minibatch loss."""

    def losses() -> torch.Tensor:
        batch = next(batches).to(x.device)
        return mse(mlp_forward(layers, x[batch])[..., 0], y[:, batch])

    parameters = [tensor for layer in layers for tensor in layer]
    steps = descend(parameters, losses, epochs * batches.per_epoch, lr, schedule=schedule).curve
    # the final (full-batch) loss is no minibatch loss: left out of the epochs' means
    return steps[:, :-1].reshape(len(steps), epochs, -1).mean(axis=-1)
