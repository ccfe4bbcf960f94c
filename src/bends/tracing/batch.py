r"""Many segments through one network: :func:`trace_segments`.

Local measurements (regions along chords around thousands of samples) trace short segments
by the thousand. One at a time, a graph network's trace is dominated by the per-node cost of
small torch calls; here the knots of a whole batch of segments lie end to end in one set of
arrays (:mod:`bends.tracing._graph_knots`), so every node runs once per batch. Each segment's
tolerances are scaled by what that segment holds, and nothing crosses from one segment to
the next, so every segment's trace equals its own :func:`~bends.tracing.trace` through the
graph tracer (the tests check this knot for knot).

MLPs and tied RNNs keep their compiled tracer: one compiled call runs it on every segment in
turn (no Python between segments); with a ``device`` they are traced as a torch graph there.

Example:
    >>> import numpy as np, torch
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(),
    ...                           torch.nn.Linear(4, 1))
    >>> rng = np.random.default_rng(0)
    >>> starts, ends = rng.normal(size=(5, 1, 4, 3)), rng.normal(size=(5, 1, 4, 3))
    >>> traces = trace_segments(cnn, starts, ends)
    >>> from bends import trace
    >>> [trace(cnn, a, b).regions for a, b in zip(starts, ends)] == traces.regions.tolist()
    True
"""

from __future__ import annotations

import numpy as np

from bends.errors import BendsError
from bends.nets import as_network, require_unbatched
from bends.tracing.tolerance import SLOPE_RTOL, ZERO_TOL
from bends.tracing.traces import Traces, warn_unresolved

#: Segments per batch of the graph tracer (its arrays grow with the knots of a whole batch).
BATCH = 256


def trace_segments(
    net,
    starts,
    ends,
    *,
    pieces: bool = True,
    zero_tol: float = ZERO_TOL,
    slope_rtol: float = SLOPE_RTOL,
    device=None,
    batch: int = BATCH,
    progress: bool = False,
    centres=None,
) -> Traces:
    """Trace ``net`` along the segments ``starts[s]`` → ``ends[s]``.

    Args:
        net: an MLP, a TiedRNN, a graph network or a torch module (as for
            :func:`~bends.tracing.trace`).
        starts, ends: arrays (segments, *input shape) (or (segments, inputs)).
        pieces: False skips the pieces (regions only; faster for MLPs).
        zero_tol, slope_rtol: the float64 tolerances (:mod:`bends.tracing.tracer`).
        device: a torch device (``"cuda"``) to trace on; default: CPU.
        batch: how many segments the graph tracer holds at once (memory grows with it).
        progress: a progress bar over the batches.
        centres: (segments, *input shape) each segment's midpoint, exactly (the sample a
            chord is drawn around): graph networks then keep a knot there, so that what
            happens at the sample itself (max-pool windows tied on an image's blank patches)
            is read at a knot, not found as crossings that rounding spreads around it.
            The compiled MLP tracer takes its ends only.

    Example:
        >>> from bends.constructions import sawtooth
        >>> trace_segments(sawtooth(4), [[0.0], [0.5]], [[0.5], [1.0]]).pieces.tolist()
        [8, 8]
    """
    from bends.tracing.tracer import _tolerance

    zero_tol, slope_rtol = _tolerance(zero_tol, "zero_tol"), _tolerance(slope_rtol, "slope_rtol")
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise BendsError(f"batch must be a positive number of segments, got {batch!r}")
    starts = _points(starts, "starts")
    net = as_network(net, starts.shape[1:])
    require_unbatched(net)
    graph = type(net).__name__ == "GraphNetwork"
    shape = tuple(net.input_shape) if graph else (net.input_dim,)
    starts, ends = _checked(starts, _points(ends, "ends"), shape)
    if centres is not None:
        centres = _points(centres, "centres")
        if centres.size != starts.size or not np.isfinite(centres).all():
            raise BendsError("centres must be one finite point per segment")
        centres = centres.reshape(starts.shape)
    if device is not None:
        device = checked_device(device)
    if device is not None and not graph:
        from bends.nets.graph import GraphNetwork
        from bends.nets.torch_io import to_torch

        net, graph = GraphNetwork.from_module(to_torch(net), shape), True
    chunks = range(0, len(starts), batch if graph else len(starts))
    parts = []
    for first in _progress(chunks, progress, len(starts), batch):
        part = slice(first, first + (batch if graph else len(starts)))
        if graph:
            from bends.tracing.graph import trace_graph_segments

            middle = None if centres is None else centres[part]
            parts.append(trace_graph_segments(net, starts[part], ends[part], zero_tol, slope_rtol,
                                              pieces, device, middle))  # fmt: skip
        else:
            parts.append(_compiled(net, starts[part], ends[part], zero_tol, slope_rtol, pieces))
    return parts[0] if len(parts) == 1 else Traces.joined(parts)


def checked_device(device):
    """``device`` as a torch device; a BendsError if torch does not know it or this machine
    lacks it (a GPU torch cannot see)."""
    import torch

    try:
        found = torch.device(device)
    except (RuntimeError, TypeError):
        raise BendsError(f"unknown torch device {device!r} (cpu, cuda, cuda:1, mps, …)") from None
    if found.type == "cuda" and not torch.cuda.is_available():
        raise BendsError(f"device {device!r}: torch sees no CUDA GPU on this machine")
    if found.type == "mps" and not torch.backends.mps.is_available():
        raise BendsError(f"device {device!r}: torch sees no MPS device on this machine")
    return found


def _compiled(net, starts, ends, zero_tol: float, slope_rtol: float, pieces: bool) -> Traces:
    """An MLP's or tied RNN's segments through the compiled tracer, all in one call."""
    from bends.tracing._push import _push_segments
    from bends.tracing.tracer import compiled_push

    packed, traced = compiled_push(net, _push_segments, starts, ends, zero_tol, slope_rtol, -1,
                                   pieces)  # fmt: skip
    knots, values, slopes, region_breaks, piece_breaks = traced[:5]
    switches, ever_on, always_on, counters, by_output = traced[5:]
    offsets = np.cumsum([0] + [len(k) for k in knots])
    knots = np.concatenate(knots)
    warn_unresolved(knots, offsets, stacklevel=3)
    switches, ever_on, always_on = np.stack(switches), np.stack(ever_on), np.stack(always_on)
    return Traces(
        network=net,
        starts=starts,
        ends=ends,
        offsets=offsets,
        knots=knots,
        values=np.concatenate([v.T for v in values]),
        slopes=np.concatenate([d.T for d in slopes]) if pieces else None,
        region_breaks=np.concatenate(region_breaks),
        piece_breaks=np.concatenate(piece_breaks) if pieces else None,
        output_breaks=np.concatenate([o.T for o in by_output]) if pieces else None,
        switches=[switches[:, layer] for layer in packed.layers],
        dead=[~ever_on[:, layer] for layer in packed.layers],
        always_on=[always_on[:, layer] for layer in packed.layers],
        log_scale=counters[:, 2].copy(),
        snapped=counters[:, 0].astype(np.int64),
        merged=counters[:, 1].astype(np.int64),
    )


def _points(points, name: str) -> np.ndarray:
    try:
        array = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        raise BendsError(f"{name} must be an array of numbers") from None
    if array.ndim < 2 or len(array) == 0:
        raise BendsError(f"{name} must hold one point per segment, shape (segments, …); "
                         f"got shape {array.shape}")  # fmt: skip
    return array


def _checked(starts: np.ndarray, ends: np.ndarray, shape: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Both ends as (segments, *shape): same count, finite, no segment of length zero."""
    if starts.shape != ends.shape:
        raise BendsError(f"starts {starts.shape} and ends {ends.shape} differ in shape")
    count = len(starts)
    if starts[0].size != int(np.prod(shape)):
        raise BendsError(f"each point has {starts[0].size} coordinates but the network takes "
                         f"{int(np.prod(shape))}")  # fmt: skip
    starts, ends = starts.reshape(count, *shape), ends.reshape(count, *shape)
    flat = (starts.reshape(count, -1), ends.reshape(count, -1))
    if not (np.isfinite(flat[0]).all() and np.isfinite(flat[1]).all()):
        raise BendsError("the segments' ends contain NaN or infinite values")
    with np.errstate(over="ignore"):
        if not np.isfinite(flat[1] - flat[0]).all():
            raise BendsError("end − start overflows float64: a segment is too long")
    empty = np.flatnonzero((flat[0] == flat[1]).all(axis=1))
    if len(empty):
        raise BendsError(f"segment {int(empty[0])} starts where it ends: it is empty")
    return starts, ends


def _progress(chunks: range, shown: bool, segments: int, batch: int):
    if not shown or len(chunks) < 2:
        yield from chunks
        return
    from rich.progress import track

    yield from track(chunks, description=f"tracing {segments} segments, {batch} at a time")
