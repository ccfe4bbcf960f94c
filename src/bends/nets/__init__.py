"""Networks: the MLP and the tied RNN (``networks``), their files (``files``), torch
conversion (``torch_io``, imported on first use), random networks (``random``) and the packed
parameter layout (``packing``).

Example:
    >>> import numpy as np
    >>> MLP.from_layers([(np.ones((2, 1)), np.zeros(2)), (np.ones((1, 2)), np.zeros(1))])
    MLP [1, 2, 1]
"""

from bends.nets.files import as_network, from_dict, load, save
from bends.nets.networks import MLP, Network, TiedRNN, require_unbatched

__all__ = [
    "MLP",
    "Network",
    "TiedRNN",
    "as_network",
    "from_dict",
    "load",
    "require_unbatched",
    "save",
]
