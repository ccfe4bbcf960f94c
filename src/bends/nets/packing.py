"""The packed layout of an MLP's parameters: one row [W_1, b_1, W_2, b_2, …] (W row-major).

One layout for NumPy arrays and torch tensors alike (the constructions build NumPy networks
from it; the trainers differentiate through it), with any leading batch axes.

Example:
    >>> import numpy as np
    >>> layers = unpack(np.arange(7.0), [1, 2, 1])
    >>> [w.tolist() for w, _ in layers], layers[1][1].tolist()
    ([[[0.0], [1.0]], [[4.0, 5.0]]], [6.0])
    >>> pack(layers).tolist() == list(range(7))
    True
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np

from bends.errors import BendsError


def array_namespace(x: Any) -> ModuleType:
    """``torch`` for a torch tensor, else ``numpy`` (torch is imported only if x is one)."""
    if type(x).__module__.startswith("torch"):
        import torch

        return torch
    return np


def pack(layers: Sequence[tuple[Any, Any]]) -> Any:
    """``(W, b)`` layers with batch axes (..., out, in) and (..., out) as one (..., P) array."""
    batch = tuple(layers[0][0].shape[:-2])
    parts = [a.reshape(*batch, -1) for layer in layers for a in layer]
    return array_namespace(parts[0]).concatenate(parts, -1)


def unpack(flat: Any, widths: Sequence[int]) -> list[tuple[Any, Any]]:
    """The layers of a packed (..., P) array, as views into it (inverse of :func:`pack`)."""
    batch, layers, start = tuple(flat.shape[:-1]), [], 0
    for fan_in, fan_out in itertools.pairwise(widths):
        weight = flat[..., start : start + fan_out * fan_in].reshape(*batch, fan_out, fan_in)
        start += fan_out * fan_in
        layers.append((weight, flat[..., start : start + fan_out]))
        start += fan_out
    if start != flat.shape[-1]:
        raise BendsError(
            f"{flat.shape[-1]} packed parameters do not fit layers of widths {list(widths)}"
        )
    return layers
