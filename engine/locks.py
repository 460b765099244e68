"""An exclusive lock on a file, held for a block: the engine's one cross-process lock.

Why: a test session, `make demo` and a CLI may install or start engines at the same
time. What they share on disk (a run record, an engine virtualenv) is checked and
changed only under its lock, so no caller sees, removes or starts another's
half-made work.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive `flock` on `path` (created if missing) until the block ends.

    The lock goes with the process: one that dies mid-block releases it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
