"""The results store: one SQLite file per run directory, written by the sweep driver alone.

Tables::

    meta(key, value)                         study name, its settings (JSON), bends version
    cells(key, params, seeds, status, attempts, seconds, host, error, finished, items)
    rows(cell, idx, data)                    metric rows, one JSON object each
    curves(cell, name, seed, data)           float64 arrays (little-endian bytes)
    networks(cell, name, seed, data)         saved networks (bends-network JSON)

``items`` counts the rows, curves and networks a finished cell wrote: a store whose tables no
longer hold them is refused as damaged, never reported as complete.

A cell's rows, curves, networks and status ``done`` are written in one transaction, so a sweep
killed at any instant (even by SIGKILL) leaves each cell either finished or not started; the WAL
journal lets ``bends report`` read while a sweep writes. Rerunning skips the finished cells.

Example:
    >>> import tempfile
    >>> from bends.runner.study import Cell, CellResult
    >>> store = Store(Path(tempfile.mkdtemp()) / "results.sqlite")
    >>> store.bind("demo-study", {"seeds": 1})
    >>> cell = Cell("demo-study", 1, {"depth": 2}, (0,))
    >>> store.record(cell, CellResult(rows=[{"pieces": 4}]), seconds=0.1, host="here")
    >>> store.done_keys() == {cell.key}, store.load([cell])[0].rows
    (True, [{'pieces': 4}])
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bends._version import __version__
from bends.errors import BendsError
from bends.nets import from_dict
from bends.runner.study import Cell, CellResult, Curve, SavedNetwork, StoredCell

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cells (
    key TEXT PRIMARY KEY, params TEXT NOT NULL, seeds TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0, seconds REAL, host TEXT, error TEXT, finished REAL,
    items INTEGER
);
CREATE TABLE IF NOT EXISTS rows (
    cell TEXT NOT NULL REFERENCES cells(key), idx INTEGER NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (cell, idx)
);
CREATE TABLE IF NOT EXISTS curves (
    cell TEXT NOT NULL REFERENCES cells(key), name TEXT NOT NULL, seed INTEGER NOT NULL,
    data BLOB NOT NULL, PRIMARY KEY (cell, name, seed)
);
CREATE TABLE IF NOT EXISTS networks (
    cell TEXT NOT NULL REFERENCES cells(key), name TEXT NOT NULL, seed INTEGER NOT NULL,
    data TEXT NOT NULL, PRIMARY KEY (cell, name, seed)
);
"""

TABLES = ("meta", "cells", "rows", "curves", "networks")
FILENAME = "results.sqlite"
LOCK = ".bends-lock"


@contextlib.contextmanager
def claimed(run_dir: Path, exclusive: bool) -> Iterator[None]:
    """Hold ``run_dir`` for a sweep: runs that only add cells share it (each cell is stored
    once, whoever finishes it), a run that empties it (``--fresh``) must hold it alone. A
    claim that cannot be had at once is refused, never waited for. The kernel drops the lock
    when its process dies, so a killed run never leaves the directory claimed."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / LOCK, "a+") as handle:
        try:
            fcntl.flock(handle, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            what = "empty it (--fresh)" if exclusive else "add to it"
            raise BendsError(
                f"{run_dir} is in use by another bends run: cannot {what} now; wait for that "
                "run to finish or use another --out"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Store:
    """SQLite results of one run directory (see the module docstring for the tables)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=30.0)
            self._check()
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(cells)")}
            if "items" not in columns:  # a store from before bends counted items
                with self._db:
                    self._db.execute("ALTER TABLE cells ADD COLUMN items INTEGER")
        except sqlite3.DatabaseError as err:
            raise BendsError(
                f"{self.path} is damaged or not a bends results database ({err})"
            ) from None

    def _check(self) -> None:
        """Refuse a damaged store by name: SQLite's own page check, then the tables (a store
        that has some of them but not all lost the others)."""
        problems = [p for (p,) in self._db.execute("PRAGMA quick_check") if p != "ok"]
        if problems:
            detail = " ".join(problems[:2]).replace("\n", " ")
            raise BendsError(f"{self.path} is damaged ({detail}); rerun with --fresh")
        tables = {t for (t,) in self._db.execute("SELECT name FROM sqlite_master")}
        missing = sorted(set(TABLES) - tables)
        if tables & set(TABLES) and missing:
            raise BendsError(
                f"{self.path} is damaged: table {missing[0]} is missing; rerun with --fresh"
            )

    @classmethod
    def in_run_dir(cls, run_dir: Path, fresh: bool = False) -> Store:
        """The store of ``run_dir``; ``fresh`` deletes what it held."""
        path = Path(run_dir) / FILENAME
        if fresh:
            for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                leftover.unlink(missing_ok=True)
        return cls(path)

    @classmethod
    def existing(cls, run_dir: Path) -> Store:
        """The store of an existing run directory (BendsError if there is none)."""
        path = Path(run_dir) / FILENAME
        if not path.is_file():
            raise BendsError(f"{run_dir} holds no results ({FILENAME} not found)")
        store = cls(path)
        store.study()  # refuses unreadable settings before anything reads the cells
        return store

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- which study, which settings ------------------------------------------------------

    def bind(self, study: str, settings: Mapping[str, Any]) -> None:
        """Record the study and its settings; a run directory holds one study only."""
        bound = self.study()
        if bound is not None and bound[0] != study:
            raise BendsError(
                f"{self.path.parent} holds results of study {bound[0]!r}, not {study!r}; "
                "use another --out directory or --fresh"
            )
        with self._db:
            for key, value in [
                ("study", study),
                ("settings", json.dumps(dict(settings), sort_keys=True)),
                ("bends_version", __version__),
            ]:
                self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def study(self) -> tuple[str, dict[str, Any]] | None:
        """(study name, settings of its latest run), or None for an empty store."""
        meta = dict(self._db.execute("SELECT key, value FROM meta"))
        if "study" not in meta:
            return None
        try:
            settings = json.loads(meta["settings"])
        except (KeyError, json.JSONDecodeError):
            raise BendsError(f"{self.path} is damaged: its settings are unreadable") from None
        if not isinstance(settings, dict):
            raise BendsError(f"{self.path} is damaged: its settings are unreadable")
        return meta["study"], settings

    # -- cells ---------------------------------------------------------------------------

    def add_pending(self, cells: Iterable[Cell]) -> None:
        """Register cells not seen before as pending."""
        with self._db:
            self._db.executemany(
                "INSERT OR IGNORE INTO cells (key, params, seeds, status) "
                "VALUES (?, ?, ?, 'pending')",
                [(c.key, json.dumps(dict(c.params)), json.dumps(list(c.seeds))) for c in cells],
            )

    def done_keys(self) -> set[str]:
        """Keys of the finished cells; a finished cell whose rows, curves or networks are not
        all there any more means the store lost them, and the store is refused."""
        counts: dict[str, int] = {}
        for table in ("rows", "curves", "networks"):
            for key, n in self._db.execute(f"SELECT cell, COUNT(*) FROM {table} GROUP BY cell"):
                counts[key] = counts.get(key, 0) + n
        done = self._db.execute("SELECT key, items FROM cells WHERE status = 'done'").fetchall()
        if lost := [
            key for key, items in done if items is not None and counts.get(key, 0) != items
        ]:
            raise BendsError(
                f"{self.path} is damaged: cell {lost[0]} is marked done but its results are "
                f"gone ({len(lost)} such cells); rerun with --fresh"
            )
        return {key for key, _ in done}

    def record(self, cell: Cell, result: CellResult, seconds: float, host: str) -> None:
        """Store a finished cell: rows, curves and status in one transaction."""
        rows = [(cell.key, i, json.dumps(row)) for i, row in enumerate(result.rows)]
        curves = [
            (cell.key, c.name, int(c.seed), np.asarray(c.values, dtype="<f8").tobytes())
            for c in result.curves
        ]
        networks = [
            (cell.key, n.name, int(n.seed), json.dumps(n.network.to_dict()))
            for n in result.networks
        ]
        with self._db:
            self._clear(cell)
            self._db.executemany("INSERT INTO rows VALUES (?, ?, ?)", rows)
            self._db.executemany("INSERT INTO curves VALUES (?, ?, ?, ?)", curves)
            self._db.executemany("INSERT INTO networks VALUES (?, ?, ?, ?)", networks)
            self._finish(cell, "done", seconds, host, None, len(rows) + len(curves) + len(networks))

    def record_failure(self, cell: Cell, error: str, seconds: float, host: str) -> None:
        """Store a failed cell (it runs again on the next resume)."""
        with self._db:
            self._clear(cell)
            self._finish(cell, "failed", seconds, host, error)

    def _clear(self, cell: Cell) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO cells (key, params, seeds, status) VALUES (?, ?, ?, 'pending')",
            (cell.key, json.dumps(dict(cell.params)), json.dumps(list(cell.seeds))),
        )
        self._db.execute("DELETE FROM rows WHERE cell = ?", (cell.key,))
        self._db.execute("DELETE FROM curves WHERE cell = ?", (cell.key,))
        self._db.execute("DELETE FROM networks WHERE cell = ?", (cell.key,))

    def _finish(
        self, cell: Cell, status: str, seconds: float, host: str, error: str | None, items=None
    ) -> None:
        self._db.execute(
            "UPDATE cells SET status = ?, attempts = attempts + 1, seconds = ?, host = ?, "
            "error = ?, finished = ?, items = ? WHERE key = ?",
            (status, seconds, host, error, time.time(), items, cell.key),
        )

    # -- reading back --------------------------------------------------------------------

    def load(self, cells: Iterable[Cell] | None = None) -> list[StoredCell]:
        """Stored cells, in the order given (all cells of the store when None)."""
        self.done_keys()  # refuses a store whose finished cells lost their results
        try:
            return self._load(cells)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
            raise BendsError(
                f"{self.path} is damaged: a stored value is unreadable ({err})"
            ) from None

    def _load(self, cells: Iterable[Cell] | None) -> list[StoredCell]:
        query = "SELECT key, params, seeds, status, seconds, error FROM cells"
        found = {row[0]: row for row in self._db.execute(query)}
        keys = list(found) if cells is None else [c.key for c in cells if c.key in found]
        rows: dict[str, list[dict[str, Any]]] = {key: [] for key in keys}
        for key, data in self._db.execute("SELECT cell, data FROM rows ORDER BY cell, idx"):
            if key in rows:
                rows[key].append(json.loads(data))
        curves: dict[str, list[Curve]] = {key: [] for key in keys}
        for key, name, seed, data in self._db.execute(
            "SELECT cell, name, seed, data FROM curves ORDER BY cell, name, seed"
        ):
            if key in curves:
                curves[key].append(Curve(name, seed, np.frombuffer(data, dtype="<f8")))
        networks: dict[str, list[SavedNetwork]] = {key: [] for key in keys}
        for key, name, seed, data in self._db.execute(
            "SELECT cell, name, seed, data FROM networks ORDER BY cell, name, seed"
        ):
            if key in networks:
                networks[key].append(SavedNetwork(name, seed, from_dict(json.loads(data))))
        return [
            StoredCell(
                key=key,
                params=json.loads(found[key][1]),
                seeds=tuple(json.loads(found[key][2])),
                status=found[key][3],
                seconds=found[key][4],
                error=found[key][5],
                rows=rows[key],
                curves=curves[key],
                networks=networks[key],
            )
            for key in keys
        ]
