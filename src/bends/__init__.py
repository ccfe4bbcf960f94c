"""bends: exact affine pieces of ReLU networks and weight-tied ReLU RNNs.

The public API: networks (:class:`MLP`, :class:`TiedRNN`, :func:`load`, :func:`save`,
:func:`from_torch`), the tracers (:func:`trace` and its :class:`Trace`; :func:`trace_segments`
and its :class:`Traces` for many segments at once; :func:`trace_plane` and its
:class:`Partition` for 2-D slices), and the ways bends
says something went wrong (:class:`BendsError`, :class:`ResolutionWarning`). Constructions
from the theory are in :mod:`bends.constructions`; docs/architecture.md maps the rest.

Example:
    >>> from bends import trace
    >>> from bends.constructions import sawtooth
    >>> trace(sawtooth(10)).pieces
    1024
"""

from typing import Any

from bends._version import __version__
from bends.errors import AssumptionWarning, BendsError, ResolutionWarning
from bends.nets import MLP, Network, TiedRNN, load, save
from bends.tracing import (
    Complex,
    Partition,
    Trace,
    Traces,
    trace,
    trace_box,
    trace_plane,
    trace_segments,
)

__all__ = [
    "MLP",
    "AssumptionWarning",
    "BendsError",
    "Complex",
    "Network",
    "Partition",
    "ResolutionWarning",
    "TiedRNN",
    "Trace",
    "Traces",
    "__version__",
    "from_torch",
    "load",
    "local_complexity",
    "save",
    "to_torch",
    "trace",
    "trace_box",
    "trace_plane",
    "trace_segments",
]


def __getattr__(name: str) -> Any:
    # torch takes seconds to import: the converters load it on first use, not with bends.
    if name in ("from_torch", "to_torch"):
        from bends.nets import torch_io

        return getattr(torch_io, name)
    if name == "local_complexity":  # a measurement (analysis layer), re-exported for the README
        from bends.analysis.local import local_complexity

        return local_complexity
    raise AttributeError(f"module 'bends' has no attribute {name!r}")
