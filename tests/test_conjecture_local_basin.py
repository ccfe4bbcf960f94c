"""conjecture-local's basin statistics: ε₅₀ by the monotone envelope, its bootstrap interval,
the law in k, and the returned test of the runs."""

from __future__ import annotations

import numpy as np

from bends.runner.figures import Figures
from bends.runner.study import run_in_memory
from bends.studies._conjecture_local_report import _law, _midpoints, crossing
from bends.studies.conjecture_local import ConjectureLocal


def test_crossing_interpolates_in_log_eps_and_censors_outside_the_grid():
    x = np.log([1e-3, 1e-2, 1e-1, 1.0])
    shares = np.array([[1, 0.75, 0.25, 0], [0.4, 0.2, 0, 0], [1, 1, 1, 0.6], [1, 0.2, 0.8, 0]])
    found = crossing(x, shares)
    assert np.isclose(found[0], np.log(10**-1.5))  # halfway between 1e-2 and 1e-1
    assert found[1] == -np.inf and found[2] == np.inf
    # not monotone: the envelope (1, ½, ½, 0) first falls below ½ after 0.1
    assert np.isclose(found[3], np.log(0.1))


def synthetic(rate: float, seeds: int = 32, seed: int = 1) -> list[dict]:
    """Runs that return with probability 1 / (1 + (ε/ε₅₀)²), ε₅₀ = 0.3 e^(−rate (k − 2))."""
    rng = np.random.default_rng(seed)
    rows = []
    for j in range(1, 8):
        middle = 0.3 * np.exp(-rate * (j - 1))
        for eps in (1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0):
            for s in range(seeds):
                back = bool(rng.random() < 1 / (1 + (eps / middle) ** 2))
                rows.append({"construction": f"staircase-{j}", "k": j + 1, "epsilon": eps,
                             "seed": s, "returned": back})  # fmt: skip
    return rows


def test_midpoints_recover_a_known_basin_and_the_law_says_it_shrinks():
    midpoints = _midpoints(synthetic(1.2), "returned")
    truth = {f"staircase-{j}": np.log(0.3) - 1.2 * (j - 1) for j in range(1, 8)}
    covered = sum(m.low <= truth[s] <= m.high for s, m in midpoints.items())
    assert covered >= 6  # 95 % intervals: at most one of seven may miss
    line = _law(midpoints, "returned")
    assert "so the basin shrinks with k" in line and "the exponential law fits better" in line
    flat = _law(_midpoints(synthetic(0.0), "returned"), "returned")
    assert "do not show the basin shrinking" in flat


def test_returned_means_zero_loss_and_exactly_the_pieces_of_w_star():
    study = ConjectureLocal()
    config = study.Config(constructions=("staircase-1",), epsilons=(1e-6, 1.0), seeds=3,
                          seeds_per_cell=3, points=32, max_steps=200)  # fmt: skip
    cells = run_in_memory(study, config)
    rows = [r for c in cells if c.params["part"] == "basin" for r in c.rows]
    assert len(rows) == 6
    for r in rows:
        assert r["returned"] == (r["loss"] < 1e-8 and r["pieces"] == r["full_pieces"])
        assert r["start_returned"] == (
            r["loss_start"] < 1e-8 and r["pieces_start"] == r["full_pieces"]
        )
        assert r["k"] == 2 and r["distance"] >= 0
    tiny = [r for r in rows if r["epsilon"] == 1e-6]
    assert all(r["zero_loss"] and r["distance"] < 1e-4 for r in tiny)
    text = study.report(config, cells, Figures())
    assert "ε₅₀" in text and "budget ends" in text
