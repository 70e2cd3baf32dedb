"""Atomic checkpoints: a crash or SIGKILL never leaves a half-written file.

The state is written to a temporary file in the same folder, flushed to disk
(``fsync``) and moved over the old checkpoint with ``os.replace``, which is
atomic on POSIX file systems: a reader sees either the old or the new file.
Checkpoints hold only tensors and plain Python values and are read with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

__all__ = ["save_checkpoint", "load_checkpoint"]


def save_checkpoint(state: dict, path: str | os.PathLike) -> None:
    """Write ``state`` to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (no code executed)."""
    return torch.load(path, map_location="cpu", weights_only=True)
