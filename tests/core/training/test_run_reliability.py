"""The run lifecycle under crashes and concurrency (issue 28): a run killed after its last optimizer step finishes
bitwise like an uninterrupted one; resume falls back to the newest checkpoint that loads; one process per run
folder; finished results are read from a read-only folder; no run.json for a run that never started."""
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from core.testing.crash import killed, run_killed_at
from core.training.checkpoint import load_checkpoint
from core.training.run import LOCK_FILE, LoopSettings, checkpoint_path, prepare_run

from loop_fixtures import Killed, build_and_run, comparable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
ENV = {"PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT), os.environ.get("PYTHONPATH", "")]),
       "OMP_NUM_THREADS": "1", "SPARSELAB_PROGRESS": "0"}
TIMING = {"train_s", "train_cpu_s", "finished", "commit"}


def _toy(run_dir: Path) -> list[str]:
    """toy_cli: the shared loop on the toy task, 4 steps (checkpoints at 3 and at the end), as a fresh process."""
    return ["-m", "toy_cli", "lr=0.05", f"run_dir={run_dir}"]


def _python(argv):
    return subprocess.run([sys.executable, *argv], env={**os.environ, **ENV}, cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def _final_state(run_dir: Path, step: int = 4):
    ck = load_checkpoint(checkpoint_path(run_dir, step))
    summary = json.loads((run_dir / "summary.json").read_text())
    return ck, {k: v for k, v in summary.items() if k not in TIMING}


def _assert_same_tree(a, b, where="") -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), f"{where} differs"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_same_tree(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same_tree(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


@pytest.mark.parametrize("kill_at", [
    "summary.json",                                          # after the last step and the final checkpoint
    pytest.param("step_00000004.pt", marks=pytest.mark.slow),   # while the final checkpoint is written
    pytest.param("metrics.jsonl", marks=pytest.mark.slow),      # first metrics write: at the step-3 checkpoint
])
def test_a_run_killed_at_its_end_finishes_bitwise_like_an_uninterrupted_one(tmp_path, kill_at):
    ref = _python(_toy(tmp_path / "ref"))
    assert ref.returncode == 0, ref.stderr[-2000:]
    proc = run_killed_at(kill_at, _toy(tmp_path / "run"), env=ENV, cwd=ROOT)
    assert killed(proc), (proc.returncode, proc.stderr[-2000:])
    assert not (tmp_path / "run" / "summary.json").exists()
    again = _python(_toy(tmp_path / "run"))                      # the re-run resumes and finishes
    assert again.returncode == 0, again.stderr[-2000:]
    (ck_a, sum_a), (ck_b, sum_b) = _final_state(tmp_path / "ref"), _final_state(tmp_path / "run")
    _assert_same_tree(ck_a["states"], ck_b["states"], "states")                       # model, optimizer, ...
    ra, rb = ck_a["extra"]["loop"]["per_rank"], ck_b["extra"]["loop"]["per_rank"]
    _assert_same_tree(ra, rb, "per_rank")                        # every RNG now and at the epoch start, task state
    assert sum_a == sum_b                                        # finish_draw: task.finish ran under the same RNG
    assert comparable(ck_a["extra"]["loop"]["state"]["history"]) == comparable(ck_b["extra"]["loop"]["state"]["history"])


def test_resume_skips_a_corrupt_newest_checkpoint_and_says_so(tmp_path, caplog):
    full, a = build_and_run(tmp_path / "a", max_steps=14)
    with pytest.raises(Killed):
        build_and_run(tmp_path / "b", max_steps=14, kill_after=8)
    ckpts = sorted((tmp_path / "b" / "checkpoints").glob("step_*.pt"))
    assert [p.name for p in ckpts] == ["step_00000003.pt", "step_00000006.pt"]
    ckpts[-1].write_bytes(ckpts[-1].read_bytes()[:100])           # a torn newest checkpoint
    with caplog.at_level(logging.WARNING, logger="core.training.run"):
        resumed, b = build_and_run(tmp_path / "b", max_steps=14)
    assert "step_00000006.pt" in caplog.text and "corrupt" in caplog.text
    skipped = [r for r in b.history if r.get("event") == "resume_skipped"]
    assert len(skipped) == 1 and skipped[0]["checkpoint"].endswith("step_00000006.pt") and "corrupt" in skipped[0]["reason"]
    resumed_from = [r for r in b.history if r.get("event") == "resumed"]
    assert resumed_from[-1]["checkpoint"].endswith("step_00000003.pt")
    for k, v in a.module.state_dict().items():                   # still exact, from the older checkpoint
        assert torch.equal(v, b.module.state_dict()[k]), k
    assert comparable(a.history) == [r for r in comparable(b.history)]
    assert full["finish_draw"] == resumed["finish_draw"]


def test_no_loadable_checkpoint_is_an_error_naming_each(tmp_path):
    with pytest.raises(Killed):
        build_and_run(tmp_path, max_steps=14, kill_after=8)
    for p in (tmp_path / "checkpoints").glob("step_*.pt"):
        p.write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"none of them loads.*step_00000006.pt.*step_00000003.pt"):
        build_and_run(tmp_path, max_steps=14)


HOLDER = """
import sys, time
from core.training.run import LoopSettings, prepare_run
run = prepare_run(LoopSettings(run_dir=sys.argv[1], max_steps=2, progress=False), app="toy")
print("ready", flush=True)
time.sleep(120)
"""


def test_a_second_process_on_the_same_run_folder_stops_with_the_holders_pid(tmp_path):
    folder = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], env={**os.environ, **ENV}, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready", holder.stderr.read()[-2000:]
        with pytest.raises(ValueError) as e:
            build_and_run(folder, max_steps=4)
        msg = str(e.value)
        assert str(folder) in msg and f"pid {holder.pid}" in msg and "in use by another process" in msg
        assert len(msg.splitlines()) == 1
        assert not (folder / "checkpoints").exists() and not (folder / "run.json").exists()   # nothing done
    finally:
        holder.send_signal(signal.SIGKILL)          # the OS drops the lock with the process, even on SIGKILL
        holder.wait()
    summary, _ = build_and_run(folder, max_steps=4)
    assert summary["steps"] == 4
    assert (folder / LOCK_FILE).read_text().strip() == str(os.getpid())


def test_preparing_the_same_folder_twice_in_one_process_is_not_a_conflict(tmp_path):
    s = dict(run_dir=tmp_path / "r", max_steps=2, progress=False)
    r1 = prepare_run(LoopSettings(**s), app="toy")
    r2 = prepare_run(LoopSettings(**s), app="toy")
    assert r1.run_dir == r2.run_dir


def test_a_finished_run_is_returned_from_a_read_only_folder(tmp_path, read_only):
    first, _ = build_and_run(tmp_path / "r", max_steps=4)
    before = {p.relative_to(tmp_path): p.read_bytes() for p in (tmp_path / "r").rglob("*") if p.is_file()}
    read_only(tmp_path / "r")
    again, loop = build_and_run(tmp_path / "r", max_steps=4)
    assert loop is None and again == first
    assert {p.relative_to(tmp_path): p.read_bytes() for p in (tmp_path / "r").rglob("*") if p.is_file()} == before
    with pytest.raises(ValueError, match="finished run of a different configuration"):
        build_and_run(tmp_path / "r", max_steps=4, fingerprint={"lr": 0.1})


def test_a_run_that_fails_before_it_starts_leaves_no_run_json_and_no_folder(tmp_path):
    import gc

    folder = tmp_path / "r"
    run = prepare_run(LoopSettings(run_dir=folder, max_steps=2, progress=False), app="toy")
    assert not (folder / "run.json").exists()          # the app's own checks (data, model) come next ...
    del run                                            # ... and fail: the Run is dropped
    gc.collect()
    assert not folder.exists()                         # the folder prepare_run made is gone with it
    _, loop = build_and_run(folder, max_steps=2)        # a run that starts writes its identity
    meta = json.loads((folder / "run.json").read_text())
    assert meta["app"] == "toy" and meta["pid"] == os.getpid() and meta["fingerprint"] == loop.s.fingerprint


def test_an_existing_folder_is_never_removed_by_a_run_that_did_not_start(tmp_path):
    import gc

    folder = tmp_path / "mine"
    folder.mkdir()
    run = prepare_run(LoopSettings(run_dir=folder, max_steps=2, progress=False), app="toy")
    del run
    gc.collect()
    assert folder.is_dir()


def test_a_run_that_failed_in_this_process_can_be_resumed_by_another(tmp_path):
    with pytest.raises(Killed) as e:                    # the traceback keeps the Run alive ...
        build_and_run(tmp_path / "r", max_steps=4, kill_after=4, fingerprint={"lr": "0.05"})   # as toy_cli
    assert e.value is not None and (tmp_path / "r" / "checkpoints" / "step_00000003.pt").is_file()
    proc = _python(_toy(tmp_path / "r"))                 # ... but its lock went with the failure
    assert proc.returncode == 0, proc.stderr[-2000:]
    events = [json.loads(x) for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert any(r.get("event") == "resumed" for r in events)
