"""Networks of apps/msrs: auto_avsr-style front-ends and the VSR/ASR/AVSR model."""
from .avsr import MODES, AVSRModel
from .frontends import AudioFrontend, FusionMLP, VideoFrontend
from .resnet import BasicBlock, ResNetTrunk

__all__ = ["AVSRModel", "MODES", "AudioFrontend", "VideoFrontend", "FusionMLP", "BasicBlock",
           "ResNetTrunk"]
