"""Residual MLPs lowered to one compiled program (:mod:`bends.tracing._kernels.program`).

A graph network is lowered when its input is a vector and every node is one of: a Linear
layer (module or ``F.linear``), ReLU or LeakyReLU (module, function or method), the sum of
two vectors (``+``, ``torch.add`` without ``alpha``), or a no-op (``Identity``, ``Dropout`` in
eval mode). Residual LeakyReLU MLPs, the architecture regioncam takes, are such graphs.
Anything else (convolutions, pooling, other kinks) returns None and is traced node by node by
:mod:`bends.tracing._graph.tracer`; both give the same trace (``tests/test_graph_tracer.py``).

Example:
    >>> import torch
    >>> from bends.nets.graph import GraphNetwork
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.LeakyReLU(0.1),
    ...                           torch.nn.Linear(4, 1))
    >>> program = lower(GraphNetwork.from_module(net, (2,)))
    >>> program.ops[:, 0].tolist()  # LINEAR, KINK, LINEAR
    [0, 1, 0]
"""

from __future__ import annotations

import itertools
import operator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn

from bends.budget import check_memory, memory_budget, outgrown
from bends.nets.graph import GraphNetwork
from bends.tracing._kernels.program import ADD, KINK, LINEAR, run_program
from bends.tracing._results.trace import Trace
from bends.tracing.tolerance import MERGE_GAP

_RELU = (F.relu, torch.relu, "relu")
_ADD = (operator.add, torch.add, "add", "__add__")


@dataclass(frozen=True)
class Program:
    """The arguments of :func:`~bends.tracing._kernels.program.run_program` that describe the
    network."""

    ops: np.ndarray  # (instructions, 5): kind, dst, a, b, parameter
    flat_w: np.ndarray
    flat_b: np.ndarray
    w_at: np.ndarray
    b_at: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    alphas: np.ndarray  # per instruction: the negative slope of its kink
    widths: np.ndarray  # per register
    last_use: np.ndarray  # per register: the last instruction that reads it
    output: int

    def __post_init__(self) -> None:
        kinks = self.ops[self.ops[:, 0] == KINK]
        bounds = np.cumsum([0, *(self.widths[kinks[:, 2]])]).tolist()
        object.__setattr__(self, "layers", [slice(lo, hi) for lo, hi in itertools.pairwise(bounds)])
        # values and slopes of every register, old and new arrays at once, per knot
        object.__setattr__(self, "bytes_per_knot", 32.0 * int(self.widths.sum()) + 32)
        object.__setattr__(self, "arguments", (
            self.ops, self.flat_w, self.flat_b, self.w_at, self.b_at, self.rows, self.cols,
            self.alphas, self.widths, self.last_use, self.output,
        ))  # fmt: skip


def lower(net: GraphNetwork) -> Program | None:
    """The program of ``net``, or None when a node is not a Linear, ReLU, LeakyReLU, sum or
    no-op on vectors (see the module docstring)."""
    if len(net.input_shape) != 1 or len(net.output_shape) != 1:
        return None
    graph = net.module
    register: dict[str, int] = {}
    widths: list[int] = []
    ops: list[tuple[int, int, int, int, int]] = []
    alphas: list[float] = []
    layers: list[tuple[np.ndarray, np.ndarray]] = []
    output = None
    for node in graph.graph.nodes:
        if node.op == "get_attr":  # weights, read by the F.linear that uses them
            continue
        if node.op == "placeholder":
            register[node.name] = 0
            widths.append(net.input_shape[0])
            continue
        if node.op == "output":
            result = node.args[0]
            result = result[0] if isinstance(result, tuple | list) and len(result) == 1 else result
            if not isinstance(result, fx.Node) or result.name not in register:
                return None
            output = register[result.name]
            break
        step = _instruction(graph, node, register, widths)
        if step is None:
            return None
        if step == "alias":
            register[node.name] = register[node.args[0].name]
            continue
        kind, a, b, width, extra = step
        dst = len(widths)
        widths.append(width)
        register[node.name] = dst
        parameter = -1
        if kind == LINEAR:
            parameter = len(layers)
            layers.append(extra)
        ops.append((kind, dst, a, b, parameter))
        alphas.append(extra if kind == KINK else 0.0)
    if output is None or not ops:
        return None
    last_use = np.full(len(widths), -1, dtype=np.int64)
    for index, (_, _, a, b, _) in enumerate(ops):
        last_use[a] = index
        if b >= 0:
            last_use[b] = index
    weights = [w for w, _ in layers] or [np.zeros((0, 0))]
    biases = [b for _, b in layers] or [np.zeros(0)]
    rows = np.array([w.shape[0] for w in weights], dtype=np.int64)
    cols = np.array([w.shape[1] for w in weights], dtype=np.int64)
    return Program(
        ops=np.array(ops, dtype=np.int64).reshape(-1, 5),
        flat_w=np.concatenate([w.ravel() for w in weights]).astype(np.float64),
        flat_b=np.concatenate(biases).astype(np.float64),
        w_at=np.concatenate([[0], np.cumsum(rows * cols)]).astype(np.int64),
        b_at=np.concatenate([[0], np.cumsum(rows)]).astype(np.int64),
        rows=rows,
        cols=cols,
        alphas=np.array(alphas, dtype=np.float64),
        widths=np.array(widths, dtype=np.int64),
        last_use=last_use,
        output=output,
    )


def trace_program(
    net: GraphNetwork, program: Program, start, end, zero_tol: float, slope_rtol: float,
    pieces: bool = True,
) -> Trace:  # fmt: skip
    """:func:`bends.trace` of a lowered graph network: one compiled call, then the trace."""
    from bends.tracing._graph.tracer import graph_trace_result

    a = np.ascontiguousarray(start, dtype=np.float64).reshape(-1)
    b = np.ascontiguousarray(end, dtype=np.float64).reshape(-1)
    per_knot, budget = program.bytes_per_knot, memory_budget()
    if 2 * per_knot > budget:
        check_memory(2 * per_knot, f"tracing {net!r}")
    max_knots = int(min(budget / per_knot, 2**62))
    try:
        t, values, slopes, breaks, switches, ever_on, always_on, merged = run_program(
            *program.arguments, a, b, zero_tol, MERGE_GAP, pieces, max_knots
        )
    except MemoryError as err:
        outgrown(err, max_knots, lambda knots: knots * per_knot, lambda: f"tracing {net!r}")
    layers = program.layers
    return graph_trace_result(
        net, a, b, t, values, slopes if pieces else None, breaks,
        [switches[s] for s in layers], [~ever_on[s] for s in layers],
        [always_on[s] for s in layers], int(merged), slope_rtol,
    )  # fmt: skip


def _instruction(graph: fx.GraphModule, node: fx.Node, register: dict, widths: list):
    """(kind, a, b, width, parameters) for one node, "alias" for a no-op, None if the node
    is not lowerable."""
    if node.op == "call_function" and node.target is F.linear:
        return _functional_linear(graph, node, register, widths)
    tensors = [a for a in node.args if isinstance(a, fx.Node)]
    if (
        not tensors
        or any(a.name not in register for a in tensors)
        or node.kwargs.keys() - {"negative_slope", "inplace"}
    ):
        return None  # reads a constant or size node, or has options: the graph tracer's
    if node.op == "call_module":
        module = graph.get_submodule(node.target)
        if isinstance(module, nn.Identity | nn.Dropout) and len(tensors) == 1:
            return "alias"
        if isinstance(module, nn.Linear):
            return _linear(module.weight, module.bias, tensors, register, widths)
        if type(module) is nn.ReLU:
            return KINK, register[tensors[0].name], -1, widths[register[tensors[0].name]], 0.0
        if type(module) is nn.LeakyReLU:
            a = register[tensors[0].name]
            return KINK, a, -1, widths[a], float(module.negative_slope)
        return None
    if node.op not in ("call_function", "call_method"):
        return None
    target = node.target
    if target in _RELU and len(tensors) == 1 and len(node.args) == 1:
        a = register[tensors[0].name]
        return KINK, a, -1, widths[a], 0.0
    if target is F.leaky_relu and len(tensors) == 1:
        slope = node.args[1] if len(node.args) > 1 else node.kwargs.get("negative_slope", 0.01)
        a = register[tensors[0].name]
        return (KINK, a, -1, widths[a], float(slope)) if isinstance(slope, float) else None
    if target in _ADD and len(tensors) == 2 and len(node.args) == 2:
        a, b = register[tensors[0].name], register[tensors[1].name]
        return (ADD, a, b, widths[a], None) if widths[a] == widths[b] else None
    return None


def _functional_linear(graph, node, register, widths):
    """``F.linear(x, weight, bias)`` with weight and bias read from the module."""
    x = node.args[0]
    if not isinstance(x, fx.Node) or x.name not in register:
        return None
    weight = _attribute(graph, node.args[1] if len(node.args) > 1 else node.kwargs.get("weight"))
    bias_arg = node.args[2] if len(node.args) > 2 else node.kwargs.get("bias")
    bias = None if bias_arg is None else _attribute(graph, bias_arg)
    if weight is None or (bias_arg is not None and bias is None):
        return None
    return _linear(weight, bias, [x], register, widths)


def _linear(weight, bias, tensors, register, widths):
    a = register[tensors[0].name]
    w = weight.detach().to(torch.float64).numpy().copy()
    if w.ndim != 2 or w.shape[1] != widths[a]:
        return None
    b = np.zeros(w.shape[0]) if bias is None else bias.detach().to(torch.float64).numpy().copy()
    return LINEAR, a, -1, w.shape[0], (w, b)


def _attribute(graph: fx.GraphModule, node) -> torch.Tensor | None:
    if not isinstance(node, fx.Node) or node.op != "get_attr":
        return None
    value = graph
    for part in node.target.split("."):
        value = getattr(value, part)
    return value if isinstance(value, torch.Tensor) else None
