"""Atomic file writes: write a temporary file in the same folder, fsync it, ``os.replace`` it, fsync the folder.

A crash (or Ctrl-C, or SIGKILL, or a power cut) while writing leaves the previous file intact and at worst a
hidden temporary ``.<name>.tmp-<pid>``; ``clean_stale_temporaries`` removes those left by processes that no
longer run. The file is flushed to disk before the rename (so the new name never points at a file whose data
is still in the page cache) and the folder after it (so the rename itself survives a power cut).

Every artifact of the project goes through one of these writers: ``atomic_write_text`` / ``_json`` /
``_bytes`` / ``atomic_torch_save`` (apps use them for their own reports and tables).
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch

__all__ = ["atomic_write", "atomic_write_text", "atomic_write_json", "atomic_write_bytes", "atomic_torch_save",
           "clean_stale_temporaries", "fsync_dir", "temporary_name", "TMP_MARK", "pid_alive"]

TMP_MARK = ".tmp-"
_TMP_MARK = TMP_MARK   # old private name


def temporary_name(path: str | os.PathLike) -> Path:
    """The hidden temporary a writer of ``path`` uses: ``<folder>/.<name>.tmp-<pid>``."""
    path = Path(path)
    return path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")


def fsync_dir(folder: str | os.PathLike) -> None:
    """Flush a folder's entries (a rename, a new file) to disk. A no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:   # some file systems refuse fsync on a folder; the rename is still atomic
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(f)`` on a temporary binary file next to ``path``, fsync it, rename it to ``path``, fsync the
    folder. On any error the temporary is removed and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    fsync_dir(path.parent)
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(bytes(data)))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def atomic_write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 2) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=indent, default=_json_default) + "\n")


def atomic_torch_save(path: str | os.PathLike, obj: Any) -> Path:
    """``torch.save`` through a temporary file; keep ``obj`` to tensors and plain types so it loads with
    ``weights_only=True``."""
    return atomic_write(path, lambda f: torch.save(obj, f))


def clean_stale_temporaries(folder: str | os.PathLike, *, recursive: bool = True) -> list[Path]:
    """Remove ``.<name>.tmp-<pid>`` files whose writer process is gone; returns what was removed."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for p in (folder.rglob if recursive else folder.glob)(f".*{TMP_MARK}*"):
        pid = p.name.rsplit(TMP_MARK, 1)[-1]
        if not pid.isdigit() or int(pid) == os.getpid() or pid_alive(int(pid)) or not p.is_file():
            continue
        try:
            p.unlink()
            removed.append(p)
        except FileNotFoundError:
            pass
    return removed


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (a stale temporary or stage folder names a dead writer)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _json_default(o: Any):
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
