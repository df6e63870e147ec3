"""How often the CTC length guard decides the length of a time-pruned utterance (issue 14: it must not).

    python -m apps.asr_ddp.ctc_guard [--data digits|embedded] [--units word|char] [--subsampling 4] [overrides...]

For each training utterance of the corpus (lengths from its manifest, no feature extraction) and each
(keep, unit): the fraction of utterances whose pruned length the guard raised, and the real kept fraction of
frames. Also prints the transcript's CTC need as a fraction of the unpruned encoder frames (mean and max).
"""
from __future__ import annotations

import argparse

import torch

from core.speech.datasets import ctc_min_frames
from core.speech.model import subsampled_length

from apps.asr_ddp.data.time_pruning import min_input_frames, time_keep_index

__all__ = ["guard_rates", "main"]


def guard_rates(lengths: list[int], tokens: list[list[int]], keep: float, unit: str, *, chunk_frames: int = 20,
                subsampling: int = 4, seed: int = 0) -> dict:
    """{"binding": fraction of items the guard lengthened, "real_keep": kept frames / frames} for one epoch."""
    hits = kept = total = 0
    for i, (n, tok) in enumerate(zip(lengths, tokens)):
        need = min_input_frames(ctc_min_frames(tok), subsampling)
        g = torch.Generator().manual_seed(seed * 1_000_003 + i)
        free = time_keep_index(n, keep, unit, chunk_frames=chunk_frames, min_frames=1, generator=g).numel()
        g = torch.Generator().manual_seed(seed * 1_000_003 + i)
        guarded = time_keep_index(n, keep, unit, chunk_frames=chunk_frames, min_frames=need, generator=g).numel()
        hits += int(guarded > free)
        kept += guarded
        total += n
    return {"binding": hits / max(1, len(lengths)), "real_keep": kept / max(1, total)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--units", default=None, help="word | char | spm (default: the data config's; or data.units=...)")
    ap.add_argument("--subsampling", type=int, default=4)
    ap.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. data=embedded data.size=quick")
    a = ap.parse_args(argv)
    from apps.asr_ddp.data.corpora import _utterances, make_tokenizer
    from apps.asr_ddp.recipe import settings_from_config
    from apps.common.hydra_config import compose

    data = settings_from_config(compose("asr_ddp", [*a.overrides, *([f"data.units={a.units}"] if a.units else [])])).data
    all_utts = _utterances(data)
    tok = make_tokenizer(data, all_utts)
    utts = all_utts["train"]
    hop = data.hop_ms / 1000
    lengths = [int(u.duration / hop) + 1 for u in utts]
    tokens = [tok.encode(u.text) for u in utts]
    enc = [subsampled_length(n, a.subsampling) for n in lengths]
    need = [ctc_min_frames(t) / max(1, e) for t, e in zip(tokens, enc)]
    print(f"{data.name} ({data.units} units, x{a.subsampling}): {len(utts)} training utterances; CTC needs "
          f"{100 * sum(need) / len(need):.1f}% of the encoder frames on average (max {100 * max(need):.1f}%)")
    for keep in (0.7, 0.5):
        for unit in ("chunk", "point"):
            r = guard_rates(lengths, tokens, keep, unit, subsampling=a.subsampling)
            print(f"  time_keep={keep} {unit:5s}: guard binding for {100 * r['binding']:.1f}% of utterances, "
                  f"real keep {r['real_keep']:.3f}")


if __name__ == "__main__":
    main()
