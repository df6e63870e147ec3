"""Audio-visual dataset over an auto_avsr-style label list (LRS3 as preprocessed by auto_avsr, or the
embedded corpus, which is written in the same layout).

Label list: one line per utterance, no header, ``dataset_name,rel_path,input_length,labels`` where the
media are ``<root>/<dataset_name>/<rel_path>`` (``.mp4``; the audio is the ``.wav`` next to it),
``input_length`` is the number of video frames and ``labels`` is either space-separated token ids
(auto_avsr's own format; ours come from ``core.speech.CharTokenizer``) or, in the plain text variant,
the transcript itself (``label_format="text"``, encoded with the tokenizer). Real LRS3 lists from
auto_avsr hold SentencePiece ids: use them with ``label_format="text"`` after converting the ids to
text, or a tokenizer with the same vocabulary.

Each item: ``video`` (T, 88, 88) float normalised ``(x/255 - 0.421) / 0.165``, ``audio`` (T*640,) float
at 16 kHz (cut or padded to the video, as auto_avsr does), ``target`` LongTensor of ids, ``text``.

Bad input (missing or unreadable media, empty transcript, frame size other than ``frame_size``,
audio and video lengths differing by more than ``tolerance_frames``) raises a ValueError /
FileNotFoundError naming the file; with ``on_error="skip"`` the item is dropped at scan time and
counted in ``.skipped`` (a list of (path, reason)) -- never silently.
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

    def media(self, root: Path) -> Path:
        return root / self.dataset / self.rel_path


def _parse_labels(path: Path, label_format: str, tokenizer) -> list[AVItem]:
    if not path.is_file():
        raise FileNotFoundError(f"label list not found: {path}")
    items = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(",", 3)
        if len(parts) != 4:
            raise ValueError(f"{path}:{n}: expected 'dataset,rel_path,input_length,labels', got {line!r}")
        ds, rel, length, lab = parts
        try:
            frames = int(length)
        except ValueError:
            raise ValueError(f"{path}:{n}: input_length {length!r} is not an integer") from None
        lab = lab.strip()
        if label_format == "ids":
            try:
                target = [int(t) for t in lab.split()]
            except ValueError:
                raise ValueError(f"{path}:{n}: labels {lab!r} are not integer ids; use label_format='text' for "
                                 f"the plain text variant") from None
            text = tokenizer.decode(target) if tokenizer is not None else ""
        else:
            text = lab
            target = tokenizer.encode(text, where=f"{path}:{n}") if tokenizer is not None and text else []
        items.append(AVItem(ds, rel, frames, target, text))
    return items


class AVDataset(Dataset):
    """See module docstring. ``noise`` in ``NOISE_TYPES``; ``snr_db`` a number (fixed) or a list (one drawn
    per item and epoch); ``babble_bank`` a list of float arrays (``noise.load_babble_bank``)."""

    def __init__(self, root: str | os.PathLike, labels: str | os.PathLike, modality: str = "audiovisual", *,
                 tokenizer=None, label_format: str = "ids", noise: str = "none", snr_db=None,
                 babble_bank: list[np.ndarray] | None = None, frame_size: int = 88, sample_rate: int = 16000,
                 fps: int = 25, tolerance_frames: int = 2, on_error: str = "raise", seed: int = 0,
                 max_frames: int | None = None) -> None:
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
        self.skipped: list[tuple[str, str]] = []
        items = _parse_labels(self.labels_path, label_format, tokenizer)
        for n, it in enumerate(items, 1):  # every media path must stay inside the data root
            resolve_inside(self.root, Path(it.dataset) / it.rel_path, what=f"{self.labels_path}: entry {n}")
        kept = []
        for it in items:
            try:
                self._check(it)
                if max_frames is not None and it.frames > max_frames:
                    raise ValueError(f"{it.media(self.root)}: {it.frames} frames > max_frames={max_frames}")
            except (ValueError, FileNotFoundError) as e:
                if on_error == "raise":
                    raise
                self.skipped.append((str(it.media(self.root)), str(e)))
                continue
            kept.append(it)
        if not kept:
            raise ValueError(f"no usable utterances in {self.labels_path} ({len(self.skipped)} skipped: "
                             f"{self.skipped[:3]})")
        self.items = kept

    # ---------------------------------------------------------------- checks
    def _check(self, it: AVItem) -> None:
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

    def lengths(self) -> list[int]:
        """Video frames per item (for curricula and length bucketing)."""
        return [it.frames for it in self.items]

    def _audio(self, it: AVItem, idx: int, T: int) -> Tensor:
        wav_path = it.media(self.root).with_suffix(".wav")
        try:
            wav, sr = sf.read(str(wav_path), dtype="float32", always_2d=True)
        except Exception as e:  # re-raise with the file name
            raise ValueError(f"cannot read audio file {wav_path}: {e}") from e
        wav = wav.mean(axis=1)
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
            v = read_video(path)
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
