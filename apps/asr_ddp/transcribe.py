"""``sparselab-asr transcribe --model RUN_DIR FILE...``: print the text of audio files with a trained model.

Any sample rate (resampled to the model's), mono or multi-channel (channels averaged), any format soundfile
reads (WAV, FLAC, OGG, ...). ``RUN_DIR`` is a training run folder holding ``model.pt`` (or the file itself).
Prints ``<file>\t<text>`` per file.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from core.speech.datasets import read_audio
from core.speech.features import GlobalCMVN, LogMel
from core.speech.model import CTCAttentionModel
from core.training.checkpoint import safe_torch_load

from apps.asr_ddp.data.corpora import tokenizer_from_state
from apps.asr_ddp.task import ASRModule, pad_feats

__all__ = ["load_model", "transcribe_files", "main"]


def load_model(path: str | Path):
    """(module, tokenizer, logmel, decode settings) from a run folder or its ``model.pt``."""
    p = Path(path)
    if p.is_dir():
        p = p / "model.pt"
    if not p.is_file():
        raise FileNotFoundError(f"no trained model at {p} (a finished sparselab-asr run folder holds model.pt)")
    obj = safe_torch_load(p, what="model file")
    if not isinstance(obj, dict) or obj.get("format") != "sparselab-asr-model/1":
        raise ValueError(f"{p} is not a sparselab-asr model file")
    tok = tokenizer_from_state(obj["tokenizer"])
    model = CTCAttentionModel(**obj["model"])
    f = obj["features"]
    cmvn = GlobalCMVN(int(f["n_mels"]))
    module = ASRModule(model, cmvn, None)
    module.load_state_dict(obj["state_dict"])
    module.eval()
    logmel = LogMel(int(f["sample_rate"]), n_mels=int(f["n_mels"]), win_length=int(f["win_length"]),
                    hop_length=int(f["hop_length"]))
    return module, tok, logmel, obj.get("decode", {})


@torch.no_grad()
def transcribe_files(model_path: str | Path, files: list[str | Path], method: str | None = None) -> list[str]:
    """Texts of ``files`` (each read, resampled to the model's rate, decoded one at a time)."""
    module, tok, logmel, dec = load_model(model_path)
    method = method or dec.get("method", "greedy")
    out = []
    for f in files:
        wav = read_audio(f, logmel.sample_rate, resample=True)
        x, lens = pad_feats([logmel(wav)])
        ids = module.transcribe(x, lens, method, beam=int(dec.get("beam", 4)))[0]
        out.append(tok.decode(ids))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="sparselab-asr transcribe", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="run folder (holding model.pt) or a model.pt file")
    ap.add_argument("--method", default=None, choices=["greedy", "ctc_beam", "joint_beam"],
                    help="decoding (default: the run's test_method)")
    ap.add_argument("files", nargs="+", help="audio files (any sample rate, mono or stereo)")
    a = ap.parse_args(argv)
    missing = [f for f in a.files if not Path(f).is_file()]
    if missing:
        ap.error(f"audio file(s) not found: {', '.join(missing)}")
    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    for f, text in zip(a.files, transcribe_files(a.model, a.files, a.method)):
        print(f"{f}\t{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
