"""The shared computation of tied-RNN pieces at initialisation (bends.studies._init_law):
its counts are the studies' counts, its live rule is the conjecture's, its fits and rates read
the right law off synthetic counts, and its section is deterministic, memoised and printed by
random-baselines' report."""

import numpy as np
import pytest

from bends import trace
from bends.runner.counting import count
from bends.runner.figures import Figures
from bends.runner.study import StoredCell
from bends.studies import _init_law, _random_baselines_report
from bends.studies._init_law import (
    InitCounts,
    growth_law,
    init_counts,
    init_law_section,
    statistics,
    upper_rate,
)
from bends.training.tied import TiedProblem


@pytest.mark.parametrize("width", [3, 5])
def test_counts_are_the_studies_counts_of_the_same_w0(width):
    steps = (1, 2, 5, 9)
    counts = init_counts(width, steps, seeds=3)
    for s in range(3):
        weight = np.random.default_rng(s).standard_normal((width, width))
        for j, k in enumerate(steps):
            # random-baselines' tied-RNN cell: the Cantor data at 256 points on the same line
            problem = TiedProblem.from_target("cantor", width, k, 256)
            assert counts.pieces[s, j] == count(problem.network(weight)).pieces
            if k <= 5:  # and the rational tracer agrees
                assert counts.pieces[s, j] == trace(problem.network(weight), exact=True).pieces


def test_live_is_a_nonzero_output_at_one_of_64_evenly_spaced_points():
    width, steps = 4, tuple(range(1, 9))
    counts = init_counts(width, steps, seeds=8)
    t = np.linspace(0.0, 1.0, 64)
    for s in range(8):
        weight = np.random.default_rng(s).standard_normal((width, width))
        for j, k in enumerate(steps):
            h = np.zeros((width, t.size))
            h[0], h[1] = t, 1.0
            for _ in range(k):
                h = np.maximum(weight @ h, 0.0)
            assert counts.live[s, j] == bool(np.any(h[0] != 0))
            if not counts.live[s, j]:
                assert counts.pieces[s, j] == 1  # a dead W₀ has one piece
    assert counts.live.any() and not counts.live.all()  # both kinds occur in these seeds


def _synthetic(pieces: np.ndarray, live=None) -> InitCounts:
    live = np.ones(pieces.shape, dtype=bool) if live is None else live
    steps = np.arange(1, pieces.shape[1] + 1)
    return InitCounts(pieces.shape[1], steps, pieces, live, np.ones(pieces.shape, dtype=bool))


def test_laws_and_rates_tell_an_exponential_from_a_power_law():
    k = np.arange(1, 17)
    rng = np.random.default_rng(0)
    noise = rng.uniform(0.8, 1.25, (40, k.size))
    upper = k >= np.median(k)
    exponential = _synthetic(np.round(3 * 1.3**k * noise).astype(np.int64))
    power = _synthetic(np.round(2 * k**2.0 * noise).astype(np.int64))
    for name in ("E[pieces]", "median | live", "e^E[log pieces] | live"):
        assert growth_law(k, statistics(exponential)[name]).model == "exponential"
        assert growth_law(k, statistics(power)[name]).model == "polynomial"
        rate, low, high = upper_rate(exponential, name, upper)
        assert low < np.log(1.3) < high and abs(rate - np.log(1.3)) < 0.05
        rate, low, high = upper_rate(power, name, upper)  # k^2's local rate 2/k near k ≈ 12
        assert high < 0.25 and 2 / 16 < rate < 2 / 8
    # the live mean ignores dead runs; a k without live runs gives no law, not an error
    live = np.ones((40, k.size), dtype=bool)
    live[:20] = False
    mixed = _synthetic(np.where(live, 100, 1), live)
    assert np.all(statistics(mixed)["E[pieces | live]"] == 100)
    assert np.allclose(statistics(mixed)["E[pieces]"], 50.5)
    live[:, 3] = False
    assert str(growth_law(k, statistics(_synthetic(np.ones((40, 16), int), live)
                                        )["E[pieces | live]"])) == "—"  # fmt: skip


def test_the_section_is_deterministic_memoised_and_names_every_width_and_statistic():
    args = {"widths": (3, 4), "steps": tuple(range(1, 9)), "seeds": 6}
    first = init_law_section(**args)
    assert init_law_section(**args) is first  # memoised per arguments
    assert init_law_section(widths=[3, 4], steps=range(8, 0, -1), seeds=6) is first
    _init_law._section.cache_clear()
    _init_law._counts.cache_clear()
    assert init_law_section(**args) == first  # and the same when computed again
    for width in (3, 4):
        for name in _init_law.STATISTICS:
            assert f"| {width} | {name.replace('|', chr(92) + '|')} |" in first
    for phrase in ("law, k = 1…8", "law, k = 1…4", "law, k = 5…8", "b, k = 5…8 [95 %]",
                   "Which law fits where", "Why the two guides disagreed"):  # fmt: skip
        assert phrase in first
    with pytest.raises(ValueError):
        init_law_section(widths=(3,), steps=(1, 2, 3), seeds=2)


def test_random_baselines_report_prints_the_shared_section_instead_of_its_own_init_fit(
    monkeypatch,
):
    monkeypatch.setattr(_random_baselines_report, "init_law_section", lambda: "SHARED SECTION")
    rows = [
        {"family": "rnn", "width": 3, "k": k, "seed": s, "pieces_init": k, "pieces": 2 * k,
         "wide_pieces_init": k, "wide_pieces": 2 * k, "loss_init": 1.0, "loss": 0.5,
         "live_init": True}
        for k in (1, 2, 4) for s in range(2)
    ]  # fmt: skip
    cell = StoredCell("cell", {}, (0, 1), "done", 0.0, None, rows, [])
    text = _random_baselines_report.report(None, [cell], Figures())
    assert text.endswith("SHARED SECTION")
    assert text.count("fits best") == 1  # the trained fit only: no law of its own at init
    assert "trained by Adam (k from 1 to 4, 2 seeds)" in text
