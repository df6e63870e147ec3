"""Run a function in N local processes with a gloo process group (for tests of DDP behaviour)."""
from __future__ import annotations

import os
import socket
import tempfile
import traceback

import torch.distributed as dist
import torch.multiprocessing as mp

__all__ = ["run_distributed", "free_port"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world_size: int, init_file: str, fn, args, result_dir: str) -> None:
    import torch

    torch.set_num_threads(1)
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank))
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        out = fn(rank, world_size, *args)
        torch.save({"ok": True, "out": out}, os.path.join(result_dir, f"{rank}.pt"))
    except BaseException:  # report to the parent, then fail the process
        torch.save({"ok": False, "error": traceback.format_exc()}, os.path.join(result_dir, f"{rank}.pt"))
        raise
    finally:
        dist.destroy_process_group()


def run_distributed(fn, world_size: int = 2, *args) -> list:
    """Run ``fn(rank, world_size, *args)`` in ``world_size`` spawned processes; return their results by rank.

    ``fn`` must be importable (module level) and return tensors and plain containers (read back with
    ``weights_only=True``).
    A failure in any rank raises ``RuntimeError`` with that rank's traceback.
    """
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        init_file = os.path.join(tmp, "init")
        try:
            mp.spawn(_worker, args=(world_size, init_file, fn, args, tmp), nprocs=world_size, join=True)
        except Exception as e:
            errs = []
            for r in range(world_size):
                p = os.path.join(tmp, f"{r}.pt")
                if os.path.exists(p):
                    res = torch.load(p, weights_only=True)
                    if not res["ok"]:
                        errs.append(f"rank {r}:\n{res['error']}")
            raise RuntimeError("distributed run failed:\n" + ("\n".join(errs) or str(e))) from e
        return [torch.load(os.path.join(tmp, f"{r}.pt"), weights_only=True)["out"] for r in range(world_size)]
