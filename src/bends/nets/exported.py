"""Programs saved by ``torch.export`` as graphs of the functions bends knows
(:mod:`bends.nets.rules`): aten operators replaced by those functions, in-place operators made
functional, pools and norms that return several tensors made to return their values, and
reshapes that a batch-of-one export fixed made to keep the batch axis (bends' knot axis).

Example:
    >>> import torch
    >>> program = torch.export.export(torch.nn.Sequential(torch.nn.Linear(2, 3),
    ...                               torch.nn.ReLU()), (torch.zeros(1, 2),))
    >>> [n.target.__name__ for n in normalised(functional(program).module()).graph.nodes
    ...  if n.op == "call_function"]
    ['linear', 'relu']
"""

from __future__ import annotations

import operator
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx

from bends.errors import BendsError
from bends.nets.rules import batch_norm, batch_reshape, narrow, prelu


def _aten_table() -> dict[Any, Any]:
    """aten operators (as in ``torch.export`` graphs) and the functions bends knows them as."""
    aten = torch.ops.aten
    pairs = {
        "linear.default": F.linear, "conv1d.default": F.conv1d, "conv2d.default": F.conv2d,
        "conv3d.default": F.conv3d, "batch_norm.default": batch_norm,
        "relu.default": torch.relu, "relu_.default": torch.relu, "prelu.default": prelu,
        "leaky_relu.default": F.leaky_relu, "leaky_relu_.default": F.leaky_relu,
        "hardtanh_.default": F.hardtanh, "add_.Tensor": operator.add, "stack.default": torch.stack,
        "hardtanh.default": F.hardtanh, "relu6.default": F.relu6, "abs.default": torch.abs,
        "clamp.default": torch.clamp, "maximum.default": torch.maximum,
        "minimum.default": torch.minimum, "max_pool1d.default": F.max_pool1d,
        "max_pool2d.default": F.max_pool2d, "max_pool3d.default": F.max_pool3d,
        "avg_pool1d.default": F.avg_pool1d, "avg_pool2d.default": F.avg_pool2d,
        "avg_pool3d.default": F.avg_pool3d, "adaptive_avg_pool1d.default": F.adaptive_avg_pool1d,
        "adaptive_avg_pool2d.default": F.adaptive_avg_pool2d, "flatten.using_ints": torch.flatten,
        "view.default": torch.reshape, "reshape.default": torch.reshape,
        "_unsafe_view.default": torch.reshape, "permute.default": torch.permute,
        "transpose.int": torch.transpose, "squeeze.dim": torch.squeeze,
        "unsqueeze.default": torch.unsqueeze, "add.Tensor": operator.add,
        "sub.Tensor": operator.sub, "mul.Tensor": operator.mul, "div.Tensor": operator.truediv,
        "neg.default": operator.neg, "cat.default": torch.cat, "mean.dim": torch.mean,
        "sum.dim_IntList": torch.sum, "slice.Tensor": narrow, "dropout.default": F.dropout,
        "clone.default": torch.clone, "contiguous.default": torch.clone,
    }  # fmt: skip
    table = {}
    for name, function in pairs.items():
        packet, _, overload = name.partition(".")
        if hasattr(aten, packet) and hasattr(getattr(aten, packet), overload):
            table[getattr(getattr(aten, packet), overload)] = function
    return table


#: aten's pools that return (values, indices), and the function of their values alone.
_POOLS_WITH_INDICES = {
    "adaptive_max_pool1d.default": F.adaptive_max_pool1d,
    "adaptive_max_pool2d.default": F.adaptive_max_pool2d,
    "adaptive_max_pool3d.default": F.adaptive_max_pool3d,
    "max_pool2d_with_indices.default": F.max_pool2d,
    "max_pool3d_with_indices.default": F.max_pool3d,
}
#: BatchNorm in eval mode as a functionalised program writes it (it returns statistics too).
_NATIVE_NORM = "_native_batch_norm_legit_no_training.default"
#: aten's reshapes, whose sizes an export from one example input fixes.
_RESHAPES = ("view.default", "reshape.default", "_unsafe_view.default")


def _aten(node: fx.Node, names) -> bool:
    """Whether ``node`` calls one of the aten operators ``names`` ("view.default", …)."""
    name = getattr(node.target, "_overloadname", None)
    packet = getattr(getattr(node.target, "overloadpacket", None), "__name__", None)
    return node.op == "call_function" and f"{packet}.{name}" in names


def _first_output(graph: fx.GraphModule, node: fx.Node) -> None:
    """An operator returning (values, indices) or (values, statistics) made to return its
    values, read where its ``[0]`` was; its other outputs are refused where used."""
    for unused in [u for u in node.users if u.target is operator.getitem and not u.users]:
        graph.graph.erase_node(unused)
    users = list(node.users)
    if any(u.target is not operator.getitem or u.args[1] != 0 for u in users):
        raise BendsError(f"`{node.name}` uses a pool's indices or a norm's statistics: not "
                         "piecewise linear")  # fmt: skip
    for user in users:
        user.replace_all_uses_with(node)
        graph.graph.erase_node(user)
    if isinstance(node.meta.get("val"), tuple | list):
        node.meta["val"] = node.meta["val"][0]
    names = f"{node.target.overloadpacket.__name__}.{node.target._overloadname}"
    if names == _NATIVE_NORM:  # (x, weight, bias, mean, var, momentum, eps)
        x, weight, bias, mean, var, momentum, eps = node.args
        node.target, node.args = batch_norm, (x, weight, bias, mean, var, False, momentum, eps)
    else:
        node.target = _POOLS_WITH_INDICES[names]


def _keep_batch(node: fx.Node, batch: int) -> None:
    """A reshape whose sizes start with the exported example's batch made a
    :func:`~bends.nets.rules.batch_reshape` (its batch is the knots'), read from the shapes
    the export recorded."""
    source, shape = node.args[0], node.args[1]
    values = [getattr(n, "meta", {}).get("val") for n in (source, node)]
    if not all(isinstance(v, torch.Tensor) for v in values) or not isinstance(shape, list | tuple):
        return
    if shape and shape[0] == batch and values[0].shape[0] == batch == values[1].shape[0]:
        node.target = batch_reshape
        node.args = (source, [int(n) for n in values[1].shape[1:]])


def normalised(graph: fx.GraphModule) -> fx.GraphModule:
    """An exported (aten) graph with its operators replaced by the functions above, the
    export's guard modules dropped, ``add``/``sub`` with ``alpha`` refused, pools returning
    indices made to return values, and reshapes fixed to the example's batch made to keep
    the batch axis."""
    table = _aten_table()
    placeholders = [n for n in graph.graph.nodes if n.op == "placeholder"]
    example = placeholders[0].meta.get("val") if placeholders else None
    batch = example.shape[0] if example is not None and example.dim() else None
    for node in list(graph.graph.nodes):
        if _aten(node, {*_POOLS_WITH_INDICES, _NATIVE_NORM}):
            _first_output(graph, node)
        elif _aten(node, _RESHAPES) and isinstance(batch, int):
            _keep_batch(node, batch)
        if node.op == "call_module" and node.target.startswith("_guards"):
            graph.graph.erase_node(node)
        elif node.op == "call_function" and node.target in table:
            if node.kwargs.get("alpha", 1) != 1:
                raise BendsError(f"`{node.name}` adds with alpha: not supported")
            node.target = table[node.target]
            node.kwargs = {k: v for k, v in node.kwargs.items() if k != "alpha"}
    graph.recompile()
    return graph


def functional(program: Any) -> Any:
    """The program with its in-place operators made functional where it has any (``relu_``
    on a slice must change the tensor it slices: functionalised, that is a scatter, which is
    refused by name, not silently dropped)."""
    graph = program.graph_module.graph
    inplace = any(
        n.op == "call_function" and getattr(n.target, "_schema", None) is not None
        and n.target._schema.is_mutable for n in graph.nodes
    )  # fmt: skip
    return program.run_decompositions({}) if inplace else program
