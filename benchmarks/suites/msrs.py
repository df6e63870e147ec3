"""apps/msrs: MSRS (soft masks + L1 until the mask settles, then dense or sparse) against dense, curriculum,
static random sparse, SET and RigL, for VSR and AVSR (+ ASR for the noise comparison), on the GRID-style
audio-visual corpus; and a scaling curve (VSR training-step time against utterance length).

Figures over seeds (``ctx.record_seeds``) from a comparison set of ``apps/msrs/configs/sets`` run by
``core.training.experiments``: test WER, steps to reach the dense run's final validation WER (paired by
seed; MSRS target <= 0.5 x dense; steps, because MSRS computes per step what dense does and CPU seconds also
measure the machine's load), the step the mask became stable (<= 20 % of training, a forced switch is
not judged), MSRS-S sparsity >= 0.5 with test WER at most 10 % above MSRS-D's, AVSR WER < ASR WER at 0 and -5 dB.
``smoke``: the scaling curve and one MSRS switch on a tiny MLP; ``quick``: set ``quick`` (tiny corpus, 6 steps:
plumbing, not a verdict); ``standard``: 1,200-step runs, where dense VSR has converged: set ``grid_long_vsr``'s
dense, MSRS-D and MSRS-S (9 runs of ~6 CPU minutes) and set ``grid_long_avsr`` (AVSR and ASR dense, trained with
noise augmentation; 6 runs of 5-10 CPU minutes), 3 seeds: ~100 CPU minutes, ~55 min wall in two processes
(seeds trained beforehand in parallel, below); ``full`` adds curriculum and static / SET / RigL at 1,200 steps
(VSR and AVSR), the deep miniature ``grid_deep_vsr`` and the 400-step sets ``grid_cpu_vsr`` / ``grid_cpu_avsr``.
Runs live in ``<out>/msrs_runs/<set>/<run>/seed<k>``: a finished run found there is reused, so an interrupted
suite continues, and seeds can be trained beforehand in parallel processes
(``python -m core.training.experiments apps/msrs/configs/sets/grid_long_vsr.yaml trainer.device=cpu
--out <out>/msrs_runs/grid_long_vsr --seeds 1 --only dense,msrs_d,msrs_s``). The corpus is cached under ``.cache/msrs`` (standard, full).
"""
from __future__ import annotations

import time
from pathlib import Path

import torch
from core.plotting import save_figure

NAME = "msrs"
DESCRIPTION = "MSRS vs dense/curriculum/static/SET/RigL for VSR and AVSR on the GRID-style AV corpus; depth probe; step-time scaling"


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
    """MSRS-S on a tiny MLP: the soft-mask regularizer (core.regularizers.SoftMaskL1) learns a mask, the controller
    switches when it has settled, and the masked weights stay exactly zero after further steps."""
    from torch import nn

    from apps.msrs.controller import MSRSController
    from core.regularizers import build_regularizer

    torch.manual_seed(ctx.seed)
    model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 4))
    reg = build_regularizer(model, lam=2e-3, beta={"start": 3.0, "end": 10.0, "anneal_steps": 100}, init_logit=1.0,
                            bound=1.0, targets=["0", "2"], lr=0.05,
                            stability={"window": 3, "tol": 0.01, "density_tol": 0.01, "max_density": 0.95})
    ctrl = MSRSController(model, reg, variant="s", check_every=5, force_at=150)
    logits = {id(p) for p in reg.parameters()}
    opt = torch.optim.AdamW([p for p in model.parameters() if id(p) not in logits], lr=1e-2)
    g = torch.Generator().manual_seed(ctx.seed)
    w = torch.randn(16, 4, generator=g)
    t0 = time.perf_counter()
    steps = 200
    for s in range(1, steps + 1):
        x = torch.randn(32, 16, generator=g)
        loss = (model(x) - x @ w).pow(2).mean() + (reg.penalty() if ctrl.active else 0.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if ctrl.sparsity is not None:
            ctrl.sparsity.step()
        if ctrl.active:
            reg.step()
            if ctrl.after_step(s):
                opt = ctrl.switch(s, opt)
    ctx.record(NAME, "mlp_msrs_s", "switch_step_fraction", (ctrl.switch_step or steps) / steps, "",
               wall_s=time.perf_counter() - t0, forced=bool(ctrl.forced))
    ctx.record(NAME, "mlp_msrs_s", "sparsity", 1 - ctrl.sparsity.density() if ctrl.sparsity else 0.0, "")
    zeros_kept = all(bool((model[i].weight[~ctrl.sparsity.weight_mask(str(i))] == 0).all()) for i in (0, 2))
    ctx.record(NAME, "mlp_msrs_s", "masked_weights_exactly_zero", float(zeros_kept), "", target=">= 1")


def _depth_probe(ctx) -> None:
    """Do gradients vanish in early layers as the model gets deeper and narrower? Per-group gradient norm of the
    video stem relative to the last encoder block, at initialisation (mean over a few random batches), for
    2 / 6 / 12 Conformer blocks at d=32 (a probe, not training: whether dense training stalls needs runs)."""
    from apps.msrs.models import AVSRModel
    from apps.msrs.task import group_of

    depths = ctx.sizes(smoke=[2, 6, 12], quick=[2, 6, 12], standard=[2, 6, 12], full=[2, 6, 12, 24])
    g = torch.Generator().manual_seed(ctx.seed)
    for L in depths:
        torch.manual_seed(ctx.seed)
        model = AVSRModel("vsr", 54, frontend_width=4, frontend_blocks=(2, 2, 2, 2), d_model=32, heads=2, layers=L,
                          ffn=64, decoder_layers=1, kernel_size=7, stem_kernel=(3, 5, 5), ctc_weight=0.5)
        ratios = []
        for _ in range(3):
            T = 30
            batch = {"video": torch.randn(2, T, 44, 44, generator=g), "lengths": torch.tensor([T, T]),
                     "targets": torch.randint(3, 54, (2, 6), generator=g), "target_lengths": torch.tensor([6, 6])}
            model.zero_grad()
            model(batch)["loss"].backward()
            sq: dict[str, float] = {}
            for n, prm in model.named_parameters():
                if prm.grad is not None:
                    k = group_of(n)
                    sq[k] = sq.get(k, 0.0) + float(prm.grad.pow(2).sum())
            ratios.append((sq["video.stem"] / sq[f"enc.block{L - 1}"]) ** 0.5)
        ctx.record(NAME, f"depth{L}_d32", "stem_grad_over_last_block_grad", sum(ratios) / len(ratios), "",
                   layers=L)


def _train_compare(ctx) -> None:
    """Runs a comparison set of apps/msrs/configs/sets through core.training.experiments (runs x seeds, MSRS-S's
    density handed to static/SET/RigL by a declared dependency) and records the issue's targets over seeds."""
    from apps.msrs.report import judgements, load_runs
    from core.training.experiments import load_set, run_set

    sets = Path(__file__).resolve().parents[2] / "apps" / "msrs" / "configs" / "sets"
    # (set, runs): standard = the converged (1,200-step) VSR comparison of MSRS with dense + AVSR vs ASR in noise
    names = ctx.sizes(smoke=[], quick=[("quick", None)],
                      standard=[("grid_long_vsr", ["dense", "msrs_d", "msrs_s"]),
                                ("grid_long_avsr", ["dense", "asr_dense"])],
                      full=[("grid_long_vsr", None), ("grid_long_avsr", None), ("grid_deep_vsr", None),
                            ("grid_cpu_vsr", None), ("grid_cpu_avsr", None)])
    seeds = ctx.sizes(smoke=[0], quick=[0], standard=[0, 1, 2], full=[0, 1, 2])
    device = "cuda" if str(ctx.device).startswith("cuda") else "cpu"
    data = Path(ctx.runs_dir) / "msrs_data" if ctx.suite in ("smoke", "quick") else Path(".cache") / "msrs"
    for name, only in names:
        out = Path(ctx.runs_dir) / "msrs_runs" / name      # finished runs are reused by run_set on a re-run
        t0 = time.perf_counter()
        run_set(load_set(sets / f"{name}.yaml"), out, seeds=seeds, only=only, extra=[f"trainer.device={device}"],
                env={"SPARSELAB_DATA": str(data.resolve()), "OMP_NUM_THREADS": "1"}, log=lambda m: None)
        runs = load_runs(out)
        ctx.record(NAME, name, "set_wall", time.perf_counter() - t0, "s")
        # the quick set (a tiny corpus, a few steps) checks the plumbing: no model has learned, nothing is judged
        small = ("quick: a few steps on a tiny corpus check the plumbing; no model has learned"
                 if ctx.suite in ("smoke", "quick") else None)
        for j in judgements(runs):               # the figures and targets apps.msrs.report judges, the same way
            extra = {"never_reached": j["never_reached"]} if "never_reached" in j else {}
            ctx.record_seeds(f"{name}:{j['variant']}", j["metric"], j["values"], baseline=j["baseline"],
                             target=j["target"], unit=j["unit"], not_judged=(small or j["not_judged"])
                             if j["target"] else None, **extra)


def run(ctx) -> None:
    torch.set_num_threads(1 if ctx.device == "cpu" else torch.get_num_threads())
    _scaling(ctx)
    _switch_smoke(ctx)
    _depth_probe(ctx)
    if ctx.suite != "smoke":
        _train_compare(ctx)
