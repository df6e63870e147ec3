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
