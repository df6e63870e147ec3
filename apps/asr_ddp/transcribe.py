"""``sparselab-asr transcribe --model RUN_DIR INPUT... [--out texts.tsv|texts.jsonl]``: the text of audio files.

INPUT is an audio file (any format soundfile reads: WAV, FLAC, OGG, ...; any sample rate, resampled to the
model's; channels averaged), a folder (every audio file under it, sorted), or a manifest (``.jsonl`` / ``.tsv`` /
``.csv`` with a ``path`` column, paths relative to the manifest's folder; absolute paths with ``--allow-absolute``).
``RUN_DIR`` is a finished training run folder holding ``model.pt`` (or the file itself).

Silence: each clip is cut to its spoken part (``core.speech.commands.active_span``: frames within 35 dB of the
loudest, first to last) and given ``--pad-ms`` of quiet noise on both sides, so a clip recorded without silence
margins reads as one with margins (a model trained on utterances with 50-200 ms edges returns nothing for a word
that starts at the first sample) and long silences around the speech do not matter (``--no-trim`` turns it off).

Output: ``<file>\\t<text>`` lines on stdout and, with ``--out``, a TSV (``path``, ``text``) or JSONL file (by its
extension), written atomically. A file that cannot be read is reported on stderr and skipped; the others are still
transcribed; the exit status is then 1 (2 for bad arguments).
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

import numpy as np
import torch

from core.speech.commands import active_span
from core.speech.datasets import read_audio
from core.speech.features import GlobalCMVN, LogMel
from core.speech.model import CTCAttentionModel
from core.training.checkpoint import safe_torch_load

from apps.asr_ddp.data.corpora import tokenizer_from_state
from apps.asr_ddp.task import ASRModule, pad_feats

__all__ = ["load_model", "prepare_audio", "collect_inputs", "transcribe_files", "main", "AUDIO_EXTS"]

AUDIO_EXTS = (".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".au", ".mp3")
MANIFEST_EXTS = (".jsonl", ".json", ".tsv", ".csv")


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


def prepare_audio(wav: torch.Tensor, sample_rate: int, *, pad_ms: float = 150.0, trim: bool = True,
                  pad_db: float = -50.0) -> torch.Tensor:
    """(S,) -> the spoken part with ``pad_ms`` of seeded white noise at ``pad_db`` below its peak on each side.

    The same words with or without silence (or noise) around them give the same samples, as long as the margins
    stay 35 dB below the speech; digital silence comes back unchanged (nothing to find)."""
    x = wav.detach().cpu().float()
    if trim:
        span = active_span(x, sample_rate, floor_frac=None, keep="outer", refine_db=40.0)
        if span is None:
            return x
        x = x[span[0]:span[1]]
    if pad_ms <= 0 or x.numel() == 0:
        return x
    n = int(round(pad_ms / 1000 * sample_rate))
    peak = float(x.abs().max()) or 1e-3
    rng = np.random.default_rng(0)
    noise = torch.from_numpy(rng.standard_normal(2 * n).astype(np.float32)) * peak * 10 ** (pad_db / 20)
    return torch.cat([noise[:n], x, noise[n:]])


def collect_inputs(inputs: list[str], *, allow_absolute: bool = False) -> tuple[list[Path], list[tuple[str, str]]]:
    """(audio files in order, [(input, problem)]) from files, folders and manifests."""
    files: list[Path] = []
    problems: list[tuple[str, str]] = []
    for s in inputs:
        p = Path(s)
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in AUDIO_EXTS)
            if not found:
                problems.append((s, f"no audio file ({', '.join(AUDIO_EXTS)}) under this folder"))
            files += found
        elif p.is_file() and p.suffix.lower() in MANIFEST_EXTS:
            try:
                files += _manifest_rows(p, allow_absolute)
            except (ValueError, OSError) as e:
                problems.append((s, str(e)))
        elif p.is_file():
            files.append(p)
        else:
            problems.append((s, "no such file or folder"))
    return files, problems


def _manifest_rows(p: Path, allow_absolute: bool) -> list[Path]:
    """The audio paths of a manifest (a ``path`` column or key; a transcript is not needed here), resolved against
    the manifest's folder and kept inside it (``core.validation.resolve_inside``)."""
    from core.validation import resolve_inside

    text = p.read_text(encoding="utf-8")
    if p.suffix.lower() in (".tsv", ".csv"):
        rows = list(csv.DictReader(io.StringIO(text), delimiter="\t" if p.suffix.lower() == ".tsv" else ","))
        if rows and "path" not in rows[0]:
            raise ValueError(f"{p}: the header must name a 'path' column; got {list(rows[0])}")
    else:
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{p}:{n}: not a JSON line ({e})") from None
                if not isinstance(rows[-1], dict) or "path" not in rows[-1]:
                    raise ValueError(f"{p}:{n}: a manifest line needs a 'path'")
    if not rows:
        raise ValueError(f"{p}: the manifest lists no audio file")
    out = []
    for n, r in enumerate(rows, 1):
        try:
            out.append(resolve_inside(p.parent, r["path"], what=f"{p}: entry {n}", allow_absolute=allow_absolute))
        except ValueError as e:
            if Path(r["path"]).is_absolute():
                raise ValueError(f"{e}; transcribe --allow-absolute accepts absolute paths") from None
            raise
    return out


@torch.no_grad()
def transcribe_files(model_path: str | Path, files: list[str | Path], method: str | None = None, *,
                     pad_ms: float = 150.0, trim: bool = True, errors: list | None = None) -> list[str | None]:
    """Texts of ``files`` (each read, resampled to the model's rate, trimmed and padded, decoded one at a time).

    A file that cannot be read gives None and, if ``errors`` is a list, ``(file, message)`` is appended to it
    (without ``errors`` the first bad file raises)."""
    module, tok, logmel, dec = load_model(model_path)
    method = method or dec.get("method", "greedy")
    out: list[str | None] = []
    for f in files:
        try:
            wav = read_audio(f, logmel.sample_rate, resample=True)
        except (ValueError, OSError) as e:
            if errors is None:
                raise
            errors.append((str(f), str(e)))
            out.append(None)
            continue
        wav = prepare_audio(wav, logmel.sample_rate, pad_ms=pad_ms, trim=trim)
        x, lens = pad_feats([logmel(wav)])
        ids = module.transcribe(x, lens, method, beam=int(dec.get("beam", 4)))[0]
        out.append(" ".join(tok.decode(ids).split()))
    return out


def _write_out(path: Path, rows: list[tuple[str, str]]) -> None:
    from core.training.atomic import atomic_write_text

    if path.suffix.lower() in (".jsonl", ".json"):
        text = "".join(json.dumps({"path": f, "text": t}, ensure_ascii=False) + "\n" for f, t in rows)
    else:
        buf = io.StringIO()
        w = csv.writer(buf, delimiter="\t" if path.suffix.lower() != ".csv" else ",", lineterminator="\n")
        w.writerow(["path", "text"])
        w.writerows(rows)
        text = buf.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="sparselab-asr transcribe", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="run folder (holding model.pt) or a model.pt file")
    ap.add_argument("--method", default=None, choices=["greedy", "ctc_beam", "joint_beam"],
                    help="decoding (default: the run's test_method)")
    ap.add_argument("--out", default=None, help="also write the texts to this .tsv / .csv / .jsonl file")
    ap.add_argument("--pad-ms", type=float, default=150.0, help="quiet padding around the spoken part (default 150)")
    ap.add_argument("--no-trim", action="store_true", help="keep the audio as it is (no trimming, no padding)")
    ap.add_argument("--allow-absolute", action="store_true", help="accept absolute paths in manifests")
    ap.add_argument("inputs", nargs="+", help="audio files, folders of audio files, or manifests (.jsonl/.tsv/.csv)")
    a = ap.parse_args(argv)
    if a.out and Path(a.out).suffix.lower() not in (".tsv", ".csv", ".jsonl", ".json"):
        ap.error(f"--out {a.out}: use a .tsv, .csv or .jsonl file")
    from apps.common.cli import user_errors

    with user_errors("asr transcribe"):
        files, problems = collect_inputs(a.inputs, allow_absolute=a.allow_absolute)
        torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
        errors: list[tuple[str, str]] = []
        texts = transcribe_files(a.model, files, a.method, pad_ms=0.0 if a.no_trim else a.pad_ms,
                                 trim=not a.no_trim, errors=errors) if files else []
    rows = []
    for f, t in zip(files, texts):
        if t is not None:
            print(f"{f}\t{t}", flush=True)
            rows.append((str(f), t))
    for src, msg in problems + errors:
        print(f"sparselab-asr transcribe: skipped {src}: {msg}", file=sys.stderr)
    if a.out:
        _write_out(Path(a.out), rows)
    bad = len(problems) + len(errors)
    print(f"[asr transcribe] {len(rows)} of {len(files) + len(problems)} input(s) transcribed"
          + (f"; {bad} skipped (listed above)" if bad else "") + (f" · written to {a.out}" if a.out else ""),
          file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
