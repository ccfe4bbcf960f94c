"""Files written whole or not at all: a write goes to a temporary file beside the target,
which is renamed over it only once complete, so a kill at any instant leaves either the old
file or the new one, never a truncated one.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> target = Path(tempfile.mkdtemp()) / "table.csv"
    >>> with replaced(target) as partial:
    ...     _ = partial.write_text("a,b\\n")
    >>> target.read_text()
    'a,b\\n'
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bends.errors import BendsError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def replaced(path: Path | str) -> Iterator[Path]:
    """A temporary path (same folder, same suffix, so writers that go by the suffix still
    pick the format) that becomes ``path`` when the block ends without an error."""
    path = Path(path)
    if path.exists() and not path.is_file():  # a folder, a device, a FIFO: never replaced
        raise BendsError(f"{path} exists and is not a regular file: give a file name")
    try:
        handle, name = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix
        )
    except OSError as err:  # name the file asked for, not the temporary one
        raise BendsError(f"cannot write {path}: {err.strerror or err}") from None
    os.close(handle)
    partial = Path(name)
    # mkstemp makes the file private (0600); the result gets what a plain open would give it
    # (the target's mode if it exists, else 0666 less the umask)
    os.chmod(partial, path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask())
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
