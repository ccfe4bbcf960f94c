"""What every command shares: the consoles, the one-line error, and the guard that turns
every failure into that line (a user error exit 2, an internal one exit 1) and a
ResolutionWarning into one warning line."""

from __future__ import annotations

import functools
import os
import sqlite3
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
    """A command that never ends in a traceback: a BendsError, an unreadable or unwritable
    path, a damaged results store, input nested too deeply, numbers out of range and running
    out of memory are each one line and exit 2; an interrupt prints ``interrupted`` and exits
    130; anything else is an internal error, one line and exit 1 (``BENDS_TRACEBACK=1`` shows
    the traceback). ResolutionWarnings are one warning line each, AssumptionWarnings a note."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResolutionWarning)
            warnings.simplefilter("always", AssumptionWarning)
            try:
                return command(*args, **kwargs)
            except (typer.Exit, typer.Abort):
                raise
            except KeyboardInterrupt:
                err_console.print("interrupted", markup=False, highlight=False)
                raise typer.Exit(130) from None
            except Exception as err:  # classified below: every failure is one line
                if os.environ.get("BENDS_TRACEBACK"):
                    raise
                message, status = describe(err)
                err_console.print(f"error: {message}", markup=False, highlight=False,
                                  soft_wrap=True)  # fmt: skip
                raise typer.Exit(status) from None
            finally:
                for warning in caught:
                    if issubclass(warning.category, ResolutionWarning):
                        err_console.print(
                            f"warning: {warning.message}", markup=False, soft_wrap=True
                        )
                    elif issubclass(warning.category, AssumptionWarning):
                        err_console.print(f"note: {warning.message}", markup=False, soft_wrap=True)

    return run


def describe(err: Exception) -> tuple[str, int]:
    """The one line and exit status for an error that reached a command's edge."""
    if isinstance(err, BendsError):
        return str(err), 2
    if isinstance(err, FileExistsError):  # mkdir of an output folder that is a file
        return f"{err.filename} exists and is not a folder: give another --out", 2
    if isinstance(err, OSError):
        where = f"{err.filename}: " if err.filename is not None else ""
        return f"{where}{err.strerror or err}", 2
    if isinstance(err, sqlite3.DatabaseError):
        return f"the results store is damaged or not a bends store ({err})", 2
    if isinstance(err, RecursionError):
        return "the input is nested too deeply to read", 2
    if isinstance(err, UnicodeDecodeError):
        return f"the input is not UTF-8 text ({err.reason} at byte {err.start})", 2
    if isinstance(err, OverflowError):
        return f"a number is out of range ({err})", 2
    if isinstance(err, MemoryError):
        return "out of memory: ask for something smaller (see --help for the size budget)", 2
    return (
        f"internal error ({type(err).__name__}: {err}); rerun with BENDS_TRACEBACK=1 "
        "for the traceback and report it",
        1,
    )


def read_array(path, name: str) -> np.ndarray:
    """A ``.npy`` file of real numbers as float64; one line naming ``name`` otherwise."""
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        fail(f"{name}: cannot read {path} as a NumPy array ({err})")
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        fail(f"{name}: {path} must hold real numbers")
    return array.astype(np.float64)


def parse_point(text: str | None, name: str) -> np.ndarray | None:
    """A comma-separated point such as ``0.5,1``, or a ``.npy`` file holding one (an image,
    say: it is flattened); None stays None."""
    if text is None:
        return None
    if text.endswith(".npy"):
        return read_array(text, name).reshape(-1)
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
