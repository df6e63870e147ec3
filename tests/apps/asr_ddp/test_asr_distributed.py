import pytest
import torch

from core.testing import run_distributed
from helpers_asr import compose, libri_overrides, write_librispeech


def _train_two_ranks(rank, world_size, root, run_dir):
    from apps.asr_ddp.recipe import Recipe

    cfg = compose(libri_overrides(root, run_dir, "pruning=loss_hard", "pruning.keep=0.7", "pruning.time_keep=0.7",
                                  "trainer.device=cpu"))
    tr = Recipe(cfg).build()
    tr.sampler.set_epoch(0)
    n_batches = len(tr.sampler.rank_batches())
    tr.fit()
    flat = torch.cat([p.detach().flatten() for p in tr.module.parameters()])
    return {"n_batches": n_batches, "steps": tr.step, "params": flat, "scores": tr.pruner.scores.clone(),
            "kept": [h["kept_items"] for h in tr.history]}


@pytest.mark.slow          # ~20 s CPU: two spawned processes each build and train a model
@pytest.mark.distributed
def test_two_rank_gloo_training_stays_in_sync(tmp_path):
    write_librispeech(tmp_path / "ls", n=6)
    out = run_distributed(_train_two_ranks, 2, tmp_path / "ls", tmp_path / "run")
    a, b = out
    assert a["n_batches"] == b["n_batches"] >= 1 and a["steps"] == b["steps"]
    torch.testing.assert_close(a["params"], b["params"])          # DDP kept the replicas identical
    torch.testing.assert_close(a["scores"], b["scores"])          # losses gathered from both ranks
    assert a["kept"] == b["kept"]
    assert (tmp_path / "run" / "metrics.jsonl").is_file()          # rank 0 wrote
