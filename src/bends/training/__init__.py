"""Training: the one loop (``loop``), batched MLPs (``mlp``), the manifold parameterisation
(``manifold``), tied-RNN problems and flows (``tied``), linear-RNN memory models (``memory``),
targets (``targets``) and Lorenz 96 data (``lorenz``)."""
