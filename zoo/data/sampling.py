"""Evaluation samplers that give every val/test item to exactly one process, in order, without padding.

Under DDP Lightning replaces a loader's sampler by ``torch.utils.data.DistributedSampler``, which pads
the index list with repeats to a multiple of the world size (or, with ``drop_last``, drops the tail), so
each rank runs the same number of batches, as training needs for its gradient all-reduce. Evaluation has
no such collective: the metrics here are torchmetrics states (and ``self.log(..., sync_dist=True)``
sums), reduced once at the end of the epoch, so shards of unequal size are exact while a repeated window
is counted twice (553 test windows were reported as 554 on two processes). Lightning leaves a loader
alone when its sampler already is a ``DistributedSampler``
(``DataConnector._requires_distributed_sampler`` in ``lightning.pytorch.trainer.connectors.data_connector``),
so the samplers below subclass it.

The sharding is that of Lightning's ``UnrepeatedDistributedSampler`` (its predict sampler, after PyLaia's
``UnpaddedDistributedSampler``): rank ``r`` of ``W`` takes items ``r, r + W, r + 2W, ...`` in order, so
shard sizes differ by at most one and no item is repeated or dropped. :class:`EvalBatchSampler` does the
same for loaders whose sampler yields whole batches (``DataLoader(batch_size=None)``): it shards the
items, then cuts each shard into batches, so every rank has a batch whenever there are at least ``W``
items (sharding whole batches would leave ranks idle when there are fewer batches than ranks).

A rank with nothing to evaluate skips the loop and never joins the end-of-epoch metric reductions the
others wait in, so a split with fewer items than processes (but more than none) is an error naming the
fix. Rank and world size are those of the default ``torch.distributed`` process group when it is
initialized (Lightning initializes it before it asks for dataloaders; every data-parallel rank is a
global rank under the ddp, fsdp and deepspeed strategies), else one replica: plain sequential order,
exactly what a loader without a sampler reads.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch.distributed as dist
from torch.utils.data.distributed import DistributedSampler

__all__ = ["EvalBatchSampler", "EvalSampler", "replica_context"]


def replica_context() -> tuple[int, int]:
    """``(num_replicas, rank)`` of the default process group when it is initialized, else ``(1, 0)``."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


class EvalSampler(DistributedSampler):
    """Items ``rank, rank + W, ...`` of ``range(num_items)``, in order: every item on exactly one rank.

    Args:
        num_items: the items to evaluate, ``0 .. num_items - 1`` (the first ``num_items`` of the dataset).
        num_replicas: the number of processes W; None takes it from ``torch.distributed`` (1 when it is
            not initialized).
        rank: this process's rank in ``[0, W)``; None takes it from ``torch.distributed`` (0 when it is not
            initialized).
        name: what the items are, for the error message (e.g. "ETTh1 windows").
    """

    def __init__(
        self,
        num_items: int,
        *,
        num_replicas: int | None = None,
        rank: int | None = None,
        name: str = "items",
    ) -> None:
        if num_items < 0:
            raise ValueError(f"num_items must be >= 0, got {num_items}")
        world, own_rank = replica_context()
        num_replicas = world if num_replicas is None else num_replicas
        rank = own_rank if rank is None else rank
        if num_replicas < 1:
            raise ValueError(f"num_replicas must be a positive integer, got {num_replicas}")
        if 0 < num_items < num_replicas:
            raise ValueError(
                f"{name}: {num_items} cannot be shared by {num_replicas} processes without repeating one, and "
                f"each process needs at least one; evaluate on at most {num_items} device(s) "
                "(--trainer.devices) or on a larger split"
            )
        # shuffle=False, drop_last=False: the parent's attributes say what __iter__ below does
        super().__init__(range(num_items), num_replicas=num_replicas, rank=rank, shuffle=False)
        self.num_items = num_items
        self.num_samples = len(range(rank, num_items, num_replicas))
        self.total_size = num_items

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.num_items, self.num_replicas))


class EvalBatchSampler(EvalSampler):
    """This rank's items of :class:`EvalSampler`, cut into lists of ``batch_size`` (the last may be short).

    For ``DataLoader(sampler=..., batch_size=None)``, whose dataset reads a list of indices in one gather.
    On one replica the batches are ``[0 .. B-1], [B .. 2B-1], ...``.

    Args:
        num_items: the items to evaluate, ``0 .. num_items - 1``.
        batch_size: items per batch.
        num_replicas: the number of processes W; None takes it from ``torch.distributed``.
        rank: this process's rank in ``[0, W)``; None takes it from ``torch.distributed``.
        name: what the items are, for the error message (e.g. "mnist images").
    """

    def __init__(
        self,
        num_items: int,
        batch_size: int,
        *,
        num_replicas: int | None = None,
        rank: int | None = None,
        name: str = "items",
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        super().__init__(num_items, num_replicas=num_replicas, rank=rank, name=name)
        self.batch_size = batch_size

    def __len__(self) -> int:
        return -(-self.num_samples // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:  # type: ignore[override]
        shard = range(self.rank, self.num_items, self.num_replicas)
        return (list(shard[i : i + self.batch_size]) for i in range(0, len(shard), self.batch_size))
