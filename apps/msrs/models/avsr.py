"""VSR / ASR / AVSR model: front-end(s) + ``core.speech.CTCAttentionModel`` (Conformer encoder at 25 fps,
no subsampling, transformer decoder, joint CTC/attention loss)."""
from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from core.speech import CTCAttentionModel, decode_batch

from .frontends import AudioFrontend, FusionMLP, VideoFrontend

__all__ = ["AVSRModel", "MODES"]

MODES = ("vsr", "asr", "avsr")


class AVSRModel(nn.Module):
    """``mode`` picks the inputs: vsr (video), asr (audio), avsr (both, fused).

    ``features(batch) -> (B, T, D)``; ``forward(batch) -> CTCAttentionModel's loss dict``;
    ``decode(batch, method) -> list of token-id lists``.
    """

    def __init__(self, mode: str, vocab: int, *, frontend_width: int = 64, frontend_blocks: Sequence[int] = (2, 2, 2, 2),
                 fusion_hidden: int = 4096, d_model: int = 256, heads: int = 4, layers: int = 12, ffn: int = 1024,
                 decoder_layers: int = 6, kernel_size: int = 31, dropout: float = 0.1, ctc_weight: float = 0.1,
                 label_smoothing: float = 0.1, sos_eos: int = 1, blank: int = 0,
                 stem_kernel: Sequence[int] = (5, 7, 7)) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode={mode!r}; valid choices: {MODES}")
        self.mode = mode
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
        return self.fusion(self.video(batch["video"]), self.audio(batch["audio"]))

    def forward(self, batch: dict, weights: Tensor | None = None) -> dict:
        feats = self.features(batch)
        lens = batch["lengths"].clamp(max=feats.shape[1])
        return self.asr(feats, lens, batch["targets"], batch["target_lengths"], weights)

    def decode(self, batch: dict, method: str = "greedy", beam: int = 4) -> list[list[int]]:
        feats = self.features(batch)
        return decode_batch(self.asr, feats, batch["lengths"].clamp(max=feats.shape[1]), method, beam)
