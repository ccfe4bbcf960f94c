r"""Linear RNN functionals and the curse of memory (Li, Han, E and Li, ICLR 2021).

**Targets** are linear functionals of a scalar input path,
:math:`y_t = \int_0^\infty \rho(s)\, x_{t-s}\, ds`, given by their kernel ρ (:class:`Kernel`):
exponential sums :math:`\sum_i a_i e^{-\mu_i s}`, polynomial decay
:math:`(1 + s)^{-(1+\omega)}`, the Airy kernel :math:`\mathrm{Ai}(s_0 (s - t_0))`, the plateau
family :math:`\rho_\omega(s) = e^{-s} + e^{-(s - 1/\omega)^2}` (an easy part plus a Gaussian
bump delayed to 1/ω), and user kernels as safe NumPy expressions in ``s``.

**The model** is the continuous-time linear RNN :math:`\dot h = W h + U x`,
:math:`\hat y = c^\top h`, whose kernel is :math:`\hat\rho(s) = c^\top e^{Ws} U`. W is kept
stable by its parameterisation: ``diagonal``: :math:`W = -\mathrm{diag}(e^{\theta})` (decay
rates :math:`e^{\theta_i} > 0`, so :math:`\hat\rho(s) = \sum_i c_i u_i e^{-e^{\theta_i} s}`);
``complex``: W block diagonal with m/2 blocks :math:`\begin{pmatrix} -r_k & \phi_k \\ -\phi_k
& -r_k \end{pmatrix}`, :math:`r_k = e^{\theta_k}` — the real form of a diagonal W with complex
eigenvalues :math:`-r_k \pm i\phi_k`, i.e. every diagonalisable stable W up to a change of basis —
so :math:`\hat\rho(s) = \sum_k e^{-r_k s} (\alpha_k \cos \phi_k s + \beta_k \sin \phi_k s)`
with :math:`\alpha_k = c_k \cdot u_k`, :math:`\beta_k = c_k \times u_k` (damped oscillations
can build a delayed bump, real decays cannot); ``full``:
:math:`W = (A - A^\top) - BB^\top - \epsilon I`, whose symmetric part is negative definite.
Parameters carry a leading model axis, so many models train as one program.

**Losses.** With white-noise input the expected squared error is
:math:`J = \int_0^\infty |\hat\rho(s) - \rho(s)|^2 ds`, computed by composite Gauss–Legendre
quadrature on unit intervals up to s = 64 and doubling intervals beyond (:func:`quadrature`),
and in closed form for exponential sums against exponential sums (:func:`exponential_sum_loss`).
On sampled data — discretised white noise :math:`x_k \sim N(0, 1/\Delta)` and outputs
:math:`y_k = \Delta \sum_j \rho(j\Delta) x_{k-j}` by FFT convolution — the mean squared error
of the discretised RNN (:func:`discretise`: exactly, :math:`A = e^{W\Delta}`, or by Euler,
:math:`A = I + \Delta W`; :math:`h_k = A h_{k-1} + U x_k`, :math:`\hat y_k = \Delta c^\top h_k`)
tends to J as Δ → 0 and the data grow.

Example:
    >>> kernel = exponential_sum([1.0], [1.0])
    >>> s, w = quadrature(kernel.horizon)
    >>> round(float(np.sum(w * kernel(s) ** 2)), 12)   # ∫ e^{-2s} ds = 1/2
    0.5
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from numpy.polynomial.legendre import leggauss
from scipy import linalg, signal, special

from bends.errors import BendsError
from bends.training.loop import descend, every
from bends.training.targets import target

Kind = Literal["diagonal", "complex", "full"]
#: Stability margin ε of the full parameterisation.
FULL_MARGIN = 1e-2
#: Quadrature: Gauss–Legendre nodes per interval, and where unit intervals give way to doubling.
NODES, UNIT_SPAN = 16, 64.0


@dataclass(frozen=True)
class Kernel:
    """A target kernel ρ(s), s ≥ 0, and a horizon beyond which ρ² integrates to < ~1e-12."""

    name: str
    function: Callable[[np.ndarray], np.ndarray]
    horizon: float

    def __call__(self, s) -> np.ndarray:
        return self.function(np.asarray(s, dtype=np.float64))


def exponential_sum(weights: Sequence[float], rates: Sequence[float]) -> Kernel:
    """:math:`\\sum_i a_i e^{-\\mu_i s}` with rates μ_i > 0 (no plateau: short memory)."""
    a, mu = np.asarray(weights, dtype=np.float64), np.asarray(rates, dtype=np.float64)
    if a.shape != mu.shape or a.ndim != 1 or not np.all(mu > 0):
        raise BendsError("an exponential sum needs as many weights as positive rates")
    return Kernel(
        f"exp-sum({len(a)})",
        lambda s: np.exp(-np.multiply.outer(s, mu)) @ a,
        30.0 / mu.min(),
    )


def polynomial_decay(omega: float) -> Kernel:
    """:math:`(1 + s)^{-(1+\\omega)}`: memory that outlasts every exponential; smaller ω, longer."""
    if omega <= 0:
        raise BendsError(f"omega must be positive, got {omega}")
    # ∫_T^∞ (1+s)^{-2-2ω} ds = (1+T)^{-1-2ω}/(1+2ω) < 1e-12 beyond this T.
    horizon = (1e12 / (1 + 2 * omega)) ** (1 / (1 + 2 * omega))
    return Kernel(f"poly({omega:g})", lambda s: (1.0 + s) ** (-1.0 - omega), horizon)


def airy(scale: float = 1.0, shift: float = 6.0) -> Kernel:
    """:math:`\\mathrm{Ai}(s_0 (s - t_0))`: oscillates for s < t₀, so a larger t₀ means more
    memory (the paper's parameters are unverified; public follow-up code uses Ai(s − 6))."""
    if scale <= 0:
        raise BendsError(f"scale must be positive, got {scale}")
    return Kernel(
        f"airy({scale:g}, {shift:g})",
        lambda s: special.airy(scale * (s - shift))[0],
        shift + 20.0 / scale,
    )


def plateau_kernel(omega: float, width: float = 1.0) -> Kernel:
    """:math:`e^{-s} + e^{-((s - 1/\\omega)/\\text{width})^2}`: the plateau family ρ_ω."""
    if omega <= 0 or width <= 0:
        raise BendsError("omega and width must be positive")
    delay = 1.0 / omega
    return Kernel(
        f"plateau({omega:g})",
        lambda s: np.exp(-s) + np.exp(-(((s - delay) / width) ** 2)),
        max(40.0, delay + 8.0 * width),
    )


def user_kernel(expression: str, horizon: float, **constants: float) -> Kernel:
    """ρ(s) from a safe NumPy expression in ``s`` and the named ``constants`` (see
    :mod:`bends.training.targets`), e.g. ``user_kernel("exp(-omega * s)", 60, omega=0.5)``."""
    if horizon <= 0:
        raise BendsError("horizon must be positive")
    return Kernel(expression, target(expression, variable="s", constants=constants), horizon)


def bump_energy(width: float = 1.0) -> float:
    """:math:`\\int_{\\mathbb R} e^{-2(s/\\text{width})^2} ds`: the loss of a model that has learned
    e^{−s} but none of the plateau family's bump (the plateau's level, for long delays)."""
    return float(width * np.sqrt(np.pi / 2))


def quadrature(horizon: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of composite Gauss–Legendre on [0, horizon] (module docstring)."""
    edges = list(np.arange(0.0, min(horizon, UNIT_SPAN) + 1.0))
    while edges[-1] < horizon:
        edges.append(2.0 * edges[-1])
    x, w = leggauss(NODES)
    a, b = np.array(edges[:-1])[:, None], np.array(edges[1:])[:, None]
    return ((b - a) / 2 * x + (a + b) / 2).ravel(), ((b - a) / 2 * w).ravel()


def exponential_sum_loss(p, lam, a, mu) -> float:
    """J for the kernel :math:`\\sum_i p_i e^{-\\lambda_i s}` against :math:`\\sum_j a_j
    e^{-\\mu_j s}`: :math:`\\int_0^\\infty e^{-(\\alpha+\\beta)s} ds = 1/(\\alpha + \\beta)`."""
    p, lam, a, mu = (np.asarray(v, dtype=np.float64) for v in (p, lam, a, mu))

    def gram(x, rx, y, ry):
        return float(x @ (1.0 / np.add.outer(rx, ry)) @ y)

    return gram(p, lam, p, lam) - 2 * gram(p, lam, a, mu) + gram(a, mu, a, mu)


# --- the model -------------------------------------------------------------------------------


def init_parameters(kind: Kind, width: int, seeds: Sequence[int], scale: float = 0.5):
    """Parameters of len(seeds) models (leading axis), each drawn from its own seed: log-rates
    θ ~ N(0, scale²) (diagonal; complex: one per block, with frequencies φ ~ N(0, scale²)) or
    A, B ~ N(0, scale²/width) (full), and c, U ~ N(0, scale²/width)."""
    if width < 1:
        raise BendsError(f"width must be positive, got {width}")
    if kind not in ("diagonal", "complex", "full"):
        raise BendsError(f"kind must be diagonal, complex or full, got {kind!r}")
    if kind == "complex" and width % 2:
        raise BendsError(f"a complex-diagonal model has an even width, got {width}")
    draws = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        if kind == "diagonal":
            recurrent = {"theta": rng.normal(0.0, scale, width)}
        elif kind == "complex":
            recurrent = {"theta": rng.normal(0.0, scale, width // 2),
                         "phi": rng.normal(0.0, scale, width // 2)}  # fmt: skip
        else:
            spread = scale / np.sqrt(width)
            recurrent = {"a": rng.normal(0.0, spread, (width, width)),
                         "b": rng.normal(0.0, spread, (width, width))}  # fmt: skip
        readout = rng.normal(0.0, scale / np.sqrt(width), (2, width))
        draws.append({**recurrent, "c": readout[0], "u": readout[1]})
    return {
        name: torch.tensor(np.stack([d[name] for d in draws]), requires_grad=True)
        for name in draws[0]
    }


def recurrence(parameters) -> torch.Tensor:
    """W (models, m, m) from either parameterisation (module docstring)."""
    if "phi" in parameters:
        rates, phi = torch.exp(parameters["theta"]), parameters["phi"]
        blocks = torch.stack([torch.stack([-rates, phi], -1), torch.stack([-phi, -rates], -1)], -2)
        return torch.func.vmap(lambda b: torch.block_diag(*b))(blocks)
    if "theta" in parameters:
        return torch.diag_embed(-torch.exp(parameters["theta"]))
    a, b = parameters["a"], parameters["b"]
    eye = torch.eye(a.shape[-1], dtype=a.dtype)
    return a - a.transpose(-1, -2) - b @ b.transpose(-1, -2) - FULL_MARGIN * eye


def model_kernel(parameters, s: torch.Tensor) -> torch.Tensor:
    """:math:`\\hat\\rho(s) = c^\\top e^{Ws} U` at nodes s: (models, len(s))."""
    c, u = parameters["c"], parameters["u"]
    if "phi" in parameters:  # pairs (2k, 2k + 1) of c and u belong to block k
        c, u = c.unflatten(-1, (-1, 2)), u.unflatten(-1, (-1, 2))
        alpha = (c * u).sum(-1)
        beta = c[..., 0] * u[..., 1] - c[..., 1] * u[..., 0]
        decay = torch.exp(-torch.exp(parameters["theta"])[:, :, None] * s)
        angle = parameters["phi"][:, :, None] * s
        return torch.einsum("mk,mkn->mn", alpha, decay * torch.cos(angle)) + torch.einsum(
            "mk,mkn->mn", beta, decay * torch.sin(angle)
        )
    if "theta" in parameters:
        rates = torch.exp(parameters["theta"])
        return torch.einsum("mi,min->mn", c * u, torch.exp(-rates[:, :, None] * s))
    w = recurrence(parameters)
    flows = torch.linalg.matrix_exp(w[:, None] * s[None, :, None, None])
    return torch.einsum("mi,mnij,mj->mn", c, flows, u)


def projected_fit(kernel: Kernel, log_rates: np.ndarray, nodes=None) -> tuple[float, np.ndarray]:
    r"""The diagonal model's best J from ``log_rates`` on, by variable projection: for fixed
    rates λ the kernel :math:`\sum_i a_i e^{-\lambda_i s}` is linear in a, so the optimal a
    is a weighted least-squares solve; L-BFGS (SciPy) then moves log λ on the projected loss.
    A check of an optimiser's floor: started at Adam's end it can only go lower. Returns
    (J, log λ).

    Example:
        >>> kernel = exponential_sum([1.0, 0.5], [1.0, 3.0])
        >>> loss, _ = projected_fit(kernel, np.log([0.7, 2.0]))
        >>> bool(loss < 1e-12)
        True
    """
    from scipy.optimize import minimize

    s, w = nodes if nodes is not None else quadrature(kernel.horizon)
    root = np.sqrt(w)
    target = kernel(s) * root

    def loss(theta: np.ndarray) -> float:
        basis = np.exp(-np.exp(theta)[None, :] * s[:, None]) * root[:, None]
        coefficients = np.linalg.lstsq(basis, target, rcond=None)[0]
        return float(np.sum((basis @ coefficients - target) ** 2))

    start = np.asarray(log_rates, dtype=np.float64)
    found = minimize(
        loss, start, method="L-BFGS-B", options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 2000}
    )
    best = min((loss(start), start), (float(found.fun), found.x), key=lambda pair: pair[0])
    return best


def white_noise_loss(parameters, kernel: Kernel, nodes=None) -> torch.Tensor:
    """J per model, :math:`\\int_0^\\infty |\\hat\\rho - \\rho|^2` by :func:`quadrature`."""
    s, w = nodes if nodes is not None else quadrature(kernel.horizon)
    target_values = torch.from_numpy(kernel(s))
    residual = model_kernel(parameters, torch.from_numpy(s)) - target_values
    return (residual**2 * torch.from_numpy(w)).sum(dim=-1)


def as_arrays(parameters, model: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(W, U, c) of one model as NumPy arrays."""
    with torch.no_grad():
        w = recurrence(parameters)[model].numpy()
        return w, parameters["u"][model].numpy(), parameters["c"][model].numpy()


# --- discretisation and sampled data ---------------------------------------------------------


def discretise(w: np.ndarray, step: float, method: Literal["exact", "euler"] = "exact"):
    """The transition A of :math:`h_k = A h_{k-1} + U x_k`: e^{WΔ} (exact) or I + ΔW (Euler)."""
    if step <= 0:
        raise BendsError(f"step must be positive, got {step}")
    if method == "exact":
        return linalg.expm(w * step)
    if method == "euler":
        return np.eye(len(w)) + step * w
    raise BendsError(f"method must be exact or euler, got {method!r}")


def rnn_outputs(a: np.ndarray, u: np.ndarray, c: np.ndarray, x: np.ndarray, step: float):
    """:math:`\\hat y_k = \\Delta c^\\top h_k` of the discrete RNN on inputs x (samples, length)."""
    h = np.zeros((x.shape[0], len(u)))
    out = np.empty_like(x)
    for k in range(x.shape[1]):
        h = h @ a.T + x[:, k, None] * u
        out[:, k] = step * (h @ c)
    return out


def white_noise(samples: int, length: int, step: float, seed: int) -> np.ndarray:
    """Discretised white noise: i.i.d. N(0, 1/Δ), shape (samples, length)."""
    return np.random.default_rng(seed).standard_normal((samples, length)) / np.sqrt(step)


def target_outputs(kernel: Kernel, x: np.ndarray, step: float) -> np.ndarray:
    """:math:`y_k = \\Delta\\sum_{j \\le k} \\rho(j\\Delta) x_{k-j}` by FFT convolution."""
    samples = kernel(step * np.arange(x.shape[1]))
    return step * signal.fftconvolve(x, samples[None, :], axes=1)[:, : x.shape[1]]


def sampled_mse(prediction: np.ndarray, y: np.ndarray, burn_in: int) -> float:
    """Mean squared error after the first ``burn_in`` steps (the paths start at rest)."""
    return float(np.mean((prediction[:, burn_in:] - y[:, burn_in:]) ** 2))


Activation = Literal["linear", "tanh"]


def init_path_rnn(width: int, seeds: Sequence[int], scale: float = 0.5):
    """Parameters of len(seeds) sampled-path RNNs (:func:`path_rnn_outputs`), each from its own
    seed: an unrestricted W ~ N(0, scale²/width) and c, U ~ N(0, scale²/width)."""
    if width < 1:
        raise BendsError(f"width must be positive, got {width}")
    draws = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        spread = scale / np.sqrt(width)
        draws.append({"w": rng.normal(0.0, spread, (width, width)),
                      "c": rng.normal(0.0, spread, width),
                      "u": rng.normal(0.0, spread, width)})  # fmt: skip
    return {
        name: torch.tensor(np.stack([d[name] for d in draws]), requires_grad=True)
        for name in draws[0]
    }


def path_rnn_outputs(parameters, x: torch.Tensor, step: float, activation: Activation):
    r"""Outputs (models, samples, length) of the residual RNN
    :math:`h_k = h_{k-1} + \Delta\,\sigma(W h_{k-1} + U x_k)`, :math:`\hat y_k = c^\top h_k`,
    on input paths x (samples, length), from rest. With σ the identity this is the Euler
    discretisation of :math:`\dot h = Wh + Ux` (:func:`discretise`); W is not constrained to be
    stable (the paper's Figure 4 setting)."""
    if activation not in ("linear", "tanh"):
        raise BendsError(f"activation must be linear or tanh, got {activation!r}")
    w, u, c = parameters["w"], parameters["u"], parameters["c"]
    h = torch.zeros(w.shape[0], x.shape[0], w.shape[-1], dtype=w.dtype)
    outputs = []
    for k in range(x.shape[1]):
        drive = h @ w.transpose(-1, -2) + x[None, :, k, None] * u[:, None, :]
        h = h + step * (torch.tanh(drive) if activation == "tanh" else drive)
        outputs.append(h @ c[:, :, None])
    return torch.cat(outputs, dim=-1)


def sampled_plateau_level(kernel: Kernel, length: int, step: float) -> float:
    r"""The expected MSE, over paths of ``length`` steps of white noise from rest, of a model
    that has learned the plateau family's e^{−s} and none of its bump:
    :math:`\frac1L\sum_{k<L} \Delta \sum_{j \le k} \rho_0(j\Delta - 1/\omega)^2`
    (the bump energy :func:`bump_energy`, cut off where a path is shorter than the delay)."""
    s = step * np.arange(length)
    bump = kernel(s) - np.exp(-s)
    return float(np.mean(step * np.cumsum(bump**2)))


def family_kernel(family: str, omega: float, expression: str = "", horizon: float = 1.0) -> Kernel:
    """The kernel of ``family`` with memory parameter ω: ``exponential`` e^{−ωs}/(1+s),
    ``polynomial`` (1+s)^{−(1+ω)}; ``expression``: the user's kernel in s and omega, integrated
    up to ``horizon``."""
    if family == "polynomial":
        return polynomial_decay(omega)
    if family == "expression":
        return user_kernel(expression, horizon, omega=omega)
    return Kernel(f"exp({omega:g})", lambda s: np.exp(-omega * s) / (1.0 + s), 40.0 / omega + 40.0)


# --- training curves -------------------------------------------------------------------------


def train(
    parameters,
    losses: Callable[[], torch.Tensor],
    trainer: Literal["gd", "adam"],
    lr: float,
    steps: int,
    record_every: int = 1,
) -> np.ndarray:
    """Full-batch GD or Adam (:func:`bends.training.loop.descend`) on the summed per-model
    ``losses()``; the (models, records) loss curve (entry r is the loss before step
    r · record_every, the last the loss after the final step)."""
    tensors = list(parameters.values())
    return descend(tensors, losses, steps, lr, trainer, record=every(steps, record_every)).curve


def hitting_index(curve: np.ndarray, threshold: float) -> int | None:
    """The first index where ``curve`` ≤ threshold (None if never)."""
    below = np.flatnonzero(curve <= threshold)
    return int(below[0]) if below.size else None


@dataclass(frozen=True)
class Plateau:
    """A stretch of records where the loss stalled before it fell again."""

    start: int
    length: int
    level: float


def longest_plateau(curve: np.ndarray, window: int, tol: float = 0.01, drop: float = 0.1):
    """The longest stall of training: a run of at least ``window`` records r over which the
    best loss so far improves by less than ``tol`` (relative) within ``window`` records, and
    after which it still falls below (1 − drop) times its level — a plateau, not the end of
    training. The best-so-far curve ignores the optimiser's spikes. None if there is none."""
    best_so_far = np.minimum.accumulate(np.asarray(curve, dtype=np.float64))
    if len(best_so_far) <= window:
        return None
    stalled = np.append(best_so_far[window:] > (1.0 - tol) * best_so_far[:-window], False)
    best = None
    run_start = None
    for r, on in enumerate(stalled):
        if on and run_start is None:
            run_start = r
        elif not on and run_start is not None:
            level = float(best_so_far[run_start])
            escaped = best_so_far[-1] < (1.0 - drop) * level
            long_enough = r - run_start >= window
            if escaped and long_enough and (best is None or r - run_start > best.length):
                best = Plateau(run_start, r - run_start, level)
            run_start = None
    return best
