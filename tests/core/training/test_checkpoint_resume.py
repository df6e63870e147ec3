import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from core.training import capture_state, latest_checkpoint, load_checkpoint, restore_state, save_checkpoint
from core.training.seeding import get_rng_state, seed_everything, set_rng_state

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]


def test_save_is_atomic_and_leaves_no_temp(tmp_path, monkeypatch):
    p = tmp_path / "ck" / "step_1.pt"
    save_checkpoint(p, {"a": torch.ones(3)})
    assert load_checkpoint(p)["a"].sum() == 3
    # a crash while writing must leave the previous checkpoint intact and no temp file behind
    def boom(*a, **k):
        raise RuntimeError("disk full")
    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        save_checkpoint(p, {"a": torch.zeros(3)})
    assert load_checkpoint(p)["a"].sum() == 3
    assert [f.name for f in p.parent.iterdir()] == ["step_1.pt"]


def test_missing_and_corrupt_checkpoints_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_checkpoint(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ValueError, match="corrupt checkpoint .*bad.pt"):
        load_checkpoint(bad)


def test_restore_rejects_checkpoint_from_another_model(tmp_path):
    a = nn.Linear(4, 3)
    ck = capture_state(step=5, model=a)
    with pytest.raises(ValueError, match="does not match this model.*shape mismatch"):
        restore_state(ck, model=nn.Linear(4, 5))
    with pytest.raises(ValueError, match="missing keys"):
        restore_state(ck, model=nn.Sequential(nn.Linear(4, 3)))
    with pytest.raises(ValueError, match="no state for 'optimizer'"):
        restore_state(ck, model=a, optimizer=torch.optim.SGD(a.parameters(), lr=0.1))
    with pytest.raises(ValueError, match="has no state_dict"):
        capture_state(step=0, thing=object())


def test_rng_state_round_trip():
    seed_everything(3)
    st = get_rng_state()
    a = (torch.rand(3), __import__("random").random(), __import__("numpy").random.rand())
    set_rng_state(st)
    b = (torch.rand(3), __import__("random").random(), __import__("numpy").random.rand())
    assert torch.equal(a[0], b[0]) and a[1] == b[1] and a[2] == b[2]
    with pytest.raises(ValueError, match="missing"):
        set_rng_state({"torch": st["torch"]})


def test_latest_checkpoint_by_step(tmp_path):
    assert latest_checkpoint(tmp_path) is None
    for s in (2, 10, 9):
        save_checkpoint(tmp_path / f"step_{s}.pt", {"s": s})
    assert latest_checkpoint(tmp_path).name == "step_10.pt"


def _run(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    subprocess.run([sys.executable, str(HERE / "resume_run.py"), *map(str, args)], check=True, env=env, cwd=ROOT, timeout=300)


def test_resume_in_fresh_process_is_bitwise_identical(tmp_path):
    """train N steps == train k steps, save, resume in a new process, train N-k steps (model, masks, pruner)."""
    total, k = 20, 9  # k falls mid-epoch and between sparsity updates
    _run(total, total + 1, tmp_path / "unused.pt", tmp_path / "full.pt")
    _run(total, k, tmp_path / "ck.pt", tmp_path / "ignored.pt")
    assert (tmp_path / "ck.pt").exists() and not (tmp_path / "ignored.pt").exists()
    _run(total, k, tmp_path / "ck.pt", tmp_path / "resumed.pt", "--resume")
    full = torch.load(tmp_path / "full.pt", weights_only=False)
    res = torch.load(tmp_path / "resumed.pt", weights_only=False)
    for name, t in full["model"].items():
        assert torch.equal(t, res["model"][name]), f"weights differ at {name}"
    for name, m in full["masks"].items():
        assert torch.equal(m, res["masks"][name]), f"masks differ at {name}"
    assert torch.equal(torch.as_tensor(full["scores"]["scores"]), torch.as_tensor(res["scores"]["scores"]))
