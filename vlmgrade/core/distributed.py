"""Data-parallel work under `torchrun` (captioning, training): each rank takes its share, rank 0 gets them all.

Outside torchrun (no WORLD_SIZE) every helper is a no-op, so the same code runs in one process.
"""

from __future__ import annotations

import os
from collections.abc import Sequence


def world() -> tuple[int, int]:
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    return world()[0] == 0


def setup(device: str) -> str:
    """Start the process group when launched by torchrun; returns the device this rank should use."""
    from vlmgrade.core.devices import rank_device

    device = rank_device(device)
    if world()[1] == 1:
        return device
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return device


def shard(items: Sequence) -> list:
    rank, size = world()
    return list(items[rank::size])


def gather(items: list) -> list:
    """Every rank's items, concatenated in rank order, on every rank."""
    rank, size = world()
    if size == 1:
        return list(items)
    import torch.distributed as dist

    parts: list = [None] * size
    dist.all_gather_object(parts, items)
    return [x for part in parts for x in part]


def barrier() -> None:
    if world()[1] > 1:
        import torch.distributed as dist

        dist.barrier()


def teardown() -> None:
    """Leave the process group; called right after the last collective, so no rank waits on judging."""
    if world()[1] > 1:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
