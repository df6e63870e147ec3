import json

import pytest
import torch

from apps.asr_ddp.recipe import Recipe
from apps.asr_ddp.trainer import TrainSettings, warmup_cosine_lr
from helpers_asr import compose, libri_overrides, write_librispeech


def test_librispeech_tree_trains_one_step(tmp_path):
    write_librispeech(tmp_path / "ls")
    cfg = compose(libri_overrides(tmp_path / "ls", tmp_path / "run", "trainer.max_steps=1", "pruning=dynamic_random",
                                  "pruning.keep=0.7", "pruning.time_keep=0.7", "pruning.time_unit=chunk"))
    rec = Recipe(cfg)
    tr = rec.build()
    before = {k: v.clone() for k, v in tr.module.state_dict().items()}
    tr.fit()
    assert tr.step == 1
    changed = [k for k, v in tr.module.state_dict().items() if not torch.equal(v, before[k])]
    assert any("ctc_head" in k for k in changed)
    assert (tmp_path / "run" / "checkpoints").is_dir()
    summary = tr.finish()
    assert 0 <= summary["test_wer"] and json.loads((tmp_path / "run" / "summary.json").read_text())["steps"] == 1


def test_quick_run_writes_metrics_and_plot(tmp_path):
    write_librispeech(tmp_path / "ls")
    cfg = compose(libri_overrides(tmp_path / "ls", tmp_path / "run", "pruning=dynamic_random", "pruning.keep=0.5",
                                  "pruning.time_keep=0.5", "pruning.time_unit=point"))
    summary = Recipe(cfg).run()
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == [0, 1]
    assert all(x["kept_items"] == 3 for x in lines)                       # 0.5 of 6 utterances
    assert all(0 < x["audio_fraction"] < 0.5 for x in lines)              # 0.5 utterances x ~0.5 of time
    assert lines[1]["train_s"] >= lines[0]["train_s"] > 0
    assert (tmp_path / "run" / "dev_wer_vs_time.png").stat().st_size > 0
    assert summary["variant"] == "dynamic_random0.5x0.5point"


def test_resume_continues_exactly(tmp_path):
    write_librispeech(tmp_path / "ls")
    common = ["pruning=loss_easy", "pruning.keep=0.7", "pruning.time_keep=0.8", "trainer.epochs=3",
              "model.dropout=0.1"]
    straight = Recipe(compose(libri_overrides(tmp_path / "ls", tmp_path / "a", *common))).build()
    straight.fit()
    # same run, stopped after the first epoch's steps, then resumed by a fresh recipe
    part = Recipe(compose(libri_overrides(tmp_path / "ls", tmp_path / "b", *common)))
    t1 = part.build()
    t1.s.max_steps = straight.history[0]["step"]
    t1.fit()
    assert t1.epoch == 1
    resumed = Recipe(compose(libri_overrides(tmp_path / "ls", tmp_path / "b", *common)))
    t2 = resumed.build()
    from core.training.checkpoint import latest_checkpoint
    t2.resume(latest_checkpoint(tmp_path / "b" / "checkpoints"))
    t2.fit()
    assert t2.step == straight.step
    for k, v in straight.module.state_dict().items():
        torch.testing.assert_close(t2.module.state_dict()[k], v, rtol=0, atol=0, msg=k)
    torch.testing.assert_close(t2.pruner.scores, straight.pruner.scores)
    assert [h["kept_items"] for h in t2.history] == [h["kept_items"] for h in straight.history]


def test_bad_inputs(tmp_path):
    d = write_librispeech(tmp_path / "ls")
    with open(d / "19-198.trans.txt", "a") as f:
        f.write("19-198-0006 BAD É CHARS\n")
    import numpy as np
    import soundfile as sf
    sf.write(d / "19-198-0006.flac", np.zeros(16000, np.float32) + 0.1, 16000)
    with pytest.raises(ValueError, match="19-198-0006.flac"):
        Recipe(compose(libri_overrides(tmp_path / "ls", tmp_path / "r"))).build()
    rec = Recipe(compose(libri_overrides(tmp_path / "ls", tmp_path / "r", "data.on_error=skip")))
    tr = rec.build()
    assert len(tr.train) == 6 and len(rec.stores["train"].skipped) == 1
    with pytest.raises(ValueError, match="time_unit"):
        TrainSettings(time_unit="frame")
    with pytest.raises(ValueError, match="data.root"):
        Recipe(compose(["data=librispeech"])).build()


def test_lr_schedule_by_global_step():
    lrs = [warmup_cosine_lr(s, 1.0, 10, 100) for s in range(120)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lrs[-1] == pytest.approx(0.05)


@pytest.mark.parametrize("policy", ["full", "static_random", "dynamic_random", "loss_hard", "loss_easy",
                                    "easy_to_hard", "eps_greedy", "ucb", "infobatch"])
def test_every_pruning_group_composes_into_a_pruner(policy):
    from omegaconf import OmegaConf

    from apps.asr_ddp.recipe import make_pruner

    cfg = compose(["preset=quick", f"pruning={policy}", "pruning.time_keep=0.7", "pruning.time_unit=point"])
    p = OmegaConf.to_container(cfg.pruning)
    assert p["time_keep"] == 0.7 and p["time_unit"] == "point" and p["policy"] == policy
    pr = make_pruner(p, 50, cfg.trainer.epochs)
    pr.observe(torch.arange(50), torch.linspace(0, 1, 50))
    kept = pr.select(0)
    assert 0 < kept.numel() <= 50 and kept.unique().numel() == kept.numel()
