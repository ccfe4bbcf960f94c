"""The results store: exact round trips, resumption (even after SIGKILL), failures retried."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest

from bends.errors import BendsError
from bends.runner.config import StudyConfig, resolve
from bends.runner.executors import LocalExecutor
from bends.runner.store import FILENAME, Store
from bends.runner.study import Cell, CellResult, Curve, Study
from bends.runner.sweep import run_sweep
from bends.studies import get_study


def stored(run_dir):
    """{cell key: (status, rows, curves as lists)} of a run directory."""
    store = Store.existing(run_dir)
    try:
        return {
            cell.key: (
                cell.status,
                cell.rows,
                [(c.name, c.seed, list(c.values)) for c in cell.curves],
            )
            for cell in store.load()
        }
    finally:
        store.close()


def test_rows_and_curves_round_trip_exactly(tmp_path):
    store = Store(tmp_path / FILENAME)
    cell = Cell("s", 1, {"a": 1.5, "name": "x"}, (3, 4))
    values = np.array([0.1, 1 / 3, np.pi, -0.0, 1e-300, np.inf])
    rows = [{"seed": 3, "loss": 0.1 + 0.2, "pieces": 7, "ok": True, "none": None}]
    store.record(cell, CellResult(rows, [Curve("loss", 3, values)]), seconds=1.0, host="h")
    (back,) = store.load([cell])
    assert back.rows == rows and back.params == {"a": 1.5, "name": "x"} and back.seeds == (3, 4)
    assert back.curves[0].values.tobytes() == values.tobytes()
    store.record(cell, CellResult(rows[:0]), seconds=1.0, host="h")  # a rerun replaces, never adds
    assert store.load([cell])[0].rows == [] and store.load([cell])[0].curves == []


def test_a_run_directory_holds_one_study(tmp_path):
    store = Store(tmp_path / FILENAME)
    store.bind("count-depth", {"seeds": 1})
    with pytest.raises(BendsError, match="holds results of study 'count-depth'"):
        store.bind("selfcheck", {})
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / FILENAME).write_text("not a database, clearly not one at all" * 40)
    with pytest.raises(BendsError, match="not a bends results database"):
        Store.existing(tmp_path / "junk")


def test_rerun_skips_finished_cells_and_fresh_starts_over(tmp_path):
    study = get_study("count-depth")
    config = resolve(study.Config, assignments=["depths=1,2,3", "seeds=4", "seeds_per_cell=2"])
    first = run_sweep(study, config, tmp_path, LocalExecutor(), progress=False)
    assert (first.total, first.ran, first.skipped) == (len(study.cells(config)), first.total, 0)
    again = run_sweep(study, config, tmp_path, LocalExecutor(), progress=False)
    assert (again.ran, again.skipped) == (0, first.total)
    wider = resolve(study.Config, assignments=["depths=1,2,3,4", "seeds=4", "seeds_per_cell=2"])
    grown = run_sweep(study, wider, tmp_path, LocalExecutor(), progress=False)
    assert grown.skipped == first.total and grown.ran == grown.total - first.total
    fresh = run_sweep(study, config, tmp_path, LocalExecutor(), fresh=True, progress=False)
    assert fresh.ran == first.total


def test_per_seed_numbers_do_not_depend_on_the_grouping_of_seeds(tmp_path):
    study = get_study("count-depth")
    settings = [
        "depths=1,3,6",
        "seeds=6",
        "families=random-mlp,random-rnn",
        "inits=torch",
        "offsets=0",
    ]
    rows = []
    for per_cell in (1, 4):
        config = resolve(study.Config, assignments=[*settings, f"seeds_per_cell={per_cell}"])
        run_sweep(study, config, tmp_path / str(per_cell), LocalExecutor(), progress=False)
        found = [
            r for _, cell_rows, _ in stored(tmp_path / str(per_cell)).values() for r in cell_rows
        ]
        rows.append(sorted(found, key=lambda r: (r["family"], r["depth"], r["seed"])))
    assert rows[0] == rows[1] and len(rows[0]) == 2 * 3 * 6


class Flaky(Study):
    """Fails on the seeds in ``fail_on``, to check that failures are stored and retried."""

    name = "flaky"
    summary = "fails on purpose"
    Config = StudyConfig
    fail_on: tuple[int, ...] = ()

    def cells(self, config):
        return [self.cell({}, group) for group in config.seed_groups()]

    def run_cell(self, cell):
        if set(cell.seeds) & set(self.fail_on):
            raise RuntimeError(f"seed {cell.seeds} failed on purpose")
        return CellResult([{"seed": s, "square": s * s} for s in cell.seeds])

    def report(self, config, results, figures):
        return ""


def test_failed_cells_are_stored_with_their_error_and_retried_on_resume(tmp_path):
    study = Flaky()
    config = StudyConfig(seeds=4, seeds_per_cell=1)
    study.fail_on = (1, 3)
    summary = run_sweep(study, config, tmp_path, LocalExecutor(), progress=False)
    assert summary.ran == 4 and len(summary.failed) == 2
    assert "failed on purpose" in summary.failed[0][1]
    statuses = sorted(status for status, _, _ in stored(tmp_path).values())
    assert statuses == ["done", "done", "failed", "failed"]
    study.fail_on = ()
    retried = run_sweep(study, config, tmp_path, LocalExecutor(), progress=False)
    assert (retried.ran, retried.skipped, retried.failed) == (2, 2, [])
    assert all(status == "done" for status, _, _ in stored(tmp_path).values())


def test_sweep_killed_by_sigkill_resumes_to_the_uninterrupted_results(tmp_path):
    """Kill a running sweep with SIGKILL, rerun it: every cell once, numbers as if never killed."""
    settings = ["seeds=16", "seeds_per_cell=1", "delay=0.15"]
    study = get_study("selfcheck")
    reference = tmp_path / "reference"
    run_sweep(study, resolve(study.Config, assignments=settings), reference, LocalExecutor(),
              progress=False)  # fmt: skip
    killed = tmp_path / "killed"
    command = [sys.executable, "-m", "bends", "run", "selfcheck", "--out", str(killed)]
    for assignment in settings:
        command += ["--set", assignment]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done_at_kill = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and done_at_kill < 4:
        time.sleep(0.05)
        if (killed / FILENAME).exists():
            with sqlite3.connect(killed / FILENAME) as db:
                try:
                    (done_at_kill,) = db.execute(
                        "SELECT count(*) FROM cells WHERE status = 'done'"
                    ).fetchone()
                except sqlite3.OperationalError:  # tables not created yet
                    pass
    assert process.poll() is None, "the sweep finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    interrupted = stored(killed)
    finished = [key for key, (status, _, _) in interrupted.items() if status == "done"]
    assert 4 <= len(finished) < 16

    resumed = subprocess.run(command, capture_output=True, text=True, check=True)
    assert f"{16 - len(finished)} run now, {len(finished)} already done" in resumed.stdout
    assert stored(killed) == stored(reference)
    with sqlite3.connect(killed / FILENAME) as db:
        attempts = [a for (a,) in db.execute("SELECT attempts FROM cells")]
        row_count = db.execute("SELECT count(*) FROM rows").fetchone()[0]
    assert attempts == [1] * 16 and row_count == 16  # every cell stored exactly once


def test_saved_networks_come_back_from_the_store(tmp_path):
    from bends.constructions import sawtooth, yarotsky_square_rnn
    from bends.runner.study import SavedNetwork

    store = Store(tmp_path / "results.sqlite")
    store.bind("demo-study", {"seeds": 1})
    cell = Cell("demo-study", 1, {"depth": 2}, (0, 1))
    nets = [
        SavedNetwork("trained", 0, sawtooth(3)),
        SavedNetwork("trained", 1, yarotsky_square_rnn(3)),
    ]
    store.record(cell, CellResult(networks=nets), seconds=0.1, host="here")
    (back,) = store.load([cell])
    assert back.network(0).to_dict() == sawtooth(3).to_dict()
    assert back.network(1).to_dict() == yarotsky_square_rnn(3).to_dict()
    with pytest.raises(BendsError, match="saved no 'initial' network"):
        back.network(0, "initial")
