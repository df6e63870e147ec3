"""asr_ddp on 2 gloo ranks: replicas in sync, and a run killed mid-epoch resumes bitwise exactly."""
import pytest
import torch

from core.testing import run_distributed
from helpers_asr import compose, libri_overrides, write_librispeech


class Killed(RuntimeError):
    pass


def _kill_resume(rank, world_size, root, out):
    from pathlib import Path

    from apps.asr_ddp.recipe import Recipe
    from apps.asr_ddp.task import ASRTask

    out = Path(out)
    common = ["pruning=loss_hard", "pruning.keep=0.7", "pruning.time_keep=0.7", "trainer.device=cpu",
              "trainer.epochs=3", "train.frame_budget=300", "model.dropout=0.1"]
    a = Recipe(compose(libri_overrides(root, out / "a", *common))).run()
    real = ASRTask.on_step_end

    def killer(self, loop, step):
        real(self, loop, step)
        if step == 3:
            raise Killed("killed")

    ASRTask.on_step_end = killer
    try:
        Recipe(compose(libri_overrides(root, out / "b", *common))).run()
    except Killed:
        pass
    finally:
        ASRTask.on_step_end = real
    torch.rand(100)
    b = Recipe(compose(libri_overrides(root, out / "b", *common))).run()
    wa = torch.load(out / "a" / "model.pt", weights_only=True)["state_dict"] if rank == 0 else None
    wb = torch.load(out / "b" / "model.pt", weights_only=True)["state_dict"] if rank == 0 else None
    return {"a": a, "b": b, "wa": wa, "wb": wb}


@pytest.mark.slow          # two spawned processes each train three tiny runs
@pytest.mark.distributed
def test_two_rank_kill_and_resume_is_exact(tmp_path):
    write_librispeech(tmp_path / "ls", n=6)
    r0, r1 = run_distributed(_kill_resume, 2, tmp_path / "ls", tmp_path / "run")
    for key in ("steps", "test_wer", "audio_s", "epoch_log", "last_eval"):
        assert r0["a"][key] == r0["b"][key] == r1["b"][key], key
    assert r0["a"]["world_size"] == 2
    assert all(torch.equal(r0["wa"][k], r0["wb"][k]) for k in r0["wa"])
