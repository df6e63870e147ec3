"""Networks of apps/msrs: auto_avsr-style front-ends and the VSR/ASR/AVSR model."""
from .avsr import MODES, AVSRModel, check_modality_dropout
from .frontends import AudioFrontend, FusionMLP, VideoFrontend
from .resnet import BasicBlock, ResNetTrunk

__all__ = ["AVSRModel", "MODES", "check_modality_dropout", "AudioFrontend", "VideoFrontend", "FusionMLP", "BasicBlock",
           "ResNetTrunk"]
