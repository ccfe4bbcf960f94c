"""Typed views of cell parameters: a study's science reads ``p.width``, not ``p["width"]``,
while the cell's parameter mapping (and so its key and stored results) stays as it is."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, fields
from typing import Any, TypeVar

T = TypeVar("T")


def typed(cls: type[T], params: Mapping[str, Any]) -> T:
    """``params`` as the frozen dataclass ``cls``: the parameters named by its fields (every
    one without a default must be there; parameters it does not name are left out).

    Example:
        >>> from dataclasses import dataclass
        >>> @dataclass(frozen=True)
        ... class Point:
        ...     width: int
        >>> typed(Point, {"width": 3, "depth": 2})
        Point(width=3)
    """
    named = {f.name: params[f.name] for f in fields(cls)
             if f.name in params or f.default is MISSING}  # fmt: skip
    return cls(**named)  # type: ignore[arg-type]
