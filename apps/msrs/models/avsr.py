"""VSR / ASR / AVSR model: front-end(s) + ``core.speech.CTCAttentionModel`` (Conformer encoder at 25 fps,
no subsampling, transformer decoder, joint CTC/attention loss)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from core.speech import CTCAttentionModel, decode_batch

from .frontends import AudioFrontend, FusionMLP, VideoFrontend

__all__ = ["AVSRModel", "MODES", "check_modality_dropout"]

MODES = ("vsr", "asr", "avsr")


def check_modality_dropout(mode: str, modality_dropout: float, audio_drop_share: float) -> None:
    """ValueError naming the key for a probability outside [0, 1], or modality dropout without two modalities."""
    for name, p in (("modality_dropout", modality_dropout), ("audio_drop_share", audio_drop_share)):
        if not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"model.{name}={p}: a probability in [0, 1]")
    if float(modality_dropout) > 0 and mode != "avsr":
        raise ValueError(f"model.modality_dropout={modality_dropout} needs mode=avsr (mode={mode!r} has one modality)")


class AVSRModel(nn.Module):
    """``mode`` picks the inputs: vsr (video), asr (audio), avsr (both, fused).

    ``features(batch) -> (B, T, D)``; ``forward(batch) -> CTCAttentionModel's loss dict``;
    ``decode(batch, method) -> list of token-id lists``.

    ``modality_dropout`` (AVSR, training only; AV-HuBERT's recipe): each utterance loses one modality with this
    probability -- the audio with probability ``audio_drop_share``, else the video -- by zeroing that front-end's
    features before fusion, so the fused model also learns to read lips alone and to hear alone.
    """

    def __init__(self, mode: str, vocab: int, *, frontend_width: int = 64, frontend_blocks: Sequence[int] = (2, 2, 2, 2),
                 fusion_hidden: int = 4096, d_model: int = 256, heads: int = 4, layers: int = 12, ffn: int = 1024,
                 decoder_layers: int = 6, kernel_size: int = 31, dropout: float = 0.1, ctc_weight: float = 0.1,
                 label_smoothing: float = 0.1, sos_eos: int = 1, blank: int = 0,
                 stem_kernel: Sequence[int] = (5, 7, 7), modality_dropout: float = 0.0,
                 audio_drop_share: float = 0.5) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode={mode!r}; valid choices: {MODES}")
        check_modality_dropout(mode, modality_dropout, audio_drop_share)
        self.mode = mode
        self.modality_dropout = float(modality_dropout)
        self.audio_drop_share = float(audio_drop_share)
        self.video = VideoFrontend(frontend_width, frontend_blocks, stem_kernel) if mode in ("vsr", "avsr") else None
        self.audio = AudioFrontend(frontend_width, frontend_blocks) if mode in ("asr", "avsr") else None
        if mode == "avsr":
            self.fusion = FusionMLP(self.video.out_dim, self.audio.out_dim, fusion_hidden, d_model)
            feat_dim = d_model
        else:
            self.fusion = None
            feat_dim = (self.video or self.audio).out_dim
        self.asr = CTCAttentionModel(input_dim=feat_dim, vocab=vocab, d_model=d_model, heads=heads, layers=layers,
                                     ffn=ffn, decoder_layers=decoder_layers, ctc_weight=ctc_weight,
                                     kernel_size=kernel_size, dropout=dropout, subsampling=1,
                                     label_smoothing=label_smoothing, sos_eos=sos_eos, blank=blank)

    def features(self, batch: dict) -> Tensor:
        """batch (``video`` (B, T, H, W) and/or ``audio`` (B, T*640)) -> (B, T, D)."""
        for key, needed in (("video", self.video), ("audio", self.audio)):
            if needed is not None and key not in batch:
                raise ValueError(f"mode={self.mode!r} needs {key!r} in the batch (got {sorted(batch)})")
        if self.mode == "vsr":
            return self.video(batch["video"])
        if self.mode == "asr":
            return self.audio(batch["audio"])
        video, audio = self.video(batch["video"]), self.audio(batch["audio"])
        if self.training and self.modality_dropout > 0:
            video, audio = self._drop_modality(video, audio)
        return self.fusion(video, audio)

    def _drop_modality(self, video: Tensor, audio: Tensor) -> tuple[Tensor, Tensor]:
        """Zero one modality's features for a random subset of the utterances (both never dropped together)."""
        b = video.shape[0]
        drop = torch.rand(b, device=video.device) < self.modality_dropout
        which_audio = torch.rand(b, device=video.device) < self.audio_drop_share
        keep_v = (~(drop & ~which_audio)).to(video.dtype).view(b, 1, 1)
        keep_a = (~(drop & which_audio)).to(audio.dtype).view(b, 1, 1)
        return video * keep_v, audio * keep_a

    def forward(self, batch: dict, weights: Tensor | None = None) -> dict:
        feats = self.features(batch)
        lens = batch["lengths"].clamp(max=feats.shape[1])
        return self.asr(feats, lens, batch["targets"], batch["target_lengths"], weights)

    def decode(self, batch: dict, method: str = "greedy", beam: int = 4) -> list[list[int]]:
        feats = self.features(batch)
        return decode_batch(self.asr, feats, batch["lengths"].clamp(max=feats.shape[1]), method, beam)
