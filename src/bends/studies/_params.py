"""Typed views of cell parameters: a study's science reads ``p.width``, not ``p["width"]``,
while the cell's parameter mapping (and so its key and stored results) stays as it is."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any, TypeVar

T = TypeVar("T")


def typed(cls: type[T], params: Mapping[str, Any]) -> T:
    """``params`` as the frozen dataclass ``cls``: the parameters named by its fields (every
    one must be there; parameters it does not name are left out).

    Example:
        >>> from dataclasses import dataclass
        >>> @dataclass(frozen=True)
        ... class Point:
        ...     width: int
        >>> typed(Point, {"width": 3, "depth": 2})
        Point(width=3)
    """
    return cls(**{f.name: params[f.name] for f in fields(cls)})  # type: ignore[arg-type]
