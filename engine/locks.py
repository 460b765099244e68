"""An exclusive lock on a file, held for a block: the engine's one cross-process lock.

Why: a test session, `make demo` and a CLI may install or start engines at the same
time. What they share on disk (a run record, an engine virtualenv) is checked and
changed only under its lock, so no caller sees, removes or starts another's
half-made work.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)


@contextmanager
def exclusive(path: Path, waiting: str) -> Iterator[None]:
    """Hold an exclusive `flock` on `path` (created if missing) until the block ends.

    When another process holds it, `waiting` is logged as a warning before blocking:
    an install or a start can hold it for minutes, and a silent wait looks like a hang.
    The lock goes with the process: one that dies mid-block releases it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("%s (lock %s)", waiting, path)
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
