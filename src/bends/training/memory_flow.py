r"""Gradient flow on the plateau family, in closed form (Li, Han, E and Li, ICLR 2021, Thm 5.1).

Theorem 5.1 is about the gradient flow :math:`\dot\theta = -\nabla J(\theta)` of the
white-noise loss of a linear RNN whose kernel is a sum of modes,
:math:`\hat\rho(s) = \sum_p a_p e^{-z_p s}`, against the plateau family
:math:`\rho_\omega(s) = e^{-s} + e^{-((s - d)/w)^2}`, d = 1/ω. For such kernels J has a closed
form (no quadrature), because every term is a Laplace transform:

.. math::

    J = \sum_{p,q} \frac{a_p a_q}{z_p + z_q} - 2 \sum_p a_p B(z_p) + \int_0^\infty \rho^2,
    \qquad B(z) = \int_0^\infty e^{-zs} \rho(s)\, ds
      = \frac{1}{z + 1} + \frac{w\sqrt\pi}{2} e^{-d^2/w^2}\,
        \mathrm{erfcx}\!\Big(\frac{zw}{2} - \frac{d}{w}\Big),

with erfcx the scaled complementary error function (for Re of its argument below 0 the
reflection erfcx(x) = 2e^{x²} − erfcx(−x) keeps the product finite). J is holomorphic in
(a, z), so its gradient in the real parameters is the chain rule through ∂J/∂a_p and ∂J/∂z_p.
The **diagonal** model (the theorem's) has real modes :math:`z_i = e^{\theta_i}`,
:math:`a_i = c_i u_i`; the **complex** model (:mod:`bends.training.memory`) has conjugate
pairs :math:`z_k = r_k - i\phi_k`, :math:`a_k = (\alpha_k - i\beta_k)/2` and their conjugates.

The flow is integrated by **gradient descent with a controlled step** (explicit Euler with an
error estimate): a step of size η from θ is taken only if the loss does not rise and the
local error :math:`\frac{\eta}{2}\|\nabla J(\theta') - \nabla J(\theta)\|_\infty` is at most
``tolerance``; the step then grows or shrinks by the usual factor
:math:`0.9\sqrt{\text{tolerance}/\text{error}}` (within [0.2, 2]). Each model has its own
step, so one model's stiff phase does not slow the others, and the loss never rises.
The paper integrates the same flow with an Adams–Bashforth–Moulton method.

Example:
    >>> from bends.training.memory import init_parameters
    >>> parameters = numpy_parameters(init_parameters("diagonal", 4, [0, 1]))
    >>> flow = gradient_flow(parameters, plateau_objective([3.0, 3.0]), horizon=50.0)
    >>> bool(np.all(flow.losses[:, -1] < flow.losses[:, 0]))
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from bends.errors import BendsError
from bends.training.memory import quadrature

SQRT_PI = np.sqrt(np.pi)


def numpy_parameters(parameters) -> dict[str, np.ndarray]:
    """Torch parameters of :func:`bends.training.memory.init_parameters` as NumPy copies."""
    return {name: p.detach().numpy().copy() for name, p in parameters.items()}


def _scaled_tail(x: np.ndarray, delay: np.ndarray, width: float) -> np.ndarray:
    """:math:`e^{-d^2/w^2}\\,\\mathrm{erfcx}(x)` without overflow (module docstring)."""
    d2 = (delay / width) ** 2
    negative = x.real < 0
    safe = np.where(negative, -x, x)
    tail = np.exp(-d2) * special.erfcx(safe)
    reflected = 2.0 * np.exp(np.where(negative, x * x - d2, 0.0)) - tail
    return np.where(negative, reflected, tail)


def bump_transform(z: np.ndarray, delay: np.ndarray, width: float = 1.0):
    """:math:`\\int_0^\\infty e^{-zs} e^{-((s - d)/w)^2} ds` and its derivative in z (complex
    z with Re z > 0, delays broadcast against z)."""
    x = z * (width / 2) - delay / width
    tail = _scaled_tail(x, delay, width)
    value = width * SQRT_PI / 2 * tail
    # erfcx'(x) = 2x erfcx(x) − 2/√π
    edge = 2 / SQRT_PI * np.exp(-((delay / width) ** 2))
    slope = width * SQRT_PI / 2 * (width / 2) * (2 * x * tail - edge)
    return value, slope


def target_energy(delay: np.ndarray, width: float = 1.0) -> np.ndarray:
    """:math:`\\int_0^\\infty \\rho_\\omega^2` = 1/2 + 2 B_bump(1) + ∫₀^∞ e^{−2((s−d)/w)²}."""
    delay = np.asarray(delay, dtype=np.float64)
    cross = bump_transform(np.ones_like(delay, dtype=complex), delay, width)[0].real
    square = width * np.sqrt(np.pi / 8) * special.erfc(-np.sqrt(2) * delay / width)
    return 0.5 + 2 * cross + square


def _modes(parameters: dict[str, np.ndarray]):
    """Rates z and coefficients a (models, modes) of either model (module docstring)."""
    theta, c, u = parameters["theta"], parameters["c"], parameters["u"]
    if "phi" not in parameters:
        return np.exp(theta).astype(complex), (c * u).astype(complex)
    pairs_c, pairs_u = c.reshape(*c.shape[:-1], -1, 2), u.reshape(*u.shape[:-1], -1, 2)
    alpha = (pairs_c * pairs_u).sum(-1)
    beta = pairs_c[..., 0] * pairs_u[..., 1] - pairs_c[..., 1] * pairs_u[..., 0]
    z, a = np.exp(theta) - 1j * parameters["phi"], (alpha - 1j * beta) / 2
    return np.concatenate([z, z.conj()], -1), np.concatenate([a, a.conj()], -1)


def loss_and_gradient(parameters: dict[str, np.ndarray], delays: np.ndarray, width: float = 1.0):
    """J per model and its gradient in every parameter, in closed form (module docstring).

    ``parameters`` as :func:`bends.training.memory.init_parameters` makes them (NumPy), one
    delay 1/ω per model."""
    z, a = _modes(parameters)
    delays = np.asarray(delays, dtype=np.float64)[:, None]
    sums = z[:, :, None] + z[:, None, :]
    gram_a = (a[:, None, :] / sums).sum(-1)
    gram2_a = (a[:, None, :] / sums**2).sum(-1)
    bump, bump_slope = bump_transform(z, delays, width)
    transform = 1 / (z + 1) + bump
    slope = -1 / (z + 1) ** 2 + bump_slope
    loss = ((a * gram_a).sum(-1) - 2 * (a * transform).sum(-1)).real
    loss = loss + target_energy(delays[:, 0], width)
    by_a = 2 * gram_a - 2 * transform
    by_z = -2 * a * gram2_a - 2 * a * slope
    return loss, _chain(parameters, z, by_a, by_z)


def kernel_loss_and_gradient(parameters: dict[str, np.ndarray], kernel, nodes=None):
    """J per model and its gradient against any :class:`bends.training.memory.Kernel`, by
    composite Gauss–Legendre quadrature (:func:`bends.training.memory.quadrature`):
    :math:`J = \\sum_n w_n r_n^2`, :math:`r_n = \\sum_p a_p e^{-z_p s_n} - \\rho(s_n)`, so
    ∂J/∂a_p = 2Σ w r e^{−z_p s} and ∂J/∂z_p = −2 a_p Σ w r s e^{−z_p s}. With ``nodes`` =
    (s, Q), Q a matrix, :math:`J = r^\\top Q r` instead (the sampled-path MSE,
    :func:`sampled_objective`)."""
    s, w = nodes if nodes is not None else quadrature(kernel.horizon)
    z, a = _modes(parameters)
    decay = np.exp(-z[:, :, None] * s)
    residual = np.einsum("mp,mpn->mn", a, decay).real - kernel(s)
    weighted = residual @ w if np.ndim(w) == 2 else w * residual
    by_a = 2 * np.einsum("mn,mpn->mp", weighted, decay)
    by_z = -2 * a * np.einsum("mn,mpn->mp", weighted * s, decay)
    return (weighted * residual).sum(-1), _chain(parameters, z, by_a, by_z)


def _chain(parameters, z, by_a, by_z) -> dict[str, np.ndarray]:
    """The gradient in the real parameters from ∂J/∂a and ∂J/∂z over the modes."""
    c, u = parameters["c"], parameters["u"]
    if "phi" not in parameters:
        rates = z.real
        return {"theta": (by_z * rates).real, "c": (by_a * u).real, "u": (by_a * c).real}
    half = z.shape[-1] // 2
    by_a, by_z = by_a[:, :half], 2 * by_z[:, :half]  # a conjugate pair counts twice in z
    by_alpha, by_beta = by_a.real, by_a.imag
    pairs_c, pairs_u = c.reshape(len(c), half, 2), u.reshape(len(u), half, 2)
    grad_c = np.stack([by_alpha * pairs_u[..., 0] + by_beta * pairs_u[..., 1],
                       by_alpha * pairs_u[..., 1] - by_beta * pairs_u[..., 0]], -1)  # fmt: skip
    grad_u = np.stack([by_alpha * pairs_c[..., 0] - by_beta * pairs_c[..., 1],
                       by_alpha * pairs_c[..., 1] + by_beta * pairs_c[..., 0]], -1)  # fmt: skip
    return {"theta": by_z.real * z[:, :half].real, "phi": by_z.imag,
            "c": grad_c.reshape(c.shape), "u": grad_u.reshape(u.shape)}  # fmt: skip


def plateau_objective(delays, width: float = 1.0):
    """The objective of :func:`gradient_flow` for the plateau family, one delay per model."""
    delays = np.asarray(delays, dtype=np.float64)
    return lambda parameters, index: loss_and_gradient(parameters, delays[index], width)


def kernel_objective(kernel):
    """The objective of :func:`gradient_flow` for any kernel, by quadrature."""
    nodes = quadrature(kernel.horizon)
    return lambda parameters, index: kernel_loss_and_gradient(parameters, kernel, nodes)


def path_gram(paths: np.ndarray, step: float) -> np.ndarray:
    """Q with :math:`\\mathrm{MSE} = r^\\top Q r` over sampled input ``paths`` (samples,
    length) from rest: the exactly discretised linear RNN outputs
    :math:`\\hat y_k = \\Delta \\sum_{j \\le k} \\hat\\rho(j\\Delta) x_{k-j}` (``discretise``
    exact, :mod:`bends.training.memory`), so its error at k is Δ Σ_j r_j x_{k−j} with
    :math:`r_j = (\\hat\\rho - \\rho)(j\\Delta)`, and Q = Δ² mean over paths and positions of
    the lagged inputs' outer products."""
    samples, length = paths.shape
    lags = np.arange(length)
    index = lags[:, None] - lags[None, :]  # k − j
    gram = np.zeros((length, length))
    for x in paths:
        toeplitz = np.where(index >= 0, x[np.clip(index, 0, None)], 0.0)
        gram += toeplitz.T @ toeplitz
    return step**2 * gram / (samples * length)


def sampled_objective(kernel, paths: np.ndarray, step: float):
    """The objective of :func:`gradient_flow` for the MSE on sampled ``paths`` (not the
    white-noise expectation): :func:`kernel_loss_and_gradient` with nodes jΔ and
    :func:`path_gram`."""
    nodes = (step * np.arange(paths.shape[1]), path_gram(paths, step))
    return lambda parameters, index: kernel_loss_and_gradient(parameters, kernel, nodes)


@dataclass
class Flow:
    """Loss curves of a batch of gradient flows on a shared grid of flow times.

    ``losses[m, r]`` is model m's loss at the end of its first accepted step that reached
    ``times[r]`` (the loss it holds from there if it stopped); ``ended[m]`` the flow time at
    which model m stopped (``stop`` met, the horizon, or ``max_steps`` spent);
    ``steps[m]`` its accepted steps and ``rejected[m]`` the steps it refused (a rise of the
    loss or too large an error)."""

    times: np.ndarray
    losses: np.ndarray
    ended: np.ndarray
    steps: np.ndarray
    rejected: np.ndarray
    crossings: np.ndarray  # (models, levels): first flow time with J ≤ level, NaN if never
    final: np.ndarray  # the loss where each model stopped


#: The loss records of a flow span this fraction of its horizon up to the horizon.
RECORD_SPAN = 1e-8


def record_grid(horizon: float, records: int) -> np.ndarray:
    """The flow times at which :func:`gradient_flow` records the loss: geometric from
    ``RECORD_SPAN`` × horizon to horizon (the loss at time 0 comes first in a curve)."""
    return np.geomspace(horizon * RECORD_SPAN, horizon, records)


def gradient_flow(parameters: dict[str, np.ndarray], objective, horizon: float, levels=(),
                  tolerance: float = 1e-4, records: int = 200, stop=None,
                  max_steps: int = 10_000_000) -> Flow:  # fmt: skip
    """Follow :math:`\\dot\\theta = -\\nabla J` from ``parameters`` (changed in place) up to flow
    time ``horizon``, with a controlled step (module docstring). ``objective(parameters,
    index)`` returns the loss and gradient of the models ``index`` (their parameters given):
    :func:`plateau_objective`, :func:`kernel_objective`. ``levels``: losses, one row per
    model or shared, whose first crossing times (interpolated linearly between steps) are
    recorded; ``stop(loss, crossings, time)`` → bool per model ends a model early. The loss is
    recorded at the flow times :func:`record_grid`; a model that stops holds its last loss."""
    if horizon <= 0 or tolerance <= 0:
        raise BendsError("horizon and tolerance must be positive")
    models = len(parameters["c"])
    levels = np.asarray(levels, dtype=np.float64)
    levels = levels.reshape(1, -1) if levels.ndim < 2 else levels
    levels = np.broadcast_to(levels, (models, levels.shape[1]))
    times = record_grid(horizon, records)
    losses = np.full((models, records + 1), np.nan)
    crossings = np.full(levels.shape, np.nan)
    loss, gradient = objective(parameters, np.arange(models))
    losses[:, 0] = loss
    time, step = np.zeros(models), np.full(models, min(1e-3, horizon / 10))
    steps, rejected = np.zeros(models, dtype=np.int64), np.zeros(models, dtype=np.int64)
    active = np.ones(models, dtype=bool)
    next_record = np.zeros(models, dtype=np.int64)
    for _ in range(max_steps):
        index = np.flatnonzero(active)
        if not index.size:
            break
        part = {name: p[index] for name, p in parameters.items()}
        eta = np.minimum(step[index], horizon - time[index])
        trial = {name: p - _per_model(eta, p) * gradient[name][index] for name, p in part.items()}
        trial_loss, trial_gradient = objective(trial, index)
        change = np.max(
            [np.abs(trial_gradient[n] - gradient[n][index]).max(-1) for n in trial], axis=0
        )
        error = eta / 2 * change
        accept = (trial_loss <= loss[index]) & (error <= tolerance)
        factor = np.clip(0.9 * np.sqrt(tolerance / np.maximum(error, 1e-300)), 0.2, 2.0)
        factor = np.where(trial_loss > loss[index], np.minimum(factor, 0.5), factor)
        step[index] = eta * factor
        taken = index[accept]
        rejected[index[~accept]] += 1
        steps[taken] += 1
        before, after = loss[taken], trial_loss[accept]
        start = time[taken]
        time[taken] += eta[accept]
        for name in parameters:
            parameters[name][taken] = trial[name][accept]
            gradient[name][taken] = trial_gradient[name][accept]
        loss[taken] = after
        _cross(crossings, levels, taken, start, time[taken], before, after)
        _record(losses, times, next_record, taken, time[taken], after)
        done = time[taken] >= horizon * (1 - 1e-12)
        if stop is not None:
            done |= stop(after, crossings[taken], time[taken])
        for model in taken[done]:  # a stopped flow holds its loss to the horizon
            losses[model, 1 + next_record[model] :] = loss[model]
        active[taken[done]] = False
    return Flow(times, losses, time.copy(), steps, rejected, crossings, loss.copy())


def _per_model(eta: np.ndarray, like: np.ndarray) -> np.ndarray:
    return eta.reshape((-1,) + (1,) * (like.ndim - 1))


def _cross(crossings, levels, taken, start, end, before, after) -> None:
    """First crossing times of each level by the step from (start, before) to (end, after)."""
    if not levels.shape[1]:
        return
    level = levels[taken]
    new = np.isnan(crossings[taken]) & (after[:, None] <= level)
    if not new.any():
        return
    share = np.clip((before[:, None] - level) / np.maximum(before - after, 1e-300)[:, None], 0, 1)
    when = start[:, None] + share * (end - start)[:, None]
    rows = crossings[taken]
    rows[new] = when[new]
    crossings[taken] = rows


def _record(losses, times, next_record, taken, now, loss) -> None:
    """Fill every record time the step reached with the loss at its end (column 0 is the start)."""
    reached = np.searchsorted(times, now, side="right")
    moved = reached > next_record[taken]
    for model, upto, value in zip(taken[moved], reached[moved], loss[moved], strict=True):
        losses[model, 1 + next_record[model] : 1 + upto] = value
        next_record[model] = upto


__all__ = [
    "RECORD_SPAN",
    "Flow",
    "bump_transform",
    "gradient_flow",
    "kernel_loss_and_gradient",
    "kernel_objective",
    "loss_and_gradient",
    "numpy_parameters",
    "path_gram",
    "plateau_objective",
    "record_grid",
    "sampled_objective",
    "target_energy",
]  # fmt: skip
