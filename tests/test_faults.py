"""Faults lose nothing: killed drivers leave no workers, lost workers are replaced, a run
directory in use cannot be emptied, damaged stores are named, files are replaced whole."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bends.cli import app
from bends.errors import BendsError
from bends.runner import export as export_module
from bends.runner.export import export_run as export
from bends.runner.store import FILENAME, Store, claimed

BENDS = [sys.executable, "-m", "bends"]


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (read from /proc: no psutil needed)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its exit status is left


def _sweep(run_dir: Path, *settings: str, workers: int = 1) -> subprocess.Popen:
    command = [*BENDS, "run", "selfcheck", "--out", str(run_dir), "--workers", str(workers)]
    for setting in settings:
        command += ["--set", setting]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def _done_cells(run_dir: Path) -> int:
    path = run_dir / FILENAME
    if not path.exists():
        return 0
    with sqlite3.connect(path, timeout=30) as db:
        try:
            return db.execute("SELECT COUNT(*) FROM cells WHERE status = 'done'").fetchone()[0]
        except sqlite3.OperationalError:
            return 0


def test_sigkill_of_the_driver_leaves_no_live_worker(tmp_path):
    driver = _sweep(tmp_path / "run", "seeds=40", "delay=0.5", workers=2)
    assert _wait_for(lambda: _done_cells(tmp_path / "run") >= 1, 60), driver.communicate()
    workers = _children(driver.pid)
    assert len(workers) >= 2  # the pool's workers (and its resource tracker)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    assert _wait_for(lambda: not any(_alive(pid) for pid in workers), 5.0)


def test_sigkill_of_a_worker_the_sweep_finishes_with_every_cell_once(tmp_path):
    driver = _sweep(tmp_path / "run", "seeds=12", "delay=0.4", workers=2)
    assert _wait_for(lambda: _done_cells(tmp_path / "run") >= 1, 60), driver.communicate()
    workers = [pid for pid in _children(driver.pid) if "spawn_main" in _cmdline(pid)]
    assert workers
    os.kill(workers[0], signal.SIGKILL)
    _, err = driver.communicate(timeout=120)
    assert driver.returncode == 0, err
    assert "Traceback" not in err
    with Store.existing(tmp_path / "run") as store:
        cells = store.load()
    assert len(cells) == 12 and all(cell.status == "done" for cell in cells)
    assert sorted(row["seed"] for cell in cells for row in cell.rows) == list(range(12))


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_fresh_while_another_run_holds_the_directory_is_refused(tmp_path):
    # 30 s of cells: the first run still holds the directory while the second starts up,
    # however loaded the machine (the second's start-up alone can take 10 s)
    first = _sweep(tmp_path / "run", "seeds=150", "delay=0.2")
    assert _wait_for(lambda: _done_cells(tmp_path / "run") >= 1, 60), first.communicate()
    second = subprocess.run(
        [*BENDS, "run", "selfcheck", "--out", str(tmp_path / "run"), "--fresh",
         "--set", "seeds=3"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert second.returncode == 2
    assert second.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'run'} is in use by another bends run: cannot empty it (--fresh) "
        "now; wait for that run to finish or use another --out"
    ]
    _, err = first.communicate(timeout=240)
    assert first.returncode == 0, err
    assert _done_cells(tmp_path / "run") == 150  # the first run's results are all there


def test_runs_that_only_add_cells_share_a_directory(tmp_path):
    with claimed(tmp_path, exclusive=False), claimed(tmp_path, exclusive=False):
        with pytest.raises(BendsError, match="in use by another bends run"):
            with claimed(tmp_path, exclusive=True):
                pass
    with claimed(tmp_path, exclusive=True):  # released when the runs end
        pass


@pytest.fixture
def finished_run(tmp_path):
    run_dir = tmp_path / "run"
    done = CliRunner().invoke(app, ["run", "selfcheck", "--out", str(run_dir), "--set", "seeds=3"])
    assert done.exit_code == 0, done.output
    return run_dir


def _damage(run_dir: Path, statement: str) -> None:
    with sqlite3.connect(run_dir / FILENAME) as db:
        db.execute(statement)


@pytest.mark.parametrize(
    "statement, named",
    [
        ("DROP TABLE rows", "table rows is missing"),
        ("DELETE FROM rows", "marked done but its results are gone"),
        ("DELETE FROM curves WHERE rowid = 1", "marked done but its results are gone"),
        ("UPDATE meta SET value = '{not json' WHERE key = 'settings'", "settings are unreadable"),
    ],
)
def test_a_damaged_store_is_named_never_reported_complete(finished_run, statement, named):
    _damage(finished_run, statement)
    rerun = ["run", "selfcheck", "--out", str(finished_run), "--set", "seeds=3"]
    for command in (["report", str(finished_run)], ["export", str(finished_run)], rerun):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 2, (command, result.output)
        assert named in result.output and "damaged" in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_garbage_page_is_found_by_sqlites_check(finished_run):
    with sqlite3.connect(finished_run / FILENAME) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = db.execute("PRAGMA page_count").fetchone()[0]
    with open(finished_run / FILENAME, "r+b") as handle:
        handle.seek(4096 * (pages // 2))
        handle.write(b"garbage!" * 512)
    result = CliRunner().invoke(app, ["report", str(finished_run)])
    assert result.exit_code == 2 and "damaged" in result.output, result.output


def test_an_interrupted_export_leaves_the_previous_file_intact(finished_run, monkeypatch):
    (metrics,) = [p for p in export(finished_run, finished_run) if p.name == "metrics.csv"]
    before = metrics.read_bytes()

    def dies_midway(records, path):
        Path(path).write_text("seed,pie")  # half a header, then the process is gone
        raise KeyboardInterrupt

    monkeypatch.setattr(export_module, "_write_csv", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        export(finished_run, finished_run)
    assert metrics.read_bytes() == before
    assert not [p for p in finished_run.iterdir() if p.name.startswith(".")
                and p.name != ".bends-lock"]  # fmt: skip


def test_report_figures_are_replaced_whole(finished_run, monkeypatch):
    from matplotlib.figure import Figure

    figure = next((finished_run / "figures").glob("*.png"))
    before = figure.read_bytes()
    saved = Figure.savefig

    def dies_midway(self, path, **kwargs):
        Path(path).write_bytes(b"\x89PNG")
        raise KeyboardInterrupt

    monkeypatch.setattr(Figure, "savefig", dies_midway)
    from bends.runner.report import report_run
    from bends.studies import get_study

    with pytest.raises(KeyboardInterrupt):
        report_run(get_study("selfcheck"), finished_run)
    monkeypatch.setattr(Figure, "savefig", saved)
    assert figure.read_bytes() == before


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_prints_interrupted_and_exits_130(tmp_path, workers):
    command = [*BENDS, "run", "selfcheck", "--out", str(tmp_path / "run"), "--workers",
               str(workers), "--set", "seeds=400", "--set", "delay=0.3"]  # fmt: skip

    # a suite started in the background (``make test &``) inherits SIGINT ignored, and so
    # would the driver: Python then never raises KeyboardInterrupt (nohup's behaviour)
    def answer_ctrl_c() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    driver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, start_new_session=True,
                              preexec_fn=answer_ctrl_c)  # fmt: skip
    assert _wait_for(lambda: _done_cells(tmp_path / "run") >= 1, 60)
    os.killpg(driver.pid, signal.SIGINT)  # what Ctrl-C does: the whole process group
    out, err = driver.communicate(timeout=60)
    # 400 cells of 0.3 s cannot finish before the first done cell is seen
    assert driver.returncode == 130, (out, err)
    assert err.strip().splitlines()[-1] == "interrupted" and "Traceback" not in err, err


def test_cells_that_kill_their_workers_finish_in_one_run(tmp_path):
    # every cell's first attempt kills its worker (and whatever runs beside it)
    result = subprocess.run(
        [*BENDS, "run", "selfcheck", "--out", str(tmp_path / "run"), "--workers", "2",
         "--set", "seeds=4", "--set", f"crash_marker={tmp_path / 'markers'}"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "4 cells, 4 run now" in result.stdout and "failed" not in result.stdout
    assert _done_cells(tmp_path / "run") == 4


def test_replaced_files_get_the_permissions_of_a_plain_write(tmp_path):
    from bends._atomic import replaced

    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    with replaced(tmp_path / "new.txt") as partial:
        partial.write_text("x")
    assert (tmp_path / "new.txt").stat().st_mode == plain.stat().st_mode
    os.chmod(plain, 0o640)
    with replaced(plain) as partial:
        partial.write_text("y")
    assert plain.stat().st_mode & 0o777 == 0o640 and plain.read_text() == "y"
