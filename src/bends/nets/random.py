r"""Random networks at initialisation, drawn with NumPy from a seed.

* ``init="torch"``: PyTorch's default ``nn.Linear`` initialisation, weights and biases
  uniform on :math:`\pm 1/\sqrt{\text{fan\_in}}` (kaiming-uniform with a = √5);
* ``init="he"``: He-normal weights :math:`N(0, 2/\text{fan\_in})`, zero biases;
* ``init="he-bias"``: He-normal weights with PyTorch's default biases (uniform on
  :math:`\pm 1/\sqrt{\text{fan\_in}}`), so that only the weight law differs from ``torch``
  (zero biases put every breakpoint of a 1-D input network at x = 0);
* ``init="hanin-rolnick"``: He-normal weights and biases :math:`N(0, 10^{-6})` (sd 10⁻³), the
  initialisation of Hanin & Rolnick's experiments (ICML 2019, §3: small biases keep regions
  from collapsing, as they would with all biases 0). The network is then nearly positively
  homogeneous: along a line through the origin its breakpoints crowd near it (a first
  layer's within ~10⁻² of it, measured at width 16);
* tied RNNs: W with standard normal entries (the conjecture's initialisation).

Example:
    >>> net = random_mlp([2, 8, 8, 1], seed=0)
    >>> [w.shape for w in net.weights]
    [(8, 2), (8, 8), (1, 8)]
    >>> random_rnn(4, steps=10, seed=0).weight.shape
    (4, 4)
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Literal

import numpy as np

from bends.errors import BendsError
from bends.nets.networks import MLP, TiedRNN

Init = Literal["torch", "he", "he-bias", "hanin-rolnick"]
#: An integer seed or a NumPy Generator (draws continue from its state).
Seed = int | np.random.Generator


def random_mlp(widths: Sequence[int], seed: Seed, init: Init = "torch") -> MLP:
    """An MLP with layer widths ``widths`` (input first, output last) drawn from ``seed``."""
    if len(widths) < 2 or any(w < 1 for w in widths):
        raise BendsError(f"widths must be at least two positive sizes, got {list(widths)}")
    rng = np.random.default_rng(seed)
    weights, biases = [], []
    for fan_in, fan_out in itertools.pairwise(widths):
        if init == "torch":
            bound = 1.0 / np.sqrt(fan_in)
            weights.append(rng.uniform(-bound, bound, size=(fan_out, fan_in)))
            biases.append(rng.uniform(-bound, bound, size=fan_out))
        elif init in ("he", "he-bias", "hanin-rolnick"):
            weights.append(rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_out, fan_in)))
            bound = 1.0 / np.sqrt(fan_in)
            biases.append(
                rng.uniform(-bound, bound, size=fan_out) if init == "he-bias"
                else rng.normal(0.0, 1e-3, size=fan_out) if init == "hanin-rolnick"
                else np.zeros(fan_out)
            )  # fmt: skip
        else:
            raise BendsError(
                f"unknown initialisation {init!r}; use torch, he, he-bias or hanin-rolnick"
            )
    return MLP(tuple(weights), tuple(biases))


def rai_mlp(widths: Sequence[int], seed: Seed) -> MLP:
    """Randomized asymmetric initialisation (RAI, Lu et al. 2019, arXiv 1903.06733).

    Each neuron's weights and bias [w | b] are drawn from N(0, 0.6007²/fan_in); then one of
    its fan_in + 1 entries, chosen uniformly, is replaced by a Beta(2, 1) sample, so that
    every neuron starts with a positive push away from dying. (RAAI, Singh & Sreejith 2021,
    adds anti-correlation between a neuron's weights; its exact covariance is not known to us,
    so this is RAI, the distribution RAAI builds on.)
    """
    rng = np.random.default_rng(seed)
    weights, biases = [], []
    for fan_in, fan_out in itertools.pairwise(widths):
        entries = rng.normal(0.0, 0.6007 / np.sqrt(fan_in), size=(fan_out, fan_in + 1))
        chosen = rng.integers(0, fan_in + 1, size=fan_out)
        entries[np.arange(fan_out), chosen] = rng.beta(2.0, 1.0, size=fan_out)
        weights.append(entries[:, :fan_in])
        biases.append(entries[:, fan_in])
    return MLP(tuple(weights), tuple(biases))


def random_rnn(width: int, steps: int, seed: Seed, output: int = 0) -> TiedRNN:
    """A tied RNN whose W has standard normal entries, drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    return TiedRNN(rng.standard_normal((width, width)), steps, output)


def random_direction(dim: int, seed: Seed) -> np.ndarray:
    """A uniformly random unit vector of R^dim."""
    direction = np.random.default_rng(seed).standard_normal(dim)
    return direction / np.linalg.norm(direction)
