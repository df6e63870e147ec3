"""Networks: E2ENet (depth shift + shift-conv grid) and MONAI baselines."""
from apps.e2enet.models.baselines import NNUNET_CHANNELS, nnunet_dynunet
from apps.e2enet.models.blocks import ShiftConvBlock, StackedBlocks
from apps.e2enet.models.depth_shift import DepthShift, depth_shift
from apps.e2enet.models.e2enet import PAPER_CHANNELS, E2ENet, fusion_targets

__all__ = ["E2ENet", "PAPER_CHANNELS", "fusion_targets", "DepthShift", "depth_shift", "ShiftConvBlock", "StackedBlocks",
           "nnunet_dynunet", "NNUNET_CHANNELS"]
