"""Reports (Markdown + HTML, PNG + PDF figures), CSV/Parquet export, and the run commands."""

from __future__ import annotations

import csv
import json

import pyarrow.parquet as pq
from typer.testing import CliRunner

from bends.cli import app
from bends.runner.store import Store

runner = CliRunner()
#: One random-MLP series (PyTorch's initialisation, through the origin) keeps the counts simple.
SMALL = ["--set", "depths=1,2,3,6", "--set", "seeds=3", "--set", "exact_depth=3",
         "--set", "inits=torch", "--set", "offsets=0"]  # fmt: skip


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_run_writes_a_report_with_the_count_depth_table_and_figure(tmp_path):
    result = invoke("run", "count-depth", "--out", tmp_path, *SMALL)
    assert result.exit_code == 0, result.output
    assert f"report: {tmp_path / 'report.md'}" in result.stdout
    report = (tmp_path / "report.md").read_text()
    # The table lists the exact counts; the constructions match 2^depth.
    assert "| 6 | 64 | 64 |" in report and "| 3 | 8 | 8 |" in report
    assert "equals the closed form 2^depth at 4 of 4 depths" in report
    assert "float64 agreed on 24 of them" in report  # 3 depths × (1 + 1 + 3 + 3) networks
    assert "![Exact pieces against depth](figures/pieces_vs_depth.png)" in report
    for suffix in ("png", "pdf"):
        assert (tmp_path / "figures" / f"pieces_vs_depth.{suffix}").stat().st_size > 5000
    page = (tmp_path / "report.html").read_text()
    assert "<table>" in page and '<img src="figures/pieces_vs_depth.png"' in page


def test_report_rebuilds_from_the_store_and_marks_unfinished_cells(tmp_path):
    invoke("run", "count-depth", "--out", tmp_path, *SMALL)
    (tmp_path / "report.md").unlink()
    assert invoke("report", tmp_path).exit_code == 0
    assert "16 of 16 cells done" in (tmp_path / "report.md").read_text()
    store = Store.existing(tmp_path)
    store._db.execute("UPDATE cells SET status = 'pending' WHERE rowid = 1")
    store._db.commit()
    store.close()
    invoke("report", tmp_path)
    assert (
        "15 of 16 cells done; rerun `bends run count-depth" in (tmp_path / "report.md").read_text()
    )


def test_export_csv_and_parquet_hold_every_metric_row(tmp_path):
    invoke("run", "count-depth", "--out", tmp_path, *SMALL)
    result = invoke("export", tmp_path, "--format", "csv", "--out", tmp_path / "csv")
    assert result.exit_code == 0, result.output
    with (tmp_path / "csv" / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4 * (1 + 1 + 3 + 3)
    saw = {int(r["depth"]): int(r["pieces"]) for r in rows if r["family"] == "sawtooth"}
    assert saw == {1: 2, 2: 4, 3: 8, 6: 64}
    assert invoke("export", tmp_path, "--format", "parquet").exit_code == 0
    table = pq.read_table(tmp_path / "metrics.parquet").to_pylist()
    assert [(r["family"], r["depth"], r["pieces"]) for r in table] == [
        (r["family"], int(r["depth"]), int(r["pieces"])) for r in rows
    ]


def test_export_writes_curves_in_long_format(tmp_path):
    invoke("run", "selfcheck", "--out", tmp_path, "--set", "seeds=2")
    invoke("export", tmp_path)
    with (tmp_path / "curves.csv").open() as handle:
        points = list(csv.DictReader(handle))
    assert len(points) == 2 * 32 and {p["curve"] for p in points} == {"walk"}


def test_studies_lists_and_describes(tmp_path):
    listing = invoke("studies")
    assert listing.exit_code == 0 and "count-depth" in listing.stdout
    settings = invoke("studies", "count-depth")
    assert "exact_depth" in settings.stdout and "rnn_width" in settings.stdout


def test_bad_runs_get_one_error_line_and_status_2(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text("widht = 3\n")
    cases = [
        (["run", "nope"], "unknown study 'nope'"),
        (["run", "count-depth", "--set", "seeds=-2"], "seeds must be at least 1"),
        (["run", "count-depth", "--config", toml], "unknown setting 'widht'"),
        (["run", "count-depth", "--backend", "dask"], "unknown backend"),
        (["run", "count-depth", "--address", "1.2.3.4:1"], "--address is for --backend ray"),
        (["report", tmp_path], "holds no results"),
        (["export", tmp_path], "holds no results"),
    ]
    for args, message in cases:
        result = invoke(*args)
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1, (args, result.output)
        assert lines[0].startswith("error:") and message in lines[0], lines[0]
    invoke("run", "selfcheck", "--out", tmp_path / "s", "--set", "seeds=1")
    clash = invoke("run", "count-depth", "--out", tmp_path / "s")
    assert clash.exit_code == 2 and "holds results of study 'selfcheck'" in clash.stderr
    assert json.loads(json.dumps(clash.stderr))  # plain text, no traceback
    assert "Traceback" not in clash.output


def test_a_failing_report_is_one_line_and_keeps_the_results(tmp_path, monkeypatch):
    from bends.studies.selfcheck import SelfCheck

    def broken(self, config, results, figures):
        raise ZeroDivisionError("a bug in a report")

    monkeypatch.setattr(SelfCheck, "report", broken)
    result = invoke("run", "selfcheck", "--out", tmp_path, "--set", "seeds=2")
    assert result.exit_code == 1 and "Traceback" not in result.output
    (line,) = result.stderr.strip().splitlines()
    assert "writing the report failed (ZeroDivisionError: a bug in a report)" in line
    assert len(Store.existing(tmp_path).done_keys()) == 2
