"""Figures of a report: made without pyplot (no global state, no backend switched), saved as
PNG (shown) and PDF (linked).

Example:
    >>> figure, ax = new_figure(figsize=(3, 2))
    >>> _ = ax.plot([0, 1], [0, 1])
    >>> Figures().add(figure, "line", "A line")
    '*A line* (figure `line` not saved)\\n'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
from matplotlib.figure import Figure

from bends._atomic import replaced
from bends.analysis.stats import mean_interval
from bends.runner.summaries import Rows, group, values


def new_figure(nrows: int = 1, ncols: int = 1, **options: Any) -> tuple[Figure, Any]:
    """A figure and its axes (``Figure.subplots``; ``figsize`` and ``suptitle`` go to the
    figure, the rest to ``subplots``), drawn with no pyplot state."""
    figure = Figure(figsize=options.pop("figsize", None), layout=options.pop("layout", None))
    return figure, figure.subplots(nrows, ncols, **options)


def plot_means(
    ax: Any,
    rows: Rows,
    x: str,
    y: str,
    spread: Literal["sd", "interval", "range"] | None = "sd",
    **style: Any,
) -> Any:
    """The mean of column ``y`` at each value of column ``x``, with its spread over the rows:
    error bars of one standard deviation (``sd``) or of the 95 % bootstrap interval
    (``interval``), a shaded min–max band (``range``), or none."""
    by = group(rows, x)
    xs = list(by)
    means = np.array([np.mean(values(g, y)) for g in by.values()])
    if spread in ("sd", "interval"):
        if spread == "sd":
            low = high = np.array([np.std(values(g, y)) for g in by.values()])
        else:
            intervals = [mean_interval(values(g, y)) for g in by.values()]
            low = means - [i.low for i in intervals]
            high = [i.high for i in intervals] - means
        options = {"marker": "o", "ms": 3, "capsize": 2, **style}
        return ax.errorbar(xs, means, yerr=[low, high], **options)
    (line,) = ax.plot(xs, means, **{"marker": "o", "ms": 3, **style})
    if spread == "range":
        ax.fill_between(xs, [min(values(g, y)) for g in by.values()],
                        [max(values(g, y)) for g in by.values()],
                        color=line.get_color(), alpha=0.2, lw=0)  # fmt: skip
    return line


class Figures:
    """Saves a study's figures (PNG + PDF) and returns the Markdown that shows them; with no
    directory it saves nothing (a report's text without files)."""

    def __init__(self, directory: Path | None = None, report_dir: Path | None = None) -> None:
        self.directory = None if directory is None else Path(directory)
        self.report_dir = Path(report_dir or ".")

    def add(self, figure: Figure, name: str, caption: str) -> str:
        """Save ``figure`` as ``name``.png/.pdf; Markdown showing it."""
        if self.directory is None:
            return f"*{caption}* (figure `{name}` not saved)\n"
        self.directory.mkdir(parents=True, exist_ok=True)
        links = []
        for suffix in ("png", "pdf"):
            path = self.directory / f"{name}.{suffix}"
            with replaced(path) as partial:
                figure.savefig(partial, dpi=150, bbox_inches="tight")
            links.append(Path(os.path.relpath(path, self.report_dir)).as_posix())
        return f"![{caption}]({links[0]})\n\n*{caption}* ([PDF]({links[1]}))\n"
