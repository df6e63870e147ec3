import pytest
import torch

from apps.e2enet.models import DepthShift, depth_shift


def test_three_groups_shift_exact_values_with_zero_fill():
    D = 5
    x = torch.arange(1, D + 1, dtype=torch.float32).view(1, 1, D, 1, 1).repeat(1, 6, 1, 2, 2)  # value = depth index + 1
    y = depth_shift(x, 3)
    # channels 0-1 shift by -1: out[d] = x[d + 1], last slice zero
    assert y[0, 0, :, 0, 0].tolist() == [2, 3, 4, 5, 0]
    # channels 2-3 unchanged
    assert torch.equal(y[:, 2:4], x[:, 2:4])
    # channels 4-5 shift by +1: out[d] = x[d - 1], first slice zero
    assert y[0, 5, :, 1, 1].tolist() == [0, 1, 2, 3, 4]


def test_five_groups_shift_by_two():
    x = torch.arange(1, 7, dtype=torch.float32).view(1, 1, 6, 1, 1).repeat(1, 5, 1, 1, 1)
    y = DepthShift(5)(x)
    assert y[0, 0, :, 0, 0].tolist() == [3, 4, 5, 6, 0, 0]
    assert y[0, 1, :, 0, 0].tolist() == [2, 3, 4, 5, 6, 0]
    assert y[0, 2, :, 0, 0].tolist() == [1, 2, 3, 4, 5, 6]
    assert y[0, 4, :, 0, 0].tolist() == [0, 0, 1, 2, 3, 4]


def test_shift_keeps_shape_and_h_w_untouched():
    x = torch.randn(2, 7, 4, 3, 5)
    y = depth_shift(x, 3)
    assert y.shape == x.shape
    # the middle group (channels 3-5 of torch.chunk(7, 3) = 3, 3, 1) is unshifted
    assert torch.equal(y[:, 3:6], x[:, 3:6])


@pytest.mark.parametrize("g", [0, 2, 4])
def test_even_groups_rejected(g):
    with pytest.raises(ValueError, match="odd"):
        DepthShift(g)


@pytest.mark.parametrize("in_channels", [1, 4])
def test_input_image_is_never_depth_shifted(in_channels):
    # the first conv is (1, 3, 3): with an unshifted input, its output at depth d depends on input slice d only
    from apps.e2enet.models import E2ENet

    torch.manual_seed(0)
    m = E2ENet(in_channels, 2, [6, 6], deep_supervision=1).eval()
    first = m.encoder[0][0]
    x = torch.randn(1, in_channels, 6, 8, 8)
    x2 = x.clone()
    x2[:, :, 3] += 5.0                        # change only depth slice 3 (of the D, H, W layout)
    y, y2 = first.conv(first.shift(x)), first.conv(first.shift(x2))
    changed = (y - y2).abs().flatten(3).amax(-1)[0].amax(0)   # per depth slice
    assert changed[3] > 0 and torch.all(changed[[0, 1, 2, 4, 5]] == 0)
    # the second conv of level 0 sees neighbouring slices through the shift of features
    second = m.encoder[0][1]
    assert second.shift.groups == 3
