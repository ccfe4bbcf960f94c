r"""Framework-neutral ReLU networks: the MLP and the weight-tied RNN.

An **MLP** is a list of affine maps :math:`(W_\ell, b_\ell)`, :math:`W_\ell \in
\mathbb{R}^{n_\ell \times n_{\ell-1}}`, with ReLU after every one but the last:

.. math:: f(x) = W_L\,\sigma(W_{L-1} \cdots \sigma(W_1 x + b_1) \cdots + b_{L-1}) + b_L.

A **tied RNN** applies one square, bias-free :math:`W \in \mathbb{R}^{w\times w}` k times and
reads one coordinate:

.. math:: f_k(W, x) = \big((\sigma\circ W)^k(x)\big)_{\text{output}}.

It is stored as ``(W, steps, output)`` and never materialised as k copies. Since
:math:`f_k(cW, x) = c^k f_k(W, x)` for :math:`c > 0`, its pieces do not depend on the scale of W.

All arrays are float64, the network's own copies, and read-only: a network is a value
(build a new one to change it), which lets the tracer pack its layers once. Either kind may
carry leading batch axes (many models of one shape):
``weights[l].shape == (*batch_shape, out, in)``; iterate over a batched network to get its
models.

Example:
    >>> import numpy as np
    >>> net = MLP.from_layers([(np.array([[1.0], [1.0]]), np.array([0.0, -0.5])),
    ...                        (np.array([[2.0, -4.0]]), np.array([0.0]))])
    >>> float(net(np.array([0.25]))[0])
    0.5
    >>> TiedRNN(np.eye(2), steps=3, output=0)(np.array([0.5, 1.0])).item()
    0.5
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from bends.errors import BendsError
from bends.nets.packing import pack, unpack

FORMAT = "bends-network"
VERSION = 1


def _as_float_array(value: Any, name: str, ndim: int) -> np.ndarray:
    try:  # iscomplexobj converts too: a ragged list fails there first
        if np.iscomplexobj(value) or (hasattr(value, "is_complex") and value.is_complex()):
            raise BendsError(f"{name} is complex: a network's weights are real numbers")
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise BendsError(f"{name} must be an array of numbers ({err})") from None
    if array.ndim < ndim:
        raise BendsError(f"{name} must have at least {ndim} dimensions, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise BendsError(f"{name} contains NaN or infinite values")
    # A network is a value: its arrays are its own copies and read-only, so what is derived
    # from them once (the tracer's packed layers) stays true.
    array.flags.writeable = False
    return array


def _relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0)


class _Batched:
    """Iteration over the models of a network with a leading batch axis."""

    batch_shape: tuple[int, ...]
    #: Traced node by node as a torch graph (GraphNetwork) or by the compiled tracer (False).
    is_graph: ClassVar[bool] = False

    def __len__(self) -> int:
        if not self.batch_shape:
            raise TypeError("an unbatched network has no len()")
        return self.batch_shape[0]

    def __iter__(self) -> Iterator:
        return (self[i] for i in range(len(self)))  # type: ignore[index]


@dataclass(frozen=True, eq=False)
class MLP(_Batched):
    """Affine maps with ReLU after every one but the last (see module docstring)."""

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    #: The input segment the network is meant to be traced on (start, end), if any.
    segment: tuple[np.ndarray, np.ndarray] | None = None

    def __post_init__(self) -> None:
        if len(self.weights) == 0:
            raise BendsError("a network needs at least one layer")
        if len(self.weights) != len(self.biases):
            raise BendsError("every layer needs one weight and one bias")
        weights = tuple(
            _as_float_array(w, f"layer {i} weight", 2) for i, w in enumerate(self.weights)
        )
        biases = tuple(_as_float_array(b, f"layer {i} bias", 1) for i, b in enumerate(self.biases))
        batch = weights[0].shape[:-2]
        for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
            if w.shape[:-2] != batch or b.shape[:-1] != batch:
                raise BendsError(f"layer {i}: batch shape differs from layer 0's {batch}")
            if 0 in w.shape[-2:]:
                raise BendsError(f"layer {i} has shape {w.shape[-2:]}: every layer needs neurons")
            if b.shape[-1] != w.shape[-2]:
                raise BendsError(
                    f"layer {i}: bias has {b.shape[-1]} entries but weight has "
                    f"{w.shape[-2]} rows (weight shape is (out, in))"
                )
            if i > 0 and w.shape[-1] != weights[i - 1].shape[-2]:
                raise BendsError(
                    f"layer {i}: weight takes {w.shape[-1]} inputs but layer {i - 1} "
                    f"has {weights[i - 1].shape[-2]} outputs"
                )
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "biases", biases)
        object.__setattr__(self, "segment", _check_segment(self.segment, self.input_dim))

    @classmethod
    def from_layers(cls, layers: Sequence[tuple[Any, Any]], segment=None) -> MLP:
        """Build from a list of ``(weight, bias)`` pairs, weight of shape (out, in)."""
        return cls(tuple(w for w, _ in layers), tuple(b for _, b in layers), segment)

    @classmethod
    def from_flat(cls, values: np.ndarray, widths: Sequence[int]) -> MLP:
        """Inverse of :meth:`flat`: layer widths ``widths`` (input first, output last).

        >>> net = MLP.from_flat(np.arange(7.0), [1, 2, 1])
        >>> net.weights[0].ravel().tolist(), net.biases[1].tolist()
        ([0.0, 1.0], [6.0])
        >>> bool(np.all(MLP.from_flat(net.flat(), [1, 2, 1]).flat() == net.flat()))
        True
        """
        return cls.from_layers(unpack(np.asarray(values, dtype=np.float64), widths))

    def flat(self) -> np.ndarray:
        """All parameters in one vector: W_1 (row-major), b_1, W_2, b_2, … (unbatched)."""
        require_unbatched(self)
        return pack(list(zip(self.weights, self.biases, strict=True)))

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self.weights[0].shape[:-2]

    @property
    def input_dim(self) -> int:
        return self.weights[0].shape[-1]

    @property
    def output_dim(self) -> int:
        return self.weights[-1].shape[-2]

    @property
    def widths(self) -> list[int]:
        """Widths of the hidden (ReLU) layers."""
        return [w.shape[-2] for w in self.weights[:-1]]

    @property
    def has_bias(self) -> bool:
        return any(b.any() for b in self.biases)

    def hidden_layers(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The ``(W, b)`` pairs followed by a ReLU."""
        yield from zip(self.weights[:-1], self.biases[:-1], strict=True)

    def readout(self) -> tuple[np.ndarray, np.ndarray]:
        """The last affine map, without ReLU."""
        return self.weights[-1], self.biases[-1]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Evaluate at points ``x`` of shape (..., input_dim) (unbatched networks)."""
        require_unbatched(self)
        h = np.asarray(x, dtype=np.float64)
        for w, b in self.hidden_layers():
            h = _relu(h @ w.T + b)
        w, b = self.readout()
        return h @ w.T + b

    def __getitem__(self, index: int) -> MLP:
        return MLP(
            tuple(w[index] for w in self.weights),
            tuple(b[index] for b in self.biases),
            self.segment,
        )

    def __reduce__(self):
        # Through __init__, so that unpickled arrays are read-only again.
        return MLP, (self.weights, self.biases, self.segment)

    def __repr__(self) -> str:
        batch = f" × batch {self.batch_shape}" if self.batch_shape else ""
        return f"MLP {[self.input_dim, *self.widths, self.output_dim]}{batch}"

    def to_dict(self) -> dict[str, Any]:
        require_unbatched(self)
        return {
            "format": FORMAT,
            "version": VERSION,
            "layers": [
                {"weight": w.tolist(), "bias": b.tolist()}
                for w, b in zip(self.weights, self.biases, strict=True)
            ],
            **_segment_dict(self.segment),
        }


@dataclass(frozen=True, eq=False)
class TiedRNN(_Batched):
    """``f_k(W, x) = ((ReLU∘W)^k x)[output]`` with one square bias-free W (see module docstring)."""

    weight: np.ndarray
    steps: int
    output: int = 0
    #: The input segment the network is meant to be traced on (start, end), if any.
    segment: tuple[np.ndarray, np.ndarray] | None = None

    def __post_init__(self) -> None:
        weight = _as_float_array(self.weight, "tied weight", 2)
        if weight.shape[-1] != weight.shape[-2]:
            raise BendsError(f"tied weight must be square, got shape {weight.shape[-2:]}")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int | np.integer):
            raise BendsError(f"steps must be an integer, got {self.steps!r}")
        if self.steps < 1:
            raise BendsError(f"steps must be at least 1, got {self.steps}")
        if isinstance(self.output, bool) or not isinstance(self.output, int | np.integer):
            raise BendsError(f"output must be an integer, got {self.output!r}")
        if not 0 <= self.output < weight.shape[-1]:
            raise BendsError(
                f"output {self.output} is not a coordinate of width {weight.shape[-1]}"
            )
        object.__setattr__(self, "weight", weight)
        object.__setattr__(self, "steps", int(self.steps))
        object.__setattr__(self, "output", int(self.output))
        object.__setattr__(self, "segment", _check_segment(self.segment, weight.shape[-1]))

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self.weight.shape[:-2]

    @property
    def width(self) -> int:
        return self.weight.shape[-1]

    input_dim = width

    @property
    def output_dim(self) -> int:
        return 1

    @property
    def widths(self) -> list[int]:
        return [self.width] * self.steps

    has_bias = False

    def hidden_layers(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The same ``(W, 0)`` k times: a view, never k copies."""
        zero = np.zeros(self.weight.shape[:-1])
        for _ in range(self.steps):
            yield self.weight, zero

    def readout(self) -> tuple[np.ndarray, np.ndarray]:
        """Selecting coordinate ``output`` as a 1 × w affine map."""
        select = np.zeros((*self.batch_shape, 1, self.width))
        select[..., 0, self.output] = 1.0
        return select, np.zeros((*self.batch_shape, 1))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Evaluate at points of shape (..., width); returns shape (..., 1).

        Overflows for large k and ``‖W‖ > 1``; the tracer renormalises instead.
        """
        require_unbatched(self)
        h = np.asarray(x, dtype=np.float64)
        for _ in range(self.steps):
            h = _relu(h @ self.weight.T)
        return h[..., self.output : self.output + 1]

    def unroll(self) -> MLP:
        """The equivalent MLP: k copies of ``(W, 0)`` and the coordinate readout."""
        return MLP.from_layers([*self.hidden_layers(), self.readout()], self.segment)

    def __getitem__(self, index: int) -> TiedRNN:
        return TiedRNN(self.weight[index], self.steps, self.output, self.segment)

    def __reduce__(self):
        return TiedRNN, (self.weight, self.steps, self.output, self.segment)

    def __repr__(self) -> str:
        batch = f" × batch {self.batch_shape}" if self.batch_shape else ""
        return f"TiedRNN width {self.width}, {self.steps} steps, output {self.output}{batch}"

    def to_dict(self) -> dict[str, Any]:
        require_unbatched(self)
        return {
            "format": FORMAT,
            "version": VERSION,
            "tied": {"weight": self.weight.tolist(), "steps": self.steps, "output": self.output},
            **_segment_dict(self.segment),
        }


Network = MLP | TiedRNN


def _check_segment(segment, dim: int) -> tuple[np.ndarray, np.ndarray] | None:
    if segment is None:
        return None
    if len(segment) != 2:
        raise BendsError("a segment is a pair (start, end)")
    start, end = (_as_float_array(p, "segment point", 1) for p in segment)
    if start.shape != (dim,) or end.shape != (dim,):
        raise BendsError(f"segment points must have {dim} coordinates")
    if np.array_equal(start, end):
        raise BendsError("segment start and end are the same point")
    return start, end


def _segment_dict(segment) -> dict[str, Any]:
    if segment is None:
        return {}
    return {"segment": {"start": segment[0].tolist(), "end": segment[1].tolist()}}


def require_unbatched(net: Network) -> None:
    """Refuse a batched network where one model is needed, with a clear message."""
    if net.batch_shape:
        raise BendsError(
            f"this needs one model, but the network has batch shape {net.batch_shape}: "
            "iterate over it (for model in net: ...)"
        )
