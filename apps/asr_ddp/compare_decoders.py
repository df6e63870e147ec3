"""WER and CPU time of the CTC decoders on a trained model (the measurement behind core/speech/decoding.py's choice).

    python -m apps.asr_ddp.compare_decoders --model RUN_DIR --manifest MANIFEST.jsonl [--split test] [--beams 4,8,16]

Decodes every utterance of the manifest (split) with greedy CTC, torchaudio's lexicon-free CTC beam search
(flashlight-text) and the hand-written prefix beam search, one thread, and prints WER and CPU seconds per decoder.
"""
from __future__ import annotations

import argparse
import time

import torch

from core.metrics import wer
from core.speech.datasets import load_manifest, read_audio
from core.speech.decoding import ctc_greedy, ctc_prefix_beam_search, torchaudio_ctc_beam

from apps.asr_ddp.task import pad_feats
from apps.asr_ddp.transcribe import load_model


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--beams", default="4,8,16")
    ap.add_argument("--limit", type=int, default=None)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    module, tok, logmel, _ = load_model(a.model)
    utts = load_manifest(a.manifest, split=a.split)[: a.limit]
    refs = [u.text for u in utts]
    with torch.no_grad():
        lps = []
        for u in utts:
            x, lens = pad_feats([logmel(read_audio(u.path, logmel.sample_rate, resample=True))])
            enc, el = module.model.encode(module.normalise(x, lens), lens)
            lps.append(module.model.ctc_log_probs(enc)[0, : int(el[0])])
    m = module.model
    rows = []

    def run(name, fn):
        c0 = time.process_time()
        hyps = [" ".join(tok.decode(fn(lp)).split()) for lp in lps]
        rows.append((name, wer(refs, hyps), time.process_time() - c0))

    run("greedy", lambda lp: ctc_greedy(lp[None], torch.tensor([lp.shape[0]]), m.blank)[0])
    for b in [int(x) for x in a.beams.split(",")]:
        run(f"torchaudio ctc_decoder beam {b}",
            lambda lp, b=b: torchaudio_ctc_beam(lp[None], torch.tensor([lp.shape[0]]), b, m.blank, m.sos_eos)[0])
        run(f"hand-written prefix beam {b}", lambda lp, b=b: ctc_prefix_beam_search(lp, b, m.blank))
    print(f"{len(utts)} utterances ({a.manifest}, split {a.split}), model {a.model}")
    print("| decoder | WER % | CPU s |\n|---|---|---|")
    for name, w, c in rows:
        print(f"| {name} | {100 * w:.2f} | {c:.2f} |")


if __name__ == "__main__":
    main()
