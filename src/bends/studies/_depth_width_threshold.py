r"""The threshold of ``depth-width``: at which task t does training at depth l stop helping?

For each depth l the **failing task** :math:`t_{fail}(l)` is the smallest t run whose mean L1
error reaches ``FAIL_SHARE`` (0.9) of the best constant's, :math:`2\,\mathrm{mean}|f^t -
\mathrm{median} f^t|` on the test points. Beside it:

* the slides' predicted threshold :math:`t^*(l)`, the least t with :math:`(2u)^l \le c^t/8`,
  i.e. :math:`\lceil \log(8 (2u)^l) / \log c \rceil`: from there on no width-u net of depth l
  can follow f^t (the separation bound applies);
* the **exact reach** :math:`t_{exact}(l)`, the largest t run that a width-u net of depth l
  computes exactly (:func:`bends.analysis.dynamics.exact_depth` ≤ l).

Where :math:`t_{fail}(l) \le t_{exact}(l)` the network could have represented f^t with zero
error and training did not find it: training, not representation, sets the threshold there.
The slope of :math:`t_{fail}` in l comes with a bootstrap interval (seeds resampled within
each (t, l) cell); depths whose error never reaches the share are censored and left out of
the slope, and said so.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bends.analysis.dynamics import exact_depth
from bends.constructions.maps import abs_map
from bends.runner.summaries import group, markdown_table, values

FAIL_SHARE = 0.9
RESAMPLES = 2000
HEADER = ["depth l", "t_fail", "t_fail, 95 % range", "t*(l)", "t_exact(l)", "what sets t_fail"]


def constant_l1(c: float, t: int, test_x: np.ndarray) -> float:
    """L1 error on [−1, 1] of the best constant (the median of f^t), estimated on test_x."""
    target = abs_map(c).iterate(test_x, t)
    return float(2 * np.mean(np.abs(target - np.median(target))))


def failing_task(mean_l1: dict[int, float], constant: dict[int, float]) -> int | None:
    """The smallest t whose mean L1 error reaches FAIL_SHARE of the constant's, or None.

    >>> failing_task({8: 0.1, 12: 0.5, 16: 0.95}, {8: 1.0, 12: 1.0, 16: 1.0})
    16
    """
    failed = [t for t in sorted(mean_l1) if mean_l1[t] >= FAIL_SHARE * constant[t]]
    return failed[0] if failed else None


def predicted_threshold(width: int, depth: int, c: float) -> int:
    """The least t with (2u)^l ≤ c^t / 8 (the slides' hypothesis).

    >>> predicted_threshold(20, 1, 1.618)   # 40 ≤ 1.618^12 / 8 = 40.2
    12
    """
    return math.ceil((math.log(8) + depth * math.log(2 * width)) / math.log(c) - 1e-12)


def exact_reach(c: float, depth: int, width: int, tasks: list[int]) -> int | None:
    """The largest of ``tasks`` that a width-``width`` net of ``depth`` computes exactly."""
    reached = [t for t in tasks if (e := exact_depth(abs_map(c), t, width)) and e <= depth]
    return max(reached) if reached else None


def threshold_section(config: Any, rows: list[dict], test_x: np.ndarray) -> str | None:
    """The table of t_fail, t* and t_exact per depth, with the slope's interval, per slope c."""
    parts = []
    for c, chosen in group(rows, "c").items():
        tasks = sorted({r["t"] for r in chosen})
        if len(tasks) < 3:
            continue
        constant = {t: constant_l1(c, t, test_x) for t in tasks}
        cells = {key: np.array(values(members, "l1")) for key, members in
                 group(chosen, "depth", "t").items()}  # fmt: skip
        depths = sorted({d for d, _ in cells})
        found = {d: failing_task({t: cells[d, t].mean() for t in tasks if (d, t) in cells},
                                 constant) for d in depths}  # fmt: skip
        low, high, slope, slopes = _slope_interval(cells, depths, tasks, constant)
        body = []
        for d in depths:
            reach = exact_reach(c, d, config.width, tasks)
            fail = found[d]
            setter = ("training (f^t was representable)" if fail is not None and reach is not None
                      and fail <= reach else "representation or training" if fail is not None
                      else "not reached")  # fmt: skip
            body.append([d, "none ≤ " + str(tasks[-1]) if fail is None else fail,
                         f"{np.percentile(slopes[d], 2.5):g}–{np.percentile(slopes[d], 97.5):g}"
                         if slopes[d] else "–",
                         predicted_threshold(config.width, d, c),
                         "none" if reach is None else reach, setter])  # fmt: skip
        censored = [d for d in depths if found[d] is None]
        where = (
            f"Slope of t_fail in l: {slope:.3g} per layer, 95 % interval [{low:.3g}, "
            f"{high:.3g}] ({'excludes' if low > 0 or high < 0 else 'contains'} 0)"
            if slope is not None
            else "Slope of t_fail in l: fewer than 2 depths fail"
        )
        if censored:
            where += f"; depths {', '.join(map(str, censored))} never fail and are left out"
        parts.append(
            f"**Where depth stops helping** (c = {c:g}, tasks {', '.join(map(str, tasks))}): "
            f"t_fail is the smallest t whose mean L1 error reaches {FAIL_SHARE:g} of the best "
            "constant's; its 95 % range from resampling the seeds of each cell; t* the slides' "
            "threshold ((2u)^l ≤ c^t/8 from there on); t_exact the largest task run that a "
            f"width-{config.width} net of that depth computes exactly. {where}.\n\n"
            + markdown_table(HEADER, body)
        )
    return "\n\n".join(parts) or None


def _slope_interval(cells, depths, tasks, constant):
    """(low, high, slope, per-depth resampled t_fail) of t_fail's least-squares slope in l."""
    rng = np.random.default_rng(0)
    per_depth = {d: [] for d in depths}
    slopes = []
    for _ in range(RESAMPLES):
        drawn = {}
        for d in depths:
            means = {t: rng.choice(cells[d, t], len(cells[d, t])).mean()
                     for t in tasks if (d, t) in cells}  # fmt: skip
            drawn[d] = failing_task(means, constant)
            if drawn[d] is not None:
                per_depth[d].append(drawn[d])
        slopes.append(_slope({d: f for d, f in drawn.items() if f is not None}))
    point = _slope({d: failing_task({t: cells[d, t].mean() for t in tasks if (d, t) in cells},
                                    constant) for d in depths})  # fmt: skip
    kept = [s for s in slopes if s is not None]
    if point is None or not kept:
        return None, None, None, per_depth
    low, high = np.percentile(kept, [2.5, 97.5])
    return float(low), float(high), point, per_depth


def _slope(fails: dict[int, int | None]) -> float | None:
    points = [(d, f) for d, f in fails.items() if f is not None]
    if len({d for d, _ in points}) < 2:
        return None
    d, f = np.array(points, dtype=np.float64).T
    # rounded: a flat t_fail must read as 0, not as polyfit's 1e-15
    return round(float(np.polyfit(d, f, 1)[0]), 9) + 0.0
