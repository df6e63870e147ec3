"""Side-by-side comparison of pruning policies on one corpus (same model, epochs, hyper-parameters, seed).

Features are computed once and shared; each variant trains a fresh model from the same initial
weights. Used by ``benchmarks/suites/asr_ddp.py`` and for the README's figures::

    python -m apps.asr_ddp.compare --size 600 --epochs 12 --out outputs/asr_ddp/compare [--variants full,dyn07,...]
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import torch

from core.data_pruning import DataPruner
from core.speech.model import CTCAttentionModel
from core.speech.tokenizer import CharTokenizer
from core.training.distributed import init_distributed
from core.training.seeding import seed_everything

from apps.asr_ddp.plots import plot_wer_vs_time
from apps.asr_ddp.recipe import load_splits
from apps.asr_ddp.trainer import ASRTrainer, TrainSettings

__all__ = ["VARIANTS", "run_comparison"]

# name -> (DataPruner kwargs, time_keep, time_unit): the comparison
VARIANTS: dict[str, tuple] = {     # (..., chunk_frames) optional 4th entry; default settings.chunk_frames
    "full": (dict(policy="full", keep=1.0), 1.0, "chunk"),
    "static_random0.7": (dict(policy="static_random", keep=0.7), 1.0, "chunk"),
    "dynamic_random0.7": (dict(policy="dynamic_random", keep=0.7), 1.0, "chunk"),
    "easy_to_hard0.7": (dict(policy="easy_to_hard", keep=0.7), 1.0, "chunk"),
    "infobatch": (dict(policy="infobatch", keep=1.0, infobatch_ratio=0.5, anneal=0.125), 1.0, "chunk"),
    "dynamic_random0.7x0.7chunk": (dict(policy="dynamic_random", keep=0.7), 0.7, "chunk"),
    "dynamic_random0.5": (dict(policy="dynamic_random", keep=0.5), 1.0, "chunk"),
    "dynamic_random0.7x0.7point": (dict(policy="dynamic_random", keep=0.7), 0.7, "point"),
    "loss_hard0.7": (dict(policy="loss_hard", keep=0.7), 1.0, "chunk"),
    "loss_easy0.7": (dict(policy="loss_easy", keep=0.7), 1.0, "chunk"),
    "dynamic_random0.7x0.7chunk5": (dict(policy="dynamic_random", keep=0.7), 0.7, "chunk", 5),   # 50 ms chunks
}

DEFAULT_MODEL = dict(d_model=96, heads=4, layers=3, ffn=384, decoder_layers=1, ctc_weight=0.3, kernel_size=15,
                     dropout=0.1, subsampling=4, subsampling_channels=32)


def run_comparison(variants: list[str], *, data: dict, model: dict | None = None, settings: TrainSettings,
                   out_dir: str | Path, log=print, stores: dict | None = None) -> dict[str, dict]:
    """Train every variant; returns {variant: summary (+ "history")}; writes results.jsonl and the plot.

    ``stores`` (from an earlier call's ``load_splits``) skips loading ``data`` again.
    """
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variants {unknown}; valid choices: {sorted(VARIANTS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dist = init_distributed(device="cpu" if not torch.cuda.is_available() else None)
    tok = CharTokenizer()
    m = dict(DEFAULT_MODEL, **(model or {}))
    t0 = time.perf_counter()
    if stores is None:
        stores = load_splits(dict(data), tok, int(m["subsampling"]), data.get("on_error", "skip"))
    log(f"data ready in {time.perf_counter() - t0:.1f}s: " +
        ", ".join(f"{k}={len(v)} ({sum(v.durations) / 60:.1f} min, skipped {len(v.skipped)})"
                  for k, v in stores.items()))
    results: dict[str, dict] = {}
    for name in variants:
        pr_kw, time_keep, unit, *rest = VARIANTS[name]
        seed_everything(settings.seed)
        net = CTCAttentionModel(input_dim=80, vocab=tok.vocab_size, sos_eos=tok.sos, blank=tok.blank, **m)
        pruner = DataPruner(len(stores["train"]), num_epochs=settings.epochs, seed=settings.seed, **pr_kw)
        s = replace(settings, time_keep=time_keep, time_unit=unit,
                    chunk_frames=rest[0] if rest else settings.chunk_frames)
        tr = ASRTrainer(net, tok, stores["train"], stores["dev"], pruner, s, out_dir / name, dist,
                        test=stores["test"], variant=name)
        w0 = time.perf_counter()
        tr.fit()
        summary = tr.finish()
        summary["history"] = tr.history
        summary["total_s"] = time.perf_counter() - w0
        results[name] = summary
        log(f"{name}: test WER {summary['test_wer']:.4f} CER {summary['test_cer']:.4f} train {tr.train_s:.1f}s "
            f"(cpu {tr.train_cpu_s:.1f}s) "
            f"audio {summary['audio_fraction']:.3f} steps {tr.step}")
        with open(out_dir / "results.jsonl", "a") as f:
            f.write(json.dumps({k: v for k, v in summary.items() if k != "settings"}) + "\n")
    plot_wer_vs_time({k: v["history"] for k, v in results.items()}, out_dir / "dev_wer_vs_time.png")
    return results


def rescore(run_dirs: list[str | Path], *, data: dict, model: dict | None = None, method: str = "greedy",
            beam: int = 4, log=print) -> dict[str, dict]:
    """Test WER/CER of each run's newest checkpoint with ``method`` (runs of ``run_comparison`` on ``data``).

    Returns {variant: {test_wer, test_cer, history, train_s, train_cpu_s, audio_fraction, steps, ...}}.
    """
    from core.training import checkpoint as ckpt_lib

    tok = CharTokenizer()
    m = dict(DEFAULT_MODEL, **(model or {}))
    stores = load_splits(dict(data, on_error=data.get("on_error", "skip")), tok, int(m["subsampling"]),
                         data.get("on_error", "skip"))
    dist = init_distributed(device="cpu")
    out = {}
    for d in run_dirs:
        d = Path(d)
        path = ckpt_lib.latest_checkpoint(d / "checkpoints")
        if path is None:
            raise FileNotFoundError(f"no checkpoint in {d / 'checkpoints'}")
        net = CTCAttentionModel(input_dim=80, vocab=tok.vocab_size, sos_eos=tok.sos, blank=tok.blank, **m)
        pruner = DataPruner(len(stores["train"]), num_epochs=1)
        tr = ASRTrainer(net, tok, stores["train"], stores["dev"], pruner, TrainSettings(epochs=1, beam=beam), d,
                        dist, test=stores["test"], variant=d.name)
        ck = ckpt_lib.load_checkpoint(path)
        ckpt_lib.restore_state(ck, rng=False, module=tr.module, trainer=tr)
        ev = tr.evaluate(stores["test"], method)
        h = tr.history
        out[d.name] = {"variant": d.name, "test_wer": ev["wer"], "test_cer": ev["cer"], "method": method,
                       "checkpoint": str(path), "epochs": len(h), "steps": tr.step, "train_s": tr.train_s,
                       "train_cpu_s": tr.train_cpu_s, "audio_fraction": h[-1]["audio_fraction"],
                       "audio_s": h[-1]["audio_s"], "dev_wer": h[-1]["dev_wer"], "history": h}
        log(f"{d.name}: {method} test WER {ev['wer']:.4f} CER {ev['cer']:.4f} (epochs {len(h)}, steps {tr.step})")
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="quick", help="corpus size: tiny|quick|full|<train utterances>")
    ap.add_argument("--root", default=".cache/asr_ddp")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--variants", default=",".join(list(VARIANTS)[:7]))
    ap.add_argument("--frame-budget", type=int, default=4000)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=60)
    ap.add_argument("--test-method", default="greedy")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="outputs/asr_ddp/compare")
    ap.add_argument("--rescore", nargs="*", default=None,
                    help="run folders: re-decode their newest checkpoint on the test set (--test-method), "
                         "append to <out>/rescored.jsonl")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    size = int(a.size) if a.size.isdigit() else a.size
    if a.rescore:
        res = rescore(a.rescore, data=dict(name="embedded", root=a.root, size=size, seed=0), method=a.test_method,
                      log=lambda m: print(m, flush=True))
        Path(a.out).mkdir(parents=True, exist_ok=True)
        with open(Path(a.out) / "rescored.jsonl", "a") as f:
            for r in res.values():
                f.write(json.dumps(r) + "\n")
        return
    settings = TrainSettings(epochs=a.epochs, lr=a.lr, warmup_steps=a.warmup, frame_budget=a.frame_budget,
                             seed=a.seed, test_method=a.test_method)
    run_comparison(a.variants.split(","), data=dict(name="embedded", root=a.root, size=size, seed=0),
                   settings=settings, out_dir=a.out, log=lambda m: print(m, flush=True))


if __name__ == "__main__":
    main()
