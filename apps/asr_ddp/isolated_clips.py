"""A trained model on isolated keyword clips of the unseen test speakers, with and without silence margins.

    python -m apps.asr_ddp.isolated_clips --model RUN_DIR [--source /path/to/arabic-speech-commands] [--keywords digits]

Each test clip is decoded (greedy CTC) four ways: the 1-s clip as recorded, the clip cut to its spoken part
(``core.speech.commands.active_span``: no margins), and both after ``transcribe``'s preparation (trim + padding).
Prints WER and the number of empty outputs for each: what ``sparselab-asr transcribe`` does for clips without margins.
"""
from __future__ import annotations

import argparse

import soundfile as sf
import torch

from core.metrics import wer
from core.speech.commands import SHIPPED_ROOT, active_span, scan_asc

from apps.asr_ddp.task import pad_feats
from apps.asr_ddp.transcribe import load_model, prepare_audio


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--source", default=str(SHIPPED_ROOT), help="an ASC copy (default: the shipped, trimmed subset)")
    ap.add_argument("--keywords", default="digits")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    module, tok, lm, _ = load_model(a.model)
    clips, _ = scan_asc(a.source, a.keywords)
    ways = ("as recorded", "spoken part only (no margins)", "as recorded, prepared", "spoken part only, prepared")
    hyps = {k: [] for k in ways}
    refs = []
    for c in clips["test"]:
        w, sr = sf.read(c.path, dtype="float32")
        w = torch.from_numpy(w)
        if sr != lm.sample_rate:
            raise ValueError(f"{c.path}: {sr} Hz, the model reads {lm.sample_rate} Hz")
        s, e = active_span(w.numpy(), sr)
        refs.append(c.keyword.replace(" ", "_"))
        for k, x in zip(ways, (w, w[s:e], prepare_audio(w, sr), prepare_audio(w[s:e], sr))):
            xx, n = pad_feats([lm(x)])
            hyps[k].append(" ".join(tok.decode(module.transcribe(xx, n, "greedy")[0]).split()))
    print(f"{len(refs)} test clips of {len({c.speaker for c in clips['test']})} unseen speakers ({a.source})")
    print("| clip | WER % | empty outputs |\n|---|---|---|")
    for k, h in hyps.items():
        print(f"| {k} | {100 * wer(refs, h):.1f} | {sum(not t for t in h)} of {len(h)} |")


if __name__ == "__main__":
    main()
