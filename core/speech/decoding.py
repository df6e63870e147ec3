"""Decoding: CTC greedy, CTC beam search, and attention beam search with joint CTC prefix scoring.

``ctc_beam`` is torchaudio's lexicon-free CTC beam-search decoder (``torchaudio.models.decoder.ctc_decoder``,
flashlight-text; ``torchaudio_ctc_beam``). The hand-written prefix beam search (``ctc_prefix_beam_search``) stays as
the reference the tests compare it with (same best path on peaked emissions) and as the fallback where
flashlight-text is not installed; the joint search follows Watanabe et al. 2017 (ESPnet):
score = (1 - w) * attention log-prob + w * CTC prefix log-prob, and needs the prefix scorer written here.

Measured (2026-12-07, ``python -m apps.asr_ddp.compare_decoders``: the 0.28M digits model trained on the Arabic
digits, its 298 test utterances of 6 unseen speakers, one thread): greedy 5.58 % WER in 0.01 CPU s; torchaudio beam 4
5.50 % in 0.12 s, beam 8 5.42 % in 0.28 s; the hand-written prefix search beam 4 5.42 % in 0.74 s, beam 8 5.42 % in
1.16 s. Same WER at beam 8, 4x less CPU: ``ctc_beam`` uses torchaudio's.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["ctc_greedy", "ctc_prefix_beam_search", "torchaudio_ctc_beam", "CTCPrefixScorer", "joint_beam_search",
           "decode_batch"]

NEG = -1e30


def ctc_greedy(log_probs: Tensor, lengths: Tensor, blank: int = 0) -> list[list[int]]:
    """(B, T, V) log-probs, (B,) lengths -> per utterance ids (best path, repeats merged, blanks removed)."""
    best = log_probs.argmax(-1).cpu()
    out = []
    for b in range(best.shape[0]):
        seq = torch.unique_consecutive(best[b, : int(lengths[b])]).tolist()
        out.append([t for t in seq if t != blank])
    return out


def ctc_prefix_beam_search(log_probs: Tensor, beam: int = 8, blank: int = 0, prune: float = -12.0) -> list[int]:
    """(T, V) log-probs of one utterance -> the most probable label sequence (prefix beam search).

    Tokens whose frame log-prob is below ``prune`` are not extended (speed).
    """
    lp = log_probs.detach().float().cpu()
    beams: dict[tuple, tuple[float, float]] = {(): (0.0, NEG)}          # prefix -> (log p_blank, log p_nonblank)
    for t in range(lp.shape[0]):
        row = lp[t]
        cand = torch.nonzero(row > prune).flatten().tolist() or [int(row.argmax())]
        nxt: dict[tuple, list[float]] = {}

        def add(prefix, pb, pnb):
            cur = nxt.setdefault(prefix, [NEG, NEG])
            cur[0] = _lse(cur[0], pb)
            cur[1] = _lse(cur[1], pnb)

        for prefix, (pb, pnb) in beams.items():
            total = _lse(pb, pnb)
            for c in cand:
                p = float(row[c])
                if c == blank:
                    add(prefix, total + p, NEG)
                    continue
                last = prefix[-1] if prefix else None
                if c == last:
                    add(prefix + (c,), NEG, pb + p)        # repeat needs a blank in between
                    add(prefix, NEG, pnb + p)              # merged repeat
                else:
                    add(prefix + (c,), NEG, total + p)
        beams = dict(sorted(((k, (v[0], v[1])) for k, v in nxt.items()), key=lambda kv: -_lse(*kv[1]))[:beam])
    best = max(beams.items(), key=lambda kv: _lse(*kv[1]))[0]
    return list(best)


_DECODERS: dict = {}


def torchaudio_ctc_beam(log_probs: Tensor, lengths: Tensor, beam: int = 8, blank: int = 0,
                        sil: int | None = None) -> list[list[int]] | None:
    """(B, T, V) log-probs, (B,) lengths -> per utterance ids, by torchaudio's lexicon-free CTC beam search (no
    language model, hypotheses merged by log-add, as a prefix beam search does). ``sil``: a token id CTC never
    emits, given to the decoder as its word separator (lexicon-free decoding needs one; default: the last id,
    our models' ``<sos/eos>``). None when flashlight-text is not installed."""
    try:
        from torchaudio.models.decoder import ctc_decoder
    except (ImportError, OSError):                      # flashlight-text missing: the caller falls back
        return None
    V = int(log_probs.shape[-1])
    sil = V - 1 if sil is None else int(sil)
    key = (V, int(beam), int(blank), sil)
    if key not in _DECODERS:
        _DECODERS[key] = ctc_decoder(lexicon=None, tokens=[str(i) for i in range(V)], beam_size=int(beam),
                                     blank_token=str(blank), sil_token=str(sil), unk_word=str(sil), log_add=True,
                                     lm=None)
    dec = _DECODERS[key]
    hyps = dec(log_probs.detach().float().cpu().contiguous(), lengths.detach().cpu().to(torch.int32))
    return [[int(t) for t in h[0].tokens.tolist() if int(t) not in (blank, sil)] if h else [] for h in hyps]


def _lse(a: float, b: float) -> float:
    if a < b:
        a, b = b, a
    if b <= NEG:
        return a
    return a + math.log1p(math.exp(b - a))


class CTCPrefixScorer:
    """CTC prefix probabilities of hypotheses extended by candidate tokens (one utterance).

    State of a hypothesis: (r (T, 2) log forward variables [non-blank, blank], log psi, last token).
    """

    def __init__(self, log_probs: Tensor, blank: int = 0, eos: int = 1) -> None:
        self.x = log_probs.detach().float()            # (T, V)
        self.T = self.x.shape[0]
        self.blank, self.eos = blank, eos

    def initial(self) -> tuple[Tensor, float, int]:
        r = torch.full((self.T, 2), NEG)
        r[:, 1] = torch.cumsum(self.x[:, self.blank], 0)
        return r, 0.0, -1

    def score(self, state, cands: Tensor) -> tuple[Tensor, Tensor]:
        """Extend one hypothesis by each of ``cands`` (K,) -> (psi (K,), r (T, 2, K))."""
        r_prev, _, last = state
        K = cands.numel()
        xs = self.x[:, cands]                           # (T, K)
        r = torch.full((self.T, 2, K), NEG)
        if last == -1:                                  # hypothesis is just <sos>
            r[0, 0] = xs[0]
        r_sum = torch.logaddexp(r_prev[:, 0], r_prev[:, 1])   # (T,)
        same = cands == last
        phi = r_sum[:, None].expand(self.T, K).clone()        # (T, K)
        phi[:, same] = r_prev[:, 1:2].expand(self.T, int(same.sum()))
        psi = r[0, 0].clone()
        xb = self.x[:, self.blank]
        for t in range(1, self.T):
            r[t, 0] = torch.logaddexp(r[t - 1, 0], phi[t - 1]) + xs[t]
            r[t, 1] = torch.logaddexp(r[t - 1, 0], r[t - 1, 1]) + xb[t]
            psi = torch.logaddexp(psi, phi[t - 1] + xs[t])
        is_eos = cands == self.eos
        psi[is_eos] = r_sum[-1]
        return psi, r


@torch.no_grad()
def joint_beam_search(model, enc: Tensor, beam: int = 4, ctc_weight: float = 0.3, max_len: int | None = None,
                      length_bonus: float = 0.0) -> list[int]:
    """Attention beam search with CTC prefix scoring for one utterance.

    ``enc``: (T', d_model) encoder output; ``model`` is a :class:`~core.speech.model.CTCAttentionModel`.
    Returns token ids without sos/eos.
    """
    if model.decoder is None:
        lp = model.ctc_log_probs(enc[None])[0]
        return ctc_prefix_beam_search(lp, beam, model.blank)
    sos = eos = model.sos_eos
    ctc = CTCPrefixScorer(model.ctc_log_probs(enc[None])[0].cpu(), model.blank, eos) if ctc_weight > 0 else None
    T = enc.shape[0]
    max_len = max_len or max(1, T)
    mem = enc[None]
    hyps = [([sos], 0.0, ctc.initial() if ctc else None)]
    ended: list[tuple[list[int], float]] = []
    pre_beam = max(beam, int(1.5 * beam))
    for _ in range(max_len):
        tokens = torch.tensor([h[0] for h in hyps], device=enc.device)      # (H, u)
        logits = model.decoder(tokens, mem.expand(len(hyps), -1, -1))[:, -1].float().log_softmax(-1).cpu()
        logits[:, model.blank] = NEG
        new = []
        for h, (seq, score, cstate) in enumerate(hyps):
            att = logits[h]
            cand = torch.topk(att, pre_beam).indices
            if ctc is not None:
                psi, r = ctc.score(cstate, cand)
                total = (1 - ctc_weight) * att[cand] + ctc_weight * (psi - cstate[1])
            else:
                psi = r = None
                total = att[cand]
            for k in range(cand.numel()):
                c = int(cand[k])
                st = (r[:, :, k], float(psi[k]), c) if ctc is not None else None
                new.append((seq + [c], score + float(total[k]) + length_bonus, st))
        new.sort(key=lambda x: -x[1])
        hyps = []
        for seq, score, st in new:
            if seq[-1] == eos:
                ended.append((seq, score))
            elif len(hyps) < beam:
                hyps.append((seq, score, st))
            if len(hyps) >= beam and len(ended) >= beam:
                break
        if not hyps or (len(ended) >= beam and max(e[1] for e in ended) > hyps[0][1]):
            break
    if not ended:
        ended = [(h[0], h[1]) for h in hyps]
    best = max(ended, key=lambda e: e[1])[0]
    return [t for t in best[1:] if t != eos]


@torch.no_grad()
def decode_batch(model, feats: Tensor, feat_lens: Tensor, method: str = "greedy", beam: int = 4,
                 ctc_weight: float | None = None) -> list[list[int]]:
    """(B, T, D) features -> token ids per utterance; method in {greedy, ctc_beam, joint_beam}."""
    if method not in ("greedy", "ctc_beam", "joint_beam"):
        raise ValueError(f"method={method!r}; valid choices: greedy, ctc_beam, joint_beam")
    enc, lens = model.encode(feats, feat_lens)
    if method == "greedy":
        return ctc_greedy(model.ctc_log_probs(enc), lens, model.blank)
    if method == "ctc_beam":
        fast = torchaudio_ctc_beam(model.ctc_log_probs(enc), lens, beam, model.blank, getattr(model, "sos_eos", None))
        if fast is not None:
            return fast
    out = []
    for b in range(enc.shape[0]):
        e = enc[b, : int(lens[b])]
        if method == "ctc_beam":
            out.append(ctc_prefix_beam_search(model.ctc_log_probs(e[None])[0], beam, model.blank))
        else:
            w = model.ctc_weight if ctc_weight is None else ctc_weight
            out.append(joint_beam_search(model, e, beam, w))
    return out
