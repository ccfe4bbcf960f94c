"""The knots of a graph trace and what lives on them (:mod:`bends.tracing._graph.tracer`): values at
the knots, slopes and branches on the intervals, and the insertion of new knots.

Many segments are traced at once by laying their knots end to end: ``segment`` says whose
knot each one is, t runs over [0, 1] within each segment, and the interval between the last
knot of one segment and the first of the next (an *outer* interval) is never crossed,
interpolated into or counted. Every tolerance is scaled by what its own segment holds, so a
segment's trace does not depend on the others in its batch."""

from __future__ import annotations

from typing import Any

import torch

from bends.tracing.tolerance import MERGE_GAP


class Knots:
    """The knots t (K,) of ``count`` segments, ``segment`` (K,) the segment of each, and
    everything defined on them: values V (K, …) at the knots, slopes D and branches B
    (K − 1, …) on the intervals, kept per node name until their last use."""

    def __init__(self, t: torch.Tensor, segment: torch.Tensor, count: int) -> None:
        self.t = t
        self.segment = segment
        self.count = count
        self.values: dict[str, Any] = {}
        self.slopes: dict[str, Any] = {}
        self.branches: list[torch.Tensor] = []  # per kink: (K − 1, elements) branch numbers
        self.added = torch.zeros(0, dtype=torch.long, device=t.device)  # the last insert's knots

    @classmethod
    def ends(cls, count: int, device=None, centred: bool = False) -> Knots:
        """The two ends t = 0, 1 of each of ``count`` segments (and t = 1/2 if
        ``centred``)."""
        start = [0.0, 0.5, 1.0] if centred else [0.0, 1.0]
        t = torch.tensor(start, dtype=torch.float64, device=device).repeat(count)
        segment = torch.arange(count, device=device).repeat_interleave(len(start))
        return cls(t, segment, count)

    @property
    def firsts(self) -> torch.Tensor:
        """(count,) the index of each segment's first knot."""
        changes = (self.segment[1:] != self.segment[:-1]).nonzero(as_tuple=True)[0] + 1
        return torch.cat([changes.new_zeros(1), changes])

    @property
    def inner(self) -> torch.Tensor:
        """(K − 1,) True for intervals inside a segment, False between two segments."""
        return self.segment[1:] == self.segment[:-1]

    def largest(self, x: torch.Tensor) -> torch.Tensor:
        """(count,) the largest |x| over each segment's knots (x: values, (K, …))."""
        per_knot = x.reshape(len(x), -1).abs().amax(dim=1) if x[0].numel() else x.new_zeros(len(x))
        out = per_knot.new_zeros(self.count)
        return out.scatter_reduce(0, self.segment, per_knot, "amax", include_self=True)

    def tolerance(self, x: torch.Tensor, kinks, zero_tol: float) -> torch.Tensor:
        """Per knot, shaped to broadcast against x: zero_tol times the largest of |x| over
        the knot's segment, of the kinks' |c| and of 1e-300."""
        size = self.largest(x).clamp(min=max([abs(c) for c in kinks] + [1e-300]))
        return (zero_tol * size)[self.segment].view(-1, *([1] * (x.dim() - 1)))

    def insert(self, interval: torch.Tensor, new: torch.Tensor) -> None:
        """Add knots ``new`` inside the intervals ``interval`` (sorted by interval, then t):
        interpolate every value, let every slope and branch be inherited by the parts of its
        interval. ``added`` is then where the new knots are."""
        old_count, device = len(self.t), self.t.device
        before = torch.searchsorted(interval, torch.arange(old_count, device=device))
        old = torch.arange(old_count, device=device) + before
        at = interval + 1 + torch.arange(len(new), device=device)
        t = self.t.new_empty(old_count + len(new))
        t[old], t[at] = self.t, new
        frac = (new - self.t[interval]) / (self.t[interval + 1] - self.t[interval])
        parent = torch.empty(len(t), dtype=torch.long, device=device)
        parent[old] = torch.arange(old_count, device=device)
        parent[at] = interval
        for name, v in self.values.items():
            if isinstance(v, torch.Tensor):
                # index_copy_ and index_select move whole rows: several times faster than
                # indexing with tensors
                shape = (-1,) + (1,) * (v.dim() - 1)
                low, high = v.index_select(0, interval), v.index_select(0, interval + 1)
                grown = v.new_empty((len(t), *v.shape[1:])).index_copy_(0, old, v)
                self.values[name] = grown.index_copy_(0, at, low + (high - low) * frac.view(shape))
        parent = parent[:-1]
        for name, d in self.slopes.items():
            if isinstance(d, torch.Tensor):
                self.slopes[name] = d.index_select(0, parent)
        self.branches = [b.index_select(0, parent) for b in self.branches]
        self.segment = self.segment[torch.cat([parent, parent.new_full((1,), old_count - 1)])]
        self.t = t
        self.added = at


def scale(x: torch.Tensor, kinks) -> float:
    """The largest of |x|, of the kinks' |c| and of 1e-300 (one segment's tolerance scale)."""
    return max(float(x.abs().max()) if x.numel() else 0.0, *[abs(c) for c in kinks], 1e-300)


def snapped(x: torch.Tensor, kinks, tol: torch.Tensor) -> torch.Tensor:
    """x with values within ``tol`` (per knot, :meth:`Knots.tolerance`) of a kink set onto
    it."""
    out = x.clone()
    for c in kinks:
        out = torch.where((out - c).abs() <= tol, torch.full_like(out, c), out)
    return out


def insert(state: Knots, found: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """Insert the crossings ``found`` (pairs: the interval of each, its t), those at most
    MERGE_GAP apart as one knot; returns, per segment, how many were merged into a knot at
    another position."""
    merged = torch.zeros(state.count, dtype=torch.long, device=state.t.device)
    state.added = state.added[:0]
    if not found:
        return merged
    interval = torch.cat([i for i, _ in found])
    where = torch.cat([w for _, w in found])
    order = torch.argsort(where, stable=True)
    interval, where = interval[order], where[order]
    order = torch.argsort(interval, stable=True)
    interval, where = interval[order], where[order]
    # a crossing at most MERGE_GAP from a knot is on it (rounding moved it off)
    near = torch.minimum(where - state.t[interval], state.t[interval + 1] - where)
    interval, where = interval[near > MERGE_GAP], where[near > MERGE_GAP]
    if not len(where):
        return merged
    # a run of crossings each at most MERGE_GAP after the one before is one knot, at its first
    steps = where[1:] - where[:-1]
    close = (interval[1:] == interval[:-1]) & (steps <= MERGE_GAP)
    keep = torch.cat([torch.ones(1, dtype=torch.bool, device=where.device), ~close])
    into = state.segment[interval[1:][close & (steps > 0)]]
    merged.index_add_(0, into, torch.ones_like(into))
    state.insert(interval[keep], where[keep])
    return merged
