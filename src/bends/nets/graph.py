r"""Graph networks: any piecewise-linear PyTorch module as a graph of affine and kink nodes.

A module is captured with :func:`torch.fx.symbolic_trace` (a float64 copy in eval mode).
Every node of the graph is one of

* **affine** in its tensor inputs: Linear, Conv1d/2d/3d, ConvTranspose1d/2d/3d, BatchNorm in
  eval mode, AvgPool / AdaptiveAvgPool, Flatten / Unflatten, Identity, Dropout (eval), and the
  functions add, sub, neg, multiplication or division by a constant, cat, stack, reshape,
  view, flatten, permute, transpose, squeeze, unsqueeze, indexing, mean and sum;
* **kinks**: elementwise piecewise-linear maps with finitely many kinks — ReLU (kink at 0),
  LeakyReLU, PReLU, abs, ReLU6 and Hardtanh and clamp (two kinks) — and maxima, which
  change hands where two inputs cross: ``torch.maximum``/``minimum`` of two tensors, MaxPool
  and AdaptiveMaxPool (a running maximum over each window).

``nn.RNN(nonlinearity="relu", batch_first=True)`` is unrolled over the sequence length it is
given (:class:`UnrolledRNN`): an untied ReLU RNN traced in the space of input sequences.
Programs saved by ``torch.export`` are read through their aten operators
(:meth:`GraphNetwork.from_exported`). Anything else (GELU, SiLU, Tanh, Softmax, LayerNorm,
attention, LSTM, GRU, BatchNorm in training mode, products of two tensors) is refused with one
:class:`~bends.errors.BendsError` naming the node: "``blocks.2.act`` is GELU: not piecewise
linear". :mod:`bends.tracing._graph.tracer` traces such a graph along a segment.

Example:
    >>> import torch
    >>> block = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.LeakyReLU(0.1),
    ...                             torch.nn.Linear(3, 1))
    >>> GraphNetwork.from_module(block, input_shape=(2,))
    GraphNetwork (2,) → (1,): 2 affine nodes, 1 kink node
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np
import torch
from torch import fx, nn

from bends.errors import BendsError
from bends.nets.exported import functional, normalised
from bends.nets.rules import (
    AFFINE_FUNCTIONS,
    AFFINE_METHODS,
    AFFINE_MODULES,
    KINK_FUNCTIONS,
    KINK_METHODS,
    KINK_MODULES,
    LINEAR_FUNCTIONS,
    LINEAR_METHODS,
    MAX_MODULES,
    MAX_POOL_FUNCTIONS,
    PARAMETRIC_FUNCTIONS,
    NodeKind,
    batch_norm,
    batch_reshape,
    is_size,
    narrow,
    node_kind,
    node_kinds,
)

# The node rules live in bends.nets.rules; their tables, the kinds and batch_norm are read
# from here too.
__all__ = [
    "AFFINE_FUNCTIONS",
    "AFFINE_METHODS",
    "AFFINE_MODULES",
    "KINK_FUNCTIONS",
    "KINK_METHODS",
    "KINK_MODULES",
    "LINEAR_FUNCTIONS",
    "LINEAR_METHODS",
    "MAX_MODULES",
    "MAX_POOL_FUNCTIONS",
    "PARAMETRIC_FUNCTIONS",
    "GraphNetwork",
    "NodeKind",
    "UnrolledRNN",
    "batch_norm",
    "kind",
    "narrow",
    "node_kind",
    "node_kinds",
    "normalised",
]


class UnrolledRNN(nn.Module):
    r"""``nn.RNN(nonlinearity="relu")`` unrolled over a fixed number of steps, as torch.fx can
    trace it: layer l maps its inputs :math:`x_1, …, x_T` to
    :math:`h_t = \mathrm{ReLU}(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})`, :math:`h_0 = 0`.
    Returns (outputs, h_n) like nn.RNN; h_n is a list of each layer's last state (index it as
    ``h_n[-1]``)."""

    def __init__(self, rnn: nn.RNN, steps: int) -> None:
        super().__init__()
        if rnn.nonlinearity != "relu" or rnn.bidirectional or not rnn.batch_first:
            raise BendsError(
                "only a unidirectional nn.RNN(nonlinearity='relu', batch_first=True) is unrolled"
            )
        self.steps, self.layers = steps, rnn.num_layers
        # what code around an nn.RNN may read of it
        self.batch_first, self.hidden_size, self.num_layers = True, rnn.hidden_size, rnn.num_layers
        self.inputs, self.recurrent = nn.ModuleList(), nn.ModuleList()
        for layer in range(rnn.num_layers):
            weight_ih, weight_hh = (getattr(rnn, f"weight_{k}_l{layer}") for k in ("ih", "hh"))
            dtype = weight_ih.dtype
            into = nn.Linear(weight_ih.shape[1], weight_ih.shape[0], bias=rnn.bias, dtype=dtype)
            around = nn.Linear(weight_hh.shape[1], weight_hh.shape[0], bias=rnn.bias, dtype=dtype)
            with torch.no_grad():
                into.weight.copy_(weight_ih)
                around.weight.copy_(weight_hh)
                if rnn.bias:
                    into.bias.copy_(getattr(rnn, f"bias_ih_l{layer}"))
                    around.bias.copy_(getattr(rnn, f"bias_hh_l{layer}"))
            self.inputs.append(into)
            self.recurrent.append(around)

    def forward(self, x):
        sequence = [x[:, t] for t in range(self.steps)]  # batch_first: (batch, steps, inputs)
        finals = []
        for into, around in zip(self.inputs, self.recurrent, strict=True):
            state, outputs = None, []
            for item in sequence:
                pre = into(item)
                # h_0 = 0: the first step sees only the recurrent bias
                pre = pre + (around(state) if state is not None else around(pre * 0.0))
                state = torch.relu(pre)
                outputs.append(state)
            sequence = outputs
            finals.append(state)
        return torch.stack(sequence, dim=1), finals


def _unroll_rnns(module: nn.Module, input_shape: tuple[int, ...]) -> nn.Module:
    """``module`` with every nn.RNN replaced by an :class:`UnrolledRNN` over the sequence
    length it sees on an input of ``input_shape``."""
    found = [(name, m) for name, m in module.named_modules() if isinstance(m, nn.RNNBase)]
    if not found:
        return module
    for name, rnn in found:
        if not isinstance(rnn, nn.RNN):
            raise BendsError(f"`{name}` is {type(rnn).__name__}: not piecewise linear")
        if rnn.nonlinearity != "relu":
            raise BendsError(f"`{name}` is an RNN with nonlinearity='{rnn.nonlinearity}': "
                             "only nonlinearity='relu' is piecewise linear")  # fmt: skip
    if isinstance(module, nn.RNNBase):
        raise BendsError("wrap the nn.RNN in a module that returns one tensor (e.g. its outputs)")
    lengths: dict[str, int] = {}

    def record(name: str):
        def hook(rnn: nn.Module, args: tuple) -> None:
            lengths[name] = args[0].shape[1 if rnn.batch_first else 0]

        return hook

    hooks = [m.register_forward_pre_hook(record(name)) for name, m in found]
    with torch.no_grad():
        module(torch.zeros((1, *input_shape), dtype=torch.float64))
    for hook in hooks:
        hook.remove()
    for name, rnn in found:
        if not isinstance(rnn, nn.RNN):
            raise BendsError(f"`{name}` is {type(rnn).__name__}: not piecewise linear")
        if not rnn.batch_first:
            raise BendsError(
                f"`{name}` takes sequences first (batch_first=False), but bends batches the "
                "knots on the first axis: build it with batch_first=True"
            )
        parent, _, attribute = name.rpartition(".")
        setattr(module.get_submodule(parent) if parent else module, attribute,
                UnrolledRNN(rnn, int(lengths[name])))  # fmt: skip
    return module


def _exported(module: nn.Module, shape: tuple[int, ...], fx_error: Exception) -> fx.GraphModule:
    """``module`` captured by ``torch.export`` with a free batch axis (the knots' axis), for
    forward code torch.fx cannot follow (``len(x)``, branches on sizes); BendsError saying
    why neither could capture it."""
    example = torch.zeros((2, *shape), dtype=torch.float64)
    try:
        program = torch.export.export(
            module, (example,), dynamic_shapes=({0: torch.export.Dim("batch")},), strict=True
        )
    except Exception as err:  # export raises many kinds too
        first = [str(e).splitlines()[0] if str(e) else type(e).__name__ for e in (fx_error, err)]
        raise BendsError(
            f"cannot capture {type(module).__name__}: torch.fx says {first[0]!r}, "
            f"torch.export says {first[1]!r}"
        ) from None
    return normalised(functional(program).module())


def _fold_sizes(graph: fx.GraphModule, shape: tuple[int, ...]) -> fx.GraphModule:
    """``graph`` with its sizes read off tensors (``x.size(0)``, ``x.shape[1]``, ``len(x)``)
    replaced by what they are: a number where it does not depend on the batch, and a
    reshape that keeps the batch axis first (:func:`~bends.nets.rules.batch_reshape`) where
    the batch is its first size. Every tracer then sees plain operators, whatever batch of
    knots, slopes or basis vectors it runs the graph on. BendsError naming a node that uses
    the batch size otherwise."""
    sizes = [n for n in graph.graph.nodes if is_size(n)]
    if not sizes:
        return graph
    wanted, seen = set(sizes), {}

    class Recorder(fx.Interpreter):
        def run_node(self, node):
            out = super().run_node(node)
            if node in wanted:
                seen.setdefault(node, []).append(out)
            return out

    batches = (2, 3, 5)  # three: a size like x.size(0) // 4 is 0 at two of them
    for batch in batches:
        _checked_run(graph, shape, batch, Recorder(graph).run)
    users = {u for n in sizes for u in n.users if u not in wanted}
    for user in users:
        at = [fx.node.map_arg((user.args, user.kwargs), lambda n, i=i: seen[n][i] if n in wanted
                              else n) for i in range(len(batches))]  # fmt: skip
        if all(a == at[0] for a in at):  # sizes that do not depend on the batch
            user.args, user.kwargs = at[0]
        elif not _batch_first_reshape(user, [a[0] for a in at], batches):
            raise BendsError(
                f"`{user.name}` uses the batch size: bends reads it only as the first size of "
                "a reshape (x.view(x.size(0), -1))"
            )
    for node in reversed(sizes):
        graph.graph.erase_node(node)
    graph.recompile()
    return graph


def _batch_first_reshape(node: fx.Node, at: list[tuple], batches: tuple[int, ...]) -> bool:
    """Make ``node`` a batch-keeping reshape if it reshapes to (batch, *sizes) — ``at``: its
    arguments with sizes read at each of ``batches``; whether it did."""
    method = node.op == "call_method" and node.target in ("view", "reshape")
    if not (method or (node.op == "call_function" and node.target is torch.reshape)):
        return False

    def sizes(args: tuple) -> list:
        rest = args[1:]
        return list(rest[0]) if len(rest) == 1 and isinstance(rest[0], tuple | list) else list(rest)

    found = [sizes(a) for a in at]
    if not found[0] or tuple(f[0] for f in found) != batches:
        return False
    if any(f[1:] != found[0][1:] for f in found):
        return False
    node.op, node.target, node.args, node.kwargs = "call_function", batch_reshape, (
        node.args[0], [int(n) for n in found[0][1:]]), {}  # fmt: skip
    return True


def _checked_run(graph: fx.GraphModule, shape: tuple[int, ...], batch: int = 7,
                 run=None) -> Any:  # fmt: skip
    """The graph's output (``run``'s) on a batch of zero inputs: BendsError where it does not run
    (shapes fixed to one example's batch, an operator given the wrong arguments)."""
    try:
        with torch.no_grad():
            return (run or graph)(torch.zeros((batch, *shape), dtype=torch.float64))
    except Exception as err:  # whatever torch raises inside the user's graph
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise BendsError(
            f"the network does not run on a batch of inputs of shape {shape} ({message}); "
            "bends puts knots on the batch axis, so sizes fixed to one example's batch fail"
        ) from None


def _real_only(module: nn.Module) -> None:
    """Refuse complex parameters and buffers by name: a float64 copy would drop their
    imaginary parts without a word."""
    for name, tensor in [*module.named_parameters(), *module.named_buffers()]:
        if tensor.is_complex():
            raise BendsError(f"`{name}` is complex: a network's weights are real numbers")


@dataclass(frozen=True)
class GraphNetwork:
    """A piecewise-linear module captured as an fx graph (float64, eval mode), with the shape
    of one input (without the batch axis) and of its output."""

    module: fx.GraphModule
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    segment: tuple[Any, Any] | None = None
    #: Every node's kind by node name, in graph order (:func:`~bends.nets.rules.node_kind`),
    #: decided once when the network is built; the tracers dispatch on it.
    kinds: Mapping[str, NodeKind] | None = field(default=None, compare=False, repr=False)
    #: Traced node by node (MLPs and tied RNNs answer False).
    is_graph: ClassVar[bool] = True

    def __post_init__(self) -> None:
        kinds = node_kinds(self.module) if self.kinds is None else self.kinds
        object.__setattr__(self, "kinds", MappingProxyType(dict(kinds)))

    @classmethod
    def from_module(cls, module: nn.Module, input_shape) -> GraphNetwork:
        """Capture ``module`` (it is copied: float64, eval mode); BendsError naming the first
        node that is not piecewise linear."""
        if not isinstance(module, nn.Module):
            raise BendsError(f"expected a torch nn.Module, got {type(module).__name__}")
        shape = tuple(int(n) for n in input_shape)
        for name, part in module.named_modules():
            random = isinstance(
                part, nn.modules.batchnorm._BatchNorm | nn.modules.dropout._DropoutNd
            )
            if random and part.training:
                kind_ = (
                    "BatchNorm" if isinstance(part, nn.modules.batchnorm._BatchNorm) else "Dropout"
                )
                raise BendsError(
                    f"`{name}` is {kind_} in training mode (its output is not a fixed "
                    "function): call .eval() first"
                )
        _real_only(module)
        copied = copy.deepcopy(module).to(torch.float64).eval()
        copied = _unroll_rnns(copied, shape)
        if isinstance(copied, fx.GraphModule):  # already a graph (the ONNX reader's): kept
            graph = copied
        else:
            try:
                graph = fx.symbolic_trace(copied)
            except Exception as err:  # fx cannot follow len(x), control flow on sizes, ...
                graph = _exported(copied, shape, err)
        graph = _fold_sizes(graph, shape)
        kinds = node_kinds(graph)
        output = _checked_run(graph, shape)
        if not isinstance(output, torch.Tensor):
            raise BendsError("the module must return one tensor")
        return cls(graph, shape, tuple(output.shape[1:]), kinds=kinds)

    @classmethod
    def from_exported(cls, program: Any) -> GraphNetwork:
        """A ``torch.export`` program (as ``torch.export.load`` returns it) with one input."""
        graph = normalised(functional(program).module())
        inputs = [n for n in graph.graph.nodes if n.op == "placeholder"]
        if len(inputs) != 1 or "val" not in inputs[0].meta:
            raise BendsError("an exported program with one tensor input is needed")
        shape = tuple(int(n) for n in inputs[0].meta["val"].shape[1:])
        _real_only(graph)
        graph = _fold_sizes(graph.to(torch.float64), shape)
        kinds = node_kinds(graph)
        output = _checked_run(graph, shape)
        if isinstance(output, tuple | list) and len(output) == 1:
            output = output[0]
        if not isinstance(output, torch.Tensor):
            raise BendsError("the exported program must return one tensor")
        return cls(graph, shape, tuple(output.shape[1:]), kinds=kinds)

    @property
    def input_dim(self) -> int:
        return int(torch.Size(self.input_shape).numel())

    @property
    def output_dim(self) -> int:
        return int(torch.Size(self.output_shape).numel())

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return ()

    def kinks(self) -> int:
        """How many nodes are kinks (nonlinearities)."""
        return sum(k.is_kink for k in self.kinds.values())

    def __call__(self, x) -> Any:
        """The output at inputs x of shape (N, *input_shape), as a NumPy array (N, outputs)."""
        with torch.no_grad():
            tensor = torch.as_tensor(x, dtype=torch.float64).reshape(-1, *self.input_shape)
            output = self.module(tensor)
            output = output[0] if isinstance(output, tuple | list) else output
            return output.reshape(len(tensor), -1).numpy()

    def kink_outputs(self, x) -> list[np.ndarray]:
        """Every kink node's output at inputs x (N, *input_shape), in graph order, each
        flattened to (N, elements): the graph's hidden layers, as plots draw them."""
        graph, kinds, found = self.module, self.kinds, []

        class Recorder(fx.Interpreter):
            def run_node(self, node):
                result = super().run_node(node)
                if kinds[node.name].is_kink:
                    found.append(result.detach().reshape(len(result), -1).numpy().copy())
                return result

        with torch.no_grad():
            Recorder(graph).run(
                torch.as_tensor(x, dtype=torch.float64).reshape(-1, *self.input_shape)
            )
        return found

    def __repr__(self) -> str:
        nodes = [k.role for k in self.kinds.values()]
        affine, kinks = nodes.count("affine"), nodes.count("kink")
        plural = "s" * (kinks != 1)
        return (
            f"GraphNetwork {self.input_shape} → {self.output_shape}: {affine} affine nodes, "
            f"{kinks} kink node{plural}"
        )


def kind(graph: fx.GraphModule, node: fx.Node) -> str:
    """'input', 'output', 'affine', 'kink' or 'other' (constants such as sizes): the coarse
    :func:`~bends.nets.rules.node_kind`."""
    return node_kind(graph, node).role
