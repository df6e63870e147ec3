"""Conformer (torchaudio) encoder with a CTC head and a transformer attention decoder (hybrid CTC/attention).

The encoder takes front-end features ``(B, T, D)``: log-mel frames with the default conv2d x4
subsampling, or anything else (e.g. a video ResNet at 25 fps) with ``subsampling=1`` or a custom
``frontend`` module ``(B, T, D), (B,) -> (B, T', d_model), (B,)``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
import torchaudio
from torch import Tensor, nn

__all__ = ["Conv2dSubsampling", "LinearFrontend", "PositionalEncoding", "ConformerEncoder", "TransformerDecoder",
           "CTCAttentionModel", "subsampled_length", "pad_targets"]


def subsampled_length(lengths: Tensor | int, factor: int) -> Tensor | int:
    """Frames after :class:`Conv2dSubsampling` (kernel 3, stride 2 per halving, no padding)."""
    n = lengths
    for _ in range({1: 0, 2: 1, 4: 2, 8: 3}[factor]):
        n = (n - 1) // 2
    return n


class Conv2dSubsampling(nn.Module):
    """(B, T, D) -> (B, T', d_model) with T' = subsampled_length(T, factor); factor in {2, 4, 8}."""

    def __init__(self, input_dim: int, d_model: int, factor: int = 4, channels: int | None = None) -> None:
        super().__init__()
        if factor not in (2, 4, 8):
            raise ValueError(f"subsampling factor={factor}; valid choices: 1 (LinearFrontend), 2, 4, 8")
        c = channels or d_model
        layers, f = [], input_dim
        for i in range({2: 1, 4: 2, 8: 3}[factor]):
            layers += [nn.Conv2d(1 if i == 0 else c, c, 3, 2), nn.ReLU()]
            f = (f - 1) // 2
        self.conv = nn.Sequential(*layers)
        self.out = nn.Linear(c * f, d_model)
        self.factor = factor

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        y = self.conv(x.unsqueeze(1))                    # (B, C, T', F')
        b, c, t, f = y.shape
        y = self.out(y.transpose(1, 2).reshape(b, t, c * f))
        return y, subsampled_length(lengths, self.factor).clamp(min=0, max=t)


class LinearFrontend(nn.Module):
    """(B, T, D) -> (B, T, d_model): no subsampling (features already at the encoder's frame rate)."""

    def __init__(self, input_dim: int, d_model: int) -> None:
        super().__init__()
        self.out = nn.Linear(input_dim, d_model)
        self.factor = 1

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        return self.out(x), lengths


class PositionalEncoding(nn.Module):
    """(B, T, D) -> (B, T, D): x * sqrt(D) + sinusoidal positions (then dropout)."""

    def __init__(self, d_model: int, dropout: float = 0.1, max_len: int = 5000, scale: bool = True) -> None:
        super().__init__()
        pos = torch.arange(max_len).unsqueeze(1)
        div = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(pos * div)
        pe[:, 1::2] = torch.cos(pos * div)[:, : d_model // 2]
        self.register_buffer("pe", pe, persistent=False)
        self.xscale = math.sqrt(d_model) if scale else 1.0
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[1] > self.pe.shape[0]:
            raise ValueError(f"sequence of {x.shape[1]} frames exceeds PositionalEncoding max_len {self.pe.shape[0]}")
        return self.drop(x * self.xscale + self.pe[: x.shape[1]].to(x.dtype))


class ConformerEncoder(nn.Module):
    """Front-end (conv2d subsampling by default) + positions + torchaudio Conformer.

    forward: (B, T, D) features, (B,) lengths -> (B, T', d_model), (B,) lengths.
    """

    def __init__(self, input_dim: int = 80, d_model: int = 144, heads: int = 4, layers: int = 4, ffn: int = 576,
                 kernel_size: int = 15, dropout: float = 0.1, subsampling: int = 4,
                 frontend: nn.Module | None = None, subsampling_channels: int | None = None) -> None:
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model={d_model} must be divisible by heads={heads}")
        if frontend is not None:
            self.frontend = frontend
        elif subsampling == 1:
            self.frontend = LinearFrontend(input_dim, d_model)
        else:
            self.frontend = Conv2dSubsampling(input_dim, d_model, subsampling, subsampling_channels)
        self.subsampling = getattr(self.frontend, "factor", subsampling)
        self.pos = PositionalEncoding(d_model, dropout)
        self.conformer = torchaudio.models.Conformer(input_dim=d_model, num_heads=heads, ffn_dim=ffn,
                                                     num_layers=layers, depthwise_conv_kernel_size=kernel_size,
                                                     dropout=dropout)
        self.d_model = d_model

    def output_length(self, lengths: Tensor | int) -> Tensor | int:
        """Encoder frames for input lengths (for the built-in front-ends)."""
        return subsampled_length(lengths, self.subsampling) if self.subsampling > 1 else lengths

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        y, lens = self.frontend(x, lengths)
        y = self.pos(y)
        lens = lens.clamp(min=1)
        y, lens = self.conformer(y, lens)
        return y, lens


class TransformerDecoder(nn.Module):
    """Autoregressive decoder: (B, U) token ids + encoder memory (B, T, D) -> (B, U, V) logits."""

    def __init__(self, vocab: int, d_model: int, heads: int, layers: int, ffn: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        self.pos = PositionalEncoding(d_model, dropout)
        layer = nn.TransformerDecoderLayer(d_model, heads, ffn, dropout, batch_first=True, norm_first=True)
        self.dec = nn.TransformerDecoder(layer, layers, norm=nn.LayerNorm(d_model))
        self.out = nn.Linear(d_model, vocab)

    def forward(self, tokens: Tensor, memory: Tensor, memory_pad: Tensor | None = None,
                token_pad: Tensor | None = None) -> Tensor:
        u = tokens.shape[1]
        causal = torch.triu(torch.ones(u, u, dtype=torch.bool, device=tokens.device), 1)
        h = self.dec(self.pos(self.embed(tokens)), memory, tgt_mask=causal, tgt_key_padding_mask=token_pad,
                     memory_key_padding_mask=memory_pad)
        return self.out(h)


def pad_targets(targets: list[Tensor] | list[list[int]], pad: int = -1) -> tuple[Tensor, Tensor]:
    """List of 1-D id sequences -> (B, U) padded with ``pad`` and (B,) lengths."""
    ts = [torch.as_tensor(t, dtype=torch.long) for t in targets]
    lens = torch.tensor([len(t) for t in ts], dtype=torch.long)
    out = torch.full((len(ts), int(lens.max()) if len(ts) else 0), pad, dtype=torch.long)
    for i, t in enumerate(ts):
        out[i, : len(t)] = t
    return out, lens


class CTCAttentionModel(nn.Module):
    """Hybrid CTC/attention ASR model.

    ``forward(feats (B, T, D), feat_lens (B,), targets (B, U) padded with -1, target_lens (B,), weights=None)``
    returns ``{"loss", "ctc", "att", "utt_loss" (B,), "enc_lens" (B,)}``. Per-utterance losses are
    length-normalised (CTC / U, attention = mean token cross-entropy over U+1), mixed as
    ``ctc_weight * ctc + (1 - ctc_weight) * att``; ``loss`` is their mean weighted by ``weights``
    (e.g. InfoBatch rescaling). ``decoder_layers=0`` or ``ctc_weight=1`` gives a CTC-only model.
    Token 0 is the CTC blank, ``sos_eos`` starts and ends the decoder's sequences.
    """

    def __init__(self, input_dim: int = 80, vocab: int = 31, d_model: int = 144, heads: int = 4, layers: int = 4,
                 ffn: int = 576, decoder_layers: int = 2, decoder_ffn: int | None = None, ctc_weight: float = 0.3,
                 kernel_size: int = 15, dropout: float = 0.1, subsampling: int = 4, label_smoothing: float = 0.1,
                 sos_eos: int = 1, blank: int = 0, frontend: nn.Module | None = None,
                 subsampling_channels: int | None = None) -> None:
        super().__init__()
        if not 0.0 <= ctc_weight <= 1.0:
            raise ValueError(f"ctc_weight={ctc_weight} must be in [0, 1]")
        if ctc_weight < 1.0 and decoder_layers < 1:
            raise ValueError(f"ctc_weight={ctc_weight} < 1 needs decoder_layers >= 1")
        self.encoder = ConformerEncoder(input_dim, d_model, heads, layers, ffn, kernel_size, dropout, subsampling,
                                        frontend, subsampling_channels)
        self.ctc_head = nn.Linear(d_model, vocab)
        self.decoder = (TransformerDecoder(vocab, d_model, heads, decoder_layers, decoder_ffn or ffn, dropout)
                        if decoder_layers > 0 and ctc_weight < 1.0 else None)
        self.ctc_weight, self.label_smoothing = ctc_weight, label_smoothing
        self.sos_eos, self.blank, self.vocab = sos_eos, blank, vocab

    def encode(self, feats: Tensor, feat_lens: Tensor) -> tuple[Tensor, Tensor]:
        """(B, T, D), (B,) -> encoder output (B, T', d_model), (B,)."""
        return self.encoder(feats, feat_lens)

    def ctc_log_probs(self, enc: Tensor) -> Tensor:
        """(B, T', d_model) -> (B, T', V) log-probabilities."""
        return self.ctc_head(enc).float().log_softmax(-1)

    def forward(self, feats: Tensor, feat_lens: Tensor, targets: Tensor, target_lens: Tensor,
                weights: Tensor | None = None) -> dict[str, Tensor]:
        enc, enc_lens = self.encode(feats, feat_lens)
        B = feats.shape[0]
        tl = target_lens.clamp(min=1).float()
        zero = enc.new_zeros(B, dtype=torch.float32)
        ctc_u = zero
        if self.ctc_weight > 0:
            lp = self.ctc_log_probs(enc).transpose(0, 1)            # (T', B, V)
            tgt = targets.clamp(min=0)
            ctc_u = F.ctc_loss(lp, tgt, enc_lens, target_lens, blank=self.blank, reduction="none",
                               zero_infinity=True) / tl
        att_u = zero
        if self.decoder is not None:
            sos = torch.full((B, 1), self.sos_eos, dtype=torch.long, device=targets.device)
            ys_in = torch.cat([sos, targets.clamp(min=0)], 1)        # (B, U+1)
            ys_out = torch.cat([targets, torch.full_like(sos, -1)], 1)
            ys_out[torch.arange(B, device=targets.device), target_lens] = self.sos_eos
            tok_pad = ys_out < 0
            mem_pad = torch.arange(enc.shape[1], device=enc.device)[None] >= enc_lens[:, None]
            logits = self.decoder(ys_in, enc, mem_pad, tok_pad).float()
            ce = F.cross_entropy(logits.transpose(1, 2), ys_out, ignore_index=-1, reduction="none",
                                 label_smoothing=self.label_smoothing)  # (B, U+1)
            att_u = ce.sum(1) / (target_lens.float() + 1)
        w = self.ctc_weight
        utt = w * ctc_u + (1 - w) * att_u
        if weights is None:
            loss = utt.mean()
        else:
            loss = (utt * weights.to(utt)).sum() / B
        return {"loss": loss, "ctc": ctc_u.mean().detach(), "att": att_u.mean().detach(), "utt_loss": utt,
                "enc_lens": enc_lens}
