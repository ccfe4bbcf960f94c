"""The fused CPU loss of the batched trainer against PyTorch autograd, on degenerate networks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import mlps
from hypothesis import given, settings
from hypothesis import strategies as st

from bends.nets import MLP
from bends.nets.packing import pack, unpack
from bends.nets.random import random_mlp
from bends.training.mlp import layer_widths, mlp_forward, mlp_mse, mse, packed_mse, stack_mlps


def single_output(net: MLP) -> MLP:
    layers = list(zip(net.weights, net.biases, strict=True))
    w, b = layers[-1]
    return MLP.from_layers([*layers[:-1], (w[:1], b[:1])])


def batch_of_variants(net: MLP, seed: int) -> list[MLP]:
    """The network, a Gaussian perturbation of it and a copy whose first layer is dead."""
    rng = np.random.default_rng(seed)
    layers = list(zip(net.weights, net.biases, strict=True))
    perturbed = [(w + rng.normal(size=w.shape), b + rng.normal(size=b.shape)) for w, b in layers]
    (w0, b0), rest = layers[0], layers[1:]
    dead = [(np.zeros_like(w0), np.full_like(b0, -1.0)), *rest]
    return [net, MLP.from_layers(perturbed), MLP.from_layers(dead)]


def autograd_reference(layers, x, y):
    leaves = [(w.clone().requires_grad_(), b.clone().requires_grad_()) for w, b in layers]
    losses = mse(mlp_forward(leaves, x)[..., 0], y)
    losses.sum().backward()
    return losses.detach(), pack([(w.grad, b.grad) for w, b in leaves])


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_fused_loss_and_gradient_equal_autograd(data):
    net = single_output(data.draw(mlps(max_depth=4, max_width=6)))
    nets = batch_of_variants(net, data.draw(st.integers(0, 2**16)))
    points = data.draw(st.sampled_from([1, 2, 7, 255, 256, 257, 600]))  # across point blocks
    # Dyadic points keep a dyadic network's arithmetic exact in any summation order, so its
    # exact zeros (kinks on data points, difference neurons) are zeros for both computations.
    x = (torch.arange(points, dtype=torch.float64)[:, None] / 128 - 2).repeat(1, net.input_dim)
    x[:, 1:] *= -0.5  # a second input coordinate, not equal to the first
    y = torch.from_numpy(np.random.default_rng(points).normal(size=(len(nets), points)))
    layers = stack_mlps(nets)
    expected_losses, expected_gradient = autograd_reference(layers, x, y)

    flat = pack(layers).requires_grad_(True)
    losses = packed_mse(flat, layer_widths(layers), x, y)
    (losses * torch.tensor([1.0, 2.0, -0.5])).sum().backward()  # weights reach every model

    torch.testing.assert_close(losses.detach(), expected_losses, rtol=1e-12, atol=1e-14)
    scale = expected_gradient.abs().max().clamp(min=1.0)
    expected = expected_gradient * torch.tensor([1.0, 2.0, -0.5])[:, None]
    assert (flat.grad - expected).abs().max() <= 1e-12 * scale


def test_pack_and_unpack_are_inverse_views():
    layers = stack_mlps([random_mlp([2, 3, 5, 1], seed) for seed in range(4)])
    flat = pack(layers)
    assert flat.shape == (4, 2 * 3 + 3 + 3 * 5 + 5 + 5 + 1)
    for (w, b), (w2, b2) in zip(layers, unpack(flat, layer_widths(layers)), strict=True):
        assert torch.equal(w, w2) and torch.equal(b, b2)
        assert w2.data_ptr() >= flat.data_ptr()  # views, not copies
    with pytest.raises(ValueError, match="do not fit"):
        unpack(flat[:, :-1], layer_widths(layers))


def test_without_gradients_or_in_float32_the_loss_falls_back_to_tensor_operations():
    layers = stack_mlps([random_mlp([1, 4, 4, 1], seed) for seed in range(3)])
    x = torch.linspace(0, 1, 50, dtype=torch.float64)[:, None]
    y = (x[:, 0] ** 2).expand(3, -1)
    reference = mse(mlp_forward(layers, x)[..., 0], y)
    with torch.no_grad():
        torch.testing.assert_close(mlp_mse(layers, x, y), reference, rtol=1e-13, atol=0)
    single = [(w.float(), b.float()) for w, b in layers]
    torch.testing.assert_close(
        mlp_mse(single, x.float(), y.float()), reference.float(), rtol=1e-5, atol=1e-7
    )


def test_several_outputs_are_refused():
    layers = stack_mlps([random_mlp([1, 3, 2], 0)])
    with pytest.raises(ValueError, match="single-output"):
        mlp_mse(layers, torch.zeros(4, 1, dtype=torch.float64), torch.zeros(1, 4))


def test_training_with_the_fused_loss_follows_the_tensor_operation_path():
    # The tensor-operation path is what runs on CUDA; both must train the same models.
    from bends.training.loop import descend
    from bends.training.manifold import StagedModel

    nets = [random_mlp([1, 4, 4, 4, 1], seed) for seed in range(3)]
    x = torch.linspace(0, 1, 300, dtype=torch.float64)[:, None]
    y = (x[:, 0] ** 3).expand(3, -1)
    fused, plain = StagedModel.raw(stack_mlps(nets)), StagedModel.raw(stack_mlps(nets))
    descend(fused.parameters, lambda: fused.losses(x, y), 200, lr=1e-2)
    descend(plain.parameters, lambda: mse(plain.forward(x)[..., 0], y), 200, lr=1e-2)
    torch.testing.assert_close(fused.parameters[0], plain.parameters[0], rtol=1e-9, atol=1e-12)
    assert not torch.equal(fused.parameters[0], pack(stack_mlps(nets)))  # it did train


def test_cosine_schedule_anneals_the_rate_to_zero_and_constant_keeps_it():
    from bends.training.loop import descend

    def rates(schedule):  # GD on (w − 1)²: a step is lr · 2(1 − w)
        w = torch.zeros(1, dtype=torch.float64, requires_grad=True)
        seen = [0.0]
        descend([w], lambda: (w - 1.0) ** 2, 10, lr=0.1, method="gd", schedule=schedule,
                after_step=lambda: seen.append(float(w)))  # fmt: skip
        before = np.array(seen[:-1])
        return np.diff(seen) / (2 * (1 - before))

    k = np.arange(10)
    assert rates("cosine") == pytest.approx(0.1 * (1 + np.cos(np.pi * k / 10)) / 2)
    assert rates("constant") == pytest.approx(np.full(10, 0.1))
