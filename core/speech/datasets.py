"""Speech data lists: the embedded corpus manifest, LibriSpeech folders, users' TSV/JSONL manifests.

Every loader returns a list of :class:`Utterance`; :func:`validate_utterances` checks them once, up
front (audio header readable, non-empty, expected sample rate, transcript characters known, long
enough for CTC after subsampling), so that nothing fails in the middle of an epoch. By default the
first bad utterance raises an error that names its file; ``on_error="skip"`` drops bad ones instead
and returns them with the reason (counted and logged, never silent).
"""
from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch import Tensor

from core.validation import resolve_inside

__all__ = ["Utterance", "load_manifest", "scan_librispeech", "read_audio", "validate_utterances",
           "ctc_min_frames", "SkipReport"]

log = logging.getLogger(__name__)


@dataclass
class Utterance:
    """One utterance: audio file, transcript and metadata (``extra`` keeps other manifest keys)."""

    id: str
    path: Path
    text: str
    duration: float = 0.0                 # seconds; 0 = unknown until validated
    speaker: str = ""
    split: str = ""
    extra: dict = field(default_factory=dict)


@dataclass
class SkipReport:
    """Utterances dropped by ``on_error="skip"``: (path, reason) pairs."""

    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.skipped)


def load_manifest(path: str | os.PathLike, split: str | Sequence[str] | None = None, *,
                  allow_absolute: bool = False, allow_symlinks: bool = False, what: str = "") -> list[Utterance]:
    """Read a JSONL manifest (keys ``path``, ``text``, optional ``id``, ``duration``, ``speaker``, ``split``)
    or a TSV/CSV with a header row containing ``path`` and ``text`` (optional ``duration``, ``id``, ``split``).

    Relative audio paths are resolved against the manifest's folder and must stay inside it (an entry such as
    ``../../etc/passwd`` is refused, naming the line), also after following symlinks unless ``allow_symlinks``.
    Absolute paths, which NeMo-style manifests use, are accepted only with ``allow_absolute=True`` (in the apps:
    ``data.allow_absolute=true`` on the command line). ``split`` keeps only those splits. A manifest without any
    utterance is an error naming the file. ``what`` names the setting that gave the path in errors
    (``data.train``).
    """
    path = Path(path)
    where = f"{what}={path}" if what else str(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest not found: {where}")
    rows: list[dict] = []
    if path.suffix in (".tsv", ".csv"):
        with open(path, newline="") as f:
            reader = csv.DictReader(f, delimiter="\t" if path.suffix == ".tsv" else ",")
            if not reader.fieldnames or "path" not in reader.fieldnames or "text" not in reader.fieldnames:
                raise ValueError(f"{path}: header must name the columns 'path' and 'text' "
                                 f"(optional duration, id, speaker, split); got {reader.fieldnames}")
            rows = list(reader)
    else:
        with open(path) as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{n}: not a JSON line ({e})") from e
                if "path" not in row or "text" not in row:
                    raise ValueError(f"{path}:{n}: a manifest line needs 'path' and 'text', got keys {sorted(row)}")
                rows.append(row)
    splits = None if split is None else ({split} if isinstance(split, str) else set(split))
    out = []
    for n, row in enumerate(rows):
        if splits is not None and row.get("split", "") not in splits:
            continue
        try:
            p = resolve_inside(path.parent, row["path"], what=f"{path}: entry {n + 1}", allow_absolute=allow_absolute,
                               allow_symlinks=allow_symlinks)
        except ValueError as e:
            if Path(row["path"]).is_absolute() and not allow_absolute:
                raise ValueError(f"{path}: entry {n + 1}: absolute path {row['path']!r}; paths must be relative to "
                                 f"the manifest's folder {path.parent}, or accept absolute paths with "
                                 f"data.allow_absolute=true") from None
            raise e
        known = {"id", "path", "text", "duration", "speaker", "split"}
        out.append(Utterance(id=str(row.get("id") or p.stem), path=p, text=str(row["text"]),
                             duration=float(row.get("duration") or 0.0), speaker=str(row.get("speaker", "")),
                             split=str(row.get("split", "")), extra={k: v for k, v in row.items() if k not in known}))
    if splits is not None and not out:
        raise ValueError(f"{where}: no utterance in split(s) {sorted(splits)}")
    if not out:
        raise ValueError(f"{where}: the manifest holds no utterance (an empty file, or only a header row)")
    return out


def scan_librispeech(root: str | os.PathLike, splits: str | Sequence[str] | None = None,
                     audio_ext: str = ".flac", *, allow_symlinks: bool = False) -> list[Utterance]:
    """Walk ``root/<split>/<speaker>/<chapter>/`` (``*.flac`` + ``<speaker>-<chapter>.trans.txt``).

    ``splits`` names sub-folders (e.g. ``"train-clean-100"``); None takes every sub-folder, or ``root``
    itself if it directly holds speaker folders. Transcripts are lower-cased. A transcript line without
    its audio file, or an audio file without a transcript line, is an error naming the file. A file that is a
    symlink out of ``root`` is refused unless ``allow_symlinks`` (``core.validation.resolve_inside``).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"LibriSpeech root not found: {root}")
    if splits is None:
        split_dirs = sorted(d for d in root.iterdir() if d.is_dir())
        if split_dirs and all(d.name.isdigit() for d in split_dirs):      # root is a split folder
            split_dirs = [root]
    else:
        split_dirs = [root / s for s in ([splits] if isinstance(splits, str) else splits)]
        for d in split_dirs:
            if not d.is_dir():
                raise FileNotFoundError(f"LibriSpeech split folder not found: {d}")
    out: list[Utterance] = []
    for sd in split_dirs:
        for trans in sorted(sd.glob("*/*/*.trans.txt")):
            chapter = trans.parent
            audio = {p.stem: resolve_inside(root, p.relative_to(root), what=f"{root}", allow_symlinks=allow_symlinks)
                     for p in chapter.glob(f"*{audio_ext}")}
            seen = set()
            for n, line in enumerate(trans.read_text().splitlines(), 1):
                if not line.strip():
                    continue
                parts = line.strip().split(maxsplit=1)          # space or tab after the id
                uid, text = parts[0], (parts[1] if len(parts) > 1 else "")
                if uid not in audio:
                    raise FileNotFoundError(f"{trans}:{n}: no audio file {uid}{audio_ext} in {chapter}")
                seen.add(uid)
                out.append(Utterance(id=uid, path=audio[uid], text=text.lower(), speaker=chapter.parent.name,
                                     split=sd.name))
            missing = sorted(set(audio) - seen)
            if missing:
                raise ValueError(f"{chapter}: audio without a transcript line in {trans.name}: {missing[:5]}")
    if not out:
        raise ValueError(f"no LibriSpeech utterances (*/*/*.trans.txt) under {[str(d) for d in split_dirs]}")
    return out


def read_audio(path: str | os.PathLike, sample_rate: int | None = None, *, resample: bool = False) -> Tensor:
    """Read a mono waveform (float32 (S,)) with soundfile; multi-channel audio is averaged.

    ``resample=True`` converts any other rate to ``sample_rate`` (torchaudio's band-limited sinc resampler);
    otherwise a different rate is an error. Raises ``ValueError`` naming the file if it is unreadable or empty.
    """
    try:
        wav, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises LibsndfileError/RuntimeError/TypeError: re-raise with the file name
        raise ValueError(f"cannot read audio file {path}: {e}") from e
    if wav.shape[0] == 0:
        raise ValueError(f"{path}: empty audio (0 samples)")
    out = torch.from_numpy(np.ascontiguousarray(wav.mean(axis=1)))
    if sample_rate is not None and sr != sample_rate:
        if not resample:
            raise ValueError(f"{path}: sample rate {sr} Hz, expected {sample_rate} Hz (resample=True converts it)")
        import torchaudio

        out = torchaudio.functional.resample(out, sr, sample_rate)
    return out


def ctc_min_frames(token_ids: Sequence[int]) -> int:
    """Fewest encoder frames CTC needs for a label sequence: its length plus one blank per repeated pair."""
    return len(token_ids) + sum(1 for a, b in zip(token_ids, token_ids[1:]) if a == b)


def validate_utterances(utts: Sequence[Utterance], *, sample_rate: int, encode: Callable[[str], list] | None = None,
                        frames_for: Callable[[int], int] | None = None, on_error: str = "raise",
                        resample: bool = False) -> tuple[list[Utterance], SkipReport]:
    """Check every utterance once (audio header, non-empty, sample rate, transcript, CTC length).

    ``encode(text, where=...)`` is the tokenizer's encode (raises on unknown characters);
    ``frames_for(num_samples)`` gives the encoder frames after subsampling (samples at ``sample_rate``).
    ``resample=True`` accepts other sample rates (they are converted on load, see :func:`read_audio`).
    Fills ``duration`` from the header. Returns (kept, report); with ``on_error="raise"`` the first problem raises a ValueError
    naming the file.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error={on_error!r}; valid choices: raise, skip")
    kept, report = [], SkipReport()
    for u in utts:
        try:
            if not Path(u.path).is_file():
                raise FileNotFoundError(f"audio file not found: {u.path}")
            try:
                info = sf.info(str(u.path))
            except Exception as e:  # re-raised with the file name
                raise ValueError(f"cannot read audio file {u.path}: {e}") from e
            if info.frames <= 0:
                raise ValueError(f"{u.path}: empty audio (0 samples)")
            if info.samplerate != sample_rate and not resample:
                raise ValueError(f"{u.path}: sample rate {info.samplerate} Hz, expected {sample_rate} Hz "
                                 f"(resample=True converts it on load)")
            samples = int(round(info.frames * sample_rate / info.samplerate))
            if not u.text.strip():
                raise ValueError(f"{u.path}: empty transcript")
            if encode is not None:
                ids = encode(u.text, where=str(u.path))
                if frames_for is not None:
                    need, have = ctc_min_frames(ids), frames_for(samples)
                    if have < need:
                        raise ValueError(f"{u.path}: too short for its transcript: {have} encoder frames after "
                                         f"subsampling < {need} needed by CTC ({len(ids)} tokens)")
            u.duration = info.frames / info.samplerate
        except (ValueError, FileNotFoundError) as e:
            if on_error == "raise":
                raise
            report.skipped.append((str(u.path), str(e)))
            log.warning("skipping utterance %s: %s", u.id, e)
            continue
        kept.append(u)
    if report.skipped:
        log.warning("skipped %d of %d utterances (on_error='skip')", len(report), len(utts))
    if not kept:
        raise ValueError(f"no usable utterance left out of {len(utts)} (first problem: "
                         f"{report.skipped[0][1] if report.skipped else 'none'})")
    return kept, report
