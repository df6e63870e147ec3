"""``sparselab-asr align --model RUN_DIR --manifest IN --out OUT.jsonl``: word timings by CTC forced alignment.

Alignment-aware within-utterance pruning (``pruning.time_unit=chunk_aligned``) drops the words whose audio a
pruned chunk removed; it needs ``"words": [[word_index, start_s, end_s], ...]`` in the manifest (the layout the
digit and espeak corpora write; ``word_index`` is the word's position in ``text.split()``). This module computes
them with a trained sparselab-asr model: the CTC log-probabilities of every utterance, the best CTC path that
spells the reference transcript (``torchaudio.functional.forced_align``), its token spans
(``torchaudio.functional.merge_tokens``), and the spans grouped into words:

* word units: one token per word;
* character units: the tokenizer encodes every character, the space included, as one token; a word is a run
  of non-space characters (so the grouping follows ``text.split()`` exactly);
* SentencePiece units: a piece that starts with the word marker U+2581 starts a word (a bare marker piece
  belongs to the word it precedes).

CTC emits each token as a spike (a frame or two, blanks around it), so a word's token span is much shorter than
the word: on the digit corpus (construction timings known) it covers ~13% of the word (IoU). The default
``spans="midpoint"`` therefore gives each word the frames up to the midpoints between its tokens and its
neighbours' (IoU ~0.66 there, see the README); ``spans="tokens"`` keeps the raw token spans.

Encoder frame ``j`` stands for the feature frames ``[s*j, s*(j+1))`` (``s`` = the model's subsampling, the
stride of its conv front-end, see ``core.speech.model.subsampled_length``), and feature frame ``t`` is centred
on sample ``t * hop`` (centred STFT), so a span of encoder frames ``[a, b)`` is ``[a, b) * s * hop / sample_rate``
seconds (end clipped to the audio's duration).

``IN`` is a JSONL/TSV/CSV manifest (:func:`core.speech.datasets.load_manifest`) or a LibriSpeech folder
(:func:`core.speech.datasets.scan_librispeech`). ``OUT`` is always JSONL (a TSV cell cannot hold the word
list): the input's rows with every key kept, plus ``words`` (LibriSpeech: ``id, path, text, duration, speaker,
split, words``). Audio paths are written relative to ``OUT``'s folder, which must hold the audio (the manifest
loader refuses paths that leave a manifest's folder). The file is written atomically.

An utterance that cannot be aligned (unreadable audio, empty transcript, a token outside the model's
vocabulary, too few encoder frames for its transcript) is an error naming its file, checked for every
utterance before any alignment; with ``skip_bad=True`` (``--skip-bad``) it is left out of ``OUT`` and counted.
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torchaudio.functional as AF
from torch import Tensor

from core.speech.datasets import Utterance, load_manifest, read_audio, scan_librispeech, validate_utterances
from core.speech.features import num_frames
from core.speech.model import subsampled_length
from core.speech.spm_tokenizer import SentencePieceTokenizer
from core.speech.tokenizer import CharTokenizer
from core.speech.word_tokenizer import WordTokenizer
from core.training.atomic import atomic_write_text
from core.training.progress import progress

from apps.asr_ddp.task import pad_feats
from apps.asr_ddp.transcribe import load_model

__all__ = ["AlignReport", "SPANS", "frame_seconds", "token_words", "align_words", "emissions", "align_manifest", "main"]

log = logging.getLogger(__name__)


@dataclass
class AlignReport:
    """What :func:`align_manifest` did: utterances aligned, and (path, reason) of those left out."""

    out: Path
    aligned: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)


def frame_seconds(hop_length: int, sample_rate: int, subsampling: int) -> float:
    """Seconds per encoder frame: ``subsampling`` feature frames of ``hop_length`` samples each."""
    if hop_length < 1 or sample_rate < 1 or subsampling < 1:
        raise ValueError(f"hop_length={hop_length}, sample_rate={sample_rate}, subsampling={subsampling} "
                         "must all be >= 1")
    return subsampling * hop_length / sample_rate


def token_words(tok, text: str, *, where: str = "") -> tuple[list[int], list[int | None]]:
    """(token ids, word index of each token or None for a separator) for ``text``.

    Unknown tokens raise a ValueError naming ``where``, also for a tokenizer built with ``unk="map"`` (an
    ``<unk>`` has no audio of its own to align to).
    """
    loc = f"{where}: " if where else ""
    if not text.split():
        raise ValueError(f"{loc}empty transcript, nothing to align")
    ids = tok.encode(text, where=where)
    if isinstance(tok, WordTokenizer):
        owner: list[int | None] = list(range(len(ids)))
        bad = sorted({w for w, i in zip(text.split(), ids) if i == tok.UNK})
    elif isinstance(tok, CharTokenizer):
        if len(ids) != len(text):
            raise ValueError(f"{loc}character tokenizer gave {len(ids)} tokens for {len(text)} characters")
        owner, w, prev_space = [], -1, True
        for c in text:
            if c.isspace():
                owner.append(None)
                prev_space = True
            else:
                w += prev_space
                owner.append(w)
                prev_space = False
        bad = sorted({c for c, i in zip(text, ids) if i == tok.UNK})
    elif isinstance(tok, SentencePieceTokenizer):
        pieces = tok.pieces(text)
        if len(pieces) != len(ids):
            raise ValueError(f"{loc}SentencePiece gave {len(ids)} ids for {len(pieces)} pieces")
        owner, w = [], -1
        for k, piece in enumerate(pieces):      # a piece that starts with U+2581 starts a word (a bare one too)
            w += piece.startswith("\u2581") or k == 0
            owner.append(w)
        bad = sorted({p for p, i in zip(pieces, ids) if i == tok.UNK})
    else:
        raise ValueError(f"forced alignment supports word, character and SentencePiece tokenizers, not "
                         f"{type(tok).__name__}")
    if bad:
        raise ValueError(f"{loc}{bad!r} outside the model's vocabulary (text {text!r}); forced alignment needs "
                         "every token of the transcript in the vocabulary")
    return ids, owner


SPANS = ("midpoint", "tokens")


def align_words(log_probs: Tensor, ids: list[int], owner: list[int | None], frame_s: float, *, blank: int = 0,
                duration: float | None = None, spans: str = "midpoint", where: str = "") -> list[list]:
    """Word timings ``[[word_index, start_s, end_s], ...]`` (seconds, 4 decimals) of one utterance.

    ``log_probs`` (T, V) are its CTC log-probabilities over encoder frames; ``ids`` the transcript's tokens and
    ``owner`` the word of each token (None: a separator such as the space), see :func:`token_words`. A word's
    tokens span from its first token's first frame to its last token's last frame (``spans="tokens"``). CTC
    emits each token as a spike of one or two frames with blanks around it, so those spans are far shorter
    than the words; ``spans="midpoint"`` (default) gives each word the frames up to the midpoint between its
    tokens and its neighbours' (the first and last word are widened outwards by the same amount as inwards; a
    lone word takes the whole utterance).
    Ends are clipped to ``duration`` (default: the emission's length).
    """
    if spans not in SPANS:
        raise ValueError(f"spans={spans!r}; valid choices: {', '.join(SPANS)}")
    if log_probs.dim() != 2:
        raise ValueError(f"log_probs must be (T, V), got shape {tuple(log_probs.shape)}")
    if len(ids) != len(owner) or not ids:
        raise ValueError(f"{where}: {len(ids)} tokens but {len(owner)} word owners")
    t = log_probs.shape[0]
    need = len(ids) + sum(1 for a, b in zip(ids, ids[1:]) if a == b)
    if t < need:
        raise ValueError(f"{where}: too short for its transcript: {t} encoder frames < {need} needed by CTC "
                         f"({len(ids)} tokens)")
    targets = torch.tensor([ids], dtype=torch.int32)
    path, scores = AF.forced_align(log_probs[None].float().cpu(), targets, blank=blank)
    tspans = AF.merge_tokens(path[0], scores[0].exp())
    if len(tspans) != len(ids):           # cannot happen for a valid CTC path; a guard against silent misgrouping
        raise RuntimeError(f"{where}: alignment has {len(tspans)} token spans for {len(ids)} tokens")
    frames: dict[int, list[float]] = {}
    for span, w in zip(tspans, owner):
        if w is None:
            continue
        if w in frames:
            frames[w][1] = span.end
        else:
            frames[w] = [span.start, span.end]
    order = sorted(frames)
    sp = [frames[w] for w in order]
    if spans == "midpoint":
        grown = []
        for k, (s, e) in enumerate(sp):
            left = (s - sp[k - 1][1]) / 2 if k else None
            right = (sp[k + 1][0] - e) / 2 if k + 1 < len(sp) else None
            if left is None and right is None:          # a lone word: the whole utterance
                left, right = s, t - e
            left = left if left is not None else right
            right = right if right is not None else left
            grown.append([s - left, e + right])
        sp = grown
    end = duration if duration else t * frame_s
    return [[w, round(min(max(0.0, s * frame_s), end), 4), round(min(e * frame_s, end), 4)]
            for w, (s, e) in zip(order, sp)]


@torch.no_grad()
def emissions(module, logmel, wav: Tensor, device: str | torch.device = "cpu") -> Tensor:
    """(T', V) CTC log-probabilities of one waveform (at ``logmel.sample_rate``), on the CPU."""
    x, lens = pad_feats([logmel(wav)])
    x, lens = x.to(device), lens.to(device)
    enc, enc_lens = module.model.encode(module.normalise(x, lens), lens)
    return module.model.ctc_log_probs(enc)[0, : int(enc_lens[0])].cpu()


def _raw_rows(path: Path) -> list[dict]:
    """The manifest's rows as written (every key, in order), the lines load_manifest read."""
    if path.suffix in (".tsv", ".csv"):
        with open(path, newline="") as f:
            return [dict(r) for r in csv.DictReader(f, delimiter="\t" if path.suffix == ".tsv" else ",")]
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _inputs(src: Path, splits, audio_ext: str) -> tuple[list[Utterance], list[dict]]:
    """Utterances and their output rows (without ``words``; ``path`` still to be rewritten)."""
    if src.is_dir():
        utts = scan_librispeech(src, splits, audio_ext=audio_ext)
        return utts, [{"id": u.id, "path": None, "text": u.text, "duration": None, "speaker": u.speaker,
                       "split": u.split} for u in utts]
    if splits:
        raise ValueError("--splits applies to a LibriSpeech folder, not to a manifest file")
    utts = load_manifest(src)
    rows = _raw_rows(src)
    if len(rows) != len(utts):
        raise RuntimeError(f"{src}: read {len(rows)} rows but {len(utts)} utterances")
    return utts, [dict(r) for r in rows]


def _relative_to(audio: Path, folder: str, out: Path, src: Path) -> str:
    rel = os.path.relpath(os.path.normpath(os.path.abspath(audio)), folder)
    if rel == os.pardir or rel.startswith(os.pardir + os.sep) or os.path.isabs(rel):
        raise ValueError(f"--out {out}: audio file {audio} (from {src}) lies outside the output's folder {folder}; "
                         "a manifest only reads audio inside its own folder, so write OUT next to the input "
                         "manifest or into a folder that holds the audio (e.g. the LibriSpeech root)")
    return Path(rel).as_posix()


def align_manifest(model: str | Path, manifest: str | Path, out: str | Path, *, skip_bad: bool = False,
                   spans: str = "midpoint", splits: str | list[str] | None = None, audio_ext: str = ".flac",
                   device: str | None = None, show_progress: bool | None = None) -> AlignReport:
    """Align every utterance of ``manifest`` (a manifest file or a LibriSpeech folder) with the trained model
    ``model`` (run folder or ``model.pt``) and write ``out`` (JSONL, atomic); see the module docstring."""
    if spans not in SPANS:
        raise ValueError(f"spans={spans!r}; valid choices: {', '.join(SPANS)}")
    module, tok, logmel, _ = load_model(model)
    if not getattr(module.model, "ctc_weight", 1.0) > 0:
        raise ValueError(f"{model}: the model was trained with ctc_weight=0 (no CTC head to align with)")
    src, out = Path(manifest), Path(out)
    if not src.exists():
        raise FileNotFoundError(f"manifest or LibriSpeech folder not found: {src}")
    if out.suffix != ".jsonl":
        raise ValueError(f"--out {out}: the aligned manifest is JSONL (a TSV cell cannot hold the word list); "
                         "name it *.jsonl")
    utts, rows = _inputs(src, splits, audio_ext)
    out_dir = os.path.normpath(os.path.abspath(out.parent))
    same_dir = (not src.is_dir()) and os.path.normpath(os.path.abspath(src.parent)) == out_dir
    for u, r in zip(utts, rows):                        # every path checked before any work
        if r["path"] is None or not same_dir:
            r["path"] = _relative_to(u.path, out_dir, out, src)
    sr, hop = logmel.sample_rate, logmel.hop_length
    sub = int(module.model.encoder.subsampling)
    frame_s = frame_seconds(hop, sr, sub)

    def encode(text: str, where: str = "") -> list[int]:
        return token_words(tok, text, where=where)[0]

    def frames_for(samples: int) -> int:
        n = num_frames(samples, hop)
        return int(subsampled_length(n, sub)) if sub > 1 else n

    row_of = {id(u): r for u, r in zip(utts, rows)}
    kept, report = validate_utterances(utts, sample_rate=sr, encode=encode, frames_for=frames_for,
                                       on_error="skip" if skip_bad else "raise", resample=True)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    module.to(dev)
    res = AlignReport(out=out, skipped=list(report.skipped))
    lines = []
    for u in progress(kept, total=len(kept), desc="align", enabled=show_progress):
        where = str(u.path)
        try:
            ids, owner = token_words(tok, u.text, where=where)
            lp = emissions(module, logmel, read_audio(u.path, sr, resample=True), dev)
            words = align_words(lp, ids, owner, frame_s, blank=tok.blank, duration=u.duration,
                                spans=spans, where=where)
        except (ValueError, RuntimeError) as e:
            if not skip_bad:
                raise ValueError(str(e) if where in str(e) else f"{where}: {e}") from e
            res.skipped.append((where, str(e)))
            log.warning("skipping %s: %s", where, e)
            continue
        r = row_of[id(u)]
        if r.get("duration", "") is None:
            r["duration"] = round(u.duration, 4)
        r["words"] = words
        lines.append(json.dumps(r))
        res.aligned += 1
    if not lines:
        raise ValueError(f"no utterance of {src} could be aligned (first problem: {res.skipped[0][1]})")
    atomic_write_text(out, "".join(line + "\n" for line in lines))
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="sparselab-asr align", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="run folder (holding model.pt) or a model.pt file")
    ap.add_argument("--manifest", required=True, help="JSONL/TSV/CSV manifest, or a LibriSpeech folder")
    ap.add_argument("--out", required=True, help="aligned manifest to write (JSONL; inside a folder holding the audio)")
    ap.add_argument("--splits", default=None, help="LibriSpeech only: comma-separated split folders (default: all)")
    ap.add_argument("--audio-ext", default="flac", help="LibriSpeech only: audio file extension (default flac)")
    ap.add_argument("--skip-bad", action="store_true",
                    help="leave out (and count) utterances that cannot be aligned instead of stopping")
    ap.add_argument("--spans", choices=SPANS, default="midpoint",
                    help="word extents: midpoint (default: up to the midpoints between neighbouring words) or "
                         "tokens (the CTC spikes' own frames)")
    ap.add_argument("--device", default=None, help="torch device for the model (default: cuda if available)")
    ap.add_argument("--progress", choices=["auto", "on", "off"], default="auto",
                    help="progress bar (auto: on a terminal)")
    a = ap.parse_args(argv)
    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    splits = [s for s in a.splits.split(",") if s] if a.splits else None
    try:
        rep = align_manifest(a.model, a.manifest, a.out, skip_bad=a.skip_bad, spans=a.spans, splits=splits,
                             audio_ext="." + a.audio_ext.lstrip("."), device=a.device,
                             show_progress={"auto": None, "on": True, "off": False}[a.progress])
    except (FileNotFoundError, ValueError) as e:
        print(f"sparselab-asr align: error: {e}", file=sys.stderr)
        return 2
    print(f"aligned {rep.aligned} utterance(s) -> {rep.out}")
    if rep.skipped:
        print(f"skipped {len(rep.skipped)} of {rep.aligned + len(rep.skipped)} utterance(s) (left out of "
              f"{rep.out}):", file=sys.stderr)
        for p, why in rep.skipped:
            print(f"  {p}: {why}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
