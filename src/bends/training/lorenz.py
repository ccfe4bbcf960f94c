r"""Lorenz 96 driven by an input signal: a nonlinear sequence task with memory.

.. math:: \dot x_i = (x_{i+1} - x_{i-2})\, x_{i-1} - x_i + F + \sigma\, u(t)\, [i = 0],
          \qquad i = 0, …, K - 1 \text{ (cyclic)},

with F = 8 by default (chaotic). The input u is piecewise constant, :math:`u(t) = u_k` on
:math:`[k\Delta, (k+1)\Delta)` with :math:`u_k \sim N(0, 1)`, and enters the first coordinate
only; the output is one coordinate :math:`x_j` sampled at the step times, the others stay
hidden. Every sequence starts from the *same* state on the attractor (after a burn-in without
input), so the output is a deterministic causal functional of the input; its memory comes from
the hidden coordinates, and a coordinate farther from 0 feels the input later. All sequences
are integrated together as one system by SciPy's ``solve_ivp`` (RK45, steps ≤ Δ).

Example:
    >>> u, y = lorenz96_data(sequences=2, length=5, seed=0)
    >>> u.shape, y.shape
    ((2, 5), (2, 5, 6))
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from bends.errors import BendsError


def lorenz96(x: np.ndarray, forcing: float) -> np.ndarray:
    """The Lorenz 96 vector field for states x of shape (..., K)."""
    return (np.roll(x, -1, -1) - np.roll(x, 2, -1)) * np.roll(x, 1, -1) - x + forcing


def lorenz96_data(
    sequences: int,
    length: int,
    seed: int,
    variables: int = 6,
    forcing: float = 8.0,
    strength: float = 2.0,
    step: float = 0.05,
    burn_in: float = 20.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs u (sequences, length) and all coordinates x (sequences, length, variables),
    x[:, k] being the state at time (k + 1)Δ, after input u_k has acted for one step."""
    if variables < 4:
        raise BendsError(f"Lorenz 96 needs at least 4 variables, got {variables}")
    if sequences < 1 or length < 1 or step <= 0:
        raise BendsError("sequences, length and step must be positive")
    start = forcing + 0.01 * np.eye(variables)[0]
    start = solve_ivp(lambda _, x: lorenz96(x, forcing), (0, burn_in), start, rtol=1e-9).y[:, -1]
    u = np.random.default_rng(seed).standard_normal((sequences, length))

    def field(t: float, flat: np.ndarray) -> np.ndarray:
        x = flat.reshape(sequences, variables)
        dx = lorenz96(x, forcing)
        dx[:, 0] += strength * u[:, min(int(t / step), length - 1)]
        return dx.ravel()

    times = step * np.arange(1, length + 1)
    solution = solve_ivp(
        field,
        (0, times[-1]),
        np.tile(start, sequences),
        t_eval=times,
        max_step=step,
        rtol=1e-7,
        atol=1e-9,
    )
    return u, solution.y.reshape(sequences, variables, length).transpose(0, 2, 1)
