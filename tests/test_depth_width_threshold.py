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


def test_the_section_finds_each_depths_failing_task_and_calls_it_training_below_the_reach():
    class Config:
        width = 20

    x = np.random.default_rng(0).uniform(-1, 1, 4000)
    tasks = [8, 12, 16, 20]
    constant = {t: constant_l1(1.618, t, x) for t in tasks}
    fails_at = {1: 12, 2: 16, 3: None}  # depth 3 never reaches 0.9 of the constant
    rows = []
    for depth, first in fails_at.items():
        for t in tasks:
            failed = first is not None and t >= first
            for seed in range(4):
                share = 0.95 if failed else 0.3
                rows.append({"c": 1.618, "t": t, "depth": depth, "seed": seed,
                             "l1": share * constant[t] * (1 + 0.01 * seed)})  # fmt: skip
    text = threshold_section(Config, rows, x)
    lines = {line.split("|")[1].strip(): line for line in text.splitlines()
             if line.startswith("| ") and line.split("|")[1].strip().isdigit()}  # fmt: skip
    assert (
        "| 1 | 12 | 100% of resamples fail, at 12–12 | 12 | none | representation or training |"
        == lines["1"]
    )
    assert (
        "| 2 | 16 | 100% of resamples fail, at 16–16 | 20 | 8 | representation or training |"
        in lines["2"]
    )
    assert lines["3"] == "| 3 | none ≤ 20 | no resample fails | 28 | 12 | not reached |"
    assert "Slope of t_fail in l: 4 per layer, 95 % interval [4, 4] (excludes 0; over " in text
    assert "from the 100% of resamples in which they all still fail" in text
    assert "; depth 3 never fails and is left out." in text


def test_a_failure_inside_the_exact_reach_is_the_trainings():
    class Config:
        width = 20

    x = np.random.default_rng(1).uniform(-1, 1, 4000)
    tasks = [8, 10, 12]
    rows = [{"c": 1.618, "t": t, "depth": depth, "seed": s,
             "l1": (0.95 if t >= 10 else 0.1) * constant_l1(1.618, t, x)}
            for depth in (2, 3) for t in tasks for s in range(3)]  # fmt: skip
    text = threshold_section(Config, rows, x)
    assert (
        "| 2 | 10 | 100% of resamples fail, at 10–10 | 20 | 10 | training (f^t was representable) |"
        in text
    )
    assert (
        "| 3 | 10 | 100% of resamples fail, at 10–10 | 28 | 12 | training (f^t was representable) |"
        in text
    )
    assert "Slope of t_fail in l: 0 per layer" in text and "(contains 0;" in text


def test_a_borderline_depth_fails_in_some_resamples_and_keeps_the_slope_to_the_point_depths():
    class Config:
        width = 20

    x = np.random.default_rng(2).uniform(-1, 1, 4000)
    tasks = [8, 12, 16, 20]
    constant = {t: constant_l1(1.618, t, x) for t in tasks}
    rows = []
    for t in tasks:
        for s in range(4):
            # depth 1 fails at 12 in every resample; depth 2 sits around 0.9 at t = 16 and 20,
            # so its mean fails at 16 but a resample of its seeds may fail at 20 or not at all
            depth1 = 0.95 if t >= 12 else 0.3
            depth2 = (0.82, 0.88, 0.95, 1.0)[s] if t >= 16 else 0.3  # mean 0.9125
            for depth, share in ((1, depth1), (2, depth2)):
                rows.append({"c": 1.618, "t": t, "depth": depth, "seed": s,
                             "l1": share * constant[t]})  # fmt: skip
    text = threshold_section(Config, rows, x)
    row = next(line for line in text.splitlines() if line.startswith("| 2 |"))
    assert row.startswith("| 2 | 16 | ") and "of resamples fail, at 16–20" in row
    share = int(row.split("| 2 | 16 | ")[1].split("%")[0])
    assert 30 < share < 100  # the cut 0.9 lies inside the seeds' spread
    assert f"from the {share}% of resamples in which they all still fail" in text
    assert "Slope of t_fail in l: 4 per layer, 95 % interval [4, 8]" in text
