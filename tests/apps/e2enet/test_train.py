"""Recipe end to end on a tiny Decathlon folder through the shared loop: training, predict, exact resume,
a finished run left intact, config errors."""
import json
import shutil

import nibabel as nib
import numpy as np
import pytest
import torch
from e2enet_fixtures import TINY

from apps.e2enet.recipe import Recipe, compose_config


def _cfg(root, run_dir, *extra):
    return compose_config(TINY + [f"data.root={root}", f"run_dir={run_dir}", *extra])


def test_tiny_decathlon_trains_and_predict_keeps_affine(tiny_dataset, tmp_path):
    from apps.e2enet.predict import predict_files

    cfg = _cfg(tiny_dataset, tmp_path / "run", "trainer.max_steps=1", "model.sparsity=0.8", "data.val_cases=[case_c]",
               "eval.hd95=true")
    r = Recipe(cfg)
    m = r.run()
    assert m["status"] == "finished" and m["steps"] == 1 and np.isfinite(m["final_loss"])
    assert len(m["dice"]) == 2 and all(0.0 <= d <= 1.0 for d in m["dice"])
    assert len(m["hd95_mm"]) == 2 and m["eval_split"] == "val"
    assert m["params_unmasked"] < m["params_total"] and m["params_nonzero"] <= m["params_unmasked"]
    assert m["flops_sparse"] < m["flops_dense"] and m["fusion_output_channels"] > 0
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["eval_cases"] == ["case_c"]
    src = tiny_dataset / "imagesTr" / "case_c.nii.gz"
    out = predict_files(tmp_path / "run" / "model_final.pt", src, tmp_path / "pred")
    a, b = nib.load(str(src)), nib.load(str(out[0]))
    assert b.shape == a.shape and np.allclose(a.affine, b.affine)
    assert set(np.unique(np.asarray(b.dataobj)).tolist()) <= {0, 1, 2}


def test_resume_continues_exactly_and_a_finished_run_is_left_intact(tiny_dataset, tmp_path):
    common = ["model.sparsity=0.7", "trainer.epochs=2", "eval.count_flops=false", "data.val_cases=[case_c]"]
    full = Recipe(_cfg(tiny_dataset, tmp_path / "a", *common))
    sa = full.run()
    # a run killed after the first epoch: only its step-2 checkpoint exists; it resumes to the end
    (tmp_path / "b" / "checkpoints").mkdir(parents=True)
    ck = "step_00000002.pt"
    shutil.copy(tmp_path / "a" / "checkpoints" / ck, tmp_path / "b" / "checkpoints" / ck)
    torch.manual_seed(123)  # resume must not depend on the process RNG
    resumed = Recipe(_cfg(tiny_dataset, tmp_path / "b", *common))
    sb = resumed.run()
    wa, wb = full.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert all(torch.equal(full.sparsity.masks[n], resumed.sparsity.masks[n]) for n in full.sparsity.names)
    assert sa["dice"] == sb["dice"] and sa["final_loss"] == sb["final_loss"]
    # re-running into the finished folder trains nothing and leaves its results as they were
    before = {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir() if p.is_file()}
    again = Recipe(_cfg(tiny_dataset, tmp_path / "a", *common))
    s2 = again.run()
    assert s2["dice"] == sa["dice"] and not hasattr(again, "loop")
    assert {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir() if p.is_file()} == before
    # ... and a different configuration is refused there, naming the key
    with pytest.raises(ValueError, match="model.sparsity"):
        Recipe(_cfg(tiny_dataset, tmp_path / "a", *[c if "sparsity" not in c else "model.sparsity=0.8" for c in common])).run()


def test_bad_dataset_fails_before_training(tiny_dataset, tmp_path):
    (tiny_dataset / "imagesTr" / "case_a.nii.gz").unlink()
    with pytest.raises(FileNotFoundError, match="case 'case_a'"):
        Recipe(_cfg(tiny_dataset, tmp_path / "run")).run()
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_config_errors(tiny_dataset, tmp_path):
    with pytest.raises(ValueError, match="model.sparsity"):
        Recipe(_cfg(tiny_dataset, tmp_path, "model.sparsity=1.5"))
    with pytest.raises(ValueError, match="train.lr"):
        Recipe(_cfg(tiny_dataset, tmp_path, "train.lr=abc"))
    r = Recipe(_cfg(tiny_dataset, tmp_path, "train.patch_size=[10,16,8]")).prepare_data()
    with pytest.raises(ValueError, match="multiple of"):
        r.build(torch.device("cpu"))
    with pytest.raises(ValueError, match="data.root"):
        Recipe(compose_config(TINY + ["data.root=???"])).prepare_data()
    with pytest.raises(ValueError, match="test_cases"):
        Recipe(_cfg(tiny_dataset, tmp_path, "data.test_cases=[nope]")).prepare_data()


def _ddp_worker(rank, world_size, root, run_dir):
    import torch as _t

    from apps.e2enet.recipe import Recipe as _R
    from apps.e2enet.recipe import compose_config as _c
    from e2enet_fixtures import TINY as _TINY

    _t.set_num_threads(1)
    r = _R(_c(_TINY + [f"data.root={root}", f"run_dir={run_dir}", "model.sparsity=0.8", "trainer.epochs=2",
                       "eval.count_flops=false", "data.val_cases=[case_c]"]))
    r.run()
    flat = _t.cat([p.detach().flatten() for p in r.model.parameters()])
    masks = _t.cat([m.flatten().float() for m in r.sparsity.masks.values()])
    return flat.tolist()[:200], float(flat.sum()), masks.tolist()


@pytest.mark.slow
@pytest.mark.distributed
def test_two_rank_gloo_training_stays_in_sync(tiny_dataset, tmp_path):
    from core.testing import run_distributed

    res = run_distributed(_ddp_worker, 2, str(tiny_dataset), str(tmp_path / "ddp"))
    assert res[0][0] == res[1][0] and res[0][1] == res[1][1] and res[0][2] == res[1][2]
    assert (tmp_path / "ddp" / "summary.json").is_file()
