"""Atomic checkpoints with everything a run needs to continue exactly.

``capture_state`` gathers ``state_dict()`` of every stateful object you pass (model, optimizer,
sparsity engine, pruner, scheduler, soft masks, ...) plus the RNG states; ``save_checkpoint`` writes
it to a temporary file in the same folder and renames it (``os.replace`` is atomic on POSIX), so a
crash never leaves a half-written checkpoint. ``restore_state`` loads it back and checks it fits.
"""
from __future__ import annotations

import os
import pickle
import re
import time
from pathlib import Path

import torch

from core.training.atomic import atomic_torch_save
from core.training.distributed import is_main_process
from core.training.seeding import get_rng_state, set_rng_state

__all__ = ["save_checkpoint", "load_checkpoint", "safe_torch_load", "UnsafeFileError", "capture_state", "restore_state", "latest_checkpoint", "CHECKPOINT_VERSION"]

CHECKPOINT_VERSION = 1


def save_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    """Write ``state`` atomically to ``path`` (rank 0 only; other ranks return the path untouched)."""
    path = Path(path)
    if not is_main_process():
        return path
    atomic_torch_save(path, state)
    return path


class UnsafeFileError(ValueError):
    """A file holds pickled objects other than tensors and plain containers: refused, nothing was run."""


def safe_torch_load(path: str | os.PathLike, map_location="cpu", what: str = "file"):
    """``torch.load(path, weights_only=True)``: tensors, numbers, strings and plain containers only.

    A full unpickler runs whatever code a crafted file names; the weights-only unpickler refuses any
    global that is not allow-listed, before constructing it. A refused file raises ``UnsafeFileError``
    naming the file and the offending global; a truncated or garbage file raises ``ValueError``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        msg = str(e)
        hit = re.search(r"(unsupported GLOBAL [^\n]*|Unsupported global: [^\n]*)", msg)
        if hit:  # a global outside the allow-list: refused before it was constructed
            raise UnsafeFileError(
                f"refusing to load {what} {path}: it names a Python object other than tensors and plain "
                f"containers, which could run code ({hit.group(1).strip()}). Only load files you trust; "
                f"sparselab writes plain-type files only.") from e
        raise ValueError(f"corrupt {what} {path}: not a torch file ({msg.strip().splitlines()[-1][:200]})") from e
    except Exception as e:  # torch raises many types for truncated/garbage files
        raise ValueError(f"corrupt {what} {path}: {type(e).__name__}: {e}") from e


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Read a checkpoint; a missing file or a corrupt one raises an error that names it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    state = safe_torch_load(path, map_location=map_location, what="checkpoint")
    if not isinstance(state, dict):
        raise ValueError(f"corrupt checkpoint {path}: expected a dict, got {type(state).__name__}")
    return state


def capture_state(*, step: int, epoch: int = 0, rng: bool = True, extra: dict | None = None, **stateful) -> dict:
    """``capture_state(step=s, model=m, optimizer=o, sparsity=sp, pruner=p)`` -> a checkpoint dict.

    Each keyword object must have ``state_dict()``; ``None`` values are skipped.
    """
    state: dict = {"version": CHECKPOINT_VERSION, "step": int(step), "epoch": int(epoch), "time": time.time(), "states": {}}
    for name, obj in stateful.items():
        if obj is None:
            continue
        if not hasattr(obj, "state_dict"):
            raise ValueError(f"cannot checkpoint {name!r}: {type(obj).__name__} has no state_dict()")
        state["states"][name] = obj.state_dict()
    if rng:
        state["rng"] = get_rng_state()
    state["extra"] = dict(extra or {})
    return state


def restore_state(ckpt: dict, *, rng: bool = True, strict: bool = True, **stateful) -> dict:
    """Load each object's state from ``ckpt``; returns ``ckpt`` (read ``step``/``epoch``/``extra`` from it).

    A model whose parameters do not match raises ``ValueError`` naming the mismatched keys.
    """
    if "states" not in ckpt:
        raise ValueError("not a sparselab checkpoint: no 'states' entry (was it written by capture_state?)")
    for name, obj in stateful.items():
        if obj is None:
            continue
        if name not in ckpt["states"]:
            if strict:
                raise ValueError(f"checkpoint has no state for {name!r}; it holds {sorted(ckpt['states'])}")
            continue
        sd = ckpt["states"][name]
        if isinstance(obj, torch.nn.Module):
            _check_module_state(name, obj, sd)
            obj.load_state_dict(sd)
        else:
            obj.load_state_dict(sd)
    if rng and "rng" in ckpt:
        set_rng_state(ckpt["rng"])
    return ckpt


def _check_module_state(name: str, module: torch.nn.Module, sd: dict) -> None:
    own = module.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    shape_bad = [k for k in own if k in sd and hasattr(sd[k], "shape") and tuple(sd[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shape_bad:
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:5]}{'...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}")
        if shape_bad:
            k = shape_bad[0]
            parts.append(f"shape mismatch at {k}: checkpoint {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}")
        raise ValueError(f"checkpoint {name!r} does not match this model (is it from another model?): " + "; ".join(parts))


_STEP_RE = re.compile(r"(\d+)")


def latest_checkpoint(directory: str | os.PathLike, pattern: str = "*.pt") -> Path | None:
    """The newest checkpoint in ``directory`` by the step number in its name (then mtime), or None."""
    d = Path(directory)
    if not d.is_dir():
        return None
    files = [p for p in d.glob(pattern) if not p.name.startswith(".")]
    if not files:
        return None

    def key(p: Path):
        nums = _STEP_RE.findall(p.stem)
        return (int(nums[-1]) if nums else -1, p.stat().st_mtime)

    return max(files, key=key)
