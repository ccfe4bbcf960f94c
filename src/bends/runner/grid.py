"""A study's cells as a grid: every point of a cartesian product of parameters, per seed group.

Example:
    >>> from bends.studies import get_study
    >>> study = get_study("selfcheck")
    >>> cells = grid(study, {"depth": [2, 1, 2], "kind": ["a"]}, [(0, 1), (2, 3)], {"x": 0})
    >>> [(dict(c.params), c.seeds) for c in cells][:2]
    [({'depth': 2, 'kind': 'a', 'x': 0}, (0, 1)), ({'depth': 2, 'kind': 'a', 'x': 0}, (2, 3))]
    >>> len(cells)
    4
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bends.runner.study import Cell, Study


def grid(
    study: Study,
    axes: Mapping[str, Iterable[Any]],
    seed_groups: Sequence[tuple[int, ...]] = ((),),
    shared: Mapping[str, Any] | None = None,
    order: Sequence[str] | None = None,
) -> list[Cell]:
    """One cell per point of the product of ``axes`` (nested in the order given, the first
    outermost; repeated values dropped) and per seed group. A cell's parameters are the
    point's values, in the order ``order`` (default: the axes'), then ``shared``."""
    names = list(axes)
    keys = list(order or names)
    levels = [list(dict.fromkeys(values)) for values in axes.values()]
    return [
        study.cell({**{k: point[names.index(k)] for k in keys}, **(shared or {})}, seeds)
        for point in itertools.product(*levels)
        for seeds in seed_groups
    ]
