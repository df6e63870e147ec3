"""Networks of apps/msrs: auto_avsr-style front-ends and the VSR/ASR/AVSR model."""
from .avsr import ENCODER_PREFIX, MODES, AVSRModel
from .frontends import AudioFrontend, FusionMLP, VideoFrontend
from .resnet import BasicBlock, ResNetTrunk

__all__ = ["AVSRModel", "MODES", "ENCODER_PREFIX", "AudioFrontend", "VideoFrontend", "FusionMLP", "BasicBlock",
           "ResNetTrunk"]
