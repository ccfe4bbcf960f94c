"""What the benchmark scripts share: the best of a few timed calls (the machines are shared
and noisy: the fastest round is the least disturbed one)."""

from __future__ import annotations

import time

import numpy as np


def best_of(run, rounds: int = 5) -> tuple[float, object]:
    """The shortest of ``rounds`` timed calls of ``run`` (seconds) and its last result."""
    best, result = np.inf, None
    for _ in range(rounds):
        began = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - began)
    return best, result
