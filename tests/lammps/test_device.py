"""Rank -> device rule: GPU (node-local rank mod number of GPUs), CPU without GPUs."""

from __future__ import annotations

import pytest
import torch

from lammps_driver import select_device, threads_per_rank


@pytest.fixture
def gpus(monkeypatch):
    def set_count(count: int):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)

    return set_count


def test_round_robin_over_gpus(gpus):
    gpus(4)
    assert [str(select_device("auto", k)) for k in range(6)] == [
        "cuda:0", "cuda:1", "cuda:2", "cuda:3", "cuda:0", "cuda:1",
    ]  # fmt: skip
    assert str(select_device("cuda", 5)) == "cuda:1"
    assert str(select_device("cuda:2", 0)) == "cuda:2"
    assert str(select_device("cpu", 3)) == "cpu"


def test_cpu_without_gpu(gpus):
    gpus(0)
    assert str(select_device("auto", 3)) == "cpu"
    with pytest.raises(ValueError, match="torch sees no CUDA GPU"):
        select_device("cuda", 0)


def test_bad_device_names(gpus):
    gpus(2)
    with pytest.raises(ValueError, match=r"cuda:5.*does not exist: torch sees 2 GPU"):
        select_device("cuda:5", 0)
    with pytest.raises(ValueError, match="not one of auto, cpu, cuda, cuda:N"):
        select_device("gpu", 0)


def test_threads_share_cores():
    cores = threads_per_rank(1)
    assert cores >= 1
    assert threads_per_rank(cores * 2) == 1
    assert threads_per_rank(2) == max(1, cores // 2)
