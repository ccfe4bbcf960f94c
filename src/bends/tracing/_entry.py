r"""The entry points: :func:`trace` (one segment), :func:`trace_segments` (many segments in one
batch) and :func:`trace_plane` (a 2-D slice). Each checks its arguments
(:mod:`bends.tracing._arguments`) and sends the network to the room that traces its kind:

* ``_line/``: MLPs and tied RNNs along segments, compiled (the algorithm and the float64
  tolerance policy: :mod:`bends.tracing._line.tracer`), and in rational arithmetic;
* ``_graph/``: any piecewise-linear torch module, node by node (1-D, batched, exact, planar,
  lowered to a compiled program when it is a residual MLP, and the region walker);
* ``_plane/``: MLPs and tied RNNs on planes (float64 and fractions).

Batches. Local measurements (regions along chords around thousands of samples) trace short
segments by the thousand. One at a time, a graph network's trace is dominated by the per-node
cost of small torch calls; :func:`trace_segments` lays the knots of a whole batch end to end
in one set of arrays (:mod:`bends.tracing._graph.knots`), so every node runs once per batch.
Each segment's tolerances are scaled by what that segment holds, and nothing crosses from one
segment to the next, so every segment's trace equals its own :func:`trace` through the graph
tracer (the tests check this knot for knot). MLPs and tied RNNs keep their compiled tracer:
one compiled call runs it on every segment in turn; with a ``device`` they are traced as a
torch graph there.

Example:
    >>> import numpy as np, torch
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(),
    ...                           torch.nn.Linear(4, 1))
    >>> rng = np.random.default_rng(0)
    >>> starts, ends = rng.normal(size=(5, 1, 4, 3)), rng.normal(size=(5, 1, 4, 3))
    >>> traces = trace_segments(cnn, starts, ends)
    >>> [trace(cnn, a, b).regions for a, b in zip(starts, ends)] == traces.regions.tolist()
    True
"""

from __future__ import annotations

import dataclasses
import weakref

import numpy as np

import bends.tracing._arguments as arguments
from bends.errors import BendsError
from bends.nets import Network, as_network, require_unbatched
from bends.tracing._line.tracer import compiled_segments, float_trace
from bends.tracing._results.complex import Complex
from bends.tracing._results.partition import Partition
from bends.tracing._results.trace import Trace
from bends.tracing._results.traces import Traces
from bends.tracing._threads import one_blas_thread
from bends.tracing.tolerance import SLOPE_RTOL, ZERO_TOL

#: Segments per batch of the graph tracer (its arrays grow with the knots of a whole batch).
BATCH = 256


def trace(
    net: Network,
    start=None,
    end=None,
    *,
    exact: bool = False,
    zero_tol: float = ZERO_TOL,
    slope_rtol: float = SLOPE_RTOL,
    progress: bool = False,
    pieces: bool = True,
    device=None,
) -> Trace:
    """Trace ``net`` along the segment from ``start`` to ``end`` (the algorithm:
    :mod:`bends.tracing._line.tracer`).

    Args:
        net: an unbatched MLP or TiedRNN (iterate over a batched one), or a torch module:
            ``nn.Sequential`` of Linear and ReLU is converted by :func:`bends.from_torch`, any
            other piecewise-linear module is traced as a graph (:mod:`bends.tracing._graph`:
            convolutions, pooling, residual sums, LeakyReLU, BatchNorm in eval mode, …).
        start, end: input-space end points (for a graph: arrays of the module's input shape,
            without the batch axis); default: :func:`default_segment`.
        exact: use rational arithmetic (:mod:`bends.tracing._line.exact`); slow, for small
            networks.
        zero_tol, slope_rtol: the float64 tolerances (:mod:`bends.tracing.tolerance`).
        progress: show a progress bar in exact mode (which can take minutes).
        pieces: False skips the slopes, which only the pieces need: regions, knots, values,
            switches, dead and always-on neurons are the same, about twice as fast for
            wide networks; ``pieces`` and ``breakpoints`` then raise. (Exact mode always
            finds both.)
        device: a torch device (``"cuda"``) to trace on, as a torch graph (the one-segment
            case of :func:`trace_segments`); default: the CPU's compiled or graph tracer.

    Example:
        >>> from bends.constructions import sawtooth
        >>> trace(sawtooth(4), pieces=False).regions
        16
        >>> trace(sawtooth(4), device="cpu").pieces  # as a torch graph
        16
    """
    zero_tol, slope_rtol = arguments.tolerances(zero_tol, slope_rtol)
    arguments.flags(exact=exact, progress=progress, pieces=pieces)
    shape = None if start is None else np.shape(start)
    net = as_network(net, shape if shape else None)
    require_unbatched(net)
    if device is not None:
        if exact:
            raise BendsError("exact traces run on the CPU, in fractions: leave out device")
        start, end = arguments.segment(net, *(None if p is None else np.ravel(p)
                                              for p in (start, end)))  # fmt: skip
        # copies: a network's own segment is read-only, which torch warns about
        start, end = np.array(start)[None], np.array(end)[None]
        return trace_segments(net, start, end, pieces=pieces, zero_tol=zero_tol,
                              slope_rtol=slope_rtol, device=device)[0]  # fmt: skip
    if net.is_graph:
        return graph_trace(net, start, end, exact, zero_tol, slope_rtol, pieces)
    start, end = arguments.segment(net, start, end)
    if exact:
        from bends.tracing._line.exact import trace_exact

        return trace_exact(net, start, end, progress=progress)
    return float_trace(net, start, end, zero_tol, slope_rtol, pieces=pieces)


def trace_segments(
    net,
    starts,
    ends,
    *,
    exact: bool = False,
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
        exact: trace each segment in rational arithmetic (:func:`trace` with ``exact=True``;
            small networks, on the CPU); the knots are reported as floats.
        pieces: False skips the pieces (regions only; faster for MLPs).
        zero_tol, slope_rtol: the float64 tolerances (:mod:`bends.tracing.tolerance`).
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
    zero_tol, slope_rtol = arguments.tolerances(zero_tol, slope_rtol)
    arguments.flags(exact=exact, pieces=pieces, progress=progress)
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise BendsError(f"batch must be a positive number of segments, got {batch!r}")
    starts = arguments.point_array(starts, "starts")
    net = as_network(net, starts.shape[1:])
    require_unbatched(net)
    graph = net.is_graph
    shape = tuple(net.input_shape) if graph else (net.input_dim,)
    starts, ends = arguments.segments(starts, arguments.point_array(ends, "ends"), shape)
    if centres is not None:
        centres = arguments.point_array(centres, "centres")
        if centres.size != starts.size or not np.isfinite(centres).all():
            raise BendsError("centres must be one finite point per segment")
        centres = centres.reshape(starts.shape)
    if device is not None:
        device = arguments.checked_device(device)
    if exact:
        if device is not None and device.type != "cpu":
            raise BendsError("exact traces run on the CPU, in fractions: leave out device")
        found = [trace(net, a, b, exact=True) for a, b in zip(starts, ends, strict=True)]
        return dataclasses.replace(Traces.from_traces(found), starts=starts, ends=ends)
    if device is not None and not graph:
        from bends.nets.graph import GraphNetwork
        from bends.nets.torch_io import to_torch

        net, graph = GraphNetwork.from_module(to_torch(net), shape), True
    chunks = range(0, len(starts), batch if graph else len(starts))
    parts = []
    for first in _progress(chunks, progress, len(starts), batch):
        part = slice(first, first + (batch if graph else len(starts)))
        if graph:
            from bends.tracing._graph.tracer import trace_graph_segments

            middle = None if centres is None else centres[part]
            parts.append(trace_graph_segments(net, starts[part], ends[part], zero_tol, slope_rtol,
                                              pieces, device, middle))  # fmt: skip
        else:
            parts.append(compiled_segments(net, starts[part], ends[part], zero_tol, slope_rtol,
                                           pieces))  # fmt: skip
    return parts[0] if len(parts) == 1 else Traces.joined(parts)


def trace_plane(
    net: Network,
    a,
    b,
    c,
    *,
    exact: bool = False,
    zero_tol: float = ZERO_TOL,
    slope_rtol: float = SLOPE_RTOL,
) -> Partition:
    """The partition of the parallelogram with corners a, b, c (``Partition.corners``): the
    points a + s (b − a) + u (c − a), s, u ∈ [0, 1]; the algorithm:
    :mod:`bends.tracing._plane.mlp`.

    Args:
        net: an MLP, a tied RNN or a graph network (a torch module is read as by
            :func:`trace`).
        a, b, c: three input points not on one line (for a graph: of its input shape).
        exact: in fractions (:mod:`bends.tracing._plane.exact`; small MLPs and tied RNNs).
        zero_tol, slope_rtol: the float64 tolerances (:mod:`bends.tracing.tolerance`).

    Example:
        >>> from bends.constructions import sawtooth
        >>> import numpy as np
        >>> from bends import MLP
        >>> net = MLP.from_layers([(np.eye(2), np.zeros(2)), (np.ones((1, 2)), np.zeros(1))])
        >>> trace_plane(net, [-1, -1], [1, -1], [-1, 1]).regions
        4
    """
    zero_tol, slope_rtol = arguments.tolerances(zero_tol, slope_rtol)
    arguments.flags(exact=exact)
    net = as_network(net, np.shape(a) or None)
    require_unbatched(net)
    corners = arguments.plane_corners(net, a, b, c)
    if net.is_graph:
        if exact:
            raise BendsError("exact planes are traced for MLPs and tied RNNs, not graphs")
        from bends.tracing._graph.plane import trace_plane_graph

        return trace_plane_graph(net, corners, zero_tol, slope_rtol)
    if exact:
        from bends.tracing._plane.exact import trace_plane_exact

        return trace_plane_exact(net, corners)
    from bends.tracing._plane.mlp import trace_plane_mlp

    return trace_plane_mlp(net, corners, zero_tol, slope_rtol)


def trace_box(
    net: Network,
    low=None,
    high=None,
    *,
    corners=None,
    simplex: bool = False,
    whole: bool = False,
    exact: bool = False,
    zero_tol: float = ZERO_TOL,
    slope_rtol: float = SLOPE_RTOL,
) -> Complex:
    """The polyhedral complex of ``net``'s activation regions on a d-dimensional domain, d ≤ 8:
    the box [``low``, ``high``] of its input space; the parallelotope (or with ``simplex``
    the simplex) of d + 1 ``corners`` p₀, …, p_d, in box coordinates t: x = p₀ + Σ tᵢ
    (pᵢ − p₀), t ∈ [0, 1]^d; or with ``whole`` all of the input space (or of the corners'
    affine slice), in a box that provably holds every vertex (:mod:`bends.tracing._box.whole`).
    The algorithm: :mod:`bends.tracing._box.tracer`.

    Args:
        net: an MLP, a tied RNN or a graph network (a torch module is read as by
            :func:`trace`: conv nets, residual blocks, any piecewise-linear module whose
            kinks are elementwise or pairwise maxima; float64, not over the whole space).
        low, high: the box's lowest and highest corner (points of the input space; for a
            graph network, of its input shape).
        corners: d + 1 affinely independent input points instead of a box.
        simplex: the simplex of the corners rather than their parallelotope.
        whole: the whole input space (or the corners' whole affine slice).
        exact: in fractions (small networks).
        zero_tol, slope_rtol: the float64 tolerances (:mod:`bends.tracing.tolerance`).

    Example:
        >>> import numpy as np
        >>> from bends import MLP
        >>> lines = (np.array([[1.0, 0], [0, 1], [1, 1]]), np.array([0.0, 0, -1]))
        >>> net = MLP.from_layers([lines, (np.ones((1, 3)), np.zeros(1))])
        >>> cells = trace_box(net, whole=True)  # three lines in the plane: 1 + 3 + 3 regions
        >>> cells.regions, cells.pieces, int(cells.unbounded.sum())
        (7, 7, 6)
    """
    with one_blas_thread():
        return _trace_box(net, low, high, corners, simplex, whole, exact, zero_tol, slope_rtol)


def _trace_box(net, low, high, corners, simplex, whole, exact, zero_tol, slope_rtol) -> Complex:
    """:func:`trace_box`'s work, with BLAS on one thread (see its docstring)."""
    zero_tol, slope_rtol = arguments.tolerances(zero_tol, slope_rtol)
    arguments.flags(exact=exact, simplex=simplex, whole=whole)
    given = low if low is not None else (corners[0] if corners is not None else None)
    net = as_network(net, np.shape(given) if given is not None else None)
    require_unbatched(net)
    if net.is_graph and (whole or exact):
        raise BendsError("a graph network's complex is traced in float64 on a box or the "
                         "corners' parallelotope or simplex: whole=True and exact=True are for "
                         "MLPs and tied RNNs")  # fmt: skip
    from bends.tracing._box.tracer import box_domain, simplex_domain, trace_box_mlp

    def traced(domain):
        if net.is_graph:
            from bends.tracing._graph.box import trace_box_graph

            return trace_box_graph(net, domain, zero_tol, slope_rtol)
        return trace_box_mlp(net, domain, zero_tol, slope_rtol, exact)

    boxed = low is not None or high is not None
    if boxed and (corners is not None or whole):
        raise BendsError("give a box (low, high), corners, or whole=True, not several")
    if corners is not None:
        points = arguments.box_corners(net, corners)
        origin, basis = points[0], (points[1:] - points[0]).T
    elif boxed:
        if low is None or high is None:
            raise BendsError("a box needs both low and high")
        if simplex:
            raise BendsError("simplex=True needs corners, not a box")
        low, high = arguments.box_bounds(net, low, high)
        return traced(box_domain(low, high))
    elif whole:
        arguments.box_dims(net.input_dim)
        origin, basis = np.zeros(net.input_dim), np.eye(net.input_dim)
    else:
        raise BendsError("give a box (low, high), corners, or whole=True")
    d = basis.shape[1]
    if whole:
        if simplex:
            raise BendsError("simplex=True and whole=True exclude each other")
        from bends.tracing._box.whole import trace_whole

        return trace_whole(net, origin, basis, zero_tol, slope_rtol, exact)
    domain = (simplex_domain(d, origin, basis) if simplex else
              box_domain(np.zeros(d), np.ones(d), origin, basis))  # fmt: skip
    return traced(domain)


def graph_trace(net, start, end, exact, zero_tol, slope_rtol, pieces, lowered=True) -> Trace:
    """:func:`trace` of a graph network: residual MLPs in one compiled call
    (:mod:`bends.tracing._graph.lowering`), any other graph node by node
    (:mod:`bends.tracing._graph.tracer`); exact mode: :mod:`bends.tracing._graph.exact`.
    ``lowered=False`` forces the node-by-node tracer (the tests compare the two)."""
    from bends.tracing._graph.exact import trace_graph_exact
    from bends.tracing._graph.lowering import lower, trace_program
    from bends.tracing._graph.tracer import trace_graph

    flat = [
        None if p is None else np.asarray(p, dtype=np.float64).reshape(-1) for p in (start, end)
    ]
    start, end = arguments.segment(net, *flat)
    if exact:
        return trace_graph_exact(net, start, end)
    if lowered:
        if net not in _PROGRAMS:
            _PROGRAMS[net] = lower(net)
        if (program := _PROGRAMS[net]) is not None:
            return trace_program(net, program, start, end, zero_tol, slope_rtol, pieces)
    return trace_graph(net, start, end, zero_tol, slope_rtol)


# Graph networks are immutable: each is lowered once, on its first trace (None: not lowerable).
_PROGRAMS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _progress(chunks: range, shown: bool, segments: int, batch: int):
    if not shown or len(chunks) < 2:
        yield from chunks
        return
    from rich.progress import track

    yield from track(chunks, description=f"tracing {segments} segments, {batch} at a time")
