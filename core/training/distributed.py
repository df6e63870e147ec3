"""torchrun-aware helpers. Every function works in a single process without ``init_process_group``.

Launch with ``torchrun --nproc_per_node=N ...``: RANK, WORLD_SIZE, LOCAL_RANK (and MASTER_ADDR/PORT)
come from the environment. gloo on CPU, NCCL on CUDA.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = [
    "DistInfo", "init_distributed", "get_rank", "get_world_size", "is_main_process", "is_distributed",
    "barrier", "all_gather_cat", "broadcast_", "broadcast_object", "all_reduce_sum", "cleanup",
]


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    return get_rank() == 0


def init_distributed(backend: str | None = None, device: str | None = None) -> DistInfo:
    """Initialise the process group from torchrun's environment, or return a one-process DistInfo.

    ``device``: "cpu", "cuda" or None (cuda when available). ``backend``: None picks nccl for cuda, gloo otherwise.
    """
    if device not in (None, "cpu", "cuda"):
        raise ValueError(f"unknown device {device!r}; valid choices: cpu, cuda")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but CUDA is not available on this machine")
    use_cuda = torch.cuda.is_available() if device is None else device == "cuda"
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if world_size > 1 and not is_distributed():
        if backend is None:
            backend = "nccl" if use_cuda else "gloo"
        if backend not in ("gloo", "nccl"):
            raise ValueError(f"unknown backend {backend!r}; valid choices: gloo, nccl")
        if use_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    if is_distributed():
        rank, world_size = dist.get_rank(), dist.get_world_size()
    dev = torch.device(f"cuda:{local_rank}") if use_cuda else torch.device("cpu")
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank, device=dev)


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def _comm_device(t: torch.Tensor) -> torch.device:
    if is_distributed() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return t.device


def all_gather_cat(t: torch.Tensor) -> torch.Tensor:
    """Concatenate ``t`` from every rank along dim 0 (ranks may hold different lengths).

    ``(N_r, ...) -> (sum_r N_r, ...)`` in rank order; identity without a process group.
    """
    if not is_distributed():
        return t
    dev = _comm_device(t)
    x = t.to(dev).contiguous()
    n = torch.tensor([x.shape[0]], device=dev, dtype=torch.long)
    sizes = [torch.zeros_like(n) for _ in range(get_world_size())]
    dist.all_gather(sizes, n)
    sizes = [int(s.item()) for s in sizes]
    m = max(sizes)
    pad = torch.zeros((m - x.shape[0],) + tuple(x.shape[1:]), dtype=x.dtype, device=dev)
    xp = torch.cat([x, pad], 0)
    out = [torch.empty_like(xp) for _ in sizes]
    dist.all_gather(out, xp)
    return torch.cat([o[:s] for o, s in zip(out, sizes)], 0).to(t.device)


def broadcast_(t: torch.Tensor, src: int = 0) -> torch.Tensor:
    """In-place broadcast from ``src``; identity without a process group."""
    if not is_distributed():
        return t
    dev = _comm_device(t)
    if dev == t.device:
        dist.broadcast(t, src)
        return t
    tmp = t.to(dev)
    dist.broadcast(tmp, src)
    t.copy_(tmp.to(t.device))
    return t


def broadcast_object(obj, src: int = 0):
    """Broadcast a picklable object from ``src``."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    if not is_distributed():
        return t
    dev = _comm_device(t)
    tmp = t.to(dev).clone()
    dist.all_reduce(tmp, op=dist.ReduceOp.SUM)
    return tmp.to(t.device)


def cleanup() -> None:
    if is_distributed():
        dist.destroy_process_group()
