"""The memory budget: work that would need more memory than this is refused before it runs.

Exact traces are as large as their answer: every knot holds the values and slopes of every
neuron of the layer being pushed through (``benchmarks/memory_per_piece.py`` measures it),
and a sawtooth of depth 40 has 2^40 pieces. Rather than fill the machine and die in the
kernel, bends estimates what a call needs and refuses one line early when the estimate
exceeds the budget: by default half of this machine's physical memory, or what the
environment variable ``BENDS_MEMORY_BUDGET`` says (bytes, or with a suffix: ``512M``,
``8G``, ``1.5T``).

Example:
    >>> import os
    >>> os.environ["BENDS_MEMORY_BUDGET"] = "2G"
    >>> memory_budget() == 2 * 2**30
    True
    >>> try:
    ...     check_memory(3 * 2**30, "this trace")
    ... except BendsError as err:
    ...     print(str(err)[:64])
    this trace needs about 3.0 GiB of memory, over the budget of 2.0
    >>> del os.environ["BENDS_MEMORY_BUDGET"]
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from typing import NoReturn

from bends.errors import BendsError, OverBudget

VARIABLE = "BENDS_MEMORY_BUDGET"
SHARE_OF_MEMORY = 0.5  # the default budget: half the physical memory
_SUFFIXES = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


@functools.cache
def physical_memory() -> int:
    """This machine's physical memory in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def memory_budget() -> int:
    """The budget in bytes: ``BENDS_MEMORY_BUDGET`` if set, else half the physical memory."""
    text = os.environ.get(VARIABLE, "").strip().upper().removesuffix("B").removesuffix("I")
    if not text:
        return int(SHARE_OF_MEMORY * physical_memory())
    number, suffix = (text[:-1], text[-1]) if text[-1] in _SUFFIXES else (text, "")
    try:
        value = float(number) * _SUFFIXES[suffix]
    except ValueError:
        raise BendsError(
            f"{VARIABLE}={os.environ[VARIABLE]!r}: give bytes or a size like 512M or 8G"
        ) from None
    if not math.isfinite(value) or value <= 0:
        raise BendsError(f"{VARIABLE} must be a positive size, got {os.environ[VARIABLE]!r}")
    return int(value)


def check_memory(needed: float, what: str | Callable[[], str], *, at_least: bool = False) -> None:
    """Raise BendsError when ``what`` needs more than the budget: one line with the estimate
    and how to raise the budget. ``at_least``: the estimate is a lower bound (work found to
    outgrow the budget midway, before it knows its full size). ``what`` may be a function,
    called only to word the refusal (a network's repr is not free)."""
    budget = memory_budget()
    if needed > budget:
        what = what() if callable(what) else what
        source = VARIABLE if os.environ.get(VARIABLE) else "half this machine's memory"
        amount = f"more than {_size(needed)}" if at_least else f"about {_size(needed)}"
        raise OverBudget(
            f"{what} needs {amount} of memory, over the budget of {_size(budget)} ({source}); "
            f"raise it with {VARIABLE}={_suggestion(needed)} or ask for less"
        )


def outgrown(
    err: MemoryError, most: int, bytes_for: Callable[[int], float], what: str | Callable[[], str]
) -> NoReturn:
    """The one line for work a compiled kernel stopped midway: kernels raise
    ``MemoryError(items)`` when they would hold more than ``most`` items (knots, vertices);
    ``bytes_for(items)`` is what those would need. A MemoryError without a count (a real
    allocation failure) is reported as needing more than ``most`` items' worth."""
    items = err.args[0] if err.args and isinstance(err.args[0], int) else most
    check_memory(max(bytes_for(items), memory_budget() + 1), what, at_least=True)
    raise AssertionError("unreachable: check_memory raised")  # pragma: no cover


def _size(n: float) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}" if n / scale < 1e6 else f"{n / scale:.2g} {unit}"
    return f"{n:.0f} bytes"


def _suggestion(n: float) -> str:
    gib = 2 * n / 2**30  # twice the estimate: room for what the estimate leaves out
    return f"{math.ceil(gib)}G" if gib < 1e6 else f"{gib:.0e}G"
