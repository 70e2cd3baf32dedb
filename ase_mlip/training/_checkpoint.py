"""Atomic checkpoints: a crash or SIGKILL never leaves a half-written file.

The state is written with :func:`ase_mlip._atomic.atomic_write`: a temporary
file in the same folder, flushed to disk and moved over the old checkpoint with
``os.replace``, so a reader sees either the old or the new file.
Checkpoints hold only tensors and plain Python values and are read with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os

import torch

from .._atomic import atomic_write

__all__ = ["save_checkpoint", "load_checkpoint"]


def save_checkpoint(state: dict, path: str | os.PathLike) -> None:
    """Write ``state`` to ``path`` atomically."""
    with atomic_write(path) as handle:
        torch.save(state, handle)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (no code executed)."""
    return torch.load(path, map_location="cpu", weights_only=True)
