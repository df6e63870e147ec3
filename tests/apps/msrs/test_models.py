import pytest
import torch

from apps.msrs.models import AudioFrontend, AVSRModel, FusionMLP, VideoFrontend


def test_video_frontend_shape():
    v = VideoFrontend(4, (1, 1, 1, 1))
    assert v(torch.randn(2, 3, 88, 88)).shape == (2, 3, 32)


def test_audio_frontend_downsamples_to_25fps():
    a = AudioFrontend(4, (1, 1, 1, 1))
    assert a(torch.randn(2, 7 * 640)).shape == (2, 7, 32)
    with pytest.raises(ValueError, match="multiple of 640"):
        a(torch.randn(2, 1000))


def test_fusion_and_modes():
    f = FusionMLP(8, 6, 16, 10)
    assert f(torch.randn(2, 5, 8), torch.randn(2, 5, 6)).shape == (2, 5, 10)
    with pytest.raises(ValueError, match="valid choices"):
        AVSRModel("lipreading", 31)
    m = AVSRModel("avsr", 31, frontend_width=4, frontend_blocks=(1, 1, 1, 1), fusion_hidden=16, d_model=16,
                  heads=2, layers=1, ffn=32, decoder_layers=1, kernel_size=3)
    with pytest.raises(ValueError, match="needs 'audio'"):
        m.features({"video": torch.randn(1, 2, 88, 88)})


def _avsr(**kw):
    return AVSRModel("avsr", 31, frontend_width=4, frontend_blocks=(1, 1, 1, 1), fusion_hidden=16, d_model=16,
                     heads=2, layers=1, ffn=32, decoder_layers=1, kernel_size=3, **kw)


def test_modality_dropout_zeroes_one_modality_in_training_only():
    torch.manual_seed(0)
    video, audio = torch.randn(4, 3, 88, 88), torch.randn(4, 3 * 640)
    deaf = _avsr(modality_dropout=1.0, audio_drop_share=1.0)     # every utterance loses its audio
    deaf.train()
    other_audio = {"video": video, "audio": torch.randn(4, 3 * 640)}
    assert torch.equal(deaf.features({"video": video, "audio": audio}), deaf.features(other_audio))
    deaf.eval()                                                    # never at evaluation
    assert not torch.allclose(deaf.features({"video": video, "audio": audio}), deaf.features(other_audio))
    blind = _avsr(modality_dropout=1.0, audio_drop_share=0.0).train()
    assert torch.equal(blind.features({"video": video, "audio": audio}),
                       blind.features({"video": torch.randn(4, 3, 88, 88), "audio": audio}))
    # at p = 0.5 some utterances keep both modalities, and none loses both
    half = _avsr(modality_dropout=0.5).train()
    v, a = half._drop_modality(torch.ones(400, 2, 3), torch.ones(400, 2, 5))
    kept_v, kept_a = v[:, 0, 0] == 1, a[:, 0, 0] == 1
    assert (kept_v | kept_a).all() and 120 < int((kept_v & kept_a).sum()) < 280
    assert 40 < int((~kept_a).sum()) < 160 and 40 < int((~kept_v).sum()) < 160


def test_modality_dropout_bad_values_are_named():
    with pytest.raises(ValueError, match="model.modality_dropout=1.5"):
        _avsr(modality_dropout=1.5)
    with pytest.raises(ValueError, match="model.audio_drop_share=-0.1"):
        _avsr(modality_dropout=0.5, audio_drop_share=-0.1)
    with pytest.raises(ValueError, match="needs mode=avsr"):
        AVSRModel("vsr", 31, frontend_width=4, frontend_blocks=(1, 1, 1, 1), d_model=16, heads=2, layers=1,
                  ffn=32, decoder_layers=1, kernel_size=3, modality_dropout=0.5)
