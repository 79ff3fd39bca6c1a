"""Multi-process training through torch.distributed (launched by torchrun; gloo on CPU, nccl on CUDA)."""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group torchrun set up (WORLD_SIZE > 1), else run single-process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        atexit.register(shutdown)
    return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(),
                    local_rank=int(os.environ.get("LOCAL_RANK", "0")))


def shutdown(timeout_s: float = 60.0) -> None:
    """Leave the process group cleanly (registered at exit by `init_distributed`): wait until every rank is here,
    then destroy the group. Without it a rank can still be tearing down its gloo connections while its peer has
    already exited, and the peer's background thread aborts the process (SIGABRT seen once in CI after a finished
    run). A rank that never arrives (it crashed) is waited for `timeout_s` at most; torchrun stops the others anyway.
    A no-op when no group is initialised."""
    if not dist.is_available() or not dist.is_initialized():
        return
    try:
        if dist.get_backend() == "gloo":
            dist.monitored_barrier(timeout=timedelta(seconds=timeout_s))
        else:
            dist.barrier()
    except RuntimeError:
        pass  # a peer is gone: nothing to wait for, still release this rank's resources
    dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def broadcast_flag(flag: bool, info: DistInfo) -> bool:
    """Rank 0's decision, shared with every rank (e.g. 'time limit reached')."""
    if not info.enabled:
        return flag
    t = torch.tensor([1 if flag else 0])
    dist.broadcast(t, src=0)
    return bool(t.item())
