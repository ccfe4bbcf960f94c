"""The knots of a graph trace and what lives on them (:mod:`bends.tracing.graph`): values at
the knots, slopes and branches on the intervals, and the insertion of new knots."""

from __future__ import annotations

from typing import Any

import torch

from bends.tracing.tolerance import MERGE_GAP


class Knots:
    """The knots t (K,) and everything defined on them: values V (K, …) at the knots, slopes D
    and branches B (K − 1, …) on the intervals, kept per node name until their last use."""

    def __init__(self, t: torch.Tensor) -> None:
        self.t = t
        self.values: dict[str, Any] = {}
        self.slopes: dict[str, Any] = {}
        self.branches: list[torch.Tensor] = []  # per kink: (K − 1, elements) branch numbers

    def insert(self, new: torch.Tensor) -> None:
        """Add knots ``new`` (sorted, inside intervals): interpolate every value, let every
        slope and branch be inherited by the parts of its interval."""
        t = torch.cat([self.t, new]).sort().values
        old = torch.isin(t, self.t)
        interval = torch.searchsorted(self.t, t[~old], right=True) - 1
        frac = (t[~old] - self.t[interval]) / (self.t[interval + 1] - self.t[interval])
        parent = torch.searchsorted(self.t, t[:-1], right=True) - 1
        for name, v in self.values.items():
            if isinstance(v, torch.Tensor):
                grown = v.new_empty((len(t), *v.shape[1:]))
                grown[old] = v
                shape = (-1,) + (1,) * (v.dim() - 1)
                grown[~old] = v[interval] + (v[interval + 1] - v[interval]) * frac.view(shape)
                self.values[name] = grown
        for name, d in self.slopes.items():
            if isinstance(d, torch.Tensor):
                self.slopes[name] = d[parent]
        self.branches = [b[parent] for b in self.branches]
        self.t = t


def scale(x: torch.Tensor, kinks) -> float:
    return max(float(x.abs().max()) if x.numel() else 0.0, *[abs(c) for c in kinks], 1e-300)


def snapped(x: torch.Tensor, kinks, zero_tol: float) -> torch.Tensor:
    """x with values within zero_tol · (largest |x|) of a kink set onto it."""
    tol = zero_tol * scale(x, kinks)
    out = x.clone()
    for c in kinks:
        out = torch.where((out - c).abs() <= tol, torch.full_like(out, c), out)
    return out


def insert(state: Knots, found: list[torch.Tensor]) -> int:
    """Insert the crossings ``found``, those at most MERGE_GAP apart as one knot; returns how
    many were merged into a knot at another position."""
    if not found:
        return 0
    where = torch.cat(found).sort().values
    # a crossing at most MERGE_GAP from a knot is on it (rounding moved it off)
    right = torch.searchsorted(state.t, where).clamp(1, len(state.t) - 1)
    near = torch.minimum(where - state.t[right - 1], state.t[right] - where)
    where = where[(where > state.t[0]) & (where < state.t[-1]) & (near > MERGE_GAP)]
    if not len(where):
        return 0
    # a run of crossings each at most MERGE_GAP after the one before is one knot, at its first
    steps = where[1:] - where[:-1]
    keep = torch.cat([torch.ones(1, dtype=torch.bool), steps > MERGE_GAP])
    merged = int(((~keep[1:]) & (steps > 0)).sum())
    state.insert(where[keep])
    return merged
