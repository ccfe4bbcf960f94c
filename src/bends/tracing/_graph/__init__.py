"""Any piecewise-linear torch module, traced node by node (:class:`~bends.nets.GraphNetwork`).

A node's kind and its rules (value, slope, where its branch changes) come from the rule table,
:mod:`bends.nets.rules`; each tracer here has one handler per kind (its ``KINKS``):

* ``tracer``: 1-D, one segment or many end to end (torch ops on the knots as a batch);
* ``knots``: a graph trace's knots and what lives on them; inserting knots;
* ``pool``: maxima over windows (MaxPool): windows, knots where leaders change;
* ``exact``: the 1-D graph tracer in rational arithmetic (the oracle for small graphs);
* ``lowering``: residual MLPs lowered to one compiled program (``_kernels/program.py``);
* ``cutting``: a graph pushed through a cell complex, node by node (planes and boxes);
* ``plane``: the planar tracer on graphs (on ``_plane/subdivision.py``);
* ``box``: the n-D tracer on graphs (on ``_box/tracer.py``);
* ``walker``: the region walker, one forward pass per region (the independent reference).

Importing this room imports torch.
"""
