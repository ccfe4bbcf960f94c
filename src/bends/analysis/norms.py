r"""How small can the spectral norm of a tied RNN's W be made without changing its pieces?

For a positive diagonal S, :math:`\sigma(S W S^{-1} S h) = S\,\sigma(W h)`, so the RNN with
:math:`S W S^{-1}` on the input line :math:`S x(t)` computes :math:`S_{oo} f_k(W, x(t))`: the same
function up to a positive factor, with the same pieces. The spectral radius
:math:`\rho(W)` is invariant under such similarities and bounds :math:`\|W\|_2` from below.
(A global factor c > 0 also keeps the pieces but scales the output by :math:`c^k`.)

Example:
    >>> import numpy as np
    >>> report = spectral_norms(np.array([[1.0, 10.0], [0.0, 0.5]]))
    >>> round(report["as_built"], 3), round(report["spectral_radius"], 3)
    (10.062, 1.0)
    >>> report["best_diagonal_similarity"] < 1.2
    True
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize


def spectral_norms(
    weight: np.ndarray, max_log_ratio: float = 5.0
) -> dict[str, float | list[float]]:
    """‖W‖₂ as built, its minimum over positive diagonal similarities, and ρ(W).

    The minimum is found with SciPy (bounded Nelder–Mead on log S from several starts), with
    every |log S_i| ≤ ``max_log_ratio``: unbounded, the search drives decoupled blocks to
    scales like 1e-50, a similarity in exact arithmetic but a ruined network in float64. The
    result is an upper bound on the infimum over such S, which is at least ρ(W).
    """
    w = np.asarray(weight, dtype=np.float64)

    def norm(log_scale: np.ndarray) -> float:
        s = np.exp(log_scale)
        return float(np.linalg.norm((s[:, None] * w) / s[None, :], 2))

    rng = np.random.default_rng(0)
    bounds = [(-max_log_ratio, max_log_ratio)] * len(w)
    starts = [np.zeros(len(w)), *(rng.uniform(-2.0, 2.0, size=len(w)) for _ in range(3))]
    options = {"maxiter": 200 * len(w), "xatol": 1e-6, "fatol": 1e-9}
    results = [
        minimize(norm, x0, method="Nelder-Mead", bounds=bounds, options=options) for x0 in starts
    ]
    best = min(results, key=lambda result: result.fun)
    return {
        "as_built": float(np.linalg.norm(w, 2)),
        "best_diagonal_similarity": float(best.fun),
        "spectral_radius": float(np.max(np.abs(np.linalg.eigvals(w)))),
        "diagonal": np.exp(best.x).tolist(),
    }
