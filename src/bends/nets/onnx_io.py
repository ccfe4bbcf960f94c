"""ONNX models as graph networks: the ONNX operators of piecewise-linear layers, read with the
``onnx`` package (``pip install 'bends[onnx]'``; a protobuf: nothing is executed).

Each ONNX node becomes a node of a torch.fx graph calling the function bends knows for it
(:mod:`bends.nets.graph`): Gemm and MatMul (by a constant) as ``F.linear``, Conv as
``F.convNd``, BatchNormalization, Relu, LeakyRelu, PRelu (constant slopes), Clip, Abs, Max
and Min of two inputs,
MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, Flatten, Reshape (constant shape),
Transpose, Concat, Add, Sub, Mul and Div by constants, Identity, Dropout. Any other operator
is refused naming the node.

Example:
    >>> import io, torch
    >>> buffer = io.BytesIO()
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    >>> torch.onnx.export(model, (torch.zeros(1, 2),), buffer, dynamo=False)
    >>> from_onnx_bytes(buffer.getvalue())
    GraphNetwork (2,) → (1,): 2 affine nodes, 1 kink node
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn

from bends.errors import BendsError
from bends.nets.graph import GraphNetwork, batch_norm


def from_onnx_bytes(data: bytes) -> GraphNetwork:
    """The graph network of a serialised ONNX model."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise BendsError(
            "reading .onnx needs the onnx package: pip install 'bends[onnx]'"
        ) from None
    try:
        model = onnx.load_model_from_string(data)
    except Exception as err:  # protobuf raises its own DecodeError
        raise BendsError(f"not an ONNX model ({type(err).__name__})") from None
    graph = model.graph
    constants = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    inputs = [i for i in graph.input if i.name not in constants]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise BendsError("an ONNX model with one input and one output is needed")
    dims = inputs[0].type.tensor_type.shape.dim
    shape = tuple(int(d.dim_value) for d in dims[1:])
    if not shape or any(n <= 0 for n in shape):
        raise BendsError("the ONNX input needs a fixed shape beyond the batch axis")
    root, fx_graph = nn.Module(), fx.Graph()
    values: dict[str, Any] = {inputs[0].name: fx_graph.placeholder("x")}

    def register(array: np.ndarray) -> fx.Node:
        """A constant array as a buffer of the module and a get_attr node reading it."""
        attribute = f"constant{len(root._buffers)}"
        data = np.array(array, dtype=np.float64)  # a writable copy: torch shares its memory
        root.register_buffer(attribute, torch.from_numpy(data))
        return fx_graph.get_attr(attribute)

    def tensor(name: str) -> Any:
        if name not in values:
            if name not in constants:
                raise BendsError(f"ONNX value {name!r} is used before it is computed")
            values[name] = register(constants[name])
        return values[name]

    for node in graph.node:
        if node.op_type == "Constant":
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        values[node.output[0]] = _node(fx_graph, node, attrs, tensor, register, constants)
    fx_graph.output(values[graph.output[0].name])
    module = fx.GraphModule(root, fx_graph)
    return GraphNetwork.from_module(module, shape)


def _node(graph: fx.Graph, node, attrs: dict, tensor, register, constants: dict) -> Any:
    """One ONNX node as fx nodes."""
    op, args = node.op_type, list(node.input)
    name = f"`{node.name or op}`"

    def call(function, *arguments, **keywords):
        return graph.call_function(function, tuple(arguments), keywords)

    x = tensor(args[0]) if args else None
    if op in ("Identity", "Dropout"):
        return x
    if op == "Gemm":
        if attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0 or attrs.get("transA"):
            raise BendsError(f"{name}: Gemm with alpha, beta or transA is not supported")
        weight = tensor(args[1]) if attrs.get("transB") else register(constants[args[1]].T)
        return call(F.linear, x, weight, *([tensor(args[2])] if len(args) > 2 else []))
    if op == "MatMul":
        if args[1] not in constants:
            raise BendsError(f"{name} multiplies two tensors: not piecewise linear")
        return call(F.linear, x, register(constants[args[1]].T))
    if op in ("Add", "Sub", "Mul", "Div"):
        if op in ("Mul", "Div") and args[1] not in constants and args[0] not in constants:
            raise BendsError(f"{name} multiplies two tensors: not piecewise linear")
        function = {"Add": operator.add, "Sub": operator.sub, "Mul": operator.mul,
                    "Div": operator.truediv}[op]  # fmt: skip
        return call(function, tensor(args[0]), tensor(args[1]))
    if op == "Conv":
        spatial = len(attrs.get("kernel_shape", constants[args[1]].shape[2:]))
        function = (F.conv1d, F.conv2d, F.conv3d)[spatial - 1]
        bias = tensor(args[2]) if len(args) > 2 else None
        padding = _padding(name, attrs, spatial)
        return call(function, x, tensor(args[1]), bias, attrs.get("strides", 1), padding,
                    attrs.get("dilations", 1), attrs.get("group", 1))  # fmt: skip
    if op == "BatchNormalization":
        weight, bias, mean, var = (tensor(a) for a in args[1:5])
        return call(batch_norm, x, weight, bias, mean, var, False, 0.0, attrs.get("epsilon", 1e-5))
    if op == "Relu":
        return call(torch.relu, x)
    if op == "LeakyRelu":
        return call(F.leaky_relu, x, attrs.get("alpha", 0.01))
    if op == "PRelu":  # (1 − a)·ReLU(x) + a·x: one kink, the slope a broadcast as ONNX does
        if args[1] not in constants:
            raise BendsError(f"{name}: PRelu with a computed slope is not supported")
        slope = np.asarray(constants[args[1]], dtype=np.float64)
        scaled = call(operator.mul, call(torch.relu, x), register(1.0 - slope))
        return call(operator.add, scaled, call(operator.mul, x, register(slope)))
    if op == "Abs":
        return call(torch.abs, x)
    if op == "Clip":
        low = float(constants[args[1]]) if len(args) > 1 and args[1] else attrs.get("min")
        high = float(constants[args[2]]) if len(args) > 2 and args[2] else attrs.get("max")
        return call(torch.clamp, x, low, high)
    if op in ("Max", "Min") and len(args) == 2:
        return call(torch.maximum if op == "Max" else torch.minimum, x, tensor(args[1]))
    if op in ("MaxPool", "AveragePool"):
        spatial = len(attrs["kernel_shape"])
        if attrs.get("ceil_mode"):
            raise BendsError(f"{name}: pooling with ceil_mode is not supported")
        kernel, stride = attrs["kernel_shape"], attrs.get("strides", attrs["kernel_shape"])
        padding = _padding(name, attrs, spatial)
        if op == "MaxPool":
            function = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[spatial - 1]
            return call(function, x, kernel, stride, padding, attrs.get("dilations", 1))
        function = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[spatial - 1]
        return call(function, x, kernel, stride, padding, False,
                    bool(attrs.get("count_include_pad", 0)))  # fmt: skip
    if op == "GlobalAveragePool":
        return call(F.adaptive_avg_pool2d, x, 1)
    if op == "GlobalMaxPool":
        return call(F.adaptive_max_pool2d, x, 1)
    if op == "Flatten":
        return call(torch.flatten, x, attrs.get("axis", 1))
    if op == "Reshape":
        target = [int(v) for v in constants[args[1]]]
        return call(torch.reshape, x, (-1, *target[1:]))
    if op == "Transpose":
        return call(torch.permute, x, tuple(attrs["perm"]))
    if op == "Concat":
        return call(torch.cat, [tensor(a) for a in args], attrs.get("axis", 1))
    raise BendsError(f"{name} is the ONNX operator {op}: not supported (not piecewise linear?)")


def _padding(name: str, attrs: dict, spatial: int) -> Any:
    pads = attrs.get("pads", [0] * (2 * spatial))
    if list(pads[:spatial]) != list(pads[spatial:]):
        raise BendsError(f"{name}: asymmetric padding is not supported")
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise BendsError(f"{name}: auto_pad is not supported")
    return tuple(pads[:spatial])
