r"""The rules of a graph network's nodes (:class:`bends.nets.graph.GraphNetwork`): what kind
each node is, and what every tracer needs to know of a node of that kind.

The **kind** of a node (:class:`NodeKind`, decided by :func:`node_kind` from one rule table:
:data:`MODULE_KINDS`, :data:`FUNCTION_KINDS`, :data:`METHOD_KINDS`) is one of

* ``INPUT``, ``OUTPUT``, and ``CONSTANT`` (a parameter, a buffer, or a size read off a tensor's
  shape — ``x.size(0)``, ``x.shape[0]``, ``len(x)`` and arithmetic on them: read where it is
  used, never traced; the batch axis is the knots' axis, so a size on it is the knots' count);
* ``AFFINE``: affine in its tensor inputs; its values are its own op (:func:`apply`), its
  slopes its linear part (:func:`linear_part`: no bias, no constants);
* ``ELEMENTWISE``: a piecewise-linear map of each element with kinks c_1 < … and one slope
  per branch (:func:`elementwise_kinks`);
* ``PAIRWISE_MAX``: the maximum or minimum of two tensors (:func:`pairwise_inputs`);
* ``POOL_MAX``: a running maximum over windows (:func:`pool_module`).

A node that is none of these (GELU, a product of two tensors, …) has no kind:
:func:`node_kind` raises a :class:`~bends.errors.BendsError` naming it. Adding a layer type
is one entry in a table and, if it is elementwise, its kinks in :func:`elementwise_kinks`;
only a new *kind* needs a handler in each tracer (:mod:`bends.tracing._graph`).

Example:
    >>> import torch
    >>> from torch import fx
    >>> graph = fx.symbolic_trace(torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU6()))
    >>> [kind.name for kind in node_kinds(graph).values()]
    ['INPUT', 'AFFINE', 'ELEMENTWISE', 'OUTPUT']
    >>> elementwise_kinks(graph, list(graph.graph.nodes)[2], torch.zeros(1, 3))
    ([0.0, 6.0], [0.0, 1.0, 0.0])
"""

from __future__ import annotations

import builtins
import enum
import operator
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from bends.errors import BendsError


class NodeKind(enum.Enum):
    """What a node of a graph network is, as the tracers see it (see the module docstring)."""

    INPUT = "input"
    OUTPUT = "output"
    CONSTANT = "constant"
    AFFINE = "affine"
    ELEMENTWISE = "elementwise"
    PAIRWISE_MAX = "pairwise max"
    POOL_MAX = "pool max"

    @property
    def is_kink(self) -> bool:
        """A nonlinearity: elementwise kinks or a maximum."""
        return self in KINK_KINDS

    @property
    def role(self) -> str:
        """'input', 'output', 'affine', 'kink' or 'other' (a constant): the coarse kind."""
        if self.is_kink:
            return "kink"
        return "other" if self is NodeKind.CONSTANT else self.value


#: The kinds of nonlinearity: one handler each in every tracer.
KINK_KINDS = (NodeKind.ELEMENTWISE, NodeKind.PAIRWISE_MAX, NodeKind.POOL_MAX)


def batch_norm(x, weight, bias, mean, var, training=False, momentum=0.0, eps=1e-5, *_):
    """``aten.batch_norm`` in eval mode, in its argument order (weights before statistics)."""
    if training:
        raise BendsError("batch_norm in training mode: export the model after .eval()")
    return F.batch_norm(x, mean, var, weight, bias, False, 0.0, eps)


def narrow(x, dim=0, start=None, end=None, step=1):
    """``aten.slice``: x[..., start:end:step] along ``dim``."""
    index = [slice(None)] * x.dim()
    index[dim] = slice(start, end, step)
    return x[tuple(index)]


def batch_reshape(x, shape):
    """``x`` reshaped to (its batch, *shape): a reshape whose batch size a file fixed (an
    export from one example input, an ONNX Reshape) made to keep the batch axis, which bends
    fills with knots."""
    return x.reshape(len(x), *shape)


def prelu(x, weight):
    """``aten.prelu``: max(0, x) + weight·min(0, x), the weight per channel (axis 1)."""
    return F.prelu(x, weight)


# The rule table: which modules, functions and tensor methods are of which kind. Within a
# kind, the sets say which rule applies (an affine node's slopes, a pool's windows).

#: Modules that are affine maps of their input (in eval mode).
AFFINE_MODULES = (
    nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
    nn.ConvTranspose3d, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.AvgPool1d,
    nn.AvgPool2d, nn.AvgPool3d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d, nn.Flatten, nn.Unflatten, nn.Identity, nn.Dropout, nn.Dropout1d,
    nn.Dropout2d, nn.Dropout3d,
)  # fmt: skip
#: Elementwise piecewise-linear modules.
KINK_MODULES = (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.ReLU6, nn.Hardtanh)
#: Modules whose output is a running maximum over windows of their input.
MAX_MODULES = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AdaptiveMaxPool1d,
               nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)  # fmt: skip

#: Affine functions whose weights are arguments: their slopes use the weights, not zeros.
PARAMETRIC_FUNCTIONS = {F.linear, F.conv1d, F.conv2d, F.conv3d, batch_norm}
#: Functions and tensor methods that are linear in their tensor inputs (no constant term).
LINEAR_FUNCTIONS = {
    operator.neg, operator.getitem, torch.cat, torch.concat, torch.stack, torch.flatten,
    torch.reshape, torch.permute, torch.transpose, torch.squeeze, torch.unsqueeze, torch.mean,
    torch.sum, torch.neg, F.avg_pool1d, F.avg_pool2d, F.avg_pool3d, F.adaptive_avg_pool1d,
    F.adaptive_avg_pool2d, F.adaptive_avg_pool3d, F.dropout, narrow, batch_reshape,
    torch.clone,  # the .pt2 reader maps aten's clone and contiguous to it
} | PARAMETRIC_FUNCTIONS  # fmt: skip
LINEAR_METHODS = {"view", "reshape", "flatten", "permute", "transpose", "squeeze", "unsqueeze",
                  "mean", "sum", "neg", "contiguous", "size", "dim"}  # fmt: skip
#: Tensor methods whose result is a constant (a size), read where it is used.
CONSTANT_METHODS = {"size", "dim"}
#: Functions whose result is a size read off a tensor: ``x.shape`` (getattr), ``len(x)``,
#: an export's ``sym_size``; and what a size stays a size under: indexing and arithmetic.
SIZE_FUNCTIONS = {builtins.getattr, builtins.len, torch.ops.aten.sym_size.int}
SIZE_ARITHMETIC = {operator.getitem, operator.add, operator.sub, operator.mul,
                   operator.floordiv, operator.truediv, operator.neg}  # fmt: skip
#: The attributes of a tensor that are sizes (``x.shape``); any other (``x.T``) is refused.
SIZE_ATTRIBUTES = {"shape", "ndim"}
#: Functions affine in their tensor inputs, with constants: x + c, c − x, c·x, x / c.
AFFINE_FUNCTIONS = {operator.add, operator.sub, operator.mul, operator.truediv, torch.add,
                    torch.sub, torch.mul, torch.div}  # fmt: skip
AFFINE_METHODS = {"add", "sub", "mul", "div", "__add__", "__sub__", "__mul__", "__truediv__"}
#: Elementwise piecewise-linear functions and tensor methods.
ELEMENTWISE_FUNCTIONS = {torch.relu, F.relu, F.leaky_relu, F.relu6, F.hardtanh, torch.abs,
                         torch.clamp, torch.clip, prelu, F.prelu}  # fmt: skip
KINK_METHODS = {"relu", "abs", "clamp", "clip"}
#: The maximum or minimum of two tensors.
PAIRWISE_FUNCTIONS = {torch.maximum, torch.minimum, torch.max, torch.min}
#: Functional max pooling (a running maximum over windows, like MAX_MODULES).
MAX_POOL_FUNCTIONS = {F.max_pool1d, F.max_pool2d, F.max_pool3d, F.adaptive_max_pool1d,
                      F.adaptive_max_pool2d, F.adaptive_max_pool3d}  # fmt: skip
#: Functions that are kinks (of any kind).
KINK_FUNCTIONS = ELEMENTWISE_FUNCTIONS | PAIRWISE_FUNCTIONS | MAX_POOL_FUNCTIONS

#: The kind of a call_module node, by its module's class (a subclass: its nearest listed
#: base's kind; ReLU6 is a Hardtanh).
MODULE_KINDS: dict[type, NodeKind] = {
    **dict.fromkeys(AFFINE_MODULES, NodeKind.AFFINE),
    **dict.fromkeys(KINK_MODULES, NodeKind.ELEMENTWISE),
    **dict.fromkeys(MAX_MODULES, NodeKind.POOL_MAX),
}
#: The kind of a call_function node, by its function.
FUNCTION_KINDS: dict[Any, NodeKind] = {
    **dict.fromkeys(LINEAR_FUNCTIONS | AFFINE_FUNCTIONS, NodeKind.AFFINE),
    **dict.fromkeys(ELEMENTWISE_FUNCTIONS, NodeKind.ELEMENTWISE),
    **dict.fromkeys(PAIRWISE_FUNCTIONS, NodeKind.PAIRWISE_MAX),
    **dict.fromkeys(MAX_POOL_FUNCTIONS, NodeKind.POOL_MAX),
}
#: The kind of a call_method node, by the method's name.
METHOD_KINDS: dict[str, NodeKind] = {
    **dict.fromkeys(LINEAR_METHODS | AFFINE_METHODS, NodeKind.AFFINE),
    **dict.fromkeys(CONSTANT_METHODS, NodeKind.CONSTANT),
    **dict.fromkeys(KINK_METHODS, NodeKind.ELEMENTWISE),
}


def node_kind(graph: fx.GraphModule, node: fx.Node) -> NodeKind:
    """The kind of ``node`` (see the module docstring); BendsError naming it if it is not
    piecewise linear."""
    where = f"`{node.target}`" if node.op == "call_module" else f"`{node.name}`"
    if node.op in ("placeholder", "output", "get_attr"):
        return {"placeholder": NodeKind.INPUT, "output": NodeKind.OUTPUT}.get(
            node.op, NodeKind.CONSTANT
        )
    if is_size(node):
        return NodeKind.CONSTANT
    if node.op == "call_module":
        module = graph.get_submodule(node.target)
        found = next((MODULE_KINDS[c] for c in type(module).__mro__ if c in MODULE_KINDS), None)
        if found is None:
            raise BendsError(f"{where} is {type(module).__name__}: not piecewise linear")
        return found
    if node.op == "call_function":
        found = FUNCTION_KINDS.get(node.target)
        if found is None:
            name = getattr(node.target, "__name__", str(node.target))
            raise BendsError(f"{where} is {name}: not piecewise linear")
        if node.target in (operator.mul, torch.mul) and _tensors(node.args) > 1:
            raise BendsError(f"{where} multiplies two tensors: not piecewise linear")
        if node.target in (operator.truediv, torch.div) and _tensors(node.args[1:]) > 0:
            raise BendsError(f"{where} divides by a tensor: not piecewise linear")
        return found
    if node.op == "call_method":
        found = METHOD_KINDS.get(node.target)
        if found is None:
            raise BendsError(f"{where} is the tensor method {node.target}: not piecewise linear")
        if node.target in ("mul", "__mul__") and _tensors(node.args) > 1:
            raise BendsError(f"{where} multiplies two tensors: not piecewise linear")
        if node.target in ("div", "__truediv__") and _tensors(node.args[1:]) > 0:
            raise BendsError(f"{where} divides by a tensor: not piecewise linear")
        return found
    raise BendsError(f"{where} is a `{node.op}` node: not piecewise linear")  # pragma: no cover


def node_kinds(graph: fx.GraphModule) -> dict[str, NodeKind]:
    """Every node's kind by its name, in graph order; BendsError naming the first node that is
    not piecewise linear."""
    return {node.name: node_kind(graph, node) for node in graph.graph.nodes}


def is_size(node: fx.Node) -> bool:
    """Whether ``node`` is a size read off a tensor's shape (``x.size(0)``, ``x.shape[1]``,
    ``len(x)``, ``x.size(0) * 2``), not a tensor; BendsError for an attribute of a tensor that
    is not a size."""
    if node.op == "call_method":
        return node.target in CONSTANT_METHODS
    if node.op != "call_function":
        return False
    if node.target is builtins.getattr:
        if node.args[1] not in SIZE_ATTRIBUTES:
            raise BendsError(f"`{node.name}` reads the attribute {node.args[1]!r} of a tensor: "
                             "only its sizes (.shape, .ndim) are read")  # fmt: skip
        return True
    if node.target in SIZE_FUNCTIONS:
        return True
    if node.target in SIZE_ARITHMETIC:
        nodes = [a for a in node.args if isinstance(a, fx.Node)]
        return bool(nodes) and all(is_size(a) for a in nodes)
    return False


def _tensors(args) -> int:
    """How many of ``args`` are graph values (tensors), not constants (a buffer read by
    get_attr, a size)."""
    return sum(_is_tensor(a) for a in args)


def _is_tensor(arg) -> bool:
    return isinstance(arg, fx.Node) and arg.op != "get_attr" and not is_size(arg)


# Arguments and ops: a node's inputs read from a table of values (or slopes) by node name.


def resolve(graph: fx.GraphModule, node: fx.Node, table: dict[str, Any], slopes: bool) -> Any:
    """A node's entry in ``table``; sizes and attributes are read now, from what they read
    (an attribute's slope is zero)."""
    if node.name in table:
        return table[node.name]
    if node.op == "get_attr":
        value = graph
        for part in node.target.split("."):  # a dotted path: submodule.parameter
            value = getattr(value, part)
        return torch.zeros_like(value) if slopes and isinstance(value, torch.Tensor) else value
    if is_size(node):
        args = resolve_args(graph, node.args, table, slopes)
        return operation(graph, node)(*args, **node.kwargs)
    raise BendsError(f"`{node.name}` is needed but was not computed")  # pragma: no cover


def resolve_args(graph: fx.GraphModule, args: Any, table: dict[str, Any],
                 slopes: bool = False) -> Any:  # fmt: skip
    """``args`` with every graph node replaced by its entry in ``table`` (values or slopes)."""
    return fx.node.map_arg(args, lambda n: resolve(graph, n, table, slopes))


def method(name: str) -> Callable[..., Any]:
    """The tensor method ``name`` as a function of the tensor and its arguments."""
    return lambda tensor, *args, **kwargs: getattr(tensor, name)(*args, **kwargs)


def operation(graph: fx.GraphModule, node: fx.Node) -> Callable[..., Any]:
    """The node's own op: its module, its function or its tensor method."""
    if node.op == "call_module":
        return graph.get_submodule(node.target)
    return node.target if node.op == "call_function" else method(node.target)


def apply(graph: fx.GraphModule, node: fx.Node, args: Any, values: dict[str, Any]) -> Any:
    """The node's op on ``args`` (its positional arguments, computed), with its keyword
    arguments read from ``values``."""
    return operation(graph, node)(*args, **resolve_args(graph, node.kwargs, values))


# AFFINE: values by the node's own op, slopes by its linear part.


def affine(graph: fx.GraphModule, node: fx.Node, values: dict[str, Any],
           slopes: dict[str, Any]) -> None:  # fmt: skip
    """An affine node's values (its op on its inputs' ``values``) and slopes (its linear part
    on their ``slopes``), stored under its name in both tables."""
    args_v = resolve_args(graph, node.args, values)
    kwargs_v = resolve_args(graph, node.kwargs, values)
    args_d = resolve_args(graph, node.args, slopes, slopes=True)
    kwargs_d = resolve_args(graph, node.kwargs, slopes, slopes=True)
    values[node.name] = operation(graph, node)(*args_v, **kwargs_v)
    slopes[node.name] = linear_part(graph, node, args_d, kwargs_d, args_v, kwargs_v)


def linear_part(graph: fx.GraphModule, node: fx.Node, args_d: tuple, kwargs_d: dict,
                args_v: tuple, kwargs_v: dict) -> torch.Tensor:  # fmt: skip
    """An affine node's linear part (no bias, no constants) on its inputs' slopes ``args_d``,
    ``kwargs_d``; weights and constants are read from its inputs' values ``args_v``,
    ``kwargs_v``."""
    if node.op == "call_module":
        return _linear_module(graph.get_submodule(node.target), *args_d)
    call = operation(graph, node)
    if call in PARAMETRIC_FUNCTIONS:
        return _linear_parametric(call, args_d[0], args_v[1:], kwargs_v)
    if call in AFFINE_FUNCTIONS or node.target in AFFINE_METHODS:
        return _linear_affine(call, node, args_d, args_v)
    return call(*args_d, **kwargs_d)


def _linear_module(module: nn.Module, d: torch.Tensor) -> torch.Tensor:
    """The linear part of an affine module applied to slopes ``d``."""
    if isinstance(module, nn.Linear):
        return F.linear(d, module.weight)
    if isinstance(module, nn.modules.conv._ConvNd):
        saved, module.bias = module.bias, None
        try:
            return module(d)
        finally:
            module.bias = saved
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return d * _norm_scale(module.weight, module.running_var, module.eps, d.dim())
    return module(d)  # pools, reshapes, identities: linear, no constant


def _linear_parametric(call, d: torch.Tensor, weights: tuple, kwargs: dict) -> torch.Tensor:
    """The slopes through F.linear / F.convNd / batch_norm: the weights, no bias."""
    if call is F.linear:
        return F.linear(d, weights[0])
    if call is batch_norm:
        weight, _, _, var = weights[:4]
        eps = weights[6] if len(weights) > 6 else kwargs.get("eps", 1e-5)
        return d * _norm_scale(weight, var, eps, d.dim())
    rest = {k: v for k, v in kwargs.items() if k != "bias"}
    return call(d, weights[0], None, *weights[2:], **rest)


def _norm_scale(weight, var, eps, dims: int) -> torch.Tensor:
    """A BatchNorm's factor per channel, shaped to broadcast over (N, C, …)."""
    scale = 1.0 / torch.sqrt(var + eps)
    if weight is not None:
        scale = scale * weight
    return scale.view(1, -1, *([1] * (dims - 2)))


def _linear_affine(call, node: fx.Node, slopes: tuple, values: tuple) -> torch.Tensor:
    """Slopes of x ± c, c − x, c·x, x / c (c constant: a number or a buffer) and of sums of
    tensors."""
    tensors = [_is_tensor(a) for a in node.args]
    constants = [v if not t else s for v, s, t in zip(values, slopes, tensors, strict=False)]
    first, second = slopes[0], slopes[1] if len(slopes) > 1 else None
    if call in (operator.add, torch.add, operator.sub, torch.sub) or node.target in (
        "add", "sub", "__add__", "__sub__"
    ):  # fmt: skip
        negate = call in (operator.sub, torch.sub) or node.target in ("sub", "__sub__")
        if all(tensors[:2]):
            return first - second if negate else first + second
        if tensors[0]:
            return first
        return -second if negate else second
    # multiplication or division by a constant: the constant (its value) scales the slope
    if call in (operator.truediv, torch.div) or node.target in ("div", "__truediv__"):
        return first / constants[1]
    return first * constants[1] if tensors[0] else constants[0] * second


# ELEMENTWISE: kinks c_1 < … and a slope on each branch.


def elementwise_kinks(graph: fx.GraphModule, node: fx.Node, x) -> tuple[list[float], list[Any]]:
    """The kinks c_1 < … of an elementwise node and its slope on each branch (branch k: the
    elements above exactly k kinks); ``x``: a tensor shaped like its input (a PReLU's slopes
    are shaped to broadcast against it)."""
    module = graph.get_submodule(node.target) if node.op == "call_module" else None
    target, kwargs = node.target, node.kwargs
    args = [a for a in node.args[1:] if not isinstance(a, fx.Node)]
    if isinstance(module, nn.ReLU) or target in (torch.relu, F.relu, "relu"):
        return [0.0], [0.0, 1.0]
    if isinstance(module, nn.LeakyReLU) or target is F.leaky_relu:
        slope = (
            module.negative_slope
            if module is not None
            else (args or [kwargs.get("negative_slope", 0.01)])[0]
        )
        return [0.0], [slope, 1.0]
    if isinstance(module, nn.PReLU) or target in (prelu, F.prelu):
        weight = module.weight.detach() if module is not None else _weight(graph, node)
        shape = [1] * x.dim()
        if x.dim() > 1 and weight.numel() > 1:
            shape[1] = -1
        return [0.0], [weight.view(shape), 1.0]
    if target in (torch.abs, "abs"):
        return [0.0], [-1.0, 1.0]
    if isinstance(module, nn.Hardtanh):  # ReLU6 is Hardtanh(0, 6)
        return [module.min_val, module.max_val], [0.0, 1.0, 0.0]
    if target in (F.relu6,):
        return [0.0, 6.0], [0.0, 1.0, 0.0]
    if target is F.hardtanh:
        low = (args or [kwargs.get("min_val", -1.0)])[0]
        high = (args[1:] or [kwargs.get("max_val", 1.0)])[0]
        return [low, high], [0.0, 1.0, 0.0]
    # clamp(x, min, max): either bound may be absent
    low = (args or [kwargs.get("min")])[0]
    high = (args[1:] or [kwargs.get("max")])[0]
    if isinstance(low, fx.Node) or isinstance(high, fx.Node):
        raise BendsError(f"`{node.name}` clamps to a tensor: give constant bounds")
    kinks = [c for c in (low, high) if c is not None]
    slopes = ([0.0] if low is not None else []) + [1.0] + ([0.0] if high is not None else [])
    return [float(c) for c in kinks], slopes


def _weight(graph: fx.GraphModule, node: fx.Node) -> torch.Tensor:
    """A functional PReLU's weight: a parameter or buffer of the graph (a constant)."""
    weight = node.args[1] if len(node.args) > 1 else node.kwargs["weight"]
    if not isinstance(weight, fx.Node) or weight.op != "get_attr":
        raise BendsError(f"`{node.name}`: a PReLU's slopes must be a parameter, not computed")
    return resolve(graph, weight, {}, slopes=False).detach()


def elementwise_value(graph: fx.GraphModule, node: fx.Node, x, values: dict[str, Any]) -> Any:
    """An elementwise node's op on ``x`` (its first input, e.g. snapped onto its kinks), its
    other arguments read from ``values``."""
    return apply(graph, node, (x, *resolve_args(graph, node.args[1:], values)), values)


def branch_slopes(slopes: list[Any], branch: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """An elementwise node's slopes: ``d`` (its input's) times its slope on each element's
    ``branch`` (numbered as in :func:`elementwise_kinks`)."""
    if len(slopes) == 2 and all(isinstance(s, float | int) for s in slopes):  # ReLU & co.
        low, high = (d if s == 1 else (0.0 if s == 0 else s * d) for s in slopes)
        return torch.where(branch != 0, high, low)
    out = torch.zeros_like(d)
    for number, s in enumerate(slopes):
        out = torch.where(branch == number, s * d, out)
    return out


# PAIRWISE_MAX and POOL_MAX.


def pairwise_inputs(node: fx.Node) -> tuple[fx.Node, fx.Node, bool]:
    """A pairwise maximum's two inputs and whether it is a maximum (not a minimum);
    BendsError unless both are tensors."""
    first, second = node.args[0], node.args[1] if len(node.args) > 1 else None
    if not isinstance(second, fx.Node):
        raise BendsError(f"`{node.name}`: only the maximum of two tensors is supported")
    return first, second, node.target in (torch.maximum, torch.max)


def pool_module(graph: fx.GraphModule, node: fx.Node, spatial: int) -> nn.Module:
    """The nn.MaxPoolNd / AdaptiveMaxPoolNd a pool node computes: its module, or the one its
    function (``F.max_pool2d``, …) stands for; ``spatial``: its input's spatial dimensions."""
    if node.op == "call_module":
        return graph.get_submodule(node.target)
    if "adaptive" in getattr(node.target, "__name__", ""):
        size = node.args[1] if len(node.args) > 1 else node.kwargs["output_size"]
        return (nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)[spatial - 1](size)
    names = ("kernel_size", "stride", "padding", "dilation", "ceil_mode")
    given = dict(zip(names, node.args[1:], strict=False)) | dict(node.kwargs)
    given.pop("return_indices", None)
    if not given.get("stride"):
        given["stride"] = None
    pool = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)[spatial - 1]
    return pool(**given)
