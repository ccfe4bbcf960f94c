"""Counting inside a study's cells: one place owns the float64-resolution policy.

A study records whether float64 resolved every breakpoint in its rows (``resolved``) and says
so in its report (:func:`bends.runner.summaries.resolution_finding`), instead of warning once
per network; :func:`count` is that policy.

Example:
    >>> from bends.constructions import sawtooth
    >>> count(sawtooth(4))
    Count(pieces=16, regions=16, resolved=True, switches=(1, 2, 4, 8))
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

from bends.errors import ResolutionWarning
from bends.nets import Network
from bends.tracing import Trace, trace


class Count(NamedTuple):
    """Pieces and regions of a network on a segment, whether float64 resolved them, and how
    often each hidden layer's neurons switch in all."""

    pieces: int
    regions: int
    resolved: bool
    switches: tuple[int, ...] = ()


def quiet_trace(net: Network, start: Any = None, end: Any = None, **options: Any) -> Trace:
    """:func:`bends.trace` with its ResolutionWarning silenced: read ``resolved`` instead."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResolutionWarning)
        return trace(net, start, end, **options)


def count(net: Network, start: Any = None, end: Any = None) -> Count:
    """Pieces, regions, ``resolved`` and switches per layer of ``net`` on the segment
    (default: its own)."""
    tr = quiet_trace(net, start, end)
    return Count(tr.pieces, tr.regions, tr.resolved, tuple(int(c.sum()) for c in tr.switches))
