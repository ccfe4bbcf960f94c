r"""The threshold of ``depth-width``: at which task t does training at depth l stop helping?

For each depth l the **failing task** :math:`t_{fail}(l)` is the smallest t run whose mean L1
error reaches ``FAIL_SHARE`` (0.9) of the best constant's, :math:`2\,\mathrm{mean}|f^t -
\mathrm{median} f^t|` on the test points. Beside it:

* the slides' predicted threshold :math:`t^*(l)`, the least t with :math:`(2u)^l \le c^t/8`,
  i.e. :math:`\lceil \log(8 (2u)^l) / \log c \rceil`: from there on no width-u net of depth l
  can follow f^t (the separation bound applies);
* the **exact reach** :math:`t_{exact}(l)`, the largest t run that a width-u net of depth l
  computes exactly by composing f^j layer by layer (:func:`bends.analysis.dynamics.exact_depth`
  ≤ l; one construction, so a lower bound on what depth l can represent).

Where :math:`t_{fail}(l) \le t_{exact}(l)` the network could have represented f^t with zero
error and training did not find it: training, not representation, sets the threshold there.
The slope of :math:`t_{fail}` in l comes with a bootstrap interval (seeds resampled within
each (t, l) cell), over the depths that fail, from the resamples in which they all still
fail (the share is printed); depths whose error never reaches the share are censored and
left out of the slope, and said so.
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
HEADER = ["depth l", "t_fail", "resampled", "t*(l)", "t_exact(l)", "what sets t_fail"]


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
        slope, interval, kept, drawn = _slope_interval(cells, found, tasks, constant)
        body = []
        for d in depths:
            reach = exact_reach(c, d, config.width, tasks)
            fail = found[d]
            setter = ("training (f^t was representable)" if fail is not None and reach is not None
                      and fail <= reach else "representation or training" if fail is not None
                      else "not reached")  # fmt: skip
            failed = [t for t in drawn[d] if t is not None]
            spread = "no resample fails"
            if failed:
                spread = (f"{len(failed) / len(drawn[d]):.0%} of resamples fail, at "
                          f"{min(failed)}–{max(failed)}")  # fmt: skip
            body.append([d, "none ≤ " + str(tasks[-1]) if fail is None else fail, spread,
                         predicted_threshold(config.width, d, c),
                         "none" if reach is None else reach, setter])  # fmt: skip
        censored = [d for d in depths if found[d] is None]
        if slope is None:
            where = "Slope of t_fail in l: fewer than 2 depths fail"
        else:
            where = (f"Slope of t_fail in l: {slope:.3g} per layer, 95 % interval "
                     f"[{interval[0]:.3g}, {interval[1]:.3g}] "
                     f"({'excludes' if interval[0] > 0 or interval[1] < 0 else 'contains'} 0; "
                     f"over the depths that fail, from the {kept:.0%} of resamples in which "
                     "they all still fail; t_fail moves on the grid of tasks run)")  # fmt: skip
        if censored:
            names = ", ".join(map(str, censored))
            where += (f"; depth {names} never fails and is left out" if len(censored) == 1
                      else f"; depths {names} never fail and are left out")  # fmt: skip
        parts.append(
            f"**Where depth stops helping** (c = {c:g}, tasks {', '.join(map(str, tasks))}): "
            f"t_fail is the smallest t whose mean L1 error reaches {FAIL_SHARE:g} of the best "
            "constant's, with how often it fails, and where, when the seeds of each cell are "
            "resampled; t* the slides' threshold ((2u)^l ≤ c^t/8 from there on); t_exact the "
            f"largest task run that a width-{config.width} net of that depth computes exactly "
            "by composing f^j layer by layer (a lower bound on what it can represent). "
            f"{where}.\n\n" + markdown_table(HEADER, body)
        )
    return "\n\n".join(parts) or None


def _slope_interval(cells, found, tasks, constant):
    """t_fail's least-squares slope in l over the depths that fail, its 95 % percentile
    interval over the resamples in which those depths all still fail (and that share), and
    each depth's resampled t_fail (None where a resample does not fail)."""
    rng = np.random.default_rng(0)
    failing = [d for d, f in found.items() if f is not None]
    drawn = {d: [] for d in found}
    slopes = []
    for _ in range(RESAMPLES):
        once = {}
        for d in found:
            means = {t: rng.choice(cells[d, t], len(cells[d, t])).mean()
                     for t in tasks if (d, t) in cells}  # fmt: skip
            once[d] = failing_task(means, constant)
            drawn[d].append(once[d])
        if all(once[d] is not None for d in failing):
            slopes.append(_slope({d: once[d] for d in failing}))
    point = _slope({d: found[d] for d in failing})
    kept = [s for s in slopes if s is not None]
    if point is None or not kept:
        return None, None, 0.0, drawn
    low, high = np.percentile(kept, [2.5, 97.5])
    return point, (float(low), float(high)), len(kept) / RESAMPLES, drawn


def _slope(fails: dict[int, int]) -> float | None:
    if len(fails) < 2:
        return None
    d, f = np.array(list(fails.items()), dtype=np.float64).T
    # rounded: a flat t_fail must read as 0, not as polyfit's 1e-15
    return round(float(np.polyfit(d, f, 1)[0]), 9) + 0.0
