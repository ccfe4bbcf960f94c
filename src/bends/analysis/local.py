r"""Local complexity: how many region boundaries lie near the data, counted exactly.

The measurements researchers take near samples (Hanin & Rolnick's regions along lines
through inputs, Gamba et al.'s counts between samples, Humayun et al.'s boundary density in
a ball around each point), computed by tracing, not by sampling vertices:

* **chords** (:func:`local_complexity`): around each point x, ``chords`` diameters of the
  ball of radius r, :math:`x - r u \to x + r u` with directions u uniform on the unit sphere
  of the input space (normalised Gaussians, seeded). A point's *local complexity* is the
  number of region boundaries its chords cross per unit length,
  :math:`\mathrm{LC}(x) = \sum_c (\text{regions}_c - 1) / (2 r \cdot \text{chords})`; per
  layer, the boundaries that layer's neurons draw; *nearest* is the distance from x to the
  closest boundary along its chords (inf when none lies within r), an upper bound on the
  distance to the nearest region boundary in any direction.
* **pairs** (:func:`along_pairs`): regions and pieces along the segment between two samples,
  and the same per unit length.
* **decision boundary** (:func:`decision_points`): along a segment whose ends a classifier
  labels differently, the first point where the largest output changes, exact on the
  piecewise-linear trace; chords around these points measure complexity *at* the boundary.
* **2-D** (:func:`faces_near`): for networks of two inputs, the faces of the exact planar
  partition that meet the disk of radius r around each point.

Example:
    >>> import numpy as np, torch
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    >>> lc = local_complexity(net, np.zeros((3, 2)), radius=0.5, chords=4)
    >>> lc.density.shape, lc.per_layer.shape, bool((lc.nearest <= 0.5).any())
    ((3,), (3, 1), True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bends.errors import BendsError
from bends.tracing import BATCH, Traces, trace_segments


def chord_ends(points: np.ndarray, radius: float, chords: int, seed: int = 0):
    """The ``chords`` diameters of the ball of ``radius`` around each point, directions
    uniform on the sphere: (starts, ends), each (points · chords, *point shape), the chords
    of point i at rows i·chords … (i + 1)·chords − 1."""
    points = np.asarray(points, dtype=np.float64)
    if not (isinstance(radius, int | float) and np.isfinite(radius) and radius > 0):
        raise BendsError(f"radius must be a positive number, got {radius!r}")
    if not isinstance(chords, int) or isinstance(chords, bool) or chords < 1:
        raise BendsError(f"chords must be a positive whole number, got {chords!r}")
    if points.ndim < 2 or len(points) == 0:
        raise BendsError(f"points must be an array (points, …), got shape {points.shape}")
    shape = points.shape[1:]
    directions = np.random.default_rng(seed).normal(size=(len(points) * chords, *shape))
    flat = directions.reshape(len(directions), -1)
    flat /= np.linalg.norm(flat, axis=1, keepdims=True)
    centres = np.repeat(points, chords, axis=0)
    return centres - radius * directions, centres + radius * directions


@dataclass(frozen=True)
class LocalComplexity:
    """Boundaries near each of n points, from ``chords`` chords of length 2·``radius`` each.

    Attributes:
        density: (n,) region boundaries crossed per unit length (the local complexity).
        per_layer: (n, layers) the same, split by the hidden layer (kink node) that draws
            each boundary.
        nearest: (n,) distance to the nearest boundary along the chords (inf: none within
            ``radius``).
        regions: (n, chords) activation regions along each chord.
        resolved: (n,) False where float64 could not resolve a chord's breakpoints.
    """

    radius: float
    chords: int
    density: np.ndarray
    per_layer: np.ndarray
    nearest: np.ndarray
    regions: np.ndarray
    resolved: np.ndarray

    def summary(self) -> dict[str, float]:
        """Means over the points: density, per-layer density, the median distance to the
        nearest boundary and the share of points with a boundary within the radius."""
        found = np.isfinite(self.nearest)
        out = {
            "density": float(self.density.mean()),
            "nearest_median": float(np.median(self.nearest)),
            "within_radius": float(found.mean()),
            "resolved": bool(self.resolved.all()),
        }
        for layer, value in enumerate(self.per_layer.mean(axis=0)):
            out[f"density_layer{layer + 1}"] = float(value)
        return out


def local_complexity(
    net,
    points,
    radius: float,
    chords: int = 8,
    seed: int = 0,
    *,
    device=None,
    batch: int = BATCH,
    progress: bool = False,
) -> LocalComplexity:
    """Local complexity of ``net`` around each of ``points`` (module docstring), from
    ``chords`` random diameters of the ball of ``radius`` per point.

    Example:
        >>> from bends.constructions import sawtooth
        >>> lc = local_complexity(sawtooth(3), [[0.3], [0.5]], radius=0.05, chords=1)
        >>> lc.density.tolist(), lc.nearest.round(3).tolist()  # boundaries every 1/8
        ([0.0, 10.0], [inf, 0.0])
    """
    points = np.asarray(points, dtype=np.float64)
    starts, ends = chord_ends(points, radius, chords, seed)
    traces = trace_segments(
        net,
        starts,
        ends,
        pieces=False,
        device=device,
        batch=batch,
        progress=progress,
        centres=np.repeat(points, chords, axis=0),
    )
    return _measured(traces, len(points), radius, chords)


def _measured(traces: Traces, count: int, radius: float, chords: int) -> LocalComplexity:
    length = 2.0 * radius * chords
    crossed = (traces.regions - 1).reshape(count, chords)
    layers = traces.crossings_per_layer().reshape(count, chords, -1).sum(axis=1)
    # the distance from the centre (t = 1/2) to each chord's nearest boundary
    owner = traces.segment_of_knot
    gaps = np.abs(traces.knots - 0.5) * 2.0 * radius
    nearest = np.full(len(traces), np.inf)
    np.minimum.at(nearest, owner[traces.region_breaks], gaps[traces.region_breaks])
    return LocalComplexity(
        radius=float(radius),
        chords=chords,
        density=crossed.sum(axis=1) / length,
        per_layer=layers / length,
        nearest=nearest.reshape(count, chords).min(axis=1),
        regions=crossed + 1,
        resolved=traces.resolved.reshape(count, chords).all(axis=1),
    )


@dataclass(frozen=True)
class PairCounts:
    """Regions and pieces along segments between pairs of samples, and per unit length."""

    regions: np.ndarray
    pieces: np.ndarray
    length: np.ndarray

    @property
    def density(self) -> np.ndarray:
        """Region boundaries per unit length along each segment."""
        return (self.regions - 1) / self.length


def along_pairs(net, starts, ends, *, device=None, batch: int = BATCH) -> PairCounts:
    """Regions and pieces of ``net`` along each segment ``starts[i]`` → ``ends[i]`` (Gamba et
    al.'s paths between samples, straight).

    Example:
        >>> from bends.constructions import sawtooth
        >>> along_pairs(sawtooth(2), [[0.0]], [[1.0]]).regions.tolist()
        [4]
    """
    traces = trace_segments(net, starts, ends, device=device, batch=batch)
    length = np.linalg.norm((traces.ends - traces.starts).reshape(len(traces), -1), axis=1)
    return PairCounts(traces.regions, traces.pieces, length)


def decision_points(net, starts, ends, *, device=None, batch: int = BATCH):
    """Where a classifier's decision first changes along each segment whose ends it labels
    differently: (points (m, *shape), which segments (m,)). The decision is the largest
    output (a single output: its sign); the crossing is exact on the trace (the outputs are
    affine between knots).

    Example:
        >>> import numpy as np
        >>> from bends import MLP
        >>> net = MLP.from_layers([(np.array([[1.0], [-1.0]]), np.zeros(2)),
        ...                        (np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0.0, 0.5]))])
        >>> points, which = decision_points(net, [[-2.0], [1.0]], [[2.0], [2.0]])
        >>> points.tolist(), which.tolist()
        ([[0.5]], [0])
    """
    traces = trace_segments(net, starts, ends, device=device, batch=batch)
    found, which = [], []
    for s, tr in enumerate(traces):
        t = _first_change(tr.knots, tr.values)
        if t is not None:
            found.append(tr.start + t * (tr.end - tr.start))
            which.append(s)
    shape = traces.starts.shape[1:]
    points = np.array(found).reshape(len(found), *shape) if found else np.zeros((0, *shape))
    return points, np.array(which, dtype=np.int64)


def _first_change(knots: np.ndarray, values: np.ndarray) -> float | None:
    """The first t where the largest output (a single output: its sign) changes."""
    if values.shape[1] == 1:
        values = np.concatenate([np.zeros_like(values), values], axis=1)
    first = int(np.argmax(values[0]))
    if int(np.argmax(values[-1])) == first:
        return None
    ahead = values - values[:, first : first + 1]  # > 0 where another output leads
    ahead[:, first] = -np.inf
    k = int(np.argmax(ahead.max(axis=1) > 0))  # the first knot where another leads
    before, after = -ahead[k - 1], -ahead[k]  # the leader's margins, >= 0 then < 0
    crossing = (after < 0) & np.isfinite(before)
    frac = np.min(before[crossing] / (before[crossing] - after[crossing]))
    return float(knots[k - 1] + (knots[k] - knots[k - 1]) * frac)


def faces_near(net, points, radius: float) -> np.ndarray:
    """For a network of two inputs: how many faces of its exact planar partition meet the
    disk of ``radius`` around each point (the 2-D neighbourhood count), traced once over the
    square that holds every disk.

    Example:
        >>> from bends import MLP
        >>> net = MLP.from_layers([(np.eye(2), np.zeros(2)), (np.ones((1, 2)), np.zeros(1))])
        >>> faces_near(net, [[0.0, 0.0], [1.0, 1.0]], radius=0.5).tolist()
        [4, 1]
    """
    from bends.tracing import trace_plane

    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise BendsError(f"faces_near takes points in two dimensions, got shape {points.shape}")
    if not (isinstance(radius, int | float) and np.isfinite(radius) and radius > 0):
        raise BendsError(f"radius must be a positive number, got {radius!r}")
    low, high = points.min(axis=0) - radius, points.max(axis=0) + radius
    side = float((high - low).max())
    corner = np.asarray(low)
    partition = trace_plane(net, corner, corner + np.array([side, 0.0]),
                            corner + np.array([0.0, side]))  # fmt: skip
    return np.array([partition.faces_near((p - corner) / side, radius / side) for p in points])
