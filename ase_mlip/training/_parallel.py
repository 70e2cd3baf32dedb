"""Data-parallel training: several worker processes share every batch.

With ``num_workers = W`` the training loop runs in W processes joined by
``torch.distributed`` (gloo). Every worker holds the whole model and data and
draws the same epoch order; of each batch, worker r takes the structures
``chosen[r::W]``. Each computes its share of the batch loss, the sums of its
errors divided by the entry counts of the whole batch
(:func:`ase_mlip.training.weighted_loss` with ``counts``), so the shares add
up to the loss of the batch; the gradients are summed over the workers before
the optimiser step, which then is the same step on every worker. Validation,
schedule and stopping rules run on every worker alike (they see the same
weights); only worker 0 writes files and logs.

Why: on a small CPU, torch's threads spend much of a step waiting on each
other in the many small operations of a force-training step. On 2 cores, two
workers of one thread each took a Mo or Li training step of the shipped
configs 1.3-1.4x faster than one process with two threads
(``benchmarks/bench_training.py --workers``). The sum of gradients is formed
in another order than in one process, so a run with W workers matches a run
with one only to rounding; it is repeatable, and resumable after a kill, with
the same W and threads per worker.
"""

from __future__ import annotations

import os
import pickle
import queue as queue_module
import tempfile
from collections.abc import Callable, Sequence

import torch
import torch.distributed as dist

__all__ = ["Workers", "launch"]


class Workers:
    """This process's place among the training workers (one worker: no communication).

    Parameters
    ----------
    rank : int
        Index of this worker.
    world : int
        Number of workers.
    """

    def __init__(self, rank: int = 0, world: int = 1):
        self.rank, self.world = rank, world

    @property
    def main(self) -> bool:
        """Whether this worker writes files and logs (worker 0)."""
        return self.rank == 0

    def share(self, chosen: Sequence[int]) -> list[int]:
        """This worker's structures of a batch."""
        return list(chosen[self.rank::self.world])

    def sum_gradients(self, params: Sequence[torch.Tensor]) -> None:
        """Replace every gradient by its sum over the workers (missing ones count as zero)."""
        if self.world == 1:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        offset = 0
        for p in params:
            n = p.numel()
            p.grad = flat[offset:offset + n].view_as(p).clone()
            offset += n

    def sum_floats(self, values: Sequence[float]) -> list[float]:
        """Sums over the workers of a few numbers (float64)."""
        if self.world == 1:
            return list(values)
        t = torch.tensor(list(values), dtype=torch.float64)
        dist.all_reduce(t)
        return t.tolist()

    def check_same(self, params: Sequence[torch.Tensor]) -> None:
        """Raise if the workers' weights differ (they must take identical steps)."""
        if self.world == 1:
            return
        flat = torch.cat([p.detach().reshape(-1).double() for p in params])
        first = flat.clone()
        dist.broadcast(first, 0)
        if not torch.equal(first, flat):
            raise RuntimeError(f"training worker {self.rank} holds other weights than worker 0; "
                               "this is a bug, please report it")


def _worker(rank: int, world: int, run: Callable, args: tuple, init_file: str, messages) -> None:
    """Body of one spawned worker: join the group, run the loop, report errors."""
    def log(line: str) -> None:
        messages.put(("log", line))

    try:
        dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
        try:
            run(*args, log=log if rank == 0 else (lambda _line: None), workers=Workers(rank, world))
        finally:
            dist.destroy_process_group()
    except BaseException as err:  # hand the error to the parent, which raises it
        try:
            pickle.loads(pickle.dumps(err))
            messages.put(("error", err))
        except Exception:  # an error that does not survive pickling: its text then
            messages.put(("error", RuntimeError(f"training worker {rank} failed: {err!r}")))
        raise


def launch(run: Callable, args: tuple, num_workers: int, log: Callable[[str], None]) -> None:
    """Run ``run(*args, log=..., workers=...)`` in ``num_workers`` spawned processes.

    Log lines of worker 0 reach ``log`` in this process. If a worker fails, the
    others are stopped and the first error a worker reported is raised here.
    """
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    messages = ctx.Queue()
    with tempfile.TemporaryDirectory(prefix="ase-mlip-workers-") as tmp:
        init_file = os.path.join(tmp, "rendezvous")
        procs = mp.start_processes(_worker, args=(num_workers, run, args, init_file, messages),
                                   nprocs=num_workers, join=False, start_method="spawn")
        error = None

        def drain() -> None:
            nonlocal error
            while True:
                try:
                    kind, payload = messages.get_nowait()
                except queue_module.Empty:
                    return
                if kind == "log":
                    log(payload)
                elif error is None:
                    error = payload

        try:
            while not procs.join(timeout=0.2):
                drain()
        except Exception as failure:
            drain()
            raise (error if error is not None else failure) from None
        drain()
