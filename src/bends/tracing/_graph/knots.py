"""The knots of a graph trace and what lives on them (:mod:`bends.tracing._graph.tracer`): values at
the knots, slopes and branches on the intervals, and the insertion of new knots.

Many segments are traced at once by laying their knots end to end: ``segment`` says whose
knot each one is, t runs over [0, 1] within each segment, and the interval between the last
knot of one segment and the first of the next (an *outer* interval) is never crossed,
interpolated into or counted. Every tolerance is scaled by what its own segment holds, so a
segment's trace does not depend on the others in its batch.

What a kink decides on each interval (its branch) is not kept: only what the result needs —
per knot, whether some kink changes branch across it (a region break), and per kink node and
segment, how often each element switches and the branch it starts and ends on. That is what
lets a trace be cut at a knot into two (:meth:`Knots.split`) that go on through the rest of
the graph in turn and are joined again (:meth:`Knots.joined`) with the same breaks and
statistics: the memory a trace holds is bounded by how many knots go through a node at once,
not by the segment's length. One thing a part cannot know is the largest value the other
parts hold: its tolerances are scaled by its own (:meth:`Knots.tolerance`), so a value within
2⁻⁴⁰ of a kink relative to the whole segment's largest but not to the part's can be snapped
in one run and crossed in the other — a difference only where float64's resolution is in
question (values 10¹² or more apart in one node)."""

from __future__ import annotations

from typing import Any, NamedTuple

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
        #: (K,) whether some kink changes branch across each knot (a region break)
        self.breaks = torch.zeros(len(t), dtype=torch.bool, device=t.device)
        #: per kink node: :class:`KinkStatistics` of its elements on each segment
        self.statistics: list[KinkStatistics] = []
        #: (count,) per segment, how many crossings were merged into a knot elsewhere
        self.merged = torch.zeros(count, dtype=torch.long, device=t.device)
        self.added = torch.zeros(0, dtype=torch.long, device=t.device)  # the last insert's knots
        #: the most knots the memory budget lets the node that runs now hold (None: any)
        self.most: int | None = None

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
        self.breaks = self.breaks.new_zeros(len(t)).index_copy_(0, old, self.breaks)
        self.segment = self.segment[torch.cat([parent, parent.new_full((1,), old_count - 1)])]
        self.t = t
        self.added = at

    def kinked(self, branch: torch.Tensor) -> None:
        """A kink node's ``branch`` on each interval (K − 1, …): mark the knots it breaks at
        and record its statistics."""
        branch = branch.reshape(len(branch), -1)
        inner = self.inner
        interior = inner[1:] & inner[:-1]  # knots with both neighbouring intervals in a segment
        changes = (branch[1:] != branch[:-1]) & interior[:, None]
        self.breaks[1:-1] |= changes.any(dim=-1)
        knot, element = changes.nonzero(as_tuple=True)
        elements = branch.shape[1]
        which = self.segment[knot + 1] * elements + element
        switches = torch.bincount(which, minlength=self.count * elements)
        # each segment's first and last interval in these knots
        interval = torch.arange(len(branch), device=branch.device)
        owner = self.segment[:-1]
        last = torch.full((self.count,), -1, dtype=torch.long, device=branch.device)
        last = last.scatter_reduce(0, owner[inner], interval[inner], "amax")
        first = torch.full((self.count,), len(branch), dtype=torch.long, device=branch.device)
        first = first.scatter_reduce(0, owner[inner], interval[inner], "amin")
        present = last >= 0
        self.statistics.append(KinkStatistics(
            switches.reshape(self.count, elements), branch[first.clamp(max=len(branch) - 1)],
            branch[last.clamp(min=0)], present))  # fmt: skip

    def split(self) -> tuple[Knots, Knots]:
        """Two halves sharing the middle knot, each holding copies of its part of every value
        and slope (this one's tables are emptied); their statistics start anew."""
        middle = len(self.t) // 2
        halves = []
        for knots, intervals in ((slice(0, middle + 1), slice(0, middle)),
                                 (slice(middle, None), slice(middle, None))):  # fmt: skip
            half = Knots(self.t[knots].clone(), self.segment[knots].clone(), self.count)
            half.breaks = self.breaks[knots].clone()
            half.values = {k: _part(v, knots) for k, v in self.values.items()}
            half.slopes = {k: _part(d, intervals) for k, d in self.slopes.items()}
            halves.append(half)
        self.values.clear()
        self.slopes.clear()
        return halves[0], halves[1]

    @classmethod
    def joined(cls, first: Knots, second: Knots) -> Knots:
        """The knots of two halves (:meth:`split`) after the same nodes, as one: the shared
        knot once, a region break there where some kink's branch differs across it, each
        element's switches there counted."""
        whole = cls(torch.cat([first.t, second.t[1:]]),
                    torch.cat([first.segment, second.segment[1:]]), first.count)  # fmt: skip
        whole.values = {k: _joined(v, second.values[k], 1) for k, v in first.values.items()}
        whole.slopes = {k: _joined(d, second.slopes[k], 0) for k, d in first.slopes.items()}
        shared = len(first.t) - 1
        whole.breaks = torch.cat([first.breaks, second.breaks[1:]])
        whole.merged = first.merged + second.merged
        # the shared knot is inside a segment when both of its intervals are
        segment = int(first.segment[-1])
        inside = (
            len(first.t) > 1
            and len(second.t) > 1
            and bool(first.segment[-2] == segment and second.segment[1] == segment)
        )
        for a, b in zip(first.statistics, second.statistics, strict=True):
            switches = a.switches + b.switches
            if inside:
                differs = a.last[segment] != b.first[segment]
                switches[segment] += differs.long()
                whole.breaks[shared] |= bool(differs.any())
            first_branch = torch.where(a.present[:, None], a.first, b.first)
            last_branch = torch.where(b.present[:, None], b.last, a.last)
            whole.statistics.append(
                KinkStatistics(switches, first_branch, last_branch, a.present | b.present)
            )
        return whole


class KinkStatistics(NamedTuple):
    """One kink node's elements on each segment: ``switches`` (count, elements), how often
    each changes branch inside the segment; ``first`` and ``last`` (count, elements), its
    branch on the segment's first and last interval; ``present`` (count,), whether the
    segment has an interval here at all."""

    switches: torch.Tensor
    first: torch.Tensor
    last: torch.Tensor
    present: torch.Tensor


def _part(x: Any, rows: slice) -> Any:
    return x[rows].clone() if isinstance(x, torch.Tensor) else x


def _joined(first: Any, second: Any, skip: int) -> Any:
    return torch.cat([first, second[skip:]]) if isinstance(first, torch.Tensor) else first


def scale(x: torch.Tensor, kinks) -> float:
    """The largest of |x|, of the kinks' |c| and of 1e-300 (one segment's tolerance scale)."""
    return max(float(x.abs().max()) if x.numel() else 0.0, *[abs(c) for c in kinks], 1e-300)


def snapped(x: torch.Tensor, kinks, tol: torch.Tensor) -> torch.Tensor:
    """x with values within ``tol`` (per knot, :meth:`Knots.tolerance`) of a kink set onto
    it."""
    out = x
    for c in kinks:
        distance = out.abs() if c == 0 else (out - c).abs_()
        out = torch.where(distance <= tol, c, out)  # a new tensor: x is never changed
    return out.clone() if out is x else out


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
    if state.most is not None and len(state.t) + int(keep.sum()) > state.most:
        alone = keep & torch.cat([keep[1:], keep.new_ones(1)])  # no crossing merged into it
        cuts = alone if alone.any() else keep
        raise Crowded(interval[cuts], where[cuts])
    into = state.segment[interval[1:][close & (steps > 0)]]
    merged.index_add_(0, into, torch.ones_like(into))
    state.insert(interval[keep], where[keep])
    return merged


class Crowded(Exception):
    """A kink node found more crossings than its knots may hold within the memory budget
    (:attr:`Knots.most`): the tracer makes some of them knots, cuts the knots in parts and
    runs the node again on each. ``interval``, ``where``: the crossings no other was merged
    into (sorted), where a knot changes nothing but the work's size."""

    def __init__(self, interval: torch.Tensor, where: torch.Tensor) -> None:
        super().__init__(len(where))
        self.interval, self.where = interval, where

    def cut(self, state: Knots) -> None:
        """Make a few crossings knots (values interpolated: every table is affine between
        knots): evenly spaced among them, as many as the knots may still take (at least one),
        so that cutting the knots in two, and again, leaves parts that hold their crossings
        without ever holding more knots than allowed. The same knots as one run: each part
        finds the crossing at its cut already there, and the others as before."""
        room = max(1, (state.most or 3) - len(state.t) - 1)
        count = len(self.where)
        chosen = torch.linspace(0, count - 1, min(room, count) + 2, device=self.where.device)
        chosen = chosen[1:-1].round().long().unique() if count > 2 else chosen[:1].long()
        state.insert(self.interval[chosen], self.where[chosen])
