"""Which device and how many CPU threads each LAMMPS rank uses.

The rule: rank ``k`` among the LAMMPS processes of one node (all partitions
counted, e.g. the beads of ``fix pimd``) takes GPU ``k mod G`` of the ``G``
GPUs torch sees there. With more ranks than GPUs several ranks share one GPU
round-robin; ``CUDA_VISIBLE_DEVICES`` restricts the set as usual. Without a
GPU (or with ``device cpu``) the ranks of a node share its cores evenly.
"""

from __future__ import annotations

import os

__all__ = ["select_device", "threads_per_rank"]


def select_device(name: str, node_rank: int) -> "torch.device":
    """Device for the rank with node-local rank ``node_rank``.

    Parameters
    ----------
    name : str
        ``"auto"`` (GPU ``node_rank mod G`` if torch sees ``G > 0`` GPUs, else
        CPU), ``"cpu"``, ``"cuda"`` (as auto, but a GPU is required) or
        ``"cuda:N"`` (that GPU for every rank).
    node_rank : int
        Rank among the LAMMPS processes on this node, >= 0.

    Returns
    -------
    torch.device
    """
    import torch

    if name == "cpu":
        return torch.device("cpu")
    if name not in ("auto", "cuda") and not name.startswith("cuda:"):
        raise ValueError(f"device {name!r} is not one of auto, cpu, cuda, cuda:N (e.g. `device cuda:0`)")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        if name == "auto":
            return torch.device("cpu")
        raise ValueError(f"device {name!r} was requested but torch sees no CUDA GPU; use `device auto` or `device cpu`")
    if name.startswith("cuda:"):
        index = int(name.split(":", 1)[1])
        if not 0 <= index < count:
            raise ValueError(f"device {name!r} does not exist: torch sees {count} GPU(s), cuda:0..cuda:{count - 1}")
        return torch.device(name)
    return torch.device(f"cuda:{node_rank % count}")


def threads_per_rank(node_size: int) -> int:
    """CPU threads for torch when ``node_size`` ranks share this node's cores."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // max(1, node_size))
