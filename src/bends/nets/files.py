"""Network files: JSON (format ``bends-network`` version 1) and PyTorch state_dicts (``.pt``).

Example:
    >>> import tempfile, pathlib
    >>> from bends.constructions import sawtooth
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "saw.json"
    >>> save(sawtooth(3), path)
    >>> load(path)
    MLP [1, 2, 2, 2, 1]
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from bends._atomic import replaced
from bends.errors import BendsError
from bends.nets.networks import FORMAT, MLP, VERSION, Network, TiedRNN, _as_float_array


def from_dict(data: Any) -> Network:
    """Validate a ``bends-network`` version 1 document and build the network it describes."""
    if not isinstance(data, dict):
        raise BendsError("a network file must hold a JSON object")
    if data.get("format") != FORMAT:
        raise BendsError(f'"format" must be "{FORMAT}", got {data.get("format")!r}')
    if data.get("version") != VERSION:
        raise BendsError(f'unsupported "version" {data.get("version")!r} (this reads {VERSION})')
    if ("layers" in data) == ("tied" in data):
        raise BendsError('a network file needs exactly one of "layers" and "tied"')
    unknown = set(data) - {"format", "version", "layers", "tied", "segment"}
    if unknown:
        raise BendsError(f"unknown keys: {sorted(unknown)}")
    segment = data.get("segment")
    if segment is not None:
        if not isinstance(segment, dict) or set(segment) != {"start", "end"}:
            raise BendsError('"segment" must be an object with "start" and "end"')
        segment = (segment["start"], segment["end"])
    if "tied" in data:
        tied = data["tied"]
        if not isinstance(tied, dict) or "weight" not in tied or "steps" not in tied:
            raise BendsError('"tied" must be an object with "weight" and "steps"')
        unknown = set(tied) - {"weight", "steps", "output"}
        if unknown:
            raise BendsError(f'unknown keys in "tied": {sorted(unknown)}')
        weight = _matrix(tied["weight"], "tied weight")
        return TiedRNN(weight, tied["steps"], tied.get("output", 0), segment)
    layers = data["layers"]
    if not isinstance(layers, list) or not layers:
        raise BendsError('"layers" must be a non-empty list')
    weights, biases = [], []
    for i, layer in enumerate(layers):
        if not isinstance(layer, dict) or "weight" not in layer:
            raise BendsError(f'layer {i} must be an object with "weight" (and "bias")')
        unknown = set(layer) - {"weight", "bias"}
        if unknown:
            raise BendsError(f"unknown keys in layer {i}: {sorted(unknown)}")
        weight = _matrix(layer["weight"], f"layer {i} weight")
        bias = layer.get("bias", [0.0] * weight.shape[0])
        bias = _as_float_array(bias, f"layer {i} bias", 1)
        if bias.ndim != 1:
            raise BendsError(f"layer {i} bias must be a list of numbers")
        weights.append(weight)
        biases.append(bias)
    return MLP(tuple(weights), tuple(biases), segment)


def _matrix(value: Any, name: str) -> np.ndarray:
    if not isinstance(value, list) or not value or not all(isinstance(r, list) for r in value):
        raise BendsError(f"{name} must be a non-empty list of rows")
    if len({len(r) for r in value}) != 1 or not value[0]:
        raise BendsError(f"{name} rows must all have the same, non-zero length")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for r in value for v in r):
        raise BendsError(f"{name} must contain only numbers")
    return _as_float_array(value, name, 2)


def load(path: str | Path) -> Network:
    """Read a network from a ``bends-network`` JSON file, from a file ``torch.save`` wrote, or
    from a program ``torch.export.save`` wrote (``.pt2``: any piecewise-linear model, as a
    :class:`~bends.nets.graph.GraphNetwork`), recognised by content whatever the suffix, or
    from an ONNX model (``.onnx``, :mod:`bends.nets.onnx_io`).

    A torch file must hold the ``state_dict`` of an ``nn.Sequential`` of Linear (and ReLU)
    layers, possibly under a prefix (``body.0.weight``, ``module.0.weight``) or inside a
    checkpoint dict (``{"model": state_dict, "epoch": 3}``); it is read with
    ``torch.load(weights_only=True)``, so no code is ever unpickled.
    """
    path = Path(path)
    if not path.exists():
        raise BendsError(f"no such file: {path}")
    if not path.is_file():
        raise BendsError(f"not a network file (a directory or device): {path}")
    if path.suffix.lower() == ".onnx":
        from bends.nets.onnx_io import from_onnx_file

        return from_onnx_file(path)
    with path.open("rb") as handle:
        head = handle.read(2)
    if head == b"PK" and _is_exported_program(path):
        return _load_exported(path)
    if head == b"PK" or head[:1] == b"\x80":  # torch.save: a zip archive or a legacy pickle
        from bends.nets.torch_io import load_state_dict

        return load_state_dict(path)
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        if path.suffix in (".pt", ".pth", ".ckpt", ".bin"):
            raise BendsError(f"{path} is not a file torch.save wrote (no state_dict)") from None
        raise BendsError(f"{path} is not valid JSON ({err})") from None
    return from_dict(data)


def _is_exported_program(path: Path) -> bool:
    """Whether a zip archive is what ``torch.export.save`` writes (a .pt2 program)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("models/model.json") for name in archive.namelist())
    except zipfile.BadZipFile:
        return False


def _load_exported(path: Path) -> Any:
    """The graph network of a ``torch.export.save`` file."""
    import torch

    from bends.nets.graph import GraphNetwork

    try:
        program = torch.export.load(path)
    except Exception as err:  # torch raises many kinds for a damaged archive
        raise BendsError(
            f"{path} is not a program torch.export can load ({type(err).__name__})"
        ) from None
    return GraphNetwork.from_exported(program)


def as_network(value: Any, input_shape: tuple[int, ...] | None = None) -> Any:
    """``value`` if it is a bends network; a torch ``nn.Sequential`` of Linear and ReLU as an
    MLP (:func:`bends.from_torch`); any other torch module as a
    :class:`~bends.nets.graph.GraphNetwork` taking inputs of ``input_shape``; a BendsError
    naming what was given otherwise."""
    if isinstance(value, MLP | TiedRNN) or getattr(type(value), "is_graph", False):
        return value
    torch = sys.modules.get("torch")  # a module object means torch is imported already
    if torch is not None and isinstance(value, torch.nn.Module):
        from bends.nets.torch_io import from_torch, is_plain_mlp

        if is_plain_mlp(value):
            return from_torch(value)
        if input_shape is None:
            raise BendsError(
                f"to trace a {type(value).__name__}, give the segment's start and end "
                "(their shape is the module's input shape)"
            )
        from bends.nets.graph import GraphNetwork

        return GraphNetwork.from_module(value, input_shape)
    raise BendsError(
        f"expected a network (bends.MLP, bends.TiedRNN or a torch nn.Module), got "
        f"{type(value).__name__}"
    )


def save(net: Network, path: str | Path) -> None:
    """Write ``net`` as JSON (``.json``) or as an nn.Sequential state_dict (``.pt``)."""
    if not isinstance(net, MLP | TiedRNN):
        raise TypeError(f"net must be a bends MLP or TiedRNN, got {type(net).__name__}")
    path = Path(path)
    if path.suffix in (".pt", ".pth"):
        if isinstance(net, TiedRNN):
            raise BendsError(
                "a tied RNN is saved as .json (W, steps and its segment); a .pt state_dict would "
                "hold k unrolled layers and lose the segment (bends.to_torch(net) gives the module)"
            )
        from bends.nets.torch_io import save_state_dict

        save_state_dict(net, path)
        return
    with replaced(path) as partial:
        partial.write_text(json.dumps(net.to_dict()))
