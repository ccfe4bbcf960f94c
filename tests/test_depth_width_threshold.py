"""depth-width's threshold: t_fail per depth, the slides' t*, the exact reach, the slope."""

import numpy as np

from bends.studies._depth_width_threshold import (
    constant_l1,
    exact_reach,
    predicted_threshold,
    threshold_section,
)


def test_predicted_threshold_is_the_first_task_where_the_hypothesis_holds():
    for width in (2, 5, 20):
        for depth in (1, 2, 3, 5, 8):
            for c in (1.3, 1.618, 2.0):
                t = predicted_threshold(width, depth, c)
                assert (2 * width) ** depth <= c**t / 8 * (1 + 1e-12)
                assert (2 * width) ** depth > c ** (t - 1) / 8


def test_exact_reach_follows_the_pieces_of_the_iterates():
    # f = 1.618|x| - 1: f^5 has 16 pieces and f^6 26, so width 20 holds 5 iterations a layer
    assert exact_reach(1.618, 1, 20, [4, 5, 6, 8]) == 5
    assert exact_reach(1.618, 2, 20, [8, 10, 12]) == 10
    assert exact_reach(1.618, 8, 20, [8, 24, 40]) == 40
    assert exact_reach(1.618, 1, 20, [8, 12]) is None


class Config:
    width = 20


def synthetic(tasks, depths, seeds, share, data_seed=0):
    """Rows whose L1 error is ``share(depth, t, seed)`` times the best constant's."""
    x = np.random.default_rng(data_seed).uniform(-1, 1, 4000)
    constant = {t: constant_l1(1.618, t, x) for t in tasks}
    rows = [{"c": 1.618, "t": t, "depth": d, "seed": s, "l1": share(d, t, s) * constant[t]}
            for d in depths for t in tasks for s in range(seeds)]  # fmt: skip
    return rows, x


def test_the_section_finds_each_depths_failing_task_and_calls_it_training_below_the_reach():
    fails_at = {1: 12, 2: 16, 3: None}  # depth 3 never reaches 0.9 of the constant

    def share(depth, t, seed):
        failed = fails_at[depth] is not None and t >= fails_at[depth]
        return (0.95 if failed else 0.3) * (1 + 0.01 * seed)

    rows, x = synthetic([8, 12, 16, 20], [1, 2, 3], 4, share)
    text = threshold_section(Config, rows, x)
    lines = {line.split("|")[1].strip(): line for line in text.splitlines()
             if line.startswith("| ") and line.split("|")[1].strip().isdigit()}  # fmt: skip
    every = "100% of resamples fail, at"
    assert lines["1"] == f"| 1 | 12 | {every} 12–12 | 12 | none | representation or training |"
    assert lines["2"] == f"| 2 | 16 | {every} 16–16 | 20 | 8 | representation or training |"
    assert lines["3"] == "| 3 | none ≤ 20 | no resample fails | 28 | 12 | not reached |"
    assert "Slope of t_fail in l: 4 per layer, 95 % interval [4, 4] (excludes 0; over " in text
    assert "from the 100% of resamples in which they all still fail" in text
    assert "; depth 3 never fails and is left out." in text


def test_a_failure_inside_the_exact_reach_is_the_trainings():
    rows, x = synthetic([8, 10, 12], [2, 3], 3, lambda d, t, s: 0.95 if t >= 10 else 0.1, 1)
    text = threshold_section(Config, rows, x)
    training = "training (f^t was representable)"
    assert f"| 2 | 10 | 100% of resamples fail, at 10–10 | 20 | 10 | {training} |" in text
    assert f"| 3 | 10 | 100% of resamples fail, at 10–10 | 28 | 12 | {training} |" in text
    assert "Slope of t_fail in l: 0 per layer" in text and "(contains 0;" in text


def test_a_borderline_depth_fails_in_some_resamples_and_keeps_the_slope_to_the_point_depths():
    # depth 1 fails at 12 in every resample; depth 2's seeds straddle 0.9 from t = 16 on (mean
    # 0.9125), so its mean fails at 16 but a resample may fail at 20 or not at all
    def share(depth, t, seed):
        if depth == 1:
            return 0.95 if t >= 12 else 0.3
        return (0.82, 0.88, 0.95, 1.0)[seed] if t >= 16 else 0.3

    rows, x = synthetic([8, 12, 16, 20], [1, 2], 4, share, 2)
    text = threshold_section(Config, rows, x)
    row = next(line for line in text.splitlines() if line.startswith("| 2 |"))
    assert row.startswith("| 2 | 16 | ") and "of resamples fail, at 16–20" in row
    kept = int(row.split("| 2 | 16 | ")[1].split("%")[0])
    assert 30 < kept < 100  # the cut 0.9 lies inside the seeds' spread
    assert f"from the {kept}% of resamples in which they all still fail" in text
    assert "Slope of t_fail in l: 4 per layer, 95 % interval [4, 8]" in text
