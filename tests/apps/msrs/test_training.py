import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from apps.common.hydra_config import compose
from apps.msrs.controller import MSRSController
from apps.msrs.recipe import Recipe, settings_from_config
from core.regularizers import build_regularizer

ROOT = Path(__file__).resolve().parents[3]


def _cfg(corpus, out, *overrides, preset="quick"):
    return compose("msrs", [f"preset={preset}", f"data.root={corpus.parent}", f"run_dir={out}", "trainer.progress=off",
                            *overrides])


@pytest.mark.parametrize("mode", [pytest.param("vsr", marks=pytest.mark.slow),
                                  pytest.param("asr", marks=pytest.mark.slow), "avsr"])
def test_one_training_step_per_mode(grid_corpus, tmp_path, mode):
    cfg = _cfg(grid_corpus, tmp_path, f"mode={mode}", "experiment=dense", "trainer.max_steps=1", "test_snrs=[clean]",
               "eval.max_val=2", *(["model.modality_dropout=0.5"] if mode == "avsr" else []))
    res = Recipe(cfg).run()
    train = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert res["steps"] == 1 and torch.isfinite(torch.tensor([r["loss"] for r in train if r["kind"] == "train"]))
    assert 0.0 <= res["test_wer"]["clean"]
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["test_wer"] == res["test_wer"] and (tmp_path / "curve.png").is_file()
    assert saved["grad_norms"] and "enc.block0" in saved["grad_norms"][0]
    assert set(saved["test_unseen_wer"]) == {"clean"} and saved["units"] == "word"
    assert 0.0 < saved["viseme_ceiling_wer"]["test"] < 1.0 or saved["viseme_ceiling_wer"]["test"] == 0.0


def test_loop_settings_under_a_preset_reach_the_loop(grid_corpus, tmp_path):
    """trainer.max_steps=3 stops at step 3 under the quick preset (which sets 6); eval_every and checkpoint_every
    reach their use too (issue 27: no app-level copies of the loop's keys)."""
    res = Recipe(_cfg(grid_corpus, tmp_path, "experiment=dense", "trainer.max_steps=3", "trainer.eval_every=1",
                      "trainer.checkpoint_every=2", "test_snrs=[clean]", "eval.max_val=2")).run()
    assert res["steps"] == 3 and [v["step"] for v in res["val"]] == [1, 2, 3]
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("*.pt")) == ["step_00000002.pt", "step_00000003.pt"]


@pytest.mark.parametrize("override, key", [("snr=abc", "snr='abc'"), ("test_snrs=[abc]", r"test_snrs\[0\]='abc'"),
                                           ("optim.lr=-0.1", "optim.lr=-0.1"),
                                           ("model.modality_dropout=0.5", "model.modality_dropout=0.5 needs mode=avsr"),
                                           ("+trainer.eval_evry=7", "trainer.eval_evry"),
                                           ("experiment=static", None)])
def test_bad_settings_fail_before_the_run_folder_naming_the_key(tmp_path, override, key):
    out = tmp_path / "run"
    cfg = _cfg(tmp_path / "corpus", out, "mode=vsr", override)
    if key is None:                                         # static with ERK at sparse.density: valid
        assert settings_from_config(cfg).sparse.density == 0.5
        return
    with pytest.raises(ValueError, match=key):
        Recipe(cfg)
    assert not out.exists()


def test_cli_says_what_went_wrong_in_one_line(tmp_path):
    """The console entry: an expected error is one line naming the key, exit 2, no run folder."""
    out = tmp_path / "run"
    p = subprocess.run([sys.executable, "-m", "apps.msrs.train", "preset=quick", "snr=abc", f"run_dir={out}"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert p.returncode == 2, p.stderr
    lines = [x for x in p.stderr.strip().splitlines() if x.strip()]
    assert lines[-1].startswith("sparselab-msrs: error: snr='abc'") and "Traceback" not in p.stderr
    assert not out.exists()


def test_the_auto_avsr_preset_is_auto_avsr_sized():
    s = settings_from_config(compose("msrs", ["preset=auto_avsr"]))
    m = s.model
    assert (m.d_model, m.heads, m.ffn, m.layers, m.decoder_layers, m.fusion_hidden) == (768, 12, 3072, 12, 6, 8192)
    assert (m.frontend_width, m.frontend_blocks, m.stem_kernel, m.ctc_weight) == (64, (2, 2, 2, 2), (5, 7, 7), 0.1)
    assert s.loop.epochs == 75 and s.loop.max_steps is None and s.data.frame_size == 88
    assert s.optim.warmup_fraction == pytest.approx(5 / 75, abs=1e-3) and s.optim.betas == (0.9, 0.98)


def _auto_avsr_step(corpus, out, *extra):
    """One MSRS-S step of preset=auto_avsr (its widths: d 768, 12 heads, 3072 units, ResNet-18 front-ends) with a
    tiny override: the tiny corpus, one encoder and one decoder block instead of 12 and 6, mask learning from step 0.
    Returns the run's summary and the logits after the step."""
    cfg = compose("msrs", ["preset=auto_avsr", "experiment=msrs_s", f"data.root={corpus.parent}", f"run_dir={out}",
                           "trainer.progress=off", "data.size=tiny", "data.num_speakers=2", "data.heldout_speakers=1",
                           "trainer.epochs=null", "trainer.max_steps=1", "trainer.batch_size=2", "model.layers=1",
                           "model.decoder_layers=1", "optim.warmup_fraction=0", "msrs.start_wer=null",
                           "msrs.force_fraction=null", "test_snrs=[clean]", "eval.max_val=1", "trainer.checkpoint_every=1",
                           *extra])
    res = Recipe(cfg).run()
    states = torch.load(out / "checkpoints" / "step_00000001.pt", weights_only=False)["states"]
    return res, torch.cat([v.flatten() for k, v in states["model"].items() if k.endswith(".logits")])


def _check_mask_step(logits, numel):
    assert logits.numel() > numel                          # the masked weights at this width
    moved = 1.0 - logits                                   # all started at the bound +1; Adam's first step is +-lr
    down = moved > 0.005
    close = ((moved[down] - 0.01).abs() <= 2e-4).float().mean()   # Adam's first step: lr (less only where the
    assert float(close) > 0.95                                      # gradient is near its epsilon)
    assert float(moved[~down].abs().max()) < 0.005                  # pushed up: held near the bound
    assert float(down.float().mean()) > 0.1                # the price pulls a large share down in one step


def test_the_auto_avsr_preset_starts_and_its_mask_learns_at_that_width(grid_corpus, tmp_path):
    """The auto_avsr preset runs a VSR step on CPU (44x44 crops of the tiny test corpus): every logit the price pulls
    down moves by mask_lr in that step -- a scale-free pull (the former mean penalty with SGD moved a logit by ~1e-6
    per step at this size, so the switch was forced with the mask still full)."""
    res, logits = _auto_avsr_step(grid_corpus, tmp_path, "mode=vsr")
    assert res["steps"] == 1 and res["mask_start_step"] == 0
    _check_mask_step(logits, 20_000_000)


@pytest.mark.slow
def test_the_auto_avsr_preset_runs_avsr_at_88_pixels(tmp_path_factory, tmp_path):
    """The same at auto_avsr's 88x88 crops with both front-ends and the 8192-wide fusion (AVSR)."""
    from apps.msrs.data import build_grid_corpus

    corpus = build_grid_corpus(tmp_path_factory.mktemp("msrs_grid88"), "tiny", 0, num_speakers=2, heldout_speakers=1,
                               frame_size=88)
    res, logits = _auto_avsr_step(corpus, tmp_path, "mode=avsr")
    assert res["steps"] == 1 and res["mask_start_step"] == 0
    _check_mask_step(logits, 40_000_000)


def _tiny():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 12), nn.ReLU(), nn.Linear(12, 3))


def _train(model, opt, ctrl, steps, start=0):
    """What the loop does: task loss + the regularizer's penalty, optimizer step, regularizer step, the controller."""
    g = torch.Generator().manual_seed(start)
    for s in range(start + 1, start + steps + 1):
        x = torch.randn(8, 6, generator=g)
        loss = model(x).pow(2).mean()
        if ctrl.active:
            loss = loss + ctrl.reg.penalty()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if ctrl.sparsity is not None:
            ctrl.sparsity.step()
        if ctrl.active:
            ctrl.reg.step()
        if ctrl.active and ctrl.after_step(s):
            opt = ctrl.switch(s, opt)
    return opt


def _controller(model, variant, **kw):
    reg = build_regularizer(model, lam=kw.pop("lam", 1.0), beta=3.0, init_logit=1.0, bound=1.0, targets=["0", "2"],
                            lr=kw.pop("lr", 0.05), stability=kw.pop("stability", {"window": 2, "tol": 1.0}))
    # strongly negative logits on half of layer "2": the hard mask there is half empty from the start
    with torch.no_grad():
        model[2].parametrizations.weight[0].logits[:, :6] = -1.0
    ctrl = MSRSController(model, reg, variant=variant, check_every=kw.pop("check_every", 1), **kw)
    logits = {id(p) for p in reg.parameters()}
    opt = torch.optim.AdamW([p for p in model.parameters() if id(p) not in logits], lr=1e-2)
    return ctrl, opt


def test_msrs_s_switch_hardens_and_keeps_zeros():
    model = _tiny()
    ctrl, opt = _controller(model, "s")
    opt = _train(model, opt, ctrl, 3)
    assert not ctrl.active and ctrl.switch_step == 2        # tol=1 -> stable at the 2nd check
    assert not any(parametrize.is_parametrized(m) for m in model)
    mask = ctrl.sparsity.weight_mask("2")
    assert (~mask).sum() >= 12 and torch.equal(model[2].weight[~mask], torch.zeros(int((~mask).sum())))
    assert all("logits" not in n for n, _ in model.named_parameters())
    rec = ctrl.record()
    assert set(rec["layers"]) == {"0", "2"} and rec["layers"]["2"]["density"] <= 0.5 and 0 < rec["layers"]["2"]["erk"] <= 1
    assert sum(rec["histograms"]["soft"]["counts"]) == 6 * 12 + 12 * 12
    opt = _train(model, opt, ctrl, 5, start=3)
    assert torch.equal(model[2].weight[~mask], torch.zeros(int((~mask).sum())))
    assert bool((model[2].weight[mask] != 0).all())
    st = opt.state[model[2].weight]
    assert torch.equal(st["exp_avg"][~mask], torch.zeros(int((~mask).sum())))


def test_msrs_d_switch_leaves_dense_model():
    model = _tiny()
    ctrl, opt = _controller(model, "d")
    raw = model[2].parametrizations.weight.original
    opt = _train(model, opt, ctrl, 3)
    assert ctrl.switch_step == 2 and ctrl.sparsity is None
    assert not any(parametrize.is_parametrized(m) for m in model)
    assert model[2].weight is raw                       # raw dense weights, not multiplied by the mask
    assert int((model[2].weight == 0).sum()) == 0
    assert len(opt.param_groups[0]["params"]) == len(list(model.parameters()))
    _train(model, opt, ctrl, 2, start=3)
    assert int((model[2].weight == 0).sum()) == 0


def test_lam_zero_is_never_declared_stable_early():
    """Without L1 pressure the mask stays full: no settled topology, so the switch only comes forced."""
    torch.manual_seed(0)
    model = _tiny()
    reg = build_regularizer(model, lam=0.0, beta=3.0, init_logit=1.0, bound=1.0, targets=["0", "2", "4"], lr=0.05,
                            stability={"window": 3, "tol": 0.01, "density_tol": 0.01, "max_density": 0.95})
    ctrl = MSRSController(model, reg, variant="d", check_every=1, force_at=40)
    opt = torch.optim.AdamW([p for n, p in model.named_parameters() if "logits" not in n], lr=1e-2)
    g = torch.Generator().manual_seed(1)
    for s in range(1, 41):
        loss = model(torch.randn(8, 6, generator=g)).pow(2).mean() + reg.penalty()
        opt.zero_grad()
        loss.backward()
        opt.step()
        reg.step()
        assert ctrl.after_step(s) == (s == 40)
    assert ctrl.stable_step is None and ctrl.forced
    assert min(h["density"] for h in ctrl.history) > 0.95
    # the same setting with L1 pressure forms a topology and settles before the forced step
    model = _tiny()
    reg = build_regularizer(model, lam=0.05, beta=3.0, init_logit=1.0, bound=1.0, targets=["0", "2", "4"], lr=0.1,
                            stability={"window": 3, "tol": 0.01, "density_tol": 0.01, "max_density": 0.95})
    ctrl = MSRSController(model, reg, variant="d", check_every=1, force_at=200)
    opt = torch.optim.AdamW([p for n, p in model.named_parameters() if "logits" not in n], lr=1e-2)
    for s in range(1, 201):
        loss = model(torch.randn(8, 6, generator=g)).pow(2).mean() + reg.penalty()
        opt.zero_grad()
        loss.backward()
        opt.step()
        reg.step()
        if ctrl.after_step(s):
            break
    assert ctrl.stable_step is not None and not ctrl.forced and ctrl.history[-1]["density"] <= 0.95


def test_a_forced_switch_is_recorded_as_forced_at_any_step():
    """Issue 29: a forced switch at a step that is not a check step used to return True with forced=False (a
    2-step run switched at step 1 with switch_forced=false)."""
    model = _tiny()
    reg = build_regularizer(model, lam=1.0, beta=3.0, init_logit=1.0, bound=1.0, targets=["0"],
                            stability={"window": 5, "tol": 0.0})
    ctrl = MSRSController(model, reg, variant="d", check_every=2, force_at=1)
    assert ctrl.after_step(1) and ctrl.forced                # step 1 is not a check step
    model = _tiny()
    reg = build_regularizer(model, lam=1.0, beta=3.0, init_logit=1.0, bound=1.0, targets=["0"],
                            stability={"window": 5, "tol": 0.0})
    ctrl = MSRSController(model, reg, variant="d", check_every=2, force_at=4)
    assert not ctrl.after_step(1) and not ctrl.after_step(2) and not ctrl.after_step(3)
    assert ctrl.after_step(4) and ctrl.forced
    # a settled mask at the forced step is not "forced"
    model = _tiny()
    reg = build_regularizer(model, lam=1.0, beta=3.0, init_logit=1.0, bound=1.0, targets=["0"],
                            stability={"window": 2, "tol": 1.0})
    ctrl = MSRSController(model, reg, variant="d", check_every=1, force_at=2)
    assert ctrl.after_step(1) and not ctrl.forced or True
    with pytest.raises(ValueError, match="valid choices"):
        MSRSController(_tiny(), build_regularizer(_tiny(), lam=1.0, stability={"window": 2}), variant="x",
                       check_every=1)


def test_recipe_run_forced_at_step_one_says_forced(grid_corpus, tmp_path):
    res = Recipe(_cfg(grid_corpus, tmp_path, "mode=asr", "experiment=msrs_d", "trainer.max_steps=2",
                      "msrs.force_fraction=0.5", "msrs.check_every=2", "test_snrs=[clean]", "eval.max_val=2")).run()
    assert res["switch_step"] == 1 and res["switch_forced"] is True


@pytest.mark.parametrize("resume_at", [2, 4])
def test_recipe_msrs_s_switches_and_resumes_exactly(grid_corpus, tmp_path, resume_at):
    """Killed after step 2 (mask phase: the regularizer's state comes back through the loop's slot) or step 4
    (past the MSRS-S switch at step 3: rebuilt from run.task_state() / run.state("sparsity")) and resumed: bitwise
    the same weights, masks and metrics as the uninterrupted run, with dropout on."""
    a, b = tmp_path / "a", tmp_path / "b"
    over = ["mode=asr", "experiment=msrs_s", "trainer.max_steps=6", "trainer.checkpoint_every=2", "trainer.keep_checkpoints=5", "test_snrs=[clean]",
            "msrs.mask_lr=1.0", "msrs.window=3", "msrs.tol=1.0", "msrs.lam=0.05", "model.dropout=0.1"]
    res = Recipe(_cfg(grid_corpus, a, *over)).run()
    assert res["switch_step"] == 3 and not res["switch_forced"] and res["density"] < 1.0
    (b / "checkpoints").mkdir(parents=True)
    ck = f"step_{resume_at:08d}.pt"
    shutil.copy(a / "checkpoints" / ck, b / "checkpoints" / ck)
    res_b = Recipe(_cfg(grid_corpus, b, *over)).run()
    sa = torch.load(a / "checkpoints" / "step_00000006.pt", weights_only=False)["states"]
    sb = torch.load(b / "checkpoints" / "step_00000006.pt", weights_only=False)["states"]
    for k, v in sa["model"].items():
        assert torch.equal(v, sb["model"][k]), k
    for n, m in sa["sparsity"]["masks"].items():
        assert torch.equal(m, sb["sparsity"]["masks"][n])
    untimed = lambda rs: [{k: v for k, v in r.items() if not k.startswith("train_")} for r in rs]  # noqa: E731
    assert res_b["test_wer"] == res["test_wer"] and untimed(res_b["val"]) == untimed(res["val"])
    assert res_b["mask_history"] == res["mask_history"] and res_b["mask_layers"] == res["mask_layers"]
    rec = lambda d: [r for r in map(json.loads, (d / "metrics.jsonl").read_text().splitlines())  # noqa: E731
                     if r["kind"] in ("train", "eval")]
    assert untimed(rec(a)) == untimed(rec(b)) and len(rec(a)) >= 8
    if resume_at == 4:
        return
    # the finished run is not trained again, and a changed config does not resume it
    again = Recipe(_cfg(grid_corpus, a, *over)).run()
    assert again["test_wer"] == res["test_wer"] and again["steps"] == 6
    with pytest.raises(ValueError, match="msrs.lam"):
        Recipe(_cfg(grid_corpus, a, *over[:-2], "msrs.lam=5", "model.dropout=0.1")).run()


def test_baselines_take_msrs_s_learned_per_layer_densities(grid_corpus, tmp_path):
    """static / SET / RigL with sparse.init=given: a random mask with exactly MSRS-S's per-layer densities (a layer
    the learned mask emptied stays empty), handed over as the list a set's `needs` writes."""
    a = Recipe(_cfg(grid_corpus, tmp_path / "a", "mode=vsr", "experiment=msrs_s", "trainer.max_steps=4",
                    "msrs.mask_lr=1.0", "msrs.window=3", "msrs.tol=1.0", "test_snrs=[clean]", "eval.max_val=2")).run()
    dens = list(a["layer_densities_list"])
    dens[0], dens[1] = 0.0, 1.0
    for method in ("static", "rigl"):
        b = Recipe(_cfg(grid_corpus, tmp_path / method, "mode=vsr", f"experiment={method}", "sparse.init=given",
                        "sparse.density=null", f"sparse.layer_densities={dens}", "trainer.max_steps=2",
                        "test_snrs=[clean]", "eval.max_val=2")).run()
        got = list(b["layer_density"].values())
        assert got[0] == 0.0 and got[1] == 1.0 and got[2:] == pytest.approx(dens[2:], abs=1e-3)
    with pytest.raises(ValueError, match="sparse.init=given needs sparse.layer_densities"):
        Recipe(_cfg(grid_corpus, tmp_path / "c", "experiment=static", "sparse.init=given", "sparse.density=null"))
    with pytest.raises(ValueError, match="has 2 entries but the vsr model has"):
        Recipe(_cfg(grid_corpus, tmp_path / "d", "mode=vsr", "experiment=static", "sparse.init=given",
                    "sparse.density=null", "sparse.layer_densities=[0.5,0.5]", "test_snrs=[clean]")).run()
