import json
import shutil
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from torch import nn
from torch.nn.utils import parametrize

import apps.msrs
from apps.msrs.controller import MSRSController
from apps.msrs.recipe import Recipe

CONFIGS = str(Path(apps.msrs.__file__).parent / "configs")


def _cfg(corpus, out, *overrides):
    with initialize_config_dir(config_dir=CONFIGS, version_base=None):
        return compose("train", overrides=["preset=quick", f"data.root={corpus.parent}", f"run_dir={out}",
                                           *overrides])


@pytest.mark.parametrize("mode", [pytest.param("vsr", marks=pytest.mark.slow),
                                  pytest.param("asr", marks=pytest.mark.slow), "avsr"])
def test_one_training_step_per_mode(grid_corpus, tmp_path, mode):
    cfg = _cfg(grid_corpus, tmp_path, f"mode={mode}", "method=dense", "train.max_steps=1", "test_snrs=[clean]",
               "train.max_val=2", *(["model.modality_dropout=0.5"] if mode == "avsr" else []))
    res = Recipe(cfg).run()
    train = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert res["steps"] == 1 and torch.isfinite(torch.tensor([r["loss"] for r in train if r["kind"] == "train"]))
    assert 0.0 <= res["test_wer"]["clean"]
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["test_wer"] == res["test_wer"] and (tmp_path / "curve.png").is_file()
    assert saved["grad_norms"] and "enc.block0" in saved["grad_norms"][0]
    assert set(saved["test_unseen_wer"]) == {"clean"} and saved["units"] == "word"
    assert 0.0 < saved["viseme_ceiling_wer"]["test"] < 1.0 or saved["viseme_ceiling_wer"]["test"] == 0.0


def test_modality_dropout_outside_avsr_fails_before_any_data(tmp_path):
    with pytest.raises(ValueError, match="model.modality_dropout=0.5 needs mode=avsr"):
        Recipe(_cfg(tmp_path / "corpus", tmp_path / "run", "mode=vsr", "model.modality_dropout=0.5"))
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_open_vocabulary_corpus_trains_with_characters(tiny_corpus, tmp_path):
    cfg = _cfg(tiny_corpus, tmp_path, "data.corpus=open", "data.frame_size=88", "data.max_words=5",
               "data.num_speakers=2", "method=dense", "train.max_steps=1", "test_snrs=[clean]", "train.max_val=2")
    res = Recipe(cfg).run()
    assert res["units"] == "char" and "test_unseen_wer" not in res and res["viseme_ceiling_wer"] is None


def _tiny():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 12), nn.ReLU(), nn.Linear(12, 3))


def _train(model, opt, ctrl, steps, start=0):
    g = torch.Generator().manual_seed(start)
    for s in range(start + 1, start + steps + 1):
        x = torch.randn(8, 6, generator=g)
        loss = model(x).pow(2).mean() + (ctrl.penalty() if ctrl is not None and ctrl.active else 0.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if ctrl is not None and ctrl.sparsity is not None:
            ctrl.sparsity.step()
        if ctrl is not None and ctrl.active and ctrl.after_step(s):
            opt = ctrl.switch(s, opt)
    return opt


def _controller(model, variant):
    # strongly negative logits on half of layer "2": the hard mask there is ~half empty from the start
    ctrl = MSRSController(model, ["0", "2"], variant=variant, lam=1.0, init_logit=2.0, check_every=1, window=2,
                          tol=1.0, density_tol=None, max_density=None, force_at=None)
    with torch.no_grad():
        model[2].parametrizations.weight[0].logits[:, :6] = -4.0
    logits = ctrl.mask_parameters()
    main = [p for p in model.parameters() if all(p is not q for q in logits)]
    opt = torch.optim.AdamW([{"params": main}, {"params": logits, "lr": 0.05}], lr=1e-2)
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
    ctrl = MSRSController(model, ["0", "2", "4"], variant="d", lam=0.0, init_logit=3.0, check_every=1, window=3,
                          tol=0.01, force_at=40)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(1)
    for s in range(1, 41):
        loss = model(torch.randn(8, 6, generator=g)).pow(2).mean() + ctrl.penalty()
        opt.zero_grad()
        loss.backward()
        opt.step()
        switch = ctrl.after_step(s)
        assert switch == (s == 40)
    assert ctrl.stable_step is None and ctrl.forced
    assert min(h["density"] for h in ctrl.history) > 0.95
    # the same setting with L1 pressure forms a topology and settles before the forced step
    model = _tiny()
    ctrl = MSRSController(model, ["0", "2", "4"], variant="d", lam=1.0, init_logit=0.5, check_every=1, window=3,
                          tol=0.01, force_at=200)
    logits = ctrl.mask_parameters()
    main = [p for p in model.parameters() if all(p is not q for q in logits)]
    opt = torch.optim.AdamW([{"params": main}, {"params": logits, "lr": 0.2, "weight_decay": 0.0}], lr=1e-2)
    for s in range(1, 201):
        loss = model(torch.randn(8, 6, generator=g)).pow(2).mean() + ctrl.penalty()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if ctrl.after_step(s):
            break
    assert ctrl.stable_step is not None and not ctrl.forced and ctrl.history[-1]["density"] <= 0.95


def test_msrs_forced_switch_is_recorded():
    model = _tiny()
    ctrl = MSRSController(model, ["0"], variant="d", check_every=2, window=5, tol=0.0, force_at=4)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    assert not ctrl.after_step(1) and not ctrl.after_step(2) and not ctrl.after_step(3)
    assert ctrl.after_step(4) and ctrl.forced
    with pytest.raises(ValueError, match="valid choices"):
        MSRSController(_tiny(), ["0"], variant="x")


def test_recipe_msrs_s_switches_and_resumes_exactly(grid_corpus, tmp_path):
    """Killed after step 3 (MSRS-S switch already done) and resumed: bitwise the same weights, masks and
    metrics as the uninterrupted run, with dropout on."""
    a, b = tmp_path / "a", tmp_path / "b"
    over = ["mode=asr", "method=msrs_s", "train.max_steps=6", "train.checkpoint_every=3", "test_snrs=[clean]",
            "msrs.init_logit=0.2", "msrs.mask_optimizer=adam", "msrs.mask_lr=0.5", "msrs.lam=50", "model.dropout=0.1"]
    res = Recipe(_cfg(grid_corpus, a, *over)).run()
    assert res["switch_step"] is not None and res["switch_step"] <= 3
    assert res["density"] < 1.0
    (b / "checkpoints").mkdir(parents=True)
    shutil.copy(a / "checkpoints" / "step_00000003.pt", b / "checkpoints" / "step_00000003.pt")
    res_b = Recipe(_cfg(grid_corpus, b, *over)).run()
    sa = torch.load(a / "checkpoints" / "step_00000006.pt", weights_only=False)["states"]
    sb = torch.load(b / "checkpoints" / "step_00000006.pt", weights_only=False)["states"]
    for k, v in sa["model"].items():
        assert torch.equal(v, sb["model"][k]), k
    for n, m in sa["sparsity"]["masks"].items():
        assert torch.equal(m, sb["sparsity"]["masks"][n])
    untimed = lambda rs: [{k: v for k, v in r.items() if not k.startswith("train_")} for r in rs]  # noqa: E731
    assert res_b["test_wer"] == res["test_wer"] and untimed(res_b["val"]) == untimed(res["val"])
    rec = lambda d: [r for r in map(json.loads, (d / "metrics.jsonl").read_text().splitlines())  # noqa: E731
                     if r["kind"] in ("train", "eval")]
    assert untimed(rec(a)) == untimed(rec(b)) and len(rec(a)) >= 8
    # the finished run is not trained again, and a changed config does not resume it
    again = Recipe(_cfg(grid_corpus, a, *over)).run()
    assert again["test_wer"] == res["test_wer"] and again["steps"] == 6
    with pytest.raises(ValueError, match="msrs.lam"):
        Recipe(_cfg(grid_corpus, a, *over[:-2], "msrs.lam=5", "model.dropout=0.1")).run()
