"""The conjecture report on stored rows made up to have known answers: a run that ended on
the step budget is counted and kept, data sets whose counts coincide count once, a mean that
one run carries is flagged, and the findings quote the growth table's numbers."""

from __future__ import annotations

import re

import numpy as np
import pytest

from bends.runner.figures import Figures
from bends.runner.study import Curve, StoredCell
from bends.studies.conjecture import Conjecture

KS = (1, 2, 4, 8)


def _cells(pieces, datasets=("staircase",), seeds=8, stopped=lambda d, k, s: "critical"):
    """Stored cells of ``datasets`` × KS, ``pieces(dataset, k, seed)`` → (init, trained)."""
    cells = []
    for dataset in datasets:
        for k in KS:
            params = {"dataset": dataset, "width": 7, "placement": "uniform", "points": 16,
                      "k": k, "trainer": "limit"}  # fmt: skip
            rows, curves = [], []
            for seed in range(seeds):
                initial, trained = pieces(dataset, k, seed)
                rows.append({
                    **params, "seed": seed, "loss_solution": 1e-30, "live_init": True,
                    "loss_init": 1.0, "loss": 0.01, "zero_loss": False, "dead": False,
                    "stopped": stopped(dataset, k, seed), "evaluations": 10,
                    "train_time": 1.0, "pieces_init": initial, "pieces": trained,
                    "wide_pieces_init": initial, "wide_pieces": trained, "censored": False,
                    "resolved": True,
                })  # fmt: skip
                times = np.array([0.0, 1.0, 2.0])
                curves += [Curve("loss", seed, np.array([1.0, 0.1, 0.01])),
                           Curve("loss_time", seed, times),
                           Curve("pieces", seed, np.array([initial, trained, trained])),
                           Curve("pieces_time", seed, times)]  # fmt: skip
            cells.append(StoredCell(f"{dataset}-{k}", params, tuple(range(seeds)), "done",
                                    1.0, None, rows, curves))  # fmt: skip
    return cells


def _report(cells, datasets=("staircase",)):
    study = Conjecture()
    config = study.Config(datasets=datasets, widths=(7,), steps=KS, points=(16,), seeds=8)
    return study.report(config, cells, Figures())


def _growing(dataset, k, seed):
    """Init counts of a heavy-ish spread; training multiplies each by e^{0.3 k} (±10 %)."""
    initial = int(2 + (seed * 7) % 11 + k)
    return initial, round(initial * np.exp(0.3 * k) * (1 + 0.1 * ((seed % 3) - 1)))


def _table_row(report, k, after):
    """The cells of the row k of the first table after the line ``after``."""
    table = report[report.index(after) :]
    table = table[table.index("| k | live runs") :]
    line = next(x for x in table.splitlines() if x.startswith(f"| {k} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_a_budget_ended_run_is_counted_and_kept():
    big = 10_000  # the budget-ended run: a count no statistic could hide

    def pieces(dataset, k, seed):
        return (3, big) if (k, seed) == (4, 5) else (3, 4 + seed)

    budget = lambda d, k, s: "budget" if (k, s) == (4, 5) else "critical"  # noqa: E731
    report = _report(_cells(pieces, stopped=budget))
    header = _table_row(report, "k", "### staircase")  # the pieces table's header
    row = _table_row(report, 4, "### staircase")
    assert row[header.index("budget-ended (kept)")] == "1 (12%)"
    assert row[header.index("max")] == str(big)
    kept = np.mean([big, *[4 + s for s in range(8) if s != 5]])
    assert row[header.index("E[pieces] [95 %]")].startswith(f"{kept:.3g} [")
    assert _table_row(report, 2, "### staircase")[header.index("budget-ended (kept)")] == "0 (0%)"
    assert "1 of the 32 live, uncensored runs (3%) ended on the step budget" in report
    assert "kept in every statistic" in report


def test_coinciding_data_sets_count_once_and_differing_ones_twice():
    both = ("staircase", "cantor")
    same = _report(_cells(_growing, both), both)
    assert "cantor and staircase coincide exactly at width 7" in same
    assert "| cantor = staircase, width 7, n = 16 (uniform) | median |" in same
    assert "Both: 1 of 1 (" in same and "1 data sets and widths, 1 of them counting" in same

    def differ(dataset, k, seed):
        initial, trained = _growing(dataset, k, seed)
        return initial, trained + (dataset == "cantor" and (k, seed) == (8, 0))

    apart = _report(_cells(differ, both), both)
    assert "coincide" not in apart and "staircase and cantor differ at width 7" in apart
    assert "Both: 2 of 2 (" in apart


def test_typical_flows_verdict_quotes_the_growth_table():
    report = _report(_cells(_growing))
    assert "Verdict: shown for 1 of 1" in report
    rows = {line.split("|")[2].strip(): line for line in report.splitlines()
            if line.startswith("| staircase, width 7") and "(uniform) |" in line}  # fmt: skip
    for statistic in ("median", "E[log pieces]", "mean"):
        cells = [c.strip() for c in rows[statistic].strip("|").split("|")]
        gained = cells[8]  # trained − init: rate [95 %]
        rate = float(gained.split(" [")[0])
        assert rate == pytest.approx(0.3, abs=0.05), statistic
        low = float(re.search(r"\[(-?[\d.e-]+),", gained).group(1))
        assert low > 0, statistic
    typical = next(x for x in report.splitlines() if x.startswith("- **Typical flows"))
    median = [c.strip() for c in rows["median"].strip("|").split("|")]
    log = [c.strip() for c in rows["E[log pieces]"].strip("|").split("|")]
    assert f"median {median[10]}, E[log] {log[10]}" in typical  # the table's powers


def test_a_mean_carried_by_one_run_is_flagged_with_the_seeds_it_needs():
    def pieces(dataset, k, seed):
        return 2, (500 if (k, seed) == (8, 0) else 2 + seed % 3)

    report = _report(_cells(pieces))
    row = _table_row(report, 8, "### staircase")
    header = _table_row(report, "k", "### staircase")
    others = [2 + seed % 3 for seed in range(1, 8)]
    assert row[header.index("largest run's share")] == f"{500 / (500 + sum(others)):.0%}"
    assert "**Means that rest on one run.**" in report
    assert "staircase, width 7, n = 16 (uniform), k = 8:" in report
