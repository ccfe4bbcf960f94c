"""The float64 tolerance policy of the tracers, in five numbers (the reasons:
:mod:`bends.tracing._line.tracer`).

* ``ZERO_TOL``: a pre-activation at a knot is zero when at most this times its terms' size;
* ``SLOPE_RTOL``: a slope (and a difference of two output slopes) is zero when at most this
  times its terms' size;
* ``MERGE_GAP``: crossings in one interval at most this far apart in t are one knot;
* ``RESOLUTION``: knots closer than this in t raise a :class:`~bends.errors.ResolutionWarning`;
* ``RESCALE_ABOVE``/``RESCALE_BELOW``: bias-free networks are renormalised when their largest
  |h| leaves [RESCALE_BELOW, RESCALE_ABOVE].
"""

ZERO_TOL = 2.0**-40
SLOPE_RTOL = 1e-9
RESOLUTION = 2.0**-40
MERGE_GAP = 2.0**-46
RESCALE_ABOVE, RESCALE_BELOW = 2.0**64, 2.0**-64
