"""Reports: each study's Markdown (tables, figures as PNG and PDF), also rendered as HTML.

``report_run(run_dir)`` reads a run directory's store, rebuilds the study's cells from the
stored settings and writes ``report.md`` and ``report.html`` beside it; figures go to
``figures/`` as PNG (shown in the report) and PDF (linked). ``write_report`` joins several
studies' sections into one report (``bends demo``).

Example:
    >>> from bends.studies import get_study
    >>> print(study_section(get_study("selfcheck"), Path("/nonexistent"), Path(".")))
    Traceback (most recent call last):
    ...
    bends.errors.BendsError: /nonexistent holds no results (results.sqlite not found)
"""

from __future__ import annotations

import datetime
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bends._atomic import replaced
from bends._version import __version__
from bends.errors import BendsError
from bends.runner.config import build
from bends.runner.figures import Figures
from bends.runner.store import Store
from bends.runner.study import Study
from bends.runner.summaries import markdown_table


def study_section(study: Study, run_dir: Path, report_dir: Path, level: int = 2) -> str:
    """One study's section: heading, settings, cell status, then the study's own report."""
    with Store.existing(run_dir) as store:
        bound = store.study()
        if bound is None:
            raise BendsError(f"{run_dir} holds no study results yet")
        name, settings = bound
        if name != study.name:
            raise BendsError(f"{run_dir} holds study {name!r}, not {study.name!r}")
        config = build(study.Config, settings)
        cells = study.cells(config)
        stored = store.load(cells)
    done = [cell for cell in stored if cell.status == "done"]
    failed = [cell for cell in stored if cell.status == "failed"]
    seconds = sum(cell.seconds or 0.0 for cell in stored)
    hashes = "#" * level
    guide = f" — guide: `docs/{study.guide}`" if study.guide else ""
    status = f"{len(done)} of {len(cells)} cells done"
    if failed:
        status += f", **{len(failed)} failed** (first error: {failed[0].error.splitlines()[-1]})"
    if len(done) < len(cells):
        status += f"; rerun `bends run {study.name} --out {run_dir}` to finish"
    settings_table = markdown_table(
        ["setting", "value"], [[k, _setting_text(v)] for k, v in config.as_dict().items()]
    )
    figures = Figures(Path(run_dir) / "figures", report_dir)
    body = study.report(config, done, figures) if done else "No finished cells yet.\n"
    return (
        f"{hashes} {study.name}: {study.summary}\n\n"
        f"{status}; {seconds:.1f} s of compute{guide}.\n\n"
        f"<details><summary>settings</summary>\n\n{settings_table}\n\n</details>\n\n"
        f"{body}\n"
    )


def _setting_text(value: Any) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def write_report(report_dir: Path, title: str, sections: Sequence[str]) -> Path:
    """Write ``report.md`` and ``report.html`` in ``report_dir``; the Markdown path."""
    from markdown_it import MarkdownIt

    stamp = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    markdown = f"# {title}\n\nbends {__version__}, {stamp}.\n\n" + "\n".join(sections)
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / "report.md"
    with replaced(path) as partial:
        partial.write_text(markdown)
    body = MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)
    with replaced(report_dir / "report.html") as partial:
        partial.write_text(
            "<!doctype html>\n<html><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n"
            f"<body>\n{body}</body></html>\n"
        )
    return path


def report_run(study: Study, run_dir: Path) -> Path:
    """Write the report of one run directory into it; the Markdown path."""
    section = study_section(study, run_dir, run_dir)
    return write_report(run_dir, f"bends report: {study.name}", [section])


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
    "table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.2rem .5rem}"
    "img{max-width:100%}code{background:#f4f4f4}"
)
