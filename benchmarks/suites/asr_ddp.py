"""apps/asr_ddp: dynamic data pruning for ASR on the embedded espeak-ng corpus.

Every variant trains the same model (same initial weights, epochs and hyper-parameters) on the same
features; figures per variant: test WER, training wall-clock, speed-up against full data (full's
wall-clock / the variant's) and the fraction of audio seconds consumed.

Targets (issue 5): the best 0.7 instance policy within 5% relative WER of full data; 0.7 x 0.7
chunk at >= 1.5x wall-clock speed-up with <= 5% relative WER loss; dynamic random beats static
random at 0.7 (WER ratio < 1). Scaling: epoch set-up (pruner selection + bucketed batch plan) plus
one epoch of training against the number of training utterances.

Sizes: smoke = 2 policies, tiny corpus, 1 epoch, 1-layer model (seconds); quick = full vs dynamic
random 0.7 vs 0.7 x 0.7 chunk on part of the quick corpus, tiny model, 2 epochs (~a minute on CPU);
full = the issue's 7-way comparison on the full corpus with the small model (GPU, or hours on CPU).
The corpus is cached under ``.cache/asr_ddp`` (built once).
"""
from __future__ import annotations

import time

import torch

NAME = "asr_ddp"
DESCRIPTION = "dynamic data pruning for ASR (DDP-ASR): WER / wall-clock / audio used per policy, set-up scaling"

CACHE = ".cache/asr_ddp"


def _settings(ctx):
    from apps.asr_ddp.trainer import TrainSettings

    return TrainSettings(epochs=ctx.sizes(smoke=1, quick=2, full=20), lr=2e-3,
                         warmup_steps=ctx.sizes(smoke=2, quick=8, full=300),
                         frame_budget=ctx.sizes(smoke=2000, quick=3000, full=6000), seed=ctx.seed,
                         test_method="greedy",
                         amp=True)


def _model(ctx) -> dict:
    return ctx.sizes(smoke=dict(d_model=32, heads=2, layers=1, ffn=64, decoder_layers=1, subsampling_channels=8),
                     quick=dict(d_model=64, heads=2, layers=2, ffn=256, decoder_layers=1, subsampling_channels=16),
                     full=dict(d_model=144, heads=4, layers=6, ffn=576, decoder_layers=2, subsampling_channels=64))


def _variants(ctx) -> list[str]:
    return ctx.sizes(smoke=["full", "dynamic_random0.7x0.7chunk"],
                     quick=["full", "dynamic_random0.7", "dynamic_random0.7x0.7chunk"],
                     full=["full", "static_random0.7", "dynamic_random0.7", "easy_to_hard0.7", "infobatch",
                           "dynamic_random0.7x0.7chunk", "dynamic_random0.5"])


def run(ctx) -> None:
    from apps.asr_ddp.compare import run_comparison

    threads = torch.get_num_threads()
    if ctx.device == "cpu":
        torch.set_num_threads(1)
    try:
        data = dict(name="embedded", root=CACHE, size=ctx.sizes(smoke="tiny", quick="quick", full="full"), seed=0,
                    max_train=ctx.sizes(smoke=None, quick=120, full=None), on_error="skip")
        t0 = time.perf_counter()
        from apps.asr_ddp.recipe import load_splits
        from core.speech.tokenizer import CharTokenizer

        stores = load_splits(data, CharTokenizer(), 4, "skip")
        res = run_comparison(_variants(ctx), data=data, model=_model(ctx), settings=_settings(ctx),
                             out_dir=ctx.out_dir / "asr_ddp_runs", log=lambda m: None, stores=stores)
        _record(ctx, res)
        _plot(ctx, res)
        _scaling(ctx, data, stores)
        ctx.record(NAME, "all", "bench_wall", time.perf_counter() - t0, "s")
    finally:
        torch.set_num_threads(threads)


def _record(ctx, res: dict) -> None:
    full = res["full"]
    for name, r in res.items():
        extra = dict(epochs=r["epochs"], steps=r["steps"], audio_s=r["audio_s"], dev_wer=r["dev_wer"])
        ctx.record(NAME, name, "test_wer", r["test_wer"], "", higher_is_better=False, **extra)
        ctx.record(NAME, name, "test_cer", r["test_cer"], "", higher_is_better=False)
        ctx.record(NAME, name, "train_wall", r["train_s"], "s", higher_is_better=False, wall_s=r["total_s"])
        ctx.record(NAME, name, "train_cpu", r["train_cpu_s"], "s", higher_is_better=False)
        ctx.record(NAME, name, "audio_fraction", r["audio_fraction"], "", higher_is_better=False)
        if name != "full":
            speed = full["train_s"] / max(r["train_s"], 1e-9)
            tgt = ">= 1.5" if name.endswith("x0.7chunk") else None
            ctx.record(NAME, name, "speedup_vs_full", speed, "x", target=tgt, higher_is_better=True,
                       cpu_speedup=full["train_cpu_s"] / max(r["train_cpu_s"], 1e-9))
            # WER targets only where the model is trained long enough to mean something (the full suite);
            # smoke/quick runs are plumbing and timing checks (their WER stays near 1).
            wer_tgt = "<= 1.05" if (ctx.suite == "full" and (name.endswith("0.7") or name.endswith("x0.7chunk"))) \
                else None
            ctx.record(NAME, name, "test_wer_vs_full", r["test_wer"], "", baseline=full["test_wer"], target=wer_tgt,
                       higher_is_better=False)
    inst = [n for n in res if n.endswith("0.7") and "x" not in n]
    if inst and ctx.suite == "full":
        best = min(inst, key=lambda n: res[n]["test_wer"])
        ctx.record(NAME, f"best_0.7_instance={best}", "test_wer", res[best]["test_wer"], "",
                   baseline=full["test_wer"], target="<= 1.05")
    if "static_random0.7" in res and "dynamic_random0.7" in res and ctx.suite == "full":
        ctx.record(NAME, "dynamic_vs_static0.7", "test_wer", res["dynamic_random0.7"]["test_wer"], "",
                   baseline=res["static_random0.7"]["test_wer"], target="< 1.0")


def _plot(ctx, res: dict) -> None:
    from apps.asr_ddp.plots import plot_wer_vs_time

    plot_wer_vs_time({k: v["history"] for k, v in res.items()}, ctx.plot_path(NAME, "dev_wer_vs_time"),
                     title=f"asr_ddp {ctx.suite}: dev WER vs training time")


def _scaling(ctx, data: dict, stores: dict) -> None:
    """Epoch set-up (selection + bucketed plan) + one training epoch vs training utterances (tiny model)."""
    from apps.asr_ddp.compare import run_comparison
    from apps.asr_ddp.plots import plot_scaling
    from apps.asr_ddp.trainer import TrainSettings

    sizes = ctx.sizes(smoke=[8, 16], quick=[30, 60, 120], full=[250, 500, 1000, 2000, 4000])
    sizes = [n for n in sizes if n <= len(stores["train"])]
    small = dict(stores, dev=stores["dev"].subset(4), test=stores["test"].subset(4))
    secs = []
    model = dict(d_model=32, heads=2, layers=1, ffn=64, decoder_layers=1, subsampling_channels=8)
    for n in sizes:
        s = TrainSettings(epochs=1, warmup_steps=2, frame_budget=3000, seed=ctx.seed, test_method="greedy")
        t0 = time.perf_counter()
        r = run_comparison(["dynamic_random0.7"], data=data, model=model, settings=s,
                           out_dir=ctx.out_dir / "asr_ddp_scaling" / str(n), log=lambda m: None,
                           stores=dict(small, train=stores["train"].subset(n)))
        r = r["dynamic_random0.7"]
        secs.append(r["train_s"])
        ctx.record(NAME, "scaling", "epoch_train_s", r["train_s"], "s", utterances=n, wall_s=time.perf_counter() - t0)
    plot_scaling(sizes, secs, ctx.plot_path(NAME, "epoch_time_scaling"))
