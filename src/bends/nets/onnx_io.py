"""ONNX models as graph networks: the ONNX operators of piecewise-linear layers, read with the
``onnx`` package (``pip install 'bends[onnx]'``; a protobuf: nothing is executed).

Each ONNX node becomes a node of a torch.fx graph calling the function bends knows for it
(:mod:`bends.nets.graph`): Gemm and MatMul (by a constant) as ``F.linear``, Conv as
``F.convNd``, BatchNormalization, Relu, LeakyRelu, PRelu (constant slopes), Clip, Abs, Max
and Min of two inputs,
MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, Flatten, Reshape (its first size is
the batch), Unsqueeze and Squeeze, ReduceSum and ReduceMean, ReduceMax over the spatial axes (a
global max pool), Transpose, Concat, Add, Sub, Mul and Div by constants, Identity, Dropout.
Shapes computed in the file (Shape, Gather, Unsqueeze, Concat, Slice on sizes, as exporters
write ``x.view(x.size(0), -1)`` with a dynamic batch) are folded to constants. Any other
operator is refused naming the node.

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
from bends.nets.rules import batch_reshape, narrow


def from_onnx_bytes(data: bytes) -> GraphNetwork:
    """The graph network of a serialised ONNX model (its weights inside it)."""
    onnx = _onnx()
    try:
        model = onnx.load_model_from_string(data)
    except Exception as err:  # protobuf raises its own DecodeError
        raise BendsError(f"not an ONNX model ({type(err).__name__})") from None
    return _from_model(onnx, model)


def from_onnx_file(path) -> GraphNetwork:
    """The graph network of an ``.onnx`` file, its weights read from beside it where the
    exporter stored them apart (``model.onnx.data``)."""
    onnx = _onnx()
    try:
        model = onnx.load(str(path))
    except Exception as err:  # protobuf's DecodeError, a missing external-data file, ...
        first = str(err).splitlines()[0] if str(err) else ""
        raise BendsError(f"not an ONNX model, or its weights unreadable ({first})") from None
    return _from_model(onnx, model)


def _onnx():
    try:
        import onnx
    except ImportError:
        raise BendsError(
            "reading .onnx needs the onnx package: pip install 'bends[onnx]'"
        ) from None
    return onnx


def _from_model(onnx, model) -> GraphNetwork:
    """The graph network of a loaded ONNX model."""
    from onnx import numpy_helper

    graph = model.graph
    shapes = _value_shapes(onnx, model)
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
        folded = _folded(node, attrs, constants, shapes)
        if folded is not None:  # sizes computed from shapes: constants, the batch marked
            constants[node.output[0]] = folded
            continue
        if "axes" in attrs or node.op_type in _AXES_INPUT:  # negative axes counted from 0
            attrs["axes"] = _axes(node, attrs, constants, shapes)
        rank = len(shapes.get(node.input[0], [])) if node.input else 0
        values[node.output[0]] = _node(fx_graph, node, attrs, tensor, register, constants, rank)
    fx_graph.output(values[graph.output[0].name])
    module = fx.GraphModule(root, fx_graph)
    return GraphNetwork.from_module(module, shape)


#: The batch axis's size where a shape is computed (``x.view(x.size(0), -1)`` exported with a
#: dynamic batch): it must end up first in a Reshape's target, which keeps the batch axis.
_BATCH = -(2**62)
#: Operators on shapes that are folded when all their inputs are constants.
_SHAPE_OPS = ("Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Slice", "Cast")


#: Operators that may take their axes as their second input.
_AXES_INPUT = ("Unsqueeze", "Squeeze", "ReduceSum", "ReduceMean", "ReduceMax")


def _axes(node, attrs: dict, constants: dict, shapes: dict) -> list[int] | None:
    """A node's axes (an attribute or its second input), counted from 0 in its output's
    rank (Unsqueeze) or its input's (the others); None where it names none."""
    args = list(node.input)
    axes = attrs.get("axes", constants.get(args[1]) if len(args) > 1 and args[1] else None)
    if axes is None:
        return None
    where = node.output[0] if node.op_type == "Unsqueeze" else args[0]
    rank = len(shapes.get(where, []))
    return [int(a) % rank if rank else int(a) for a in np.atleast_1d(axes)]


def _value_shapes(onnx, model) -> dict[str, list[int]]:
    """Each value's shape from ONNX's shape inference, the batch (a symbolic or unknown first
    size) as ``_BATCH``."""
    inferred = onnx.shape_inference.infer_shapes(model).graph
    shapes = {}
    for info in [*inferred.input, *inferred.value_info, *inferred.output]:
        dims = info.type.tensor_type.shape.dim
        shapes[info.name] = [d.dim_value if d.HasField("dim_value") else _BATCH for d in dims]
    return shapes


def _folded(node, attrs: dict, constants: dict, shapes: dict) -> np.ndarray | None:
    """A shape operator's result as a constant, or None where it is not one (a tensor's
    Concat, Unsqueeze, ...)."""
    op, args = node.op_type, list(node.input)
    if op not in _SHAPE_OPS:
        return None
    if op == "Shape":
        shape = shapes.get(args[0])
        if shape is None or _BATCH in shape[1:]:
            raise BendsError(f"`{node.name or op}` reads a shape ONNX cannot infer")
        return np.array(shape[attrs.get("start", 0) : attrs.get("end")], dtype=np.int64)
    if not all(a in constants for a in args if a):
        return None
    x = constants[args[0]]
    if op == "Gather":
        return np.take(x, constants[args[1]], axis=attrs.get("axis", 0))
    if op in ("Unsqueeze", "Squeeze"):
        axes = attrs.get("axes", constants[args[1]] if len(args) > 1 and args[1] else None)
        if op == "Squeeze":
            return np.squeeze(x, axis=None if axes is None else tuple(int(a) for a in axes))
        return np.expand_dims(x, tuple(int(a) for a in np.atleast_1d(axes)))
    if op == "Concat":
        return np.concatenate([np.atleast_1d(constants[a]) for a in args], axis=attrs["axis"])
    if op == "Slice":
        starts, ends = (constants[a] for a in args[1:3])
        axes = constants[args[3]] if len(args) > 3 and args[3] else range(len(starts))
        steps = constants[args[4]] if len(args) > 4 and args[4] else [1] * len(starts)
        index = [slice(None)] * x.ndim
        for axis, start, end, step in zip(axes, starts, ends, steps, strict=True):
            index[int(axis)] = slice(int(start), int(end), int(step))
        return x[tuple(index)]
    return x  # Cast: sizes stay integers


def _node(graph: fx.Graph, node, attrs: dict, tensor, register, constants: dict,
          rank: int) -> Any:  # fmt: skip
    """One ONNX node as fx nodes (``rank``: its first input's number of axes, 0 if
    unknown)."""
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
    if op == "Reshape":  # the first size is the batch (the knots), whatever the file says
        if args[1] not in constants:
            raise BendsError(f"{name}: Reshape to a computed shape is not supported")
        target = [int(v) for v in constants[args[1]]]
        if _BATCH in target[1:] or 0 in target[1:]:
            raise BendsError(f"{name}: Reshape moves the batch axis or copies sizes (0)")
        return call(batch_reshape, x, target[1:])
    if op in ("Unsqueeze", "Squeeze"):
        axes = attrs["axes"]
        if axes is None or 0 in axes:
            raise BendsError(f"{name}: {op} of the batch axis is not supported")
        if op == "Squeeze":
            return call(torch.squeeze, x, tuple(int(a) for a in axes))
        for axis in sorted(int(a) for a in axes):
            x = call(torch.unsqueeze, x, axis)
        return x
    if op == "Slice":
        return _sliced(name, x, args, constants, call, rank)
    if op in ("ReduceSum", "ReduceMean", "ReduceMax"):
        return _reduced(name, op, x, attrs, call, rank)
    if op == "Transpose":
        return call(torch.permute, x, tuple(attrs["perm"]))
    if op == "Concat":
        return call(torch.cat, [tensor(a) for a in args], attrs.get("axis", 1))
    raise BendsError(f"{name} is the ONNX operator {op}: not supported (not piecewise linear?)")


def _sliced(name, x, args: list, constants: dict, call, rank: int) -> Any:
    """Slice of a tensor (of ``rank`` axes) along axes other than the batch, by constant
    bounds."""
    if not all(a in constants for a in args[1:] if a):
        raise BendsError(f"{name}: Slice with computed bounds is not supported")
    starts, ends = constants[args[1]], constants[args[2]]
    axes = constants[args[3]] if len(args) > 3 and args[3] else range(len(starts))
    steps = constants[args[4]] if len(args) > 4 and args[4] else [1] * len(starts)
    for axis, start, end, step in zip(axes, starts, ends, steps, strict=True):
        axis = int(axis) % rank if rank else int(axis)
        if axis == 0 or int(step) <= 0:
            raise BendsError(f"{name}: Slice of the batch axis or backwards is not supported")
        end = None if int(end) >= 2**62 else int(end)  # ONNX writes "to the end" as INT64_MAX
        x = call(narrow, x, int(axis), int(start), end, int(step))
    return x


def _reduced(name, op: str, x, attrs: dict, call, rank: int) -> Any:
    """ReduceSum and ReduceMean over axes other than the batch; ReduceMax over every axis
    after the channels (a global max pool)."""
    axes = attrs["axes"]
    keep = bool(attrs.get("keepdims", 1))
    if axes is None or 0 in axes:
        raise BendsError(f"{name}: {op} over the batch axis (or all axes) is not supported")
    axes = tuple(int(a) for a in axes)
    if op != "ReduceMax":
        return call(torch.sum if op == "ReduceSum" else torch.mean, x, axes, keep)
    spatial = len(axes)
    if axes != tuple(range(2, rank)) or not keep or not 1 <= spatial <= 3:
        raise BendsError(f"{name}: ReduceMax is read only as a global max pool (axes 2.., "
                         "keepdims)")  # fmt: skip
    pool = (F.adaptive_max_pool1d, F.adaptive_max_pool2d, F.adaptive_max_pool3d)[spatial - 1]
    return call(pool, x, 1)


def _padding(name: str, attrs: dict, spatial: int) -> Any:
    pads = attrs.get("pads", [0] * (2 * spatial))
    if list(pads[:spatial]) != list(pads[spatial:]):
        raise BendsError(f"{name}: asymmetric padding is not supported")
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise BendsError(f"{name}: auto_pad is not supported")
    return tuple(pads[:spatial])
