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
