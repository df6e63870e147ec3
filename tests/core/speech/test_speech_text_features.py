import pytest
import torch

from core.speech.features import GlobalCMVN, LogMel, SpecAugment, num_frames
from core.speech.tokenizer import CharTokenizer


def test_tokenizer_round_trip_and_errors():
    tok = CharTokenizer()
    text = "the cat's hat"
    ids = tok.encode(text)
    assert min(ids) >= 3 and tok.decode(ids) == text
    assert tok.decode([tok.blank, *ids, tok.eos]) == text
    assert tok.vocab_size == 3 + 28
    with pytest.raises(ValueError, match=r"\['!', 'X'\].*in a.flac"):
        tok.encode("hi X!", where="a.flac")
    lenient = CharTokenizer(unk="map")
    assert lenient.encode("a!")[1] == CharTokenizer.UNK and lenient.decode(lenient.encode("a!")) == "a?"
    assert CharTokenizer.from_state_dict(tok.state_dict()).encode(text) == ids
    with pytest.raises(ValueError, match="repeated"):
        CharTokenizer("aa")


def test_features_shapes_cmvn_and_specaugment():
    torch.manual_seed(0)
    wav = torch.randn(2, 8000)
    f = LogMel()(wav)
    assert f.shape == (2, num_frames(8000), 80)
    assert LogMel()(wav[0]).shape == (num_frames(8000), 80)
    cmvn = GlobalCMVN(80).fit([f[0], f[1]])
    y = cmvn(f)
    assert y.reshape(-1, 80).mean(0).abs().max() < 1e-3
    assert (y.reshape(-1, 80).std(0) - 1).abs().max() < 1e-2
    sd = cmvn.state_dict()
    c2 = GlobalCMVN(80)
    c2.load_state_dict(sd)
    torch.testing.assert_close(c2(f), y)
    aug = SpecAugment(time_mask_ratio=0.2).train()
    z = aug(y, torch.tensor([51, 30]))
    assert z.shape == y.shape and (z == 0).any()
    assert torch.equal(aug.eval()(y), y)
    with pytest.raises(ValueError, match="no frames"):
        GlobalCMVN(80).fit([])


def test_logmel_frames_defined_in_ms_at_any_rate():
    from core.speech.features import LogMel

    for sr in (8000, 16000, 22050):
        lm = LogMel(sr, n_mels=40)
        f = lm(torch.zeros(sr))                         # one second
        assert f.shape == (101, 40) and abs(lm.hop_ms - 10.0) < 0.05
    assert LogMel(16000).win_length == 400 and LogMel(8000).win_length == 200
