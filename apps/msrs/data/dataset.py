"""Audio-visual dataset over an auto_avsr-style label list (LRS3 as preprocessed by auto_avsr, or the
embedded corpus, which is written in the same layout).

Label list: one line per utterance, no header, ``dataset_name,rel_path,input_length,labels`` where the
media are ``<root>/<dataset_name>/<rel_path>`` (``.mp4``; the audio is the ``.wav`` next to it),
``input_length`` is the number of video frames and ``labels`` is either space-separated token ids
(auto_avsr's own format; ours come from ``core.speech.CharTokenizer``) or, in the plain text variant,
the transcript itself (``label_format="text"``, encoded with the tokenizer; ``lowercase=True``
lower-cases it first, e.g. for LRS3's upper-case transcripts). Real LRS3 lists from auto_avsr hold
SentencePiece ids: read them as they are with ``core.speech.SentencePieceTokenizer`` (the same model and
units file). Ids outside the tokenizer's vocabulary are bad input.

Each item: ``video`` (T, 88, 88) float normalised ``(x/255 - 0.421) / 0.165``, ``audio`` (T*640,) float
at 16 kHz (cut or padded to the video, as auto_avsr does), ``target`` LongTensor of ids, ``text``.

Bad input (a label line with too few fields, token ids outside the vocabulary, missing or unreadable
media, empty transcript, frame size other than ``frame_size``, audio and video lengths differing by more
than ``tolerance_frames``) raises a ValueError / FileNotFoundError naming the label file and line and the
media file, at construction (before training); with ``on_error="skip"`` the item is dropped at scan time
and counted in ``.skipped`` (a list of (where, reason)) -- never silently.

Every media path must stay inside ``root`` after resolving symlinks (``core.validation.resolve_inside``): a
symlink out of the data root is refused unless ``allow_symlinks`` (``data.allow_symlinks=true``, for datasets
laid out with symlinks, e.g. on clusters).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch import Tensor
from torch.utils.data import Dataset

from core.validation import resolve_inside

from .noise import NOISE_TYPES, make_noise, mix_at_snr
from .video_io import probe_video, read_video

__all__ = ["AVDataset", "AVItem", "collate_av", "VIDEO_MEAN", "VIDEO_STD", "MODALITIES"]

VIDEO_MEAN, VIDEO_STD = 0.421, 0.165
MODALITIES = ("video", "audio", "audiovisual")


@dataclass
class AVItem:
    dataset: str
    rel_path: str
    frames: int
    target: list[int]
    text: str
    where: str = ""          # "<label file>:<line>"

    def media(self, root: Path) -> Path:
        return root / self.dataset / self.rel_path


def _parse_labels(path: Path, label_format: str, tokenizer, *, lowercase: bool = False,
                  on_error: str = "raise", skipped: list | None = None) -> list[AVItem]:
    if not path.is_file():
        raise FileNotFoundError(f"label list not found: {path}")
    vocab = getattr(tokenizer, "vocab_size", None)
    items = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            parts = line.split(",", 3)
            if len(parts) != 4:
                raise ValueError(f"{where}: expected 'dataset,rel_path,input_length,labels' (4 fields), got "
                                 f"{len(parts)}: {line!r}")
            ds, rel, length, lab = parts
            try:
                frames = int(length)
            except ValueError:
                raise ValueError(f"{where}: input_length {length!r} is not an integer") from None
            if frames < 1:
                raise ValueError(f"{where}: input_length {frames} must be >= 1 frame")
            lab = lab.strip()
            if label_format == "ids":
                try:
                    target = [int(t) for t in lab.split()]
                except ValueError:
                    raise ValueError(f"{where}: labels {lab[:60]!r} are not integer ids; use label_format='text' "
                                     f"for the plain text variant") from None
                if vocab is not None:
                    bad = [t for t in target if not 0 <= t < vocab]
                    if bad:
                        raise ValueError(f"{where}: token ids {bad[:5]} outside the vocabulary [0, {vocab}) of "
                                         f"{type(tokenizer).__name__}; auto_avsr's SentencePiece id lists need "
                                         f"units=spm with its model (data.spm_model, data.spm_units)")
                text = tokenizer.decode(target) if tokenizer is not None else ""
            else:
                text = " ".join(lab.lower().split()) if lowercase else lab
                try:
                    target = tokenizer.encode(text, where=where) if tokenizer is not None and text else []
                except ValueError as e:
                    if not lowercase and text != text.lower():
                        raise ValueError(f"{e} -- the text is upper case: lowercase=True (data.lowercase=true) "
                                         f"normalises it") from None
                    raise
        except ValueError as e:
            if on_error == "raise" or skipped is None:
                raise
            skipped.append((where, str(e)))
            continue
        items.append(AVItem(ds, rel, frames, target, text, where))
    return items


class AVDataset(Dataset):
    """See module docstring. ``noise`` in ``NOISE_TYPES``; ``snr_db`` a number (fixed) or a list (one drawn
    per item and epoch); ``babble_bank`` a list of float arrays (``noise.load_babble_bank``)."""

    def __init__(self, root: str | os.PathLike, labels: str | os.PathLike, modality: str = "audiovisual", *,
                 tokenizer=None, label_format: str = "ids", noise: str = "none", snr_db=None,
                 babble_bank: list[np.ndarray] | None = None, frame_size: int = 88, sample_rate: int = 16000,
                 fps: int = 25, tolerance_frames: int = 2, on_error: str = "raise", seed: int = 0,
                 max_frames: int | None = None, lowercase: bool = False, cache: bool = False,
                 allow_symlinks: bool = False) -> None:
        if modality not in MODALITIES:
            raise ValueError(f"modality={modality!r}; valid choices: {MODALITIES}")
        if label_format not in ("ids", "text"):
            raise ValueError(f"label_format={label_format!r}; valid choices: ids, text")
        if noise not in NOISE_TYPES:
            raise ValueError(f"noise={noise!r}; valid choices: {NOISE_TYPES}")
        if noise != "none" and snr_db is None:
            raise ValueError(f"noise={noise!r} needs snr_db (a number or a list of numbers)")
        if noise == "babble" and not babble_bank:
            raise ValueError("noise='babble' needs a babble_bank (apps.msrs.data.noise.load_babble_bank)")
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error={on_error!r}; valid choices: raise, skip")
        if sample_rate % fps:
            raise ValueError(f"sample_rate={sample_rate} must be a multiple of fps={fps}")
        self.root = Path(root)
        labels = Path(labels)
        self.labels_path = labels if labels.is_absolute() else self.root / labels
        self.modality, self.noise, self.babble_bank = modality, noise, babble_bank
        self.snr_db = snr_db
        self.frame_size, self.sample_rate, self.fps = frame_size, sample_rate, fps
        self.rate_ratio = sample_rate // fps
        self.tolerance = tolerance_frames
        self.seed, self.epoch = seed, 0
        self.cache = bool(cache)           # keep decoded frames / clean audio in memory after the first read
        self._video_cache: dict[int, np.ndarray] = {}
        self._audio_cache: dict[int, np.ndarray] = {}
        self.skipped: list[tuple[str, str]] = []
        items = _parse_labels(self.labels_path, label_format, tokenizer, lowercase=lowercase, on_error=on_error,
                              skipped=self.skipped)
        for n, it in enumerate(items, 1):  # every media path must stay inside the data root (resolved path)
            rel = Path(it.dataset) / it.rel_path
            for p in ([rel] if modality == "video" else [rel, rel.with_suffix(".wav")] if modality == "audiovisual"
                      else [rel.with_suffix(".wav")]):
                resolve_inside(self.root, p, what=f"{self.labels_path}: entry {n}", allow_symlinks=allow_symlinks)
        kept = []
        for it in items:
            try:
                self._check(it)
                if max_frames is not None and it.frames > max_frames:
                    raise ValueError(f"{it.where}: {it.media(self.root)}: {it.frames} frames > max_frames={max_frames}")
            except (ValueError, FileNotFoundError) as e:
                if on_error == "raise":
                    raise
                self.skipped.append((it.where, str(e)))
                continue
            kept.append(it)
        if not kept:
            raise ValueError(f"no usable utterances in {self.labels_path} ({len(self.skipped)} skipped: "
                             f"{self.skipped[:3]})")
        self.items = kept

    # ---------------------------------------------------------------- checks
    def _check(self, it: AVItem) -> None:
        try:
            self._check_media(it)
        except FileNotFoundError as e:
            raise FileNotFoundError(f"{it.where}: {e}") from None
        except ValueError as e:
            raise ValueError(f"{it.where}: {e}") from None

    def _check_media(self, it: AVItem) -> None:
        path = it.media(self.root)
        if not it.target:
            raise ValueError(f"{path}: empty transcript")
        if self.modality != "audio":
            if not path.is_file():
                raise FileNotFoundError(f"video file not found: {path}")
            n, h, w = probe_video(path)
            if (h, w) != (self.frame_size, self.frame_size):
                raise ValueError(f"{path}: frame size {h}x{w}, the model expects {self.frame_size}x{self.frame_size}")
            if n and abs(n - it.frames) > self.tolerance:
                raise ValueError(f"{path}: {n} video frames but the label list says {it.frames}")
        if self.modality != "video":
            wav = path.with_suffix(".wav")
            if not wav.is_file():
                raise FileNotFoundError(f"audio file not found: {wav}")
            try:
                info = sf.info(str(wav))
            except Exception as e:  # soundfile error types vary: re-raise with the file name
                raise ValueError(f"cannot read audio file {wav}: {e}") from e
            if info.samplerate != self.sample_rate:
                raise ValueError(f"{wav}: sample rate {info.samplerate} Hz, expected {self.sample_rate} Hz")
            if info.frames == 0:
                raise ValueError(f"{wav}: empty audio")
            diff = abs(info.frames / self.rate_ratio - it.frames)
            if diff > self.tolerance:
                raise ValueError(f"{wav}: audio is {info.frames / self.rate_ratio:.1f} frames long at {self.fps} fps "
                                 f"but the video has {it.frames} (tolerance {self.tolerance} frames)")

    # ---------------------------------------------------------------- items
    def set_epoch(self, epoch: int) -> None:
        """Changes the noise drawn per item (deterministically)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.items)

    def audio_paths(self) -> list[Path]:
        """The ``.wav`` of every kept item (e.g. to build babble from the training talkers)."""
        return [it.media(self.root).with_suffix(".wav") for it in self.items]

    def lengths(self) -> list[int]:
        """Video frames per item (for curricula and length bucketing)."""
        return [it.frames for it in self.items]

    def _audio(self, it: AVItem, idx: int, T: int) -> Tensor:
        wav_path = it.media(self.root).with_suffix(".wav")
        wav = self._audio_cache.get(idx)
        if wav is None:
            try:
                wav, sr = sf.read(str(wav_path), dtype="float32", always_2d=True)
            except Exception as e:  # re-raise with the file name
                raise ValueError(f"cannot read audio file {wav_path}: {e}") from e
            wav = wav.mean(axis=1)
            if self.cache:
                self._audio_cache[idx] = wav
        n = T * self.rate_ratio
        if abs(len(wav) - n) > self.tolerance * self.rate_ratio:
            raise ValueError(f"{wav_path}: {len(wav)} samples, video needs {n} (tolerance {self.tolerance} frames)")
        wav = np.pad(wav, (0, max(0, n - len(wav))))[:n]
        if self.noise != "none":
            rng = np.random.default_rng([self.seed, self.epoch, idx])
            snr = self.snr_db
            if isinstance(snr, (list, tuple)):
                snr = snr[int(rng.integers(len(snr)))]
            if snr is not None and np.isfinite(float(snr)):
                wav = mix_at_snr(wav, make_noise(self.noise, n, rng, self.babble_bank), float(snr))
        return torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32))

    def __getitem__(self, idx: int) -> dict:
        it = self.items[idx]
        out = {"target": torch.tensor(it.target, dtype=torch.long), "text": it.text, "index": idx}
        T = it.frames
        if self.modality != "audio":
            path = it.media(self.root)
            v = self._video_cache.get(idx)
            if v is None:
                v = read_video(path)
                if self.cache:
                    self._video_cache[idx] = v
            if v.shape[1:] != (self.frame_size, self.frame_size):
                raise ValueError(f"{path}: frame size {v.shape[1]}x{v.shape[2]}, expected {self.frame_size}")
            if abs(len(v) - it.frames) > self.tolerance:
                raise ValueError(f"{path}: decoded {len(v)} frames, label list says {it.frames}")
            T = len(v)
            out["video"] = (torch.from_numpy(v).float() / 255.0 - VIDEO_MEAN) / VIDEO_STD
        if self.modality != "video":
            out["audio"] = self._audio(it, idx, T)
        out["frames"] = T
        return out


def collate_av(batch: list[dict]) -> dict:
    """Pad a list of items: video (B, T, H, W), audio (B, T*640), lengths (B,) in frames,
    targets (B, L) padded with -1, target_lengths (B,), texts, indices."""
    B = len(batch)
    T = max(b["frames"] for b in batch)
    out = {"lengths": torch.tensor([b["frames"] for b in batch]), "texts": [b["text"] for b in batch],
           "indices": torch.tensor([b["index"] for b in batch])}
    if "video" in batch[0]:
        H, W = batch[0]["video"].shape[1:]
        v = torch.zeros(B, T, H, W)
        for i, b in enumerate(batch):
            v[i, :b["video"].shape[0]] = b["video"]
        out["video"] = v
    if "audio" in batch[0]:
        r = batch[0]["audio"].shape[0] // batch[0]["frames"]
        a = torch.zeros(B, T * r)
        for i, b in enumerate(batch):
            a[i, :b["audio"].shape[0]] = b["audio"]
        out["audio"] = a
    L = max(len(b["target"]) for b in batch)
    tg = torch.full((B, L), -1, dtype=torch.long)
    for i, b in enumerate(batch):
        tg[i, :len(b["target"])] = b["target"]
    out["targets"] = tg
    out["target_lengths"] = torch.tensor([len(b["target"]) for b in batch])
    return out
