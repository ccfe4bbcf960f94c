r"""The n-D tracer on graph networks (:class:`bends.nets.graph.GraphNetwork`): the box tracer's
complex (:mod:`bends.tracing._box.tracer`) pushed through any piecewise-linear torch module,
node by node (:mod:`bends.tracing._graph.cutting`: affine nodes run their op on the values at
the vertices, kink nodes cut every cell first), on a box or simplex of an affine slice
x = o + B t of the input space: a conv net between d + 1 images, for instance.

A cell's pattern has one column per zero set cut (an element of a kink node's input at one
of its kinks); its affine map is solved from the outputs at its vertices
(:func:`~bends.tracing._kernels.box.solved_maps`), as the planar graph tracer's faces are,
and ``pieces`` join cells across facets where those maps' gradients agree (to ``slope_rtol``
times the larger plus ``zero_tol`` times their rounding: the outputs' largest magnitude
through the solve). float64 only; the whole space is not traced (its certificate reads an
MLP's weights), nor are maxima over windows (refused by name).

Example:
    >>> import numpy as np, torch
    >>> from bends.nets.graph import GraphNetwork
    >>> from bends.tracing._box.tracer import box_domain
    >>> block = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.LeakyReLU(0.1))
    >>> with torch.no_grad():
    ...     _ = block[0].weight.copy_(torch.eye(3)), block[0].bias.zero_()
    >>> net = GraphNetwork.from_module(block, (3,))
    >>> trace_box_graph(net, box_domain(-np.ones(3), np.ones(3)), 2.0**-40, 1e-9).regions
    8
"""

from __future__ import annotations

import numpy as np

from bends.nets.graph import GraphNetwork
from bends.tracing._box.tracer import Cut, Cutting, Domain, finished
from bends.tracing._graph.cutting import pushed
from bends.tracing._results.complex import Complex


def trace_box_graph(net: GraphNetwork, domain: Domain, zero_tol: float,
                    slope_rtol: float) -> Complex:  # fmt: skip
    """The complex of a graph network on ``domain`` (see the module docstring); arguments
    checked by :func:`~bends.tracing.trace_box`."""
    what = f"tracing {net!r} on a {domain.dim}-D {domain.kind}"
    built = Cutting(domain, 0, False, what)
    origin, basis = np.asarray(domain.origin, float), np.asarray(domain.basis, float)
    inputs = origin + np.asarray(built.points, float) @ basis.T
    out, size = pushed(net, built, inputs, zero_tol)
    return finished(Cut(built, domain, zero_tol, False, outputs=out, output_sizes=size),
                    slope_rtol)  # fmt: skip
