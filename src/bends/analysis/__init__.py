"""Analysis of networks and maps beyond counting: interval-map dynamics (``dynamics``),
spectral norms of tied weights (``norms``), growth fits and bootstrap intervals (``stats``)."""
