"""Fixtures of the training tests."""
import builtins
import io
import os
from pathlib import Path

import pytest


@pytest.fixture
def read_only(monkeypatch):
    """Make a folder read-only: chmod (effective for non-root) and a guard that refuses any write under it (root
    ignores permissions). Yields a function that arms it for a folder."""
    guarded: list[str] = []
    real_open, real_io_open, real_os_open = builtins.open, io.open, os.open

    def inside(p) -> bool:
        try:
            ap = os.path.abspath(os.fspath(p))
        except TypeError:
            return False
        return any(ap == g or ap.startswith(g + os.sep) for g in guarded)

    def refuse(p):
        raise PermissionError(13, "Read-only file system", os.fspath(p))

    def g_open(file, mode="r", *a, **kw):
        if inside(file) and any(c in mode for c in "wax+"):
            refuse(file)
        return real_open(file, mode, *a, **kw)

    def g_os_open(path, flags, *a, **kw):
        if inside(path) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            refuse(path)
        return real_os_open(path, flags, *a, **kw)

    def arm(folder: Path):
        for p in [folder, *folder.rglob("*")]:
            p.chmod(p.stat().st_mode & ~0o222)
        guarded.append(os.path.abspath(folder))
        monkeypatch.setattr(builtins, "open", g_open)
        monkeypatch.setattr(io, "open", g_open)
        monkeypatch.setattr(os, "open", g_os_open)

    yield arm
    for g in guarded:
        for p in [Path(g), *Path(g).rglob("*")]:
            p.chmod(p.stat().st_mode | 0o200)
