"""Conversion between bends networks and ``torch.nn.Sequential`` of Linear and ReLU.

Example:
    >>> import torch
    >>> seq = torch.nn.Sequential(torch.nn.Linear(1, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    >>> net = from_torch(seq)
    >>> net.widths
    [3]
    >>> torch.allclose(to_torch(net)(torch.ones(1, dtype=torch.float64)),
    ...                seq.double()(torch.ones(1, dtype=torch.float64)))
    True
"""

from __future__ import annotations

import pickle
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bends._atomic import replaced
from bends.errors import AssumptionWarning, BendsError
from bends.nets.networks import MLP, Network, TiedRNN


def is_plain_mlp(module: nn.Module) -> bool:
    """Whether ``module`` is nn.Sequential(Linear, ReLU, …, Linear): bends' fast MLP path."""
    layers = list(module) if isinstance(module, nn.Sequential) else []
    return (
        len(layers) % 2 == 1
        and all(isinstance(m, nn.Linear) for m in layers[0::2])
        and all(type(m) is nn.ReLU for m in layers[1::2])
    )


def from_torch(module: nn.Sequential) -> MLP:
    """Read Linear → ReLU → … → Linear (no ReLU at the end) into an MLP."""
    if not isinstance(module, nn.Sequential):
        raise BendsError(f"expected nn.Sequential, got {type(module).__name__}")
    layers = list(module)
    linears = layers[0::2]
    relus = layers[1::2]
    if (
        not layers
        or len(layers) % 2 == 0
        or not all(isinstance(m, nn.Linear) for m in linears)
        or not all(isinstance(m, nn.ReLU) for m in relus)
    ):
        raise BendsError("expected nn.Sequential(Linear, ReLU, Linear, ..., ReLU, Linear)")
    return MLP.from_layers([_linear_arrays(m.weight, m.bias) for m in linears])


def _linear_arrays(weight: torch.Tensor, bias: torch.Tensor | None) -> tuple:
    if weight.is_complex() or (bias is not None and bias.is_complex()):
        raise BendsError("a Linear layer has complex weights: a network's weights are real")
    w = weight.detach().to("cpu", torch.float64).numpy()
    b = np.zeros(w.shape[0]) if bias is None else bias.detach().to("cpu", torch.float64).numpy()
    return w, b


def to_torch(net: Network, dtype: torch.dtype = torch.float64) -> nn.Sequential:
    """The network as ``nn.Sequential`` (a tied RNN is unrolled: k Linear layers sharing W)."""
    if not isinstance(net, MLP | TiedRNN):
        raise TypeError(f"net must be a bends MLP or TiedRNN, got {type(net).__name__}")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    if isinstance(net, TiedRNN):
        tied = nn.Linear(net.width, net.width, bias=False, dtype=dtype)
        with torch.no_grad():
            tied.weight.copy_(torch.tensor(net.weight))
        readout = nn.Linear(net.width, 1, bias=False, dtype=dtype)
        with torch.no_grad():
            readout.weight.copy_(torch.tensor(net.readout()[0]))
        return nn.Sequential(*[m for _ in range(net.steps) for m in (tied, nn.ReLU())], readout)
    modules: list[nn.Module] = []
    for i, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        linear = nn.Linear(w.shape[1], w.shape[0], dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.tensor(w))
            linear.bias.copy_(torch.tensor(b))
        modules.append(linear)
        if i < len(net.weights) - 1:
            modules.append(nn.ReLU())
    return nn.Sequential(*modules)


_KEY = re.compile(r"^(\d+)\.(weight|bias)$")
#: Where checkpoint dicts keep the state_dict.
CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model", "net", "network", "weights")


def from_state_dict(state: dict[str, torch.Tensor]) -> MLP:
    """Build from the state_dict of an nn.Sequential of Linear/ReLU (keys ``"0.weight"``, ...,
    possibly all under one prefix such as ``"body."`` or ``"module."``).

    Activations have no parameters, so a state_dict cannot tell ReLU from Tanh: ReLU after
    every Linear but the last is assumed, and an :class:`~bends.errors.AssumptionWarning`
    says so. :func:`from_torch` on the module checks the types.
    """
    if not isinstance(state, dict) or not state:
        raise BendsError("expected a non-empty state_dict (a dict of tensors)")
    state = _unprefixed(state)
    params: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        match = _KEY.match(str(key))
        if match is None or not isinstance(value, torch.Tensor):
            raise BendsError(
                f"unexpected state_dict entry {key!r}: expected keys like '0.weight', '2.bias' "
                "of an nn.Sequential of Linear and ReLU"
            )
        if value.is_complex() or value.is_sparse:
            raise BendsError(f"state_dict entry {key!r} is a complex or sparse tensor")
        params.setdefault(int(match.group(1)), {})[match.group(2)] = value
    layers = []
    for index in sorted(params):
        entry = params[index]
        if "weight" not in entry or entry["weight"].ndim != 2:
            raise BendsError(f"module {index} has no 2-D 'weight': not a Linear layer")
        layers.append(_linear_arrays(entry["weight"], entry.get("bias")))
    if len(layers) > 1:
        warnings.warn(
            "assuming ReLU between the Linear layers (a state_dict does not store activations; "
            "trace the module itself to check them)",
            AssumptionWarning,
            stacklevel=2,
        )
    return MLP.from_layers(layers)


def _unprefixed(state: dict) -> dict:
    """The state_dict with a prefix that every key shares (``body.``, ``module.``) removed."""
    prefixes = {str(key).rsplit(".", 2)[0] if str(key).count(".") >= 2 else "" for key in state}
    if len(prefixes) == 1 and (prefix := prefixes.pop()):
        return {str(key)[len(prefix) + 1 :]: value for key, value in state.items()}
    return state


def _weights(loaded: Any, path: Path) -> dict:
    """The state_dict in what torch.load returned: itself, or inside a checkpoint dict."""
    if (
        isinstance(loaded, dict)
        and loaded
        and all(isinstance(v, torch.Tensor) for v in loaded.values())
    ):
        return loaded
    if isinstance(loaded, dict):
        for key in CHECKPOINT_KEYS:
            inner = loaded.get(key)
            if (
                isinstance(inner, dict)
                and inner
                and all(isinstance(v, torch.Tensor) for v in inner.values())
            ):
                return inner
        keys = ", ".join(map(str, list(loaded)[:8]))
        raise BendsError(f"{path} holds a dict without a state_dict in it (keys: {keys})")
    raise BendsError(f"{path} holds a {type(loaded).__name__}, not a state_dict")


def load_state_dict(path: Path) -> MLP:
    """Load a state_dict (or a checkpoint dict holding one) with ``weights_only=True``: no
    code is ever unpickled."""
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "GLOBAL" in str(err) or "global" in str(err):
            raise BendsError(
                f"{path} holds a pickled model object, which bends never unpickles: save its "
                "weights with torch.save(model.state_dict(), path), or give the module to "
                "bends.trace in Python"
            ) from None
        raise BendsError(
            f"{path} is not a PyTorch file that loads with weights_only=True"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError):
        raise BendsError(
            f"{path} is not a PyTorch state_dict that loads with weights_only=True"
        ) from None
    return from_state_dict(_weights(loaded, path))


def save_state_dict(net: Network, path: Path) -> None:
    with replaced(path) as partial:
        torch.save(to_torch(net).state_dict(), partial)
