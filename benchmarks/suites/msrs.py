"""apps/msrs: MSRS (soft masks + L1 until the mask settles, then dense or sparse) against dense, curriculum,
static random sparse, SET and RigL, for VSR and AVSR (+ ASR for the noise comparison), on the embedded
audio-visual corpus; and a scaling curve (VSR training-step time against utterance length).

Figures per mode and method (``apps.msrs.compare.analyze``): steps and wall-clock to reach the dense run's
final validation WER (and CER), final test WER; targets: MSRS time <= 0.5 x dense, mask stable within the
first 20 % of training, MSRS-S sparsity >= 0.5 with test WER within 10 % of MSRS-D, AVSR WER < ASR WER at
<= 0 dB. ``smoke`` runs only the scaling curve and one MSRS switch on a tiny model; ``quick`` trains the
``quick`` preset (seconds per run: the figures show the plumbing, not the paper's claim); ``full`` the
``compare`` preset, longer, every method (meant for a GPU).
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch
from core.plotting import save_figure

NAME = "msrs"
DESCRIPTION = "MSRS vs dense/curriculum/static/SET/RigL for VSR and AVSR on the rendered AV corpus; step-time scaling"


def _scaling(ctx) -> None:
    """VSR training step time against utterance length (frames), tiny widths, random inputs."""
    from apps.msrs.models import AVSRModel

    lengths = ctx.sizes(smoke=[5, 10, 20], quick=[10, 25, 50], full=[25, 50, 100, 200, 400])
    torch.manual_seed(ctx.seed)
    dev = torch.device(ctx.device)
    model = AVSRModel("vsr", 31, frontend_width=4, frontend_blocks=(1, 1, 1, 1), d_model=32, heads=2, layers=2,
                      ffn=64, decoder_layers=1, kernel_size=7).to(dev)
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    times = []
    for T in lengths:
        batch = {"video": torch.randn(2, T, 88, 88, device=dev), "lengths": torch.tensor([T, T], device=dev),
                 "targets": torch.randint(3, 31, (2, max(1, T // 3)), device=dev),
                 "target_lengths": torch.tensor([max(1, T // 3)] * 2, device=dev)}
        best = float("inf")
        for _ in range(2):
            t0 = time.perf_counter()
            opt.zero_grad()
            model(batch)["loss"].backward()
            opt.step()
            if dev.type == "cuda":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t0)
        times.append(best)
        ctx.record(NAME, "scaling", f"step_time_T{T}", best, "s", frames=T)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(lengths, times, marker="o")
    ax.set_xlabel("utterance length (video frames, 25 fps)")
    ax.set_ylabel("VSR training step (s), batch 2")
    ax.grid(alpha=0.3)
    save_figure(fig, ctx.plot_path(NAME, "scaling_step_time_vs_length"), dpi=100)


def _switch_smoke(ctx) -> None:
    """MSRS-S on a tiny MLP: stabilization, switch and exact zeros after further steps."""
    from torch import nn

    from apps.msrs.controller import MSRSController

    torch.manual_seed(ctx.seed)
    model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 4))
    ctrl = MSRSController(model, ["0", "2"], variant="s", lam=20.0, init_logit=0.5, check_every=5, window=3,
                          tol=0.01, force_at=150)
    logits = ctrl.mask_parameters()
    main = [p for p in model.parameters() if all(p is not q for q in logits)]
    opt = torch.optim.AdamW([{"params": main}, {"params": logits, "lr": 0.05}], lr=1e-2)
    g = torch.Generator().manual_seed(ctx.seed)
    w = torch.randn(16, 4, generator=g)
    t0 = time.perf_counter()
    steps = 200
    for s in range(1, steps + 1):
        x = torch.randn(32, 16, generator=g)
        loss = (model(x) - x @ w).pow(2).mean() + ctrl.penalty()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if ctrl.sparsity is not None:
            ctrl.sparsity.step()
        if ctrl.active and ctrl.after_step(s):
            opt = ctrl.switch(s, opt)
    ctx.record(NAME, "mlp_msrs_s", "switch_step_fraction", (ctrl.switch_step or steps) / steps, "",
               wall_s=time.perf_counter() - t0, forced=bool(ctrl.forced))
    ctx.record(NAME, "mlp_msrs_s", "sparsity", 1 - ctrl.sparsity.density() if ctrl.sparsity else 0.0, "")
    zeros_kept = all(bool((model[i].weight[~ctrl.sparsity.weight_mask(str(i))] == 0).all()) for i in (0, 2))
    ctx.record(NAME, "mlp_msrs_s", "masked_weights_exactly_zero", float(zeros_kept), "", target=">= 1")


def _train_compare(ctx) -> None:
    from apps.msrs.compare import analyze, run_one

    suite = ctx.suite
    if suite == "quick":
        runs = [("vsr", "dense"), ("vsr", "msrs_s"), ("asr", "dense"), ("avsr", "dense")]
        over = ["preset=quick", "train.max_steps=6", "train.eval_every=3", "test_snrs=[clean,0]"]
    else:
        methods = ["dense", "msrs_s", "msrs_d", "curriculum", "static", "set", "rigl"]
        runs = [(m, meth) for m in ("vsr", "avsr") for meth in methods] + [("asr", "dense")]
        over = ["preset=compare", "train.max_steps=3000", "train.eval_every=150", "model.frontend_width=32",
                "model.frontend_blocks=[2,2,2,2]", "model.d_model=256", "model.layers=8", "model.ffn=1024",
                "model.decoder_layers=3", "data.size=full"]
    device = "cuda" if str(ctx.device).startswith("cuda") else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "runs"
        over = over + [f"data.root={Path(tmp) / 'data'}", f"trainer.device={device}", f"trainer.seed={ctx.seed}",
                       "trainer.resume=never"]
        results = {}
        for mode, method in ctx.progress(runs, total=len(runs), desc="msrs runs"):
            t0 = time.perf_counter()
            results[(mode, method)] = run_one(out, mode, method, over)
            ctx.record(NAME, f"{mode}-{method}", "run_wall", time.perf_counter() - t0, "s")
        for r in analyze(results):
            if r["value"] is None and r["target"] is None:
                continue
            ctx.record(NAME, f"{r['mode']}-{r['method']}", r["metric"], r["value"], r["unit"],
                       baseline=r["baseline"], target=r["target"])
        from apps.msrs.plots import plot_curve

        for mode in sorted({m for m, _ in results}):
            plot_curve({meth: res["val"] for (m, meth), res in results.items() if m == mode},
                       ctx.plot_path(NAME, f"{mode}_val_wer_vs_time"), title=f"{mode}: val WER vs training time")


def run(ctx) -> None:
    torch.set_num_threads(1 if ctx.device == "cpu" else torch.get_num_threads())
    _scaling(ctx)
    _switch_smoke(ctx)
    if ctx.suite != "smoke":
        _train_compare(ctx)
