"""Training tied RNNs (bends.training.tied): gradient, Hessian, gradient flow against GD."""

from __future__ import annotations

import numpy as np
import torch

from bends import trace
from bends.training.flows import _cancels, descend_tied, follow_flow, gradient_flow
from bends.training.tied import DATASETS, TiedProblem, dataset_problem, outputs


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


def test_the_staircase_flow_from_near_its_solution_ends_at_zero_loss_with_f3s_pieces():
    # on the staircase's own line with F_3's data, k = 4: W* fits exactly, and the flow
    # from W* + 1e-3 noise ends at the threshold, keeping at least F_3's 2^4 - 1 pieces
    problem, solution = dataset_problem("staircase", 7, steps=4)
    assert problem.losses(solution) < 1e-30
    start = solution + 1e-3 * np.random.default_rng(0).standard_normal((1, 7, 7))
    (run,) = follow_flow(problem, start, loss_threshold=1e-8, max_steps=20_000)
    assert run.stopped == "threshold" and run.loss < 1e-8
    assert trace(problem.network(run.weight)).pieces >= 15


def test_residual_jacobian_equals_torch_autograd_and_sums_to_the_gradient():
    p = problem(4)
    weight = np.random.default_rng(4).standard_normal((2, 4, 4))
    residual, jacobian = p.residuals_and_jacobian(weight)
    for w, r, j in zip(weight, residual, jacobian, strict=True):
        expected = torch.autograd.functional.jacobian(
            lambda t: outputs(t, torch.from_numpy(p.inputs), 4), torch.from_numpy(w)
        )
        np.testing.assert_allclose(j, expected.numpy(), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(r, outputs(w, p.inputs, 4) - p.y, rtol=1e-14)
    _, gradient = p.loss_and_gradient(weight)
    from_jacobian = 2 / p.y.size * np.einsum("ri,riab->rab", residual, jacobian)
    np.testing.assert_allclose(from_jacobian, gradient, rtol=1e-12, atol=1e-14)


def test_implicit_and_explicit_steps_follow_the_same_smooth_flow():
    # away from switching surfaces both integrators follow dW/ds = -∇L/(1 + L): at a tight
    # tolerance they reach the same W after the same flow time as SciPy's RK45
    p = problem(2)
    rng = np.random.default_rng(0)
    start = next(w for w in rng.standard_normal((50, 4, 4)) if p.losses(w) < 0.2)
    runs = [
        follow_flow(p, start[None], tolerance=1e-6, max_steps=300, integrator=integrator,
                    stall_steps=10_000)[0]
        for integrator in ("implicit", "explicit")
    ]  # fmt: skip
    for run in runs:
        reference = gradient_flow(p, start, time_limit=run.times[-1], rtol=1e-10, method="RK45")
        np.testing.assert_allclose(run.weight, reference.weight, atol=2e-3)


def test_tightening_the_tolerance_keeps_where_most_flows_end():
    # Near switching surfaces the end is sensitive (measured: between tolerances 10⁻² and
    # 2.5·10⁻³ one of these six W₀ slides to a neighbouring kink, 1 piece instead of 2, at a
    # loss 17 % away); the others keep their piece count exactly and their loss to 10⁻³.
    problem = TiedProblem.from_target("cantor", width=4, steps=3, points=32)
    starts = np.random.default_rng(3).standard_normal((6, 4, 4))
    ends = [follow_flow(problem, starts, tolerance=tolerance) for tolerance in (1e-2, 2.5e-3)]
    assert not any(run.stopped == "budget" for run in ends[0] + ends[1])
    kept = 0
    for coarse, fine in zip(*ends, strict=True):
        pieces = [trace(problem.network(run.weight)).pieces for run in (coarse, fine)]
        kept += pieces[0] == pieces[1] and abs(coarse.loss - fine.loss) <= 1e-3 * coarse.loss
    assert kept >= 5


def test_a_flow_creeping_without_doubling_its_time_ends_stalled_where_the_budget_would():
    # Measured: this W₀ creeps towards a degenerate minimum at L ≈ 3·10⁻³ (flow time ~10⁴,
    # too slow to double within a stall window), so without stall windows it runs out of
    # steps; with them it ends as stalled, at the same pieces and nearly the same loss.
    problem = dataset_problem("control", 4, 16, 64, "uniform", 0)[0]
    start = np.random.default_rng(12).standard_normal((1, 4, 4))
    creeping, stalled = (follow_flow(problem, start, max_steps=8000, stall_windows=windows,
                                     pieces=lambda w: trace(problem.network(w)).pieces)[0]
                         for windows in (0, 10))  # fmt: skip
    assert (creeping.stopped, stalled.stopped) == ("budget", "stalled")
    assert stalled.evaluations < creeping.evaluations
    assert abs(stalled.loss - creeping.loss) <= 1e-3 * creeping.loss
    pieces = [trace(problem.network(run.weight)).pieces for run in (creeping, stalled)]
    assert pieces[0] == pieces[1]


def test_a_kink_is_where_sampled_gradients_cancel_and_sliding_is_not():
    rng = np.random.default_rng(0)
    normal, tangent = np.eye(16)[0], np.eye(16)[1]
    sides = np.where(rng.uniform(size=16) < 0.5, 1.0, -1.0)[:, None]
    at_kink = sides * normal + 1e-3 * rng.standard_normal((16, 16))  # both sides push in
    sliding = sides * normal + 0.3 * tangent  # ... and the surface carries the flow along
    assert _cancels(np.stack([at_kink, sliding])).tolist() == [True, False]


def test_every_data_set_lies_on_a_line_its_solution_fits_ever_better():
    for name in DATASETS:
        losses = []
        for k in (2, 6, 10):
            problem, solution = dataset_problem(name, 8, steps=k)
            assert np.linalg.matrix_rank(np.stack([problem.origin, problem.direction])) == 2
            losses.append(None if solution is None else float(problem.losses(solution)))
        if name == "control":
            assert losses == [None] * 3
        elif name == "staircase":  # F_{k-1}: exact at every k, up to rounding
            assert max(losses) < 1e-25
        else:  # the limits: W* at k steps fits them to O(4^-k) or better
            assert losses[0] > losses[1] > losses[2] and losses[2] < 1e-8
