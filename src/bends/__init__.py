"""bends: exact affine pieces of ReLU networks and weight-tied ReLU RNNs.

Example:
    >>> from bends import trace
    >>> from bends.constructions import sawtooth
    >>> trace(sawtooth(10)).pieces
    1024
"""

from bends.errors import BendsError, ResolutionWarning
from bends.nets import MLP, Network, TiedRNN, load, save
from bends.regions import Trace, trace

__all__ = [
    "MLP",
    "BendsError",
    "Network",
    "ResolutionWarning",
    "TiedRNN",
    "Trace",
    "load",
    "save",
    "trace",
]
__version__ = "0.1.0"
