"""Summaries of a study's metric rows for its report: groups, aggregates, Markdown tables.

A report reads its rows as a table of records. :func:`group` splits them by the values of some
keys; :func:`table` makes one Markdown row per group, its columns computed by aggregates of
the group (:func:`mean`, :func:`median`, :func:`interval` (bootstrap), :func:`mean_sd`,
:func:`share`, or any function of the rows).

Example:
    >>> rows = [{"depth": d, "seed": s, "pieces": d * 2 + s} for d in (1, 2) for s in (0, 1)]
    >>> print(table(rows, ["depth"], {"nets": len, "E[pieces]": mean("pieces")}))
    | depth | nets | E[pieces] |
    |---:|---:|---:|
    | 1 | 2 | 2.5 |
    | 2 | 2 | 4.5 |
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from bends.analysis.stats import line_fit, mean_interval

Rows = list[dict[str, Any]]
Aggregate = Callable[[Rows], Any]


def rows_of(results: Iterable[Any]) -> Rows:
    """Every metric row of stored cells, in order."""
    return [row for cell in results for row in cell.rows]


def group(rows: Rows, *keys: str) -> dict[Any, Rows]:
    """Rows by their values of ``keys`` (a value for one key, a tuple for several), in sorted
    order of those values."""
    groups: dict[Any, Rows] = {}
    for row in rows:
        value = tuple(row[k] for k in keys)
        groups.setdefault(value[0] if len(keys) == 1 else value, []).append(row)
    return dict(sorted(groups.items(), key=lambda item: _sortable(item[0])))


def values(rows: Rows, key: str) -> list[Any]:
    """The column ``key`` of ``rows``."""
    return [row[key] for row in rows]


def mean(key: str) -> Aggregate:
    """The mean of column ``key``."""
    return lambda rows: float(np.mean(values(rows, key)))


def median(key: str, missing: Any = None) -> Aggregate:
    """The median of column ``key`` over the rows where it is not None (``missing`` when it
    is None in all of them)."""

    def aggregate(rows: Rows) -> Any:
        present = [v for v in values(rows, key) if v is not None]
        return float(np.median(present)) if present else missing

    return aggregate


def tally(key: str) -> Aggregate:
    """How often each value of column ``key`` occurs: 'a 3, b 1' (values sorted)."""

    def aggregate(rows: Rows) -> str:
        found = values(rows, key)
        return ", ".join(f"{v} {found.count(v)}" for v in sorted(set(found)))

    return aggregate


def interval(key: str) -> Aggregate:
    """The mean of column ``key`` with its 95 % bootstrap interval, as text."""
    return lambda rows: str(mean_interval(values(rows, key)))


def mean_sd(key: str) -> Aggregate:
    """'mean ± sd' of column ``key`` (the value alone for one row)."""
    return lambda rows: format_mean_sd(values(rows, key))


def share(test: Callable[[dict[str, Any]], bool]) -> Aggregate:
    """The fraction of rows passing ``test``, as a percentage."""
    return lambda rows: f"{np.mean([bool(test(r)) for r in rows]):.0%}"


def format_mean_sd(numbers: Sequence[float]) -> str:
    """'mean ± sd' (population sd) to 4 and 2 significant digits; the value alone for one."""
    if len(numbers) == 1:
        return f"{numbers[0]:.4g}"
    return f"{np.mean(numbers):.4g} ± {np.std(numbers):.2g}"


def table(
    rows: Rows,
    by: Sequence[str],
    columns: Mapping[str, Aggregate | str],
    labels: Mapping[str, Callable[[Any], Any]] | None = None,
    titles: Mapping[str, str] | None = None,
) -> str:
    """A Markdown table with one line per group of ``rows`` by ``by``: the group's values
    (shown through ``labels[key]`` and headed ``titles[key]`` where given), then each column's
    aggregate (a string names a column whose first value is shown)."""
    body = []
    for key, members in group(rows, *by).items():
        keys = key if len(by) > 1 else (key,)
        first = [(labels or {}).get(k, lambda v: v)(v) for k, v in zip(by, keys, strict=True)]
        body.append(
            first
            + [
                members[0][how] if isinstance(how, str) else how(members)
                for how in columns.values()
            ]
        )
    return markdown_table([*[(titles or {}).get(k, k) for k in by], *columns], body)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table; numeric columns right-aligned, floats to 4 significant digits.

    >>> print(markdown_table(["depth", "pieces"], [[1, 2], [2, 4]]))
    | depth | pieces |
    |---:|---:|
    | 1 | 2 |
    | 2 | 4 |
    """
    numeric = [all(_is_number(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---:" if n else "---" for n in numeric) + "|",
    ]
    lines += ["| " + " | ".join(_cell_text(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _sortable(value: Any) -> tuple:
    items = value if isinstance(value, tuple) else (value,)
    return tuple((item is None, str(type(item)), item if item is not None else 0) for item in items)


def _is_number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)) or value is None


def _cell_text(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def findings(lines: Iterable[str | None]) -> str:
    """A report's findings: what these runs show, one statement a line (None lines skipped)."""
    body = "\n".join(line for line in lines if line is not None)
    return f"**What these runs show** (nothing beyond them):\n\n{body}"


def resolution_finding(rows: Rows, *where: str) -> str | None:
    """The finding that float64 could not resolve every breakpoint of some counted networks
    (rows whose ``resolved`` is False), naming their values of ``where``; None if it could."""
    unresolved = [r for r in rows if r.get("resolved") is False]
    if not unresolved:
        return None
    places = sorted({tuple(r[k] for k in where) for r in unresolved}) if where else []
    named = ", ".join(
        " ".join(f"{k} {v}" for k, v in zip(where, p, strict=True)) for p in places[:8]
    )
    return (
        f"- float64 could not resolve every breakpoint (knots closer than 2^-40 in t) in "
        f"{len(unresolved)} of {len(rows)} rows, so their counts may be off by a few"
        + (f": {named}{' …' if len(places) > 8 else ''}." if places else ".")
    )


def neuron_law(
    neurons: Sequence[float],
    counts: Sequence[float],
    length: float,
    groups: Sequence[Any] | None = None,
    name: str = "regions",
) -> str:
    """Hanin & Rolnick's law, counts = a + c·N for N neurons along a line of ``length``, as one
    sentence: c with the 95 % interval of a bootstrap (the scatter grows with N) of the counts,
    or of whole ``groups`` (a seed's networks at several depths share their first layers),
    per unit length too, and c refitted on the upper half of the distinct N alone (where the
    two slopes differ, the count is not linear in N). ``name``: what is counted. Empty below
    two distinct N.

    >>> law = neuron_law([16, 16, 32, 32, 64, 64], [20, 18, 36, 34, 68, 66], 2.0)
    >>> print(law.replace("; ", ";\\n"))
    regions = a + c·N: c = 1 [0.954, 1.05] per neuron (0.5 per neuron and unit length), a = 3;
    on N ≥ 32 alone c = 1 [0.938, 1.06]
    """
    x, y = np.asarray(neurons, dtype=np.float64), np.asarray(counts, dtype=np.float64)
    labels = None if groups is None else np.asarray(groups)
    levels = np.unique(x)
    if len(levels) < 2:
        return ""
    upper = x >= levels[len(levels) // 2]
    every = line_fit(x, y, resamples=2000, groups=labels)
    text = (
        f"{name} = a + c·N: c = {every.slope:.3g} [{every.low:.3g}, {every.high:.3g}] per "
        f"neuron ({every.slope / length:.3g} per neuron and unit length), a = "
        f"{every.intercept:.3g}"
    )
    if len(np.unique(x[upper])) < 2:
        return text
    deep = line_fit(x[upper], y[upper], resamples=2000,
                    groups=None if labels is None else labels[upper])  # fmt: skip
    return (
        f"{text}; on N ≥ {levels[len(levels) // 2]:g} alone c = {deep.slope:.3g} "
        f"[{deep.low:.3g}, {deep.high:.3g}]"
    )
