"""Theorem 5.1's setting: the closed-form white-noise loss, its gradient flow, and the censored
growth laws fitted to the escape times."""

from __future__ import annotations

import numpy as np
import pytest

from bends.analysis.censored import censored_fit, compare_laws, law_power
from bends.errors import BendsError
from bends.runner.study import run_in_memory
from bends.studies.memory_plateau import MemoryPlateau
from bends.training.memory import (
    airy,
    bump_energy,
    init_parameters,
    plateau_kernel,
    quadrature,
    white_noise_loss,
)
from bends.training.memory_flow import (
    bump_transform,
    gradient_flow,
    kernel_loss_and_gradient,
    loss_and_gradient,
    numpy_parameters,
    plateau_objective,
    target_energy,
)


@pytest.mark.parametrize("kind", ["diagonal", "complex"])
@pytest.mark.parametrize("memory", [3.0, 12.0, 24.0])
def test_closed_form_loss_and_gradient_equal_quadrature_and_autograd(kind, memory):
    parameters = init_parameters(kind, 8, [0, 1, 2], 0.7)
    kernel = plateau_kernel(1.0 / memory)
    loss = white_noise_loss(parameters, kernel, quadrature(600.0))  # past every mode's tail
    loss.sum().backward()
    closed, gradient = loss_and_gradient(numpy_parameters(parameters), np.full(3, memory))
    np.testing.assert_allclose(closed, loss.detach().numpy(), rtol=1e-12, atol=1e-13)
    for name, tensor in parameters.items():
        np.testing.assert_allclose(gradient[name], tensor.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind", ["diagonal", "complex"])
def test_quadrature_loss_and_gradient_equal_the_closed_form_and_autograd_on_airy(kind):
    parameters = init_parameters(kind, 8, [4, 5], 0.6)
    numpy = numpy_parameters(parameters)
    closed = loss_and_gradient(numpy, np.full(2, 7.0))
    by_nodes = kernel_loss_and_gradient(numpy, plateau_kernel(1 / 7.0), quadrature(600.0))
    np.testing.assert_allclose(by_nodes[0], closed[0], rtol=1e-11)
    for name in closed[1]:
        np.testing.assert_allclose(by_nodes[1][name], closed[1][name], rtol=1e-8, atol=1e-12)
    kernel = airy(1.0, 6.0)
    loss = white_noise_loss(parameters, kernel)
    loss.sum().backward()
    mine = kernel_loss_and_gradient(numpy, kernel)
    np.testing.assert_allclose(mine[0], loss.detach().numpy(), rtol=1e-12)
    for name, tensor in parameters.items():
        np.testing.assert_allclose(mine[1][name], tensor.grad.numpy(), rtol=1e-9, atol=1e-13)


@pytest.mark.parametrize("delay", [0.5, 5.0, 30.0, 40.0])
def test_bump_transform_is_finite_and_equals_quadrature_far_out(delay):
    # complex rates with large frequencies and rates beyond 2·delay, where erfcx's argument
    # changes sign: the reflected branch must not overflow
    z = np.array([0.05, 1.0, 3.0 + 4.0j, 0.2 - 9.0j, 2.5 * delay + 1.0])
    value, slope = bump_transform(z, np.full(z.shape, delay))
    s, w = quadrature(delay + 12.0)
    bump = np.exp(-((s - delay) ** 2))
    expected = (np.exp(-np.multiply.outer(z, s)) * bump * w).sum(-1)
    expected_slope = -(np.exp(-np.multiply.outer(z, s)) * s * bump * w).sum(-1)
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(slope))
    np.testing.assert_allclose(value, expected, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(slope, expected_slope, rtol=1e-9, atol=1e-13)


def test_target_energy_equals_quadrature():
    for delay in (0.3, 4.0, 20.0):
        kernel = plateau_kernel(1.0 / delay)
        s, w = quadrature(kernel.horizon)
        assert target_energy(np.array([delay]))[0] == pytest.approx(
            float(np.sum(w * kernel(s) ** 2)), rel=1e-12
        )


def _fixed_step_leave_time(parameters, delay, eta, level, horizon):
    """Plain GD at a small fixed step: the first flow time with J ≤ level (interpolated)."""
    loss, gradient = loss_and_gradient(parameters, np.array([delay]))
    time = 0.0
    while time < horizon:
        for name in parameters:
            parameters[name] -= eta * gradient[name]
        new, gradient = loss_and_gradient(parameters, np.array([delay]))
        if new[0] <= level:
            return time + eta * (loss[0] - level) / (loss[0] - new[0])
        loss, time = new, time + eta
    return None


@pytest.mark.parametrize("kind", ["diagonal", "complex"])
def test_controlled_flow_never_raises_the_loss_and_leaves_when_small_steps_do(kind):
    start = numpy_parameters(init_parameters(kind, 8, [3], 0.5))
    level = 0.9 * bump_energy()
    parameters = {k: v.copy() for k, v in start.items()}
    run = gradient_flow(parameters, plateau_objective([6.0]), 200.0, levels=[level], records=400)
    recorded = run.losses[0][~np.isnan(run.losses[0])]
    assert np.all(np.diff(recorded) <= 0)
    controlled = run.crossings[0, 0]
    reference = _fixed_step_leave_time({k: v.copy() for k, v in start.items()}, 6.0, 2e-3,
                                       level, 200.0)  # fmt: skip
    assert reference is not None and controlled == pytest.approx(reference, rel=2e-2)
    finer = gradient_flow({k: v.copy() for k, v in start.items()}, plateau_objective([6.0]), 200.0,
                          levels=[level], tolerance=2.5e-5)  # fmt: skip
    assert finer.crossings[0, 0] == pytest.approx(controlled, rel=1e-2)


def test_censored_fit_recovers_a_known_law_that_dropping_cut_runs_biases():
    rng = np.random.default_rng(1)
    memory = np.repeat(np.arange(6.0, 16.0), 40)
    tau = np.exp(-1.0 + 0.6 * memory + 0.8 * rng.standard_normal(memory.size))
    budget = np.exp(6.5)
    cut = tau >= budget
    assert 0.1 < cut.mean() < 0.4
    fit = censored_fit("exponential", memory, np.minimum(tau, budget), cut)
    seen = censored_fit("exponential", memory, tau, np.zeros(memory.size, bool))  # no budget
    assert fit.slope == pytest.approx(0.6, abs=0.05)
    assert fit.slope == pytest.approx(seen.slope, abs=0.02)
    assert fit.spread == pytest.approx(seen.spread, abs=0.03)
    dropped = censored_fit("exponential", memory[~cut], tau[~cut], np.zeros((~cut).sum(), bool))
    assert dropped.slope < 0.55  # leaving cut-off runs out flattens the law


def test_law_comparison_names_the_generating_law_or_none():
    rng = np.random.default_rng(2)
    memory = np.repeat(np.arange(4.0, 25.0, 2.0), 30)
    noise = 0.5 * rng.standard_normal(memory.size)
    never = np.zeros(memory.size, dtype=bool)
    exponential = compare_laws(memory, np.exp(0.4 * memory + noise), never)
    power = compare_laws(memory, np.exp(3.0 * np.log(memory) + noise), never)
    assert exponential.verdict == "exponential" and power.verdict == "power"
    assert len(exponential.left_out) == 11 and min(exponential.left_out.values()) >= 4
    # four memories close together and a wide spread: the laws are indistinguishable, though
    # each leave-one-out fit still has three memories to tell them apart by
    near = np.repeat([10.0, 11.0, 12.0, 13.0], 5)
    unclear = compare_laws(near, np.exp(0.4 * near + 2.0 * rng.standard_normal(20)),
                           np.zeros(20, bool))  # fmt: skip
    assert unclear.verdict is None and any(abs(d) > 1e-6 for d in unclear.left_out.values())
    with pytest.raises(BendsError, match="at least 4 memories"):
        compare_laws(near[near < 13], np.ones(15), np.zeros(15, bool))
    power_of = law_power(exponential, memory, np.full(memory.size, np.inf), simulations=10)
    assert power_of["exponential"] >= 0.8 and power_of["power"] >= 0.8


def test_flow_part_counts_runs_cut_off_by_the_budget():
    study = MemoryPlateau()
    config = study.Config(memories=(4.0,), adam_steps=5, figure_one=False, figure_four=(4.0,),
                          four_steps=5, flow_memories=(20.0,), flow_time=30.0, seeds=3,
                          seeds_per_cell=3)  # fmt: skip
    results = run_in_memory(study, config)
    rows = [r for c in results for r in c.rows if r["part"] == "flow"]
    assert len(rows) == 6 and {r["model"] for r in rows} == {"diagonal", "complex"}
    for row in rows:
        assert row["censored"] == (row["leave_time"] is None)
        assert row["censored"] or row["leave_time"] <= 30.0
    assert any(r["censored"] for r in rows)  # 1/ω = 20 does not escape by flow time 30
    assert all(r["loss_end"] <= r["loss_start"] for r in rows)


def test_the_flow_is_reproducible_when_batched():
    together = numpy_parameters(init_parameters("complex", 8, [0, 1], 0.5))
    alone = numpy_parameters(init_parameters("complex", 8, [1], 0.5))
    run = gradient_flow(together, plateau_objective([5.0, 5.0]), 20.0, levels=[1.0])
    single = gradient_flow(alone, plateau_objective([5.0]), 20.0, levels=[1.0])
    assert run.steps[1] == single.steps[0]
    np.testing.assert_allclose(together["theta"][1], alone["theta"][0], rtol=1e-12)


def test_a_stopped_flow_holds_its_final_loss_in_every_later_record():
    parameters = numpy_parameters(init_parameters("diagonal", 8, [0, 1], 0.5))
    run = gradient_flow(parameters, plateau_objective([4.0, 4.0]), 100.0, levels=[1.3],
                        stop=lambda loss, crossings, time: ~np.isnan(crossings[:, 0]))  # fmt: skip
    assert np.all(run.ended < 100.0)  # both crossed 1.3 and stopped
    for m in range(2):
        later = run.times > run.ended[m]
        assert np.all(run.losses[m, 1:][later] == run.final[m])
        assert not np.isnan(run.losses[m]).any()


def test_censored_fit_recovers_a_spread_that_grows_with_memory():
    rng = np.random.default_rng(3)
    memory = np.repeat(np.arange(6.0, 16.0), 60)
    spread = 0.2 * np.exp(0.15 * memory)
    tau = np.exp(-1.0 + 0.6 * memory + spread * rng.standard_normal(memory.size))
    budget = np.exp(7.0)
    fit = censored_fit("exponential", memory, np.minimum(tau, budget), tau >= budget)
    assert fit.slope == pytest.approx(0.6, abs=0.05)
    assert fit.spread_slope == pytest.approx(0.15, abs=0.04)
    np.testing.assert_allclose(fit.spreads([6.0, 15.0]), [0.2 * np.exp(0.9), 0.2 * np.exp(2.25)],
                               rtol=0.15)  # fmt: skip


def test_sampled_path_loss_is_the_discretised_rnns_mse_and_its_gradient_is_right():
    from bends.training.memory import (
        as_arrays,
        discretise,
        rnn_outputs,
        target_outputs,
        white_noise,
    )
    from bends.training.memory_flow import sampled_objective

    kernel, step = plateau_kernel(1 / 8.0), 0.2
    x = white_noise(16, 40, step, seed=0)
    y = target_outputs(kernel, x, step)
    for kind in ("diagonal", "complex"):
        parameters = init_parameters(kind, 6, [0, 1], 0.5)
        numpy = numpy_parameters(parameters)
        loss, gradient = sampled_objective(kernel, x, step)(numpy, np.arange(2))
        for m in range(2):
            w, u, c = as_arrays(parameters, m)
            outputs = rnn_outputs(discretise(w, step, "exact"), u, c, x, step)
            assert loss[m] == pytest.approx(float(np.mean((outputs - y) ** 2)), rel=1e-10)
        h = 1e-6  # central differences in every parameter of model 0
        for name, values in numpy.items():
            for i in range(values.shape[1]):
                plus, minus = ({k: v.copy() for k, v in numpy.items()} for _ in range(2))
                plus[name][0, i] += h
                minus[name][0, i] -= h
                objective = sampled_objective(kernel, x, step)
                slope = (objective(plus, np.arange(2))[0][0]
                         - objective(minus, np.arange(2))[0][0]) / (2 * h)  # fmt: skip
                assert gradient[name][0, i] == pytest.approx(slope, rel=1e-5, abs=1e-8)
