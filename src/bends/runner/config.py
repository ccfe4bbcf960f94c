"""Typed study settings: dataclass defaults, overridden by a TOML file, then by ``--set``.

A study's settings are a frozen dataclass whose fields carry their defaults and a help text
(``setting(default, "help")``). :func:`resolve` builds one from three layers, last wins::

    defaults  <  TOML file (top-level keys)  <  --set key=value (in order)

Values are checked against the field types (``int``, ``float``, ``bool``, ``str``,
``tuple[T, ...]``, ``Literal[...]``); unknown keys, wrong types and impossible values (the
dataclass's ``validate``) raise one-line :class:`~bends.errors.BendsError` messages.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Sweep(StudyConfig):
    ...     depths: tuple[int, ...] = setting((1, 2), "depths to count")
    >>> resolve(Sweep, assignments=["depths=[3, 4]", "seeds=2"])
    Sweep(seeds=2, seeds_per_cell=4, first_seed=0, depths=(3, 4))
    >>> resolve(Sweep, assignments=["depths=three"])
    Traceback (most recent call last):
    ...
    bends.errors.BendsError: setting depths expects list of int, got 'three'
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

from bends.errors import BendsError

C = TypeVar("C", bound="StudyConfig")

# Integer settings stay exact as floats and their sums (seeds) fit the store's int64.
LARGEST_INTEGER = 2**53
MAX_SEEDS = 10**6  # a cell per seed at most: the cell list stays in memory
TOML_LIMIT = 1 << 20  # bytes: a settings file is small; /dev/zero is not one


def setting(
    default: Any,
    help: str,
    *,
    at_least: float | None = None,
    above: float | None = None,
    at_most: float | None = None,
    below: float | None = None,
) -> Any:
    """A dataclass field with a default, a help text (shown by ``bends studies NAME``) and
    the bounds its value (each value, for a list) must keep, checked by
    :meth:`StudyConfig.validate` with the other rules every setting obeys: numbers are
    finite, and a list whose default is not empty must not be empty."""
    bounds = {"at_least": at_least, "above": above, "at_most": at_most, "below": below}
    bounds = {k: v for k, v in bounds.items() if v is not None}
    return dataclasses.field(default=default, metadata={"help": help, "bounds": bounds})


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    """Settings every study has: how many seeds, and how many of them one cell runs.

    Seeds ``first_seed, ..., first_seed + seeds − 1`` are split into cells of
    ``seeds_per_cell`` consecutive seeds; a seed's numbers do not depend on the split.
    """

    seeds: int = setting(4, "number of random seeds", at_least=1)
    seeds_per_cell: int = setting(4, "seeds run together in one cell", at_least=1)
    first_seed: int = setting(0, "the first seed", at_least=0)

    def validate(self) -> None:
        """Raise BendsError for impossible values: every setting's bounds (:func:`setting`),
        then what subclasses add (relations between settings)."""
        for f in dataclasses.fields(self):
            _check_bounds(f, getattr(self, f.name))
        # studies override these three with their own defaults (and no bounds): check here
        require(self.seeds >= 1, "seeds must be at least 1")
        require(self.seeds <= MAX_SEEDS, f"seeds must be at most {MAX_SEEDS:,}, got {self.seeds:,}")
        require(self.seeds_per_cell >= 1, "seeds_per_cell must be at least 1")
        require(self.first_seed >= 0, "first_seed must be non-negative")

    def seed_groups(self) -> list[tuple[int, ...]]:
        """The seeds, in groups of ``seeds_per_cell``."""
        seeds = range(self.first_seed, self.first_seed + self.seeds)
        step = self.seeds_per_cell
        return [tuple(seeds[i : i + step]) for i in range(0, len(seeds), step)]

    def fixed(self, *swept: str) -> dict[str, Any]:
        """The settings every cell shares: :meth:`as_dict` without the seed settings and the
        ``swept`` ones (which the study spreads over its cells)."""
        dropped = {"seeds", "seeds_per_cell", "first_seed", *swept}
        return {k: v for k, v in self.as_dict().items() if k not in dropped}

    def as_dict(self) -> dict[str, Any]:
        """The settings as plain JSON-ready values (tuples become lists)."""
        return {
            f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
            for f in dataclasses.fields(self)
        }


def _check_bounds(field: dataclasses.Field, value: Any) -> None:
    items = value if isinstance(value, tuple) else (value,)
    if isinstance(value, tuple) and field.default and not value:
        raise BendsError(f"{field.name} must not be empty")
    bounds = field.metadata.get("bounds", {})
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int | float):
            continue
        if not math.isfinite(item):
            raise BendsError(f"{field.name} must be finite, got {item}")
        if isinstance(item, int) and abs(item) > LARGEST_INTEGER:
            raise BendsError(f"{field.name} must be at most 2^53 in size, got {item:.3g}")
        low, high = (
            bounds.get("at_least", bounds.get("above")),
            bounds.get("at_most", bounds.get("below")),
        )
        outside = (
            (low is not None and (item < low or ("above" in bounds and item == low)))
            or (high is not None and (item > high or ("below" in bounds and item == high)))
        )  # fmt: skip
        if outside:
            raise BendsError(f"{field.name} must {_bounds_text(bounds)}, got {item:g}")


def _bounds_text(bounds: Mapping[str, float]) -> str:
    """'be at least 1', 'be positive', 'lie in 1..40', 'lie in (0, 1)', … in words."""
    low, high = (
        bounds.get("at_least", bounds.get("above")),
        bounds.get("at_most", bounds.get("below")),
    )
    if low is not None and high is not None:
        if "at_least" in bounds and "at_most" in bounds and float(low).is_integer():
            return f"lie in {low:g}..{high:g}"
        opening, closing = "(" if "above" in bounds else "[", ")" if "below" in bounds else "]"
        return f"lie in {opening}{low:g}, {high:g}{closing}"
    if low is not None:
        if low == 0:
            return "be positive" if "above" in bounds else "be non-negative"
        return f"be greater than {low:g}" if "above" in bounds else f"be at least {low:g}"
    return f"be less than {high:g}" if "below" in bounds else f"be at most {high:g}"


def require(condition: bool, message: str) -> None:
    """Raise BendsError(message) unless condition holds (for ``validate`` methods)."""
    if not condition:
        raise BendsError(message)


def describe(config_type: type[StudyConfig]) -> list[tuple[str, str, str, str]]:
    """(name, type, default, help) of every setting, for listings."""
    hints = typing.get_type_hints(config_type)
    return [
        (
            f.name,
            _type_name(hints[f.name]),
            _format(f.default),
            f.metadata.get("help", ""),
        )
        for f in dataclasses.fields(config_type)
    ]


def resolve(
    config_type: type[C],
    toml_file: Path | None = None,
    assignments: Iterable[str] = (),
    base: Mapping[str, Any] | None = None,
) -> C:
    """Settings from defaults, then ``base`` (e.g. a demo's), a TOML file and ``key=value``s."""
    values: dict[str, Any] = dict(base or {})
    if toml_file is not None:
        values.update(_read_toml(Path(toml_file)))
    for assignment in assignments:
        key, sep, text = assignment.partition("=")
        if not sep or not key.strip():
            raise BendsError(f"--set needs key=value, got {assignment!r}")
        values[key.strip()] = _parse_value(text.strip())
    return build(config_type, values)


def _read_toml(path: Path) -> dict[str, Any]:
    """A settings file's top-level keys; a FIFO, a device or a huge file is refused unread."""
    try:
        if not path.exists():
            raise BendsError(f"cannot read {path}: no such file")
        if not path.is_file():
            raise BendsError(f"--config {path}: not a regular file")
        if path.stat().st_size > TOML_LIMIT:
            raise BendsError(f"--config {path}: larger than {TOML_LIMIT >> 20} MiB")
        return tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as err:
        raise BendsError(f"cannot read {path}: {err.strerror}") from None
    except UnicodeDecodeError:
        raise BendsError(f"--config {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as err:
        raise BendsError(f"{path} is not valid TOML: {err}") from None


def build(config_type: type[C], values: Mapping[str, Any]) -> C:
    """A validated ``config_type`` from plain values (as stored in a results database)."""
    hints = typing.get_type_hints(config_type)
    names = [f.name for f in dataclasses.fields(config_type)]
    unknown = [key for key in values if key not in names]
    if unknown:
        raise BendsError(f"unknown setting {unknown[0]!r}; settings: {', '.join(names)}")
    checked = {key: _coerce(value, hints[key], key) for key, value in values.items()}
    config = config_type(**checked)
    config.validate()
    return config


def _parse_value(text: str) -> Any:
    """A TOML value (``3``, ``0.5``, ``true``, ``[1, 2]``, ``"a"``); anything else is a string."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        if "," in text:  # a bare list such as 1,2,3 or sawtooth,random
            return [_parse_value(part.strip()) for part in text.split(",")]
        return text


def _coerce(value: Any, hint: Any, key: str) -> Any:
    origin, args = get_origin(hint), get_args(hint)
    if origin is tuple:
        items = value if isinstance(value, list | tuple) else [value]
        try:
            return tuple(_coerce(item, args[0], key) for item in items)
        except BendsError:
            raise BendsError(
                f"setting {key} expects {_type_name(hint)}, got {_format(value)}"
            ) from None
    if origin is Literal:
        if value not in args:
            choices = ", ".join(map(str, args))
            raise BendsError(f"setting {key} expects one of {choices}, got {_format(value)}")
        return value
    if origin in (typing.Union, types.UnionType):  # only Optional[...] is used
        inner = [a for a in args if a is not type(None)]
        return None if value is None else _coerce(value, inner[0], key)
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, hint) and not (hint is int and isinstance(value, bool)):
        return value
    raise BendsError(f"setting {key} expects {_type_name(hint)}, got {_format(value)}")


def _type_name(hint: Any) -> str:
    origin, args = get_origin(hint), get_args(hint)
    if origin is tuple:
        return f"list of {_type_name(args[0])}"
    if origin is Literal:
        return " | ".join(map(str, args))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    names = {int: "int", float: "float", bool: "bool (true/false)", str: "str"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def _format(value: Any) -> str:
    if isinstance(value, tuple | list):
        return ",".join(map(str, value))
    return repr(value) if isinstance(value, str) else str(value)
