"""Recipe end to end on a tiny Decathlon folder through the shared loop: training, predict, exact resume,
a finished run left intact, settings reaching their use, errors at the door, the CLI's last line."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from e2enet_fixtures import TINY

from apps.common.hydra_config import compose
from apps.e2enet.recipe import Recipe, settings_from_config
from core.settings import ConfigError

ROOT = Path(__file__).resolve().parents[3]


def _cfg(root, run_dir, *extra):
    return compose("e2enet", TINY + [f"data.root={root}", f"run_dir={run_dir}", *extra])


def test_tiny_decathlon_trains_and_predict_keeps_affine(tiny_dataset, tmp_path):
    from apps.e2enet.predict import predict_files

    cfg = _cfg(tiny_dataset, tmp_path / "run", "trainer.max_steps=1", "model.sparsity=0.8", "data.val_cases=[case_c]",
               "eval.hd95=true")
    r = Recipe(cfg)
    m = r.run()
    assert m["status"] == "finished" and m["steps"] == 1 and np.isfinite(m["final_loss"])
    assert m["run_dir"] == str(tmp_path / "run")
    assert len(m["dice"]) == 2 and all(0.0 <= d <= 1.0 for d in m["dice"])
    assert len(m["hd95_mm"]) == 2 and len(m["hd95_nan_dropped_mm"]) == 2 and m["eval_split"] == "val"
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


def test_trainer_max_steps_and_eval_every_reach_the_loop(tiny_dataset, tmp_path):
    """issue 27: trainer.max_steps=2 stops at step 2; trainer.eval_every=7 evaluates every 7 steps (not at epoch end)."""
    s = Recipe(_cfg(tiny_dataset, tmp_path / "a", "train.iters_per_epoch=50", "trainer.max_steps=2")).run()
    assert s["steps"] == 2
    s = Recipe(_cfg(tiny_dataset, tmp_path / "b", "train.iters_per_epoch=14", "trainer.eval_every=7",
                    "data.val_cases=[case_c]", "eval.count_flops=false")).run()
    rows = [json.loads(x) for x in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r.get("kind") == "eval"] == [7, 14]
    assert all("val_mean_dice" in r for r in rows if r.get("kind") == "eval")
    settings = settings_from_config(_cfg(tiny_dataset, tmp_path / "c", "trainer.eval_every=7"))
    assert settings.loop.eval_every == 7
    with pytest.raises(ConfigError, match="eval.every_steps"):   # the app's old copy of the key is gone
        settings_from_config(_cfg(tiny_dataset, tmp_path / "c", "+eval.every_steps=7"))


def test_paper_recipe_and_train_yaml_defaults_start(tiny_dataset, tmp_path):
    """issue 31: experiment=paper_amos and the train.yaml defaults compose to valid settings (patch a multiple of the
    pooling plan's divisor), and paper_amos runs one step on CPU with a tiny override."""
    d = settings_from_config(compose("e2enet", []))
    assert all(p % q == 0 for p, q in zip(d.train.patch_size, d.model.divisor))
    p = settings_from_config(compose("e2enet", ["experiment=paper_amos", f"data.root={tiny_dataset}"]))
    assert p.model.channels == (48, 96, 192, 320, 320, 320) and p.model.sparsity == 0.8 and p.loop.amp == "fp16"
    assert all(a % b == 0 for a, b in zip(p.train.patch_size, p.model.divisor))
    tiny = ["widths=[4,8,8]", "model.deep_supervision=2", "train.patch_size=[16,16,8]", "trainer.max_steps=1",
            "trainer.amp=off", "trainer.device=cpu", "trainer.progress=off", "eval.hd95=false", "eval.sw_batch_size=4",
            "data.val_cases=[case_c]", "eval.count_flops=false"]
    s = Recipe(compose("e2enet", ["experiment=paper_amos", f"data.root={tiny_dataset}", f"run_dir={tmp_path / 'p'}",
                                  *tiny])).run()
    assert s["steps"] == 1 and s["variant"] == "e2enet_S0.8_paper_dsff" and 0 < s["density"] < 1


def test_bad_dataset_fails_before_the_run_folder(tiny_dataset, tmp_path):
    (tiny_dataset / "imagesTr" / "case_a.nii.gz").unlink()
    with pytest.raises(FileNotFoundError, match="case 'case_a'"):
        Recipe(_cfg(tiny_dataset, tmp_path / "run")).run()
    assert not (tmp_path / "run").exists()


def test_nan_voxels_are_found_at_validation_naming_the_file(tiny_dataset, tmp_path):
    f = tiny_dataset / "imagesTr" / "case_b.nii.gz"
    img = nib.load(str(f))
    data = np.asarray(img.dataobj).astype(np.float32)
    data[3, 4, 5] = np.nan
    nib.save(nib.Nifti1Image(data, img.affine), str(f))
    with pytest.raises(ValueError, match=r"case 'case_b': image .*case_b.nii.gz holds NaN or Inf voxels"):
        Recipe(_cfg(tiny_dataset, tmp_path / "run")).run()
    assert not (tmp_path / "run").exists()


def test_a_symlinked_image_leading_outside_the_root_is_refused_unless_allowed(tiny_dataset, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    f = tiny_dataset / "imagesTr" / "case_a.nii.gz"
    shutil.move(f, outside / "case_a.nii.gz")
    os.symlink(outside / "case_a.nii.gz", f)
    with pytest.raises(ValueError, match=r"training\[0\].image.*symlink.*data.allow_symlinks"):
        Recipe(_cfg(tiny_dataset, tmp_path / "run", "trainer.max_steps=1")).run()
    assert not (tmp_path / "run").exists()
    s = Recipe(_cfg(tiny_dataset, tmp_path / "run", "trainer.max_steps=1", "data.allow_symlinks=true",
                    "eval.count_flops=false")).run()
    assert s["steps"] == 1


def test_config_errors_name_the_key(tiny_dataset, tmp_path):
    for bad, key in (("model.sparsity=1.5", "model.sparsity"), ("train.lr=abc", "train.lr"),
                     ("train.patch_size=[10,16,8]", "train.patch_size"), ("trainer.amp=maybe", "trainer.amp"),
                     ("sparse.init=dense", "sparse.init"), ("model.shift_groups=4", "model.shift_groups"),
                     ("+trainer.eval_evry=7", "trainer.eval_evry")):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            settings_from_config(_cfg(tiny_dataset, tmp_path, bad))
    with pytest.raises(ConfigError, match=r"multiple of \[4, 4, 4\].*e.g. \[12, 16, 8\]"):   # a valid patch is suggested
        settings_from_config(_cfg(tiny_dataset, tmp_path, "train.patch_size=[10,16,8]"))
    with pytest.raises(ConfigError, match="model=e2enet"):
        settings_from_config(_cfg(tiny_dataset, tmp_path, "variant=dynunet", "model.sparsity=0.5"))
    with pytest.raises(ConfigError, match="data.root"):
        Recipe(compose("e2enet", TINY + [f"run_dir={tmp_path / 'x'}"])).run()
    with pytest.raises(ConfigError, match="data.test_cases"):
        Recipe(_cfg(tiny_dataset, tmp_path / "y", "data.test_cases=[nope]")).run()
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


@pytest.mark.parametrize("group,name", [("experiment", "cpu_standrd"), ("variant", "s8"), ("preset", "quik"),
                                        ("fidelity", "offical")])
def test_unknown_names_are_rejected_listing_the_valid_ones(group, name):
    from hydra.errors import MissingConfigException

    with pytest.raises(MissingConfigException, match=rf"(?s)Could not find '{group}/{name}'.*Available options"):
        compose("e2enet", [f"{group}={name}"])


def _cli(args, cwd, env_extra=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT), SPARSELAB_CACHE=str(Path(cwd) / "cache"), OMP_NUM_THREADS="1")
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_cli_ends_with_a_summary_line_errors_are_one_line_and_hydra_writes_nothing(tiny_dataset, tmp_path):
    run = tmp_path / "run"
    p = _cli(["apps.e2enet.train", *TINY, f"data.root={tiny_dataset}", f"run_dir={run}", "trainer.max_steps=2",
              "model.sparsity=0.8", "data.val_cases=[case_c]", "eval.hd95=true"], tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    last = [ln for ln in p.stdout.splitlines() if ln.startswith("[e2enet] finished")][-1]
    assert p.stdout.strip().splitlines()[-1].startswith("[e2enet] warning: mean Dice")   # 2 steps learn nothing
    assert f"run folder {run}" in last and "val mean Dice" in last and "HD95 mm" in last and "non-zero params" in last
    assert "sparselab-e2enet-predict --model" in last
    assert not (tmp_path / "outputs").exists() and not list(tmp_path.glob("*.log"))   # no Hydra folders or logs
    bad = _cli(["apps.e2enet.train", *TINY, f"data.root={tiny_dataset}", f"run_dir={tmp_path / 'r2'}",
                "model.sparsity=2"], tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0
    assert bad.stderr.startswith("sparselab-e2enet: error: model.sparsity=2")
    # predict on a 2-D NIfTI: one line naming the file
    flat = tmp_path / "flat.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((8, 8), np.float32), np.eye(4)), str(flat))
    pr = _cli(["apps.e2enet.predict", "--model", str(run / "model_final.pt"), "--input", str(flat), "--output",
               str(tmp_path / "preds"), "--device", "cpu"], tmp_path)
    assert pr.returncode == 2 and pr.stderr.strip().count("\n") == 0
    assert "flat.nii.gz" in pr.stderr and "2-D" in pr.stderr


def test_summary_line_warns_when_nothing_was_learned(capsys):
    from apps.e2enet.train import summarise_run

    line = summarise_run({"run_dir": "outputs/e2enet/x", "mean_dice": 0.05, "mean_hd95_mm": 30.0, "params_unmasked": 10,
                          "params_total": 20, "eval_split": "test", "variant": "e2enet_dense", "steps": 3})
    assert "run folder outputs/e2enet/x" in line and "test mean Dice 0.05" in line and "warning" in line
    assert "non-zero params 10 of 20" in line
    assert capsys.readouterr().out.strip().endswith("check the labels")


def _ddp_worker(rank, world_size, root, run_dir):
    import torch as _t

    from apps.common.hydra_config import compose as _c
    from apps.e2enet.recipe import Recipe as _R
    from e2enet_fixtures import TINY as _TINY

    _t.set_num_threads(1)
    r = _R(_c("e2enet", _TINY + [f"data.root={root}", f"run_dir={run_dir}", "model.sparsity=0.8", "trainer.epochs=2",
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


def test_official_variants_train_through_the_loop(tiny_dataset, tmp_path):
    """variant=official keeps its random kernel mask for the whole run; variant=official_dynamic (same seed, so the
    same initial mask) updates it with the official arithmetic; both shift the input through 5 groups and hold the
    level-0 convs at 0.2."""
    from apps.e2enet.dsff import level0_convs

    common = ["trainer.epochs=2", "eval.count_flops=false", "data.val_cases=[case_c]", "model.channels=[8,16,16]"]
    st = Recipe(_cfg(tiny_dataset, tmp_path / "s", "variant=official", *common))
    s = st.run()
    assert s["variant"] == "e2enet_S0.8_official_static" and st.model.shift_input and st.model.encoder[0][0].shift_groups == 5
    assert st.sparsity.grow == "none" and st.sparsity.step_count == 4
    dens = st.sparsity.densities()
    lv0 = level0_convs(list(dens))
    assert lv0 and all(abs(dens[n] - 0.2) < 0.05 for n in lv0)
    dy = Recipe(_cfg(tiny_dataset, tmp_path / "d", "variant=official_dynamic", *common))
    s2 = dy.run()
    assert s2["variant"] == "e2enet_S0.8_official_dsff" and dy.sparsity.step_count == 4
    assert any(not torch.equal(st.sparsity.masks[n], dy.sparsity.masks[n]) for n in dy.sparsity.names)


def test_an_override_under_the_quick_preset_reaches_its_use(tiny_dataset, tmp_path):
    """preset=quick (DSFF S=0.8, any data=) with trainer.max_steps=3: the run stops at step 3 and is sparse."""
    s = Recipe(compose("e2enet", ["data=decathlon", f"data.root={tiny_dataset}", "preset=quick", "trainer.max_steps=3",
                                  "trainer.device=cpu", "trainer.progress=off", "eval.hd95=false",
                                  "eval.count_flops=false", "data.val_cases=[case_c]",
                                  f"run_dir={tmp_path / 'q'}"])).run()
    assert s["steps"] == 3 and s["variant"] == "e2enet_S0.8_paper_dsff" and s["density"] < 0.5
