"""Export a run's stored results as flat tables: CSV or Parquet.

Two tables, one row per record, the cell's parameters as columns beside the record's own:

* ``metrics``: every metric row of every finished cell (columns: ``cell``, the parameters,
  the row's keys; a row key shadows a parameter of the same name);
* ``curves``: every curve point (``cell``, parameters, ``curve``, ``seed``, ``step``, ``value``);

and the networks the cells saved, one JSON object a line in ``networks.jsonl`` (``cell``,
parameters, ``name``, ``seed``, ``network`` in the ``bends-network`` format).

Example:
    >>> rows = metric_records([])
    >>> rows
    []
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from bends._atomic import replaced
from bends.errors import BendsError
from bends.runner.store import Store
from bends.runner.study import StoredCell

Format = Literal["csv", "parquet"]


def metric_records(cells: Sequence[StoredCell]) -> list[dict[str, Any]]:
    """One flat record per metric row of the finished cells."""
    return [
        {"cell": cell.key, **cell.params, **row}
        for cell in cells
        if cell.status == "done"
        for row in cell.rows
    ]


def curve_records(cells: Sequence[StoredCell]) -> list[dict[str, Any]]:
    """One flat record per point of every curve of the finished cells."""
    return [
        {"cell": cell.key, **cell.params, "curve": c.name, "seed": c.seed, "step": i, "value": v}
        for cell in cells
        if cell.status == "done"
        for c in cell.curves
        for i, v in enumerate(c.values.tolist())
    ]


def export_run(run_dir: Path, out_dir: Path | None = None, fmt: Format = "csv") -> list[Path]:
    """Write ``metrics.<fmt>`` (and ``curves.<fmt>`` if there are curves); the paths."""
    if fmt not in ("csv", "parquet"):
        raise BendsError(f"unknown export format {fmt!r}; use csv or parquet")
    with Store.existing(run_dir) as store:
        cells = store.load()
    out_dir = Path(out_dir or run_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, records in (("metrics", metric_records(cells)), ("curves", curve_records(cells))):
        if records or name == "metrics":
            path = out_dir / f"{name}.{fmt}"
            with replaced(path) as partial:
                (_write_csv if fmt == "csv" else _write_parquet)(records, partial)
            written.append(path)
    networks = [
        {"cell": cell.key, **cell.params, "name": n.name, "seed": n.seed,
         "network": n.network.to_dict()}
        for cell in cells if cell.status == "done" for n in cell.networks
    ]  # fmt: skip
    if networks:
        path = out_dir / "networks.jsonl"
        with replaced(path) as partial:
            partial.write_text("".join(json.dumps(record) + "\n" for record in networks))
        written.append(path)
    return written


def _columns(records: Sequence[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(key for record in records for key in record))


def _write_csv(records: Sequence[dict[str, Any]], path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=_columns(records), restval="")
        writer.writeheader()
        writer.writerows(records)


def _write_parquet(records: Sequence[dict[str, Any]], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = _columns(records)
    table = pa.table({c: [record.get(c) for record in records] for c in columns})
    pq.write_table(table, path)
