"""Atomic file replacement shared by potential files and training checkpoints.

The content goes to a temporary file in the target's folder, is flushed to disk
(``fsync``) and is then moved over the target with ``os.replace``, which is
atomic on POSIX file systems: a reader sees the old file or the new one, never
half of either, even after a crash or SIGKILL.

``tempfile.mkstemp`` creates its file readable by the owner only. Left as it
is, a potential written for a group's shared folder would be unreadable by the
rest of the group. So the new file gets the permissions of the file it
replaces, or, for a new file, those of ``open()``: ``0o666`` less the umask.
"""

from __future__ import annotations

import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

__all__ = ["atomic_write"]


def _new_file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[IO[bytes]]:
    """Open a binary handle whose content replaces ``path`` when the block ends.

    If the block raises, ``path`` is left as it was and the temporary file is
    removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = _new_file_mode()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
