"""Results stored by older versions of the studies, read as the current version would have
stored them: one function per study and change, used by the reports (a study's ``run_cell``
only ever sees its current cells)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def conjecture_data(params: Mapping[str, Any]) -> dict[str, Any]:
    """The data-set parameters of a ``conjecture`` cell: stores from before the data axes
    existed (version < 3) ran one custom data set of uniform placement."""
    return {"dataset": params.get("dataset", "custom"), "width": params.get("width"),
            "placement": params.get("placement", "uniform"),
            "points": params.get("points")}  # fmt: skip


def conjecture_row(row: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """A ``conjecture`` row with its data set (:func:`conjecture_data`) and ``censored``
    (stores from before censoring existed: none censored)."""
    return {**conjecture_data(params), "censored": False, **row}


def memory_approx_error(row: Mapping[str, Any], key: str) -> float:
    """A ``memory-approx`` row's error ``key``: stores from before the variable-projection
    polish (version < 2) have no ``projected_error`` and read Adam's ``relative_error``."""
    return row.get(key, row["relative_error"])


def random_baselines_live_init(row: Mapping[str, Any]) -> bool:
    """Whether a ``random-baselines`` RNN row's W₀ gave a nonzero output on the line: stores
    from before ``live_init`` existed (version < 2) count every network as live."""
    return row.get("live_init", True)


def count_depth_live(row: Mapping[str, Any]) -> bool:
    """Whether a ``count-depth`` row's network is live (output not ≡ 0 on the segment): stores
    from before the flag existed (version < 2) count every network as live."""
    return row.get("live", True)
