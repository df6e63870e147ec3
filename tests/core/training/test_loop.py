"""The shared training loop: exact resume after a kill, run identity, nothing lost, errors before work."""
import json
import os

import pytest
import torch

from core.testing.distributed import run_distributed
from core.training.loop import StepOutput, Task, TrainLoop
from core.training.run import LoopSettings, checkpoint_path, prepare_run

from loop_fixtures import Killed, build_and_run, comparable, distributed_kill_resume


def _weights(loop):
    return {k: v.clone() for k, v in loop.module.state_dict().items()}


@pytest.mark.parametrize("kill_after", [5, 12])  # mid-epoch, and on an epoch's last batch (9 batches an epoch)
def test_kill_and_resume_is_bitwise_equal_to_an_uninterrupted_run(tmp_path, kill_after):
    full, a = build_and_run(tmp_path / "a", max_steps=14)
    with pytest.raises(Killed):
        build_and_run(tmp_path / "b", max_steps=14, kill_after=kill_after)
    torch.rand(1000)  # disturb every global RNG before resuming
    resumed, b = build_and_run(tmp_path / "b", max_steps=14)
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), f"{k} differs after resume"
    assert comparable(a.history) == comparable(b.history)
    assert a.task.seen == b.task.seen and full["seen_total"] == resumed["seen_total"]
    assert full["work"] == resumed["work"] and full["steps"] == resumed["steps"] == 14
    for name in a.sparsity.names:
        assert torch.equal(a.sparsity.weight_mask(name), b.sparsity.weight_mask(name))
    assert torch.equal(a.pruner.scores, b.pruner.scores)
    assert any(r.get("event") == "resumed" for r in b.history)


def test_resume_with_soft_mask_regularizer_and_epochs(tmp_path):
    _, a = build_and_run(tmp_path / "a", max_steps=None, epochs=3, sparse=False, regularize=True)
    with pytest.raises(Killed):
        build_and_run(tmp_path / "b", max_steps=None, epochs=3, sparse=False, regularize=True, kill_after=13)
    _, b = build_and_run(tmp_path / "b", max_steps=None, epochs=3, sparse=False, regularize=True)
    for k, v in _weights(a).items():
        assert torch.equal(v, _weights(b)[k]), k
    epochs = [r for r in b.history if r["kind"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [0, 1, 2]
    # the resumed epoch's train loss averages every batch of the epoch, not only those after the resume
    assert epochs == [r for r in a.history if r["kind"] == "epoch"] or \
        [(r["train_loss"], r["batches"]) for r in epochs] == [(r["train_loss"], r["batches"]) for r in a.history if r["kind"] == "epoch"]


@pytest.mark.distributed
def test_kill_and_resume_on_two_gloo_ranks(tmp_path):
    out = run_distributed(distributed_kill_resume, 2, str(tmp_path))
    for r in out:
        for k in r["a"]:
            assert torch.equal(r["a"][k], r["b"][k]), k
        assert r["ha"] == r["hb"] and r["seen_a"] == r["seen_b"] and r["work_a"] == r["work_b"]
    assert out[0]["seen_a"] == out[1]["seen_a"]  # equal batches per rank
    assert all(torch.equal(out[0]["a"][k], out[1]["a"][k]) for k in out[0]["a"])  # DDP kept ranks in sync


def test_metrics_files_have_no_duplicates_after_resume(tmp_path):
    with pytest.raises(Killed):
        build_and_run(tmp_path, max_steps=14, kill_after=8)
    build_and_run(tmp_path, max_steps=14)
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    train_steps = [r["step"] for r in rows if r["kind"] == "train"]
    assert train_steps == sorted(set(train_steps)) == list(range(2, 15, 2))
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["steps"] == 14
    ckpts = sorted(p.name for p in (tmp_path / "checkpoints").glob("*.pt"))
    assert ckpts == ["step_00000012.pt", "step_00000014.pt"]  # rotation keeps the newest two


def test_changed_config_refuses_to_resume_and_names_the_keys(tmp_path):
    with pytest.raises(Killed):
        build_and_run(tmp_path, max_steps=14, kill_after=5, fingerprint={"lr": 0.05, "pruning.keep": 0.7})
    with pytest.raises(ValueError, match=r"pruning.keep: checkpoint 0.7, now 0.3"):
        build_and_run(tmp_path, max_steps=14, fingerprint={"lr": 0.05, "pruning": {"keep": 0.3}})
    summary, loop = build_and_run(tmp_path, max_steps=14, resume="force", fingerprint={"lr": 0.05, "pruning.keep": 0.3})
    assert summary["steps"] == 14
    assert any(r.get("event") == "forced_resume" for r in loop.history)


def test_finished_run_is_not_retrained_and_its_results_stay(tmp_path):
    first, _ = build_and_run(tmp_path, max_steps=6)
    before = {p.name: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    again, loop = build_and_run(tmp_path, max_steps=6)
    assert loop is None and again == first
    assert {p.name: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    with pytest.raises(ValueError, match="finished run of a different configuration"):
        build_and_run(tmp_path, max_steps=6, fingerprint={"lr": 0.1})


def test_resume_never_does_not_overwrite_an_existing_run(tmp_path):
    with pytest.raises(Killed):
        build_and_run(tmp_path, max_steps=14, kill_after=5)
    with pytest.raises(ValueError, match="already holds checkpoints"):
        build_and_run(tmp_path, max_steps=14, resume="never")


def test_errors_before_work(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="not writable"):
        prepare_run(LoopSettings(run_dir=blocker / "run", max_steps=2), app="toy")
    with pytest.raises(ValueError, match=r"trainer.max_steps='abc' must be an integer"):
        LoopSettings(max_steps="abc")
    with pytest.raises(ValueError, match=r"trainer.grad_clip='x' must be a number"):
        LoopSettings(max_steps=3, grad_clip="x")
    with pytest.raises(ValueError, match="set trainer.epochs or trainer.max_steps"):
        LoopSettings()
    with pytest.raises(ValueError, match="trainer.amp='fp8'"):
        LoopSettings(max_steps=3, amp="fp8")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="amp=fp16 needs a CUDA device"):
            prepare_run(LoopSettings(run_dir=tmp_path / "r", max_steps=2, amp="fp16"), app="toy")


def test_default_run_folders_are_unique_and_stale_temporaries_are_cleaned(tmp_path):
    s = LoopSettings(max_steps=2, fingerprint={"a": 1})
    r1 = prepare_run(s, app="toy", runs_root=tmp_path)
    r2 = prepare_run(s, app="toy", runs_root=tmp_path)
    assert r1.run_dir != r2.run_dir and r1.run_dir.parent == tmp_path / "toy"
    stale = r1.run_dir / "checkpoints" / ".step_00000001.pt.tmp-99999999"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half")
    prepare_run(LoopSettings(run_dir=r1.run_dir, max_steps=2, fingerprint={"a": 1}), app="toy")
    assert not stale.exists()


def test_nonfinite_loss_stops_with_the_step_named(tmp_path):
    class Bad(Task):
        def epoch_batches(self, epoch):
            return [0, 1, 2]

        def training_step(self, model, batch, step):
            out = model(torch.ones(1, 2)).sum()
            return StepOutput(out * (float("nan") if step == 1 else 1.0))

    run = prepare_run(LoopSettings(run_dir=tmp_path, max_steps=3, progress=False), app="toy")
    m = torch.nn.Linear(2, 1)
    with pytest.raises(FloatingPointError, match="at step 2"):
        TrainLoop(run, m, torch.optim.SGD(m.parameters(), lr=0.1), Bad()).run()


def test_bf16_autocast_runs_on_cpu(tmp_path):
    summary, loop = build_and_run(tmp_path, max_steps=4, amp="bf16", sparse=False, prune=False)
    assert summary["amp"] == "bf16" and summary["steps"] == 4
    assert all(torch.isfinite(p).all() for p in loop.module.parameters())


def test_live_weight_clipping_is_used_with_a_sparsity_engine(tmp_path, monkeypatch):
    import core.sparse.clipping as clipping

    calls = []
    real = clipping.clip_grad_norm_live

    def spy(params, max_norm, sparsity=None, **kw):
        calls.append(sparsity)
        return real(params, max_norm, sparsity, **kw)

    monkeypatch.setattr(clipping, "clip_grad_norm_live", spy)
    _, loop = build_and_run(tmp_path, max_steps=3)
    assert len(calls) == 3 and all(c is loop.sparsity for c in calls)


def test_checkpoint_name_has_one_spelling(tmp_path):
    assert checkpoint_path(tmp_path, 7) == tmp_path / "checkpoints" / "step_00000007.pt"
    assert not os.path.exists(checkpoint_path(tmp_path, 7))


def test_settings_from_the_shared_trainer_group(tmp_path):
    from omegaconf import OmegaConf

    trainer = OmegaConf.to_container(OmegaConf.load("core/configs/trainer/default.yaml"))
    s = LoopSettings.from_mapping(trainer, run_dir="x", fingerprint={"a": {"b": 1}})
    assert (s.epochs, s.amp, s.grad_clip, s.resume, s.progress) == (20, "auto", 5.0, "auto", None)  # every key a setting
    assert s.fingerprint == {"a.b": 1}
    q = LoopSettings.from_mapping({**trainer, "amp": False, "progress": "off", "max_steps": "7"})
    assert (q.amp, q.progress, q.max_steps) == ("off", False, 7)
    run = prepare_run(LoopSettings(max_steps=1, amp="auto"), app="toy", runs_root=tmp_path)
    assert run.settings.amp == ("bf16" if run.device.type == "cuda" else "off")


def test_apps_read_resumed_state_through_the_run_accessors(tmp_path):
    with pytest.raises(Killed):
        build_and_run(tmp_path / "r", max_steps=14, kill_after=7)
    run = prepare_run(LoopSettings(run_dir=tmp_path / "r", max_steps=14, checkpoint_every=3, eval_every=4,
                                   log_every=2, grad_clip=1.0, progress=False,
                                   fingerprint={"lr": 0.05, "sparse": True}), app="toy", variant="v")
    assert run.task_state() == {"seen": 24}              # 6 steps x batch 4, saved at the step-6 checkpoint
    assert "masks" in run.state("sparsity")
    fresh = prepare_run(LoopSettings(run_dir=tmp_path / "f", max_steps=2, progress=False), app="toy")
    assert fresh.task_state() is None and fresh.state("sparsity") is None
