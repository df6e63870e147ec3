"""Atomic writers: the file is fsynced before its rename and the folder after it, for every writer (issue 28)."""
import os
import stat

import pytest
import torch

from core.training import atomic
from core.training.checkpoint import save_checkpoint
from core.training.results import ResultsWriter


@pytest.fixture
def syscalls(monkeypatch):
    """Record fsync (of a file or a folder) and replace calls, in order."""
    log = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        log.append(("fsync_dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync_file", fd))
        return real_fsync(fd)

    def replace(src, dst):
        log.append(("replace", os.path.basename(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return log


WRITERS = {
    "text": lambda p: atomic.atomic_write_text(p, "hello"),
    "json": lambda p: atomic.atomic_write_json(p, {"a": 1}),
    "bytes": lambda p: atomic.atomic_write_bytes(p, b"\x00\x01"),
    "torch_save": lambda p: atomic.atomic_torch_save(p, {"w": torch.ones(2)}),
    "checkpoint": lambda p: save_checkpoint(p, {"states": {}, "w": torch.zeros(3)}),
    "results_writer": lambda p: ResultsWriter(p).write("app", "v", "m", 1.0),
}


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_every_writer_fsyncs_the_file_before_the_rename_and_the_folder_after(tmp_path, syscalls, kind):
    path = tmp_path / "sub" / "out.bin"
    WRITERS[kind](path)
    kinds = [k for k, _ in syscalls]
    assert kinds == ["fsync_file", "replace", "fsync_dir"], kinds
    assert syscalls[1][1] == "out.bin"
    assert path.is_file() and [p.name for p in path.parent.iterdir()] == ["out.bin"]   # no temporary left


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "a.txt"
    atomic.atomic_write_text(path, "old")

    def boom(f):
        f.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic.atomic_write(path, boom)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_stale_temporaries_of_dead_writers_are_removed_live_ones_kept(tmp_path):
    dead = tmp_path / ".x.tmp-99999999"
    mine = tmp_path / f".y.tmp-{os.getpid()}"
    folder_like = tmp_path / ".z.tmp-99999998"
    for p in (dead, mine):
        p.write_bytes(b"")
    folder_like.mkdir()
    assert atomic.clean_stale_temporaries(tmp_path) == [dead]
    assert mine.exists() and folder_like.is_dir()
