"""What every command shares: the consoles, the one-line error, and the guard that turns a
:class:`~bends.errors.BendsError` into that line (exit 2) and a ResolutionWarning into one
warning line."""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import typer
from rich.console import Console

from bends.errors import AssumptionWarning, BendsError, ResolutionWarning

# Piped output (logs, CI) gets 120 columns instead of rich's default 80: tables stay readable.
console = Console() if sys.stdout.isatty() else Console(width=120)
err_console = Console(stderr=True)


def fail(message: str) -> NoReturn:
    """Print ``error: message`` on stderr and exit with status 2."""
    err_console.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def guarded(command: Callable[..., Any]) -> Callable[..., Any]:
    """A command whose BendsError is one line and exit 2, whose ResolutionWarnings are one
    line each."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResolutionWarning)
            warnings.simplefilter("always", AssumptionWarning)
            try:
                return command(*args, **kwargs)
            except BendsError as err:
                fail(str(err))
            finally:
                for warning in caught:
                    if issubclass(warning.category, ResolutionWarning):
                        err_console.print(
                            f"warning: {warning.message}", markup=False, soft_wrap=True
                        )
                    elif issubclass(warning.category, AssumptionWarning):
                        err_console.print(f"note: {warning.message}", markup=False, soft_wrap=True)

    return run


def parse_point(text: str | None, name: str) -> np.ndarray | None:
    """A comma-separated point such as ``0.5,1``, or a ``.npy`` file holding one (an image,
    say: it is flattened); None stays None."""
    if text is None:
        return None
    if text.endswith(".npy"):
        try:
            point = np.load(text, allow_pickle=False)
        except (OSError, ValueError) as err:
            fail(f"{name}: cannot read {text} as a NumPy array ({err})")
        if not np.issubdtype(point.dtype, np.number) or np.iscomplexobj(point):
            fail(f"{name}: {text} must hold real numbers")
        return point.astype(np.float64).reshape(-1)
    try:
        return np.array([float(v) for v in text.split(",")], dtype=np.float64)
    except ValueError:
        fail(f"{name} must be comma-separated numbers like 0.5,1 or a .npy file (got {text!r})")


def parse_floats(text: str | None, name: str) -> list[float] | None:
    """A comma-separated list of numbers as floats (None stays None)."""
    parsed = parse_point(text, name)
    return None if parsed is None else parsed.tolist()


def figure_path(path: Path, option: str) -> None:
    """Refuse a figure file name matplotlib would not write as PNG, SVG or PDF."""
    if path.suffix.lower() not in FIGURE_SUFFIXES:
        raise BendsError(f"{option} needs a .png, .svg or .pdf file name, got {path}")


FIGURE_SUFFIXES = (".png", ".svg", ".pdf")
