"""The depth-width study: its numbers are what they claim to be, whatever the grouping."""

from __future__ import annotations

import numpy as np
import pytest

from bends import trace
from bends.analysis.dynamics import separation_bound
from bends.constructions.maps import abs_map
from bends.runner.config import resolve
from bends.runner.study import StoredCell, run_in_memory
from bends.studies import get_study

STUDY = get_study("depth-width")
SMALL = ["slopes=[1.618]", "tasks=[6]", "depths=[2]", "seeds=2", "epochs=5", "points=200",
         "test_points=300", "batch_size=64"]  # fmt: skip


def run(*assignments: str) -> list[StoredCell]:
    """The cells of the small configuration plus ``assignments``, run in this process."""
    config = resolve(STUDY.Config, assignments=[*SMALL, *assignments])
    return run_in_memory(STUDY, config)


def test_rows_do_not_depend_on_how_seeds_are_grouped():
    together = [row for cell in run("seeds_per_cell=2") for row in cell.rows]
    alone = [row for cell in run("seeds_per_cell=1") for row in cell.rows]
    assert [r["seed"] for r in together] == [r["seed"] for r in alone] == [0, 1]
    for a, b in zip(together, alone, strict=True):
        assert a["pieces"] == b["pieces"]
        for key in ("mse", "test_mse", "l1", "class_error"):
            assert a[key] == pytest.approx(b[key], rel=1e-10, abs=1e-14)


def test_errors_and_pieces_recomputed_from_the_stored_network():
    (cell,) = run()
    _, test_x = _points()
    target = abs_map(1.618).iterate(test_x, 6)
    for row in cell.rows:
        net = cell.network(row["seed"])
        g = net(test_x[:, None])[:, 0]
        assert row["l1"] == pytest.approx(2 * np.mean(np.abs(g - target)), rel=1e-9)
        assert row["test_mse"] == pytest.approx(np.mean((g - target) ** 2), rel=1e-9)
        wrong = np.mean((g >= -0.2) != (target >= -0.2))  # midpoint of the default levels
        assert row["class_error"] == pytest.approx(wrong, abs=1.5 / test_x.size)
        assert row["pieces"] == trace(net, [-1.0], [1.0], exact=True).pieces
        assert row["pieces"] <= row["capacity"] == 40**2


def test_bound_columns_are_the_separation_bound():
    rows = [row for cell in run("tasks=[6, 40]", "seeds=1", "epochs=1") for row in cell.rows]
    for row in rows:
        bound = separation_bound(20, 2, row["t"], -0.9, 0.5, 1.618, 1.618)
        assert (row["l1_bound"], row["hypothesis_holds"]) == (bound.bound, bound.hypothesis_holds)
    assert [r["hypothesis_holds"] for r in rows] == [False, True]  # 1600 ≤ 1.618^40 / 8


def test_report_has_both_tables_the_figures_and_the_findings(tmp_path):
    from bends.runner.figures import Figures

    extra = ["tasks=[6, 40]", "depths=[1, 2]"]
    config = resolve(STUDY.Config, assignments=[*SMALL, *extra])
    results = run(*extra)
    text = STUDY.report(config, results, Figures(tmp_path / "figures", tmp_path))
    assert "| 1.618 | 6 | 26 |" in text  # f^6 has 2·F_7 = 26 pieces
    assert "not built" in text  # f^40 has ~3·10^8 knots
    for name in ("error_vs_depth", "loss_curves", "fits"):
        assert (tmp_path / "figures" / f"{name}.png").exists()
    assert "What these runs show" in text and "t = 40" in text


def _points():
    from bends.studies.depth_width import _points as points

    return points(0, 200, 300)


def test_exact_init_runs_only_what_the_depth_represents_and_starts_at_zero_error():
    study = STUDY
    config = study.Config(init="exact", exact_noise=0.0, tasks=(8, 16), depths=(1, 2, 4),
                          seeds=2, seeds_per_cell=2, epochs=1, points=256, test_points=256,
                          batch_size=256, lr=1e-9)  # fmt: skip
    cells = study.cells(config)
    # width 20: f^4 has 10 pieces (f^5 16, f^6 26), so depth 2 reaches t = 10, depth 4 t = 20
    assert sorted((c.params["t"], c.params["depth"]) for c in cells) == [(8, 2), (8, 4), (16, 4)]
    assert all(c.params["exact_noise"] == 0.0 for c in cells)
    assert "exact_noise" not in study.cells(study.Config(tasks=(8,), depths=(1,)))[0].params
    for cell in cells:
        for row in study.run_cell(cell).rows:
            # one Adam step of 1e-9 per weight, amplified by up to c^16 ≈ 2200
            assert row["l1_start"] < 1e-9 and row["l1"] < 1e-4
