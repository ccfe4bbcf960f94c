"""Training tied RNNs (bends.training.tied): gradient, Hessian, gradient flow against GD."""

from __future__ import annotations

import numpy as np
import torch

from bends import trace
from bends.training.flows import descend_tied, gradient_flow
from bends.training.tied import TiedProblem, outputs


def problem(steps: int = 3) -> TiedProblem:
    return TiedProblem.from_target("cantor", width=4, steps=steps, points=32)


def test_backpropagated_gradient_equals_torch_autograd():
    p = problem(5)
    weight = np.random.default_rng(1).standard_normal((3, 4, 4))
    loss, gradient = p.loss_and_gradient(weight)
    tensor = torch.from_numpy(weight).requires_grad_()
    out = outputs(tensor, torch.from_numpy(p.inputs), 5)
    torch.mean((out - torch.from_numpy(p.y)) ** 2, dim=-1).sum().backward()
    np.testing.assert_allclose(gradient, tensor.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(loss, p.losses(weight), rtol=1e-14)


def test_hessian_matches_finite_differences_of_the_gradient():
    p = problem(3)
    weight = np.random.default_rng(2).standard_normal((4, 4))
    h = 1e-6
    columns = []
    for i in range(16):
        step = np.zeros(16)
        step[i] = h
        plus = p.loss_and_gradient(weight + step.reshape(4, 4))[1].ravel()
        minus = p.loss_and_gradient(weight - step.reshape(4, 4))[1].ravel()
        columns.append((plus - minus) / (2 * h))
    np.testing.assert_allclose(p.hessian(weight), np.array(columns).T, rtol=1e-5, atol=1e-7)


def test_gradient_flow_decreases_the_loss_and_agrees_with_small_step_descent():
    p = problem(2)
    rng = np.random.default_rng(0)
    weight = next(w for w in rng.standard_normal((50, 4, 4)) if p.losses(w) < 0.2)
    flow = gradient_flow(p, weight, time_limit=2.0, rtol=1e-8, record=32)
    assert np.all(np.diff(flow.losses) <= 1e-12) and flow.loss < p.losses(weight)
    descent = descend_tied(p, weight, "gd", lr=1e-3, steps=2000)
    np.testing.assert_allclose(descent.weight, flow.weight, atol=2e-3)
    assert trace(p.network(flow.weight)).pieces == trace(p.network(flow.weight), exact=True).pieces
