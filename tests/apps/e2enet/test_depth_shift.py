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
def test_input_image_is_not_depth_shifted_by_default(in_channels):
    # the first conv is (1, 3, 3): with an unshifted input, its output at depth d depends on input slice d only
    from apps.e2enet.models import E2ENet

    torch.manual_seed(0)
    m = E2ENet(in_channels, 2, [6, 6], deep_supervision=1).eval()
    first = m.encoder[0][0]
    x = torch.randn(1, in_channels, 6, 8, 8)
    x2 = x.clone()
    x2[:, :, 3] += 5.0                        # change only depth slice 3 (of the D, H, W layout)
    y, y2 = first.conv(x), first.conv(x2)
    changed = (y - y2).abs().flatten(3).amax(-1)[0].amax(0)   # per depth slice
    assert changed[3] > 0 and torch.all(changed[[0, 1, 2, 4, 5]] == 0)
    # the second conv of level 0 sees neighbouring slices through the shift of features
    assert m.encoder[0][1].shift_groups == 3 and first.shift_groups == 1


def test_official_forward_shifts_the_one_channel_input_by_two_slices():
    """fidelity=official: 5 shift groups before every (1, 3, 3) conv, the image included. A 1-channel image is one
    torch.chunk chunk, which gets the first shift of range(-2, 3): out[d] = x[d + 2] (the official torch_shift)."""
    from apps.e2enet.models import E2ENet

    torch.manual_seed(0)
    m = E2ENet(1, 2, [6, 6], deep_supervision=1, shift_groups=5, shift_input=True).eval()
    first = m.encoder[0][0]
    assert first.shift_groups == 5 and all(b.shift_groups == 5 for s in m.encoder for b in s)
    x = torch.randn(1, 1, 7, 8, 8)
    x2 = x.clone()
    x2[:, :, 4] += 5.0
    changed = (first.conv(x) - first.conv(x2)).abs().flatten(3).amax(-1)[0].amax(0)
    assert changed[2] > 0 and torch.all(changed[[0, 1, 3, 4, 5, 6]] == 0)   # slice 4 reaches output slice 2 only
    # and the zero fill: the last two output slices see only zeros from the image (bias only)
    assert torch.equal(depth_shift(x, 5)[0, 0, 5:], torch.zeros(2, 8, 8))
    # 16 channels in 5 groups are 4 torch.chunk chunks of 4 with shifts -2, -1, 0, +1 (zip truncates)
    from apps.e2enet.models.depth_shift import shift_groups_of

    assert shift_groups_of(16, 5) == [(0, 4, -2), (4, 8, -1), (8, 12, 0), (12, 16, 1)]
    assert shift_groups_of(48, 5) == [(0, 10, -2), (10, 20, -1), (20, 30, 0), (30, 40, 1), (40, 48, 2)]


def test_depth_shift_backward_is_the_opposite_shift():
    x = torch.randn(2, 7, 5, 3, 4, requires_grad=True)
    g = torch.randn(2, 7, 5, 3, 4)
    depth_shift(x, 3).backward(g)
    ref = x.detach().clone().requires_grad_()
    # reference: the shift written with F.pad and slicing (autograd of plain ops)
    import torch.nn.functional as F

    chunks, out = torch.chunk(ref, 3, 1), []
    for k, c in enumerate(chunks):
        s = k - 1
        out.append(c if s == 0 else (F.pad(c[:, :, :-s], (0, 0, 0, 0, s, 0)) if s > 0 else F.pad(c[:, :, -s:], (0, 0, 0, 0, 0, -s))))
    torch.cat(out, 1).backward(g)
    assert torch.equal(x.grad, ref.grad)
