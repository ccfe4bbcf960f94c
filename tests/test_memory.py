"""bends.training.memory: kernels, the linear RNN's kernel, losses, discretisation, sampled
data."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import integrate, linalg

from bends.errors import BendsError
from bends.training.memory import (
    airy,
    as_arrays,
    bump_energy,
    discretise,
    exponential_sum,
    exponential_sum_loss,
    init_parameters,
    init_path_rnn,
    longest_plateau,
    model_kernel,
    path_rnn_outputs,
    plateau_kernel,
    polynomial_decay,
    quadrature,
    rnn_outputs,
    sampled_mse,
    sampled_plateau_level,
    target_outputs,
    user_kernel,
    white_noise,
    white_noise_loss,
)


def diagonal_model(seed: int = 0, width: int = 3):
    return init_parameters("diagonal", width, [seed])


def test_closed_form_loss_of_exponential_sums_matches_quadrature_and_scipy_quad():
    parameters = diagonal_model()
    rates = torch.exp(parameters["theta"][0]).detach().numpy()
    p = (parameters["c"][0] * parameters["u"][0]).detach().numpy()
    kernel = exponential_sum([1.0, -0.5], [1.0, 3.0])
    closed = exponential_sum_loss(p, rates, [1.0, -0.5], [1.0, 3.0])
    with torch.no_grad():
        ours = float(white_noise_loss(parameters, kernel)[0])
    reference = integrate.quad(
        lambda s: (p @ np.exp(-rates * s) - kernel(s)) ** 2, 0, np.inf, epsabs=1e-13
    )[0]
    assert ours == pytest.approx(closed, rel=1e-10) and closed == pytest.approx(reference, rel=1e-8)


@pytest.mark.parametrize(
    "kernel",
    [
        polynomial_decay(0.5),
        airy(1.0, 6.0),
        plateau_kernel(1 / 6),
        user_kernel("exp(-s)*cos(s)", 60),
    ],
    ids=lambda k: k.name,
)
def test_quadrature_integrates_every_kernel_family_like_scipy(kernel):
    s, w = quadrature(kernel.horizon)
    reference = integrate.quad(lambda t: kernel(t) ** 2, 0, np.inf, limit=500, epsabs=1e-12)[0]
    assert float(np.sum(w * kernel(s) ** 2)) == pytest.approx(reference, rel=1e-6)


@pytest.mark.parametrize("kind", ["diagonal", "complex", "full"])
def test_exact_discretisation_has_the_sampled_kernel_as_impulse_response(kind):
    parameters = init_parameters(kind, 4, [1])
    w, u, c = as_arrays(parameters)
    step, length = 0.05, 200
    impulse = np.zeros((1, length))
    impulse[0, 0] = 1.0
    response = rnn_outputs(discretise(w, step), u, c, impulse, step)[0] / step
    s = step * np.arange(length)
    expected = np.array([c @ linalg.expm(w * t) @ u for t in s])
    np.testing.assert_allclose(response, expected, rtol=1e-10, atol=1e-13)
    with torch.no_grad():
        ours = model_kernel(parameters, torch.from_numpy(s))[0].numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-10, atol=1e-13)
    # Euler converges to the same response at first order in the step.
    errors = []
    for h in (0.02, 0.01):
        n = round(2.0 / h)
        impulse = np.zeros((1, n + 1))
        impulse[0, 0] = 1.0
        euler = rnn_outputs(discretise(w, h, "euler"), u, c, impulse, h)[0, n] / h
        errors.append(abs(euler - c @ linalg.expm(2.0 * w) @ u))
    assert errors[1] < 0.6 * errors[0]


def test_a_complex_model_fits_a_delayed_bump_that_real_decays_cannot():
    # the same 16 state dimensions: 8 damped rotations against 16 real decays, each by Adam
    kernel = plateau_kernel(1 / 6)
    nodes = quadrature(kernel.horizon)
    ends = {}
    for kind in ("complex", "diagonal"):
        parameters = init_parameters(kind, 16, [0])
        optimiser = torch.optim.Adam(list(parameters.values()), lr=0.02)
        for _ in range(1500):
            optimiser.zero_grad()
            loss = white_noise_loss(parameters, kernel, nodes).sum()
            loss.backward()
            optimiser.step()
        ends[kind] = float(loss.detach()) / bump_energy()
    assert ends["complex"] < 0.05 < 0.5 < ends["diagonal"]


def test_the_linear_path_rnn_is_the_euler_discretisation():
    parameters = init_path_rnn(4, [0, 1])
    x = white_noise(3, 50, 0.1, seed=0)
    with torch.no_grad():
        ours = path_rnn_outputs(parameters, torch.from_numpy(x), 0.1, "linear").numpy()
    for model in range(2):
        w, u, c = (parameters[name][model].detach().numpy() for name in ("w", "u", "c"))
        expected = rnn_outputs(discretise(w, 0.1, "euler"), u, c, x, 0.1)
        np.testing.assert_allclose(ours[model], expected, rtol=1e-12, atol=1e-14)
    with torch.no_grad():
        squashed = path_rnn_outputs(parameters, torch.from_numpy(x), 0.1, "tanh")
    assert squashed.shape == (2, 3, 50) and not torch.allclose(squashed, torch.from_numpy(ours))


def test_the_sampled_plateau_level_tends_to_the_bump_energy_on_long_paths():
    kernel = plateau_kernel(1 / 6)
    short, long = (sampled_plateau_level(kernel, n, 0.01) for n in (2_000, 200_000))
    assert short < 0.8 * bump_energy()  # a 20-long path holds the bump for 14 of its 20
    assert long == pytest.approx(bump_energy(), rel=0.01)


def test_fft_outputs_equal_direct_convolution():
    kernel = airy(1.0, 3.0)
    step = 0.1
    x = white_noise(3, 300, step, seed=0)
    samples = kernel(step * np.arange(300))
    direct = np.array([step * np.convolve(row, samples)[:300] for row in x])
    np.testing.assert_allclose(target_outputs(kernel, x, step), direct, atol=1e-12)


def test_sampled_mse_converges_to_the_white_noise_loss():
    parameters = diagonal_model(2)
    kernel = exponential_sum([1.0, 0.5], [0.5, 2.0])
    with torch.no_grad():
        loss = float(white_noise_loss(parameters, kernel)[0])
    w, u, c = as_arrays(parameters)

    def riemann(step: float) -> float:  # what the sampled MSE estimates: Δ Σ_j r(jΔ)²
        s = step * np.arange(int(60 / step))
        with torch.no_grad():
            model = model_kernel(parameters, torch.from_numpy(s))[0].numpy()
        return float(step * np.sum((model - kernel(s)) ** 2))

    step, burn_in = 0.02, 1000
    gaps = []
    for samples in (10, 4000):  # outputs are correlated over ~1/0.5 time units: many paths
        x = white_noise(samples, burn_in + 1000, step, seed=samples)
        prediction = rnn_outputs(discretise(w, step), u, c, x, step)
        estimate = sampled_mse(prediction, target_outputs(kernel, x, step), burn_in)
        gaps.append(abs(estimate - riemann(step)))
    assert gaps[1] < gaps[0] and gaps[1] < 0.03 * loss  # more data: closer
    biases = [abs(riemann(h) - loss) for h in (0.02, 0.01, 0.005)]
    assert biases[2] < 0.55 * biases[1] < 0.55**2 * biases[0]  # smaller step: first order


def test_plateau_detection_finds_the_stall_before_the_drop_and_ignores_the_end():
    curve = np.concatenate(
        [np.geomspace(2.0, 1.0, 50), np.full(300, 1.0), np.geomspace(1, 0.1, 50), np.full(500, 0.1)]
    )
    plateau = longest_plateau(curve, window=20)
    assert plateau is not None and plateau.level == pytest.approx(1.0) and 250 < plateau.length
    assert longest_plateau(np.full(100, 1.0), window=10) is None


def test_bad_kernels_and_expressions_are_one_line_errors():
    with pytest.raises(BendsError, match="positive"):
        polynomial_decay(0.0)
    with pytest.raises(BendsError, match="is not allowed"):
        user_kernel("__import__('os')", 10)
    with pytest.raises(BendsError, match="is not allowed"):
        user_kernel("exp(-x)", 10)  # the variable is s
