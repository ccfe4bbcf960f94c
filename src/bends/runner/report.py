"""Reports: each study's Markdown (tables, figures as PNG and PDF), also rendered as HTML.

``report_run(run_dir)`` reads a run directory's store, rebuilds the study's cells from the
stored settings and writes ``report.md`` and ``report.html`` beside it; figures go to
``figures/`` as PNG (shown in the report) and PDF (linked). ``write_report`` joins several
studies' sections into one report (``bends demo``).

Example:
    >>> print(markdown_table(["depth", "pieces"], [[1, 2], [2, 4]]))
    | depth | pieces |
    |---:|---:|
    | 1 | 2 |
    | 2 | 4 |
"""

from __future__ import annotations

import datetime
import html
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bends.errors import BendsError
from bends.runner.config import build
from bends.runner.store import Store
from bends.runner.study import Study


class Figures:
    """Saves a study's figures (PNG + PDF) and returns the Markdown that shows them; with no
    directory it only closes them (a report's text without files)."""

    def __init__(self, directory: Path | None = None, report_dir: Path | None = None) -> None:
        self.directory = None if directory is None else Path(directory)
        self.report_dir = Path(report_dir or ".")

    def add(self, figure: Any, name: str, caption: str) -> str:
        """Save ``figure`` as ``name``.png/.pdf and close it; Markdown showing it."""
        import matplotlib.pyplot as plt

        if self.directory is None:
            plt.close(figure)
            return f"*{caption}* (figure `{name}` not saved)\n"
        self.directory.mkdir(parents=True, exist_ok=True)
        links = []
        for suffix in ("png", "pdf"):
            path = self.directory / f"{name}.{suffix}"
            figure.savefig(path, dpi=150, bbox_inches="tight")
            links.append(Path(os.path.relpath(path, self.report_dir)).as_posix())
        plt.close(figure)
        return f"![{caption}]({links[0]})\n\n*{caption}* ([PDF]({links[1]}))\n"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table; numeric columns right-aligned, floats to 4 significant digits."""
    numeric = [all(_is_number(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---:" if n else "---" for n in numeric) + "|",
    ]
    lines += ["| " + " | ".join(_cell_text(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _is_number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)) or value is None


def _cell_text(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def study_section(study: Study, run_dir: Path, report_dir: Path, level: int = 2) -> str:
    """One study's section: heading, settings, cell status, then the study's own report."""
    store = Store.existing(run_dir)
    try:
        bound = store.study()
        if bound is None:
            raise BendsError(f"{run_dir} holds no study results yet")
        name, settings = bound
        if name != study.name:
            raise BendsError(f"{run_dir} holds study {name!r}, not {study.name!r}")
        config = build(study.Config, settings)
        cells = study.cells(config)
        stored = store.load(cells)
    finally:
        store.close()
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

    from bends import __version__

    stamp = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    markdown = f"# {title}\n\nbends {__version__}, {stamp}.\n\n" + "\n".join(sections)
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / "report.md"
    path.write_text(markdown)
    body = MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)
    (report_dir / "report.html").write_text(
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
