import pytest
import torch
import torch.nn.functional as F

from core.speech.decoding import CTCPrefixScorer, ctc_greedy, ctc_prefix_beam_search, decode_batch
from core.speech.model import CTCAttentionModel, pad_targets, subsampled_length


def _model(**kw):
    torch.manual_seed(0)
    args = dict(vocab=12, d_model=32, heads=2, layers=1, ffn=64, decoder_layers=1, dropout=0.0)
    args.update(kw)
    return CTCAttentionModel(**args)


def test_forward_backward_and_lengths():
    m = _model()
    x, lens = torch.randn(3, 60, 80), torch.tensor([60, 45, 30])
    tgt, tl = pad_targets([[3, 4, 5], [6, 7], [8]])
    out = m(x, lens, tgt, tl)
    assert out["utt_loss"].shape == (3,) and torch.isfinite(out["loss"])
    assert out["enc_lens"].tolist() == [subsampled_length(n, 4) for n in (60, 45, 30)]
    out["loss"].backward()
    assert all(p.grad is not None for p in m.ctc_head.parameters())
    w = torch.tensor([2.0, 0.0, 1.0])
    o2 = m(x, lens, tgt, tl, weights=w)
    # dropout is 0 so the per-utterance losses match; weights rescale them
    torch.testing.assert_close(o2["loss"], (out["utt_loss"].detach() * w).sum() / 3)


def test_video_style_frontend_without_subsampling():
    m = _model(input_dim=16, subsampling=1, ctc_weight=1.0, decoder_layers=0)
    assert m.decoder is None
    out = m(torch.randn(2, 25, 16), torch.tensor([25, 20]), *pad_targets([[3, 4], [5]]))
    assert out["enc_lens"].tolist() == [25, 20] and out["att"] == 0
    with pytest.raises(ValueError, match="decoder_layers"):
        _model(decoder_layers=0, ctc_weight=0.5)


def test_greedy_and_beam_decode_shapes():
    m = _model().eval()
    x, lens = torch.randn(2, 50, 80), torch.tensor([50, 40])
    for method in ("greedy", "ctc_beam", "joint_beam"):
        hyps = decode_batch(m, x, lens, method, beam=3)
        assert len(hyps) == 2 and all(isinstance(t, int) and 0 < t < 12 for h in hyps for t in h)
    with pytest.raises(ValueError, match="valid choices"):
        decode_batch(m, x, lens, "magic")


def test_ctc_decoders_on_peaked_posteriors():
    T, V = 9, 6
    path = [3, 0, 3, 4, 4, 0, 5, 0, 0]
    lp = torch.full((T, V), -8.0)
    lp[torch.arange(T), torch.tensor(path)] = 0.0
    lp = lp.log_softmax(-1)
    assert ctc_greedy(lp[None], torch.tensor([T])) == [[3, 3, 4, 5]]
    assert ctc_prefix_beam_search(lp, beam=4) == [3, 3, 4, 5]
    from core.speech.decoding import torchaudio_ctc_beam

    assert torchaudio_ctc_beam(lp[None], torch.tensor([T]), beam=4, blank=0, sil=1) == [[3, 3, 4, 5]]


def test_torchaudio_beam_agrees_with_the_hand_written_prefix_search():
    """Where one path dominates each frame both searches find it; on flat emissions both return a valid sequence."""
    from core.speech.decoding import torchaudio_ctc_beam

    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        labels = torch.randint(2, 6, (12,), generator=g)
        path = torch.stack([labels, torch.zeros_like(labels)], 1).flatten()        # label, blank, label, blank, ...
        lp = (torch.nn.functional.one_hot(path, 7).float() * 6 + torch.rand(24, 7, generator=g)).log_softmax(-1)
        lp[:, 6] = -30.0                                                            # the separator token, never emitted
        ours = ctc_prefix_beam_search(lp, beam=8)
        theirs = torchaudio_ctc_beam(lp[None], torch.tensor([24]), beam=8, blank=0, sil=6)[0]
        assert ours == theirs == labels.tolist()


def test_ctc_prefix_scorer_matches_ctc_loss():
    torch.manual_seed(1)
    T, V, eos = 7, 5, 1
    lp = torch.randn(T, V).log_softmax(-1)
    sc = CTCPrefixScorer(lp, blank=0, eos=eos)
    st = sc.initial()
    for tok in (2, 2, 3):
        psi, r = sc.score(st, torch.tensor([tok]))
        st = (r[:, :, 0], float(psi[0]), tok)
    psi_end, _ = sc.score(st, torch.tensor([eos]))     # full-sequence probability
    ref = -F.ctc_loss(lp[:, None], torch.tensor([[2, 2, 3]]), torch.tensor([T]), torch.tensor([3]),
                      reduction="sum")
    torch.testing.assert_close(psi_end[0], ref, atol=1e-4, rtol=1e-4)
