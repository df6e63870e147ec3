import torch

from apps.e2enet.loss import DeepSupervisionLoss, ds_weights
from apps.e2enet.models import E2ENet, fusion_targets, nnunet_dynunet


def test_output_shapes_and_deep_supervision():
    torch.manual_seed(0)
    m = E2ENet(2, 4, [4, 8, 8, 8], deep_supervision=3, depth_axis=4)
    x = torch.randn(2, 2, 16, 24, 8)
    m.train()
    outs = m(x)
    assert [tuple(o.shape) for o in outs] == [(2, 4, 16, 24, 8), (2, 4, 8, 12, 4), (2, 4, 4, 6, 2)]
    m.eval()
    assert tuple(m(x).shape) == (2, 4, 16, 24, 8)
    assert m.divisor == (8, 8, 8)


def test_depth_axis_and_no_depth_pooling():
    m = E2ENet(1, 2, [4, 8, 8], deep_supervision=1, depth_axis=2, depth_pool_levels=0).eval()
    x = torch.randn(1, 1, 3, 8, 12)  # depth 3 is never pooled
    assert tuple(m(x).shape) == (1, 2, 3, 8, 12)
    assert m.divisor == (1, 4, 4)


def test_kernels_are_1x3x3_and_fusion_targets_cover_grid():
    m = E2ENet(1, 3, [4, 8, 8, 8], deep_supervision=3)
    convs = [mod for n, mod in m.named_modules() if isinstance(mod, torch.nn.Conv3d) and not n.startswith("heads")]
    assert all(c.kernel_size == (1, 3, 3) for c in convs)
    names = fusion_targets(m)
    L = 4
    n_nodes = L * (L - 1) // 2
    # one conv per inner node, two on the output diagonal (L - 1 nodes), one upsampling per node
    assert len(names) == (n_nodes - (L - 1)) + 2 * (L - 1) + n_nodes
    mods = dict(m.named_modules())
    assert all(n in mods for n in names)


def test_paper_config_parameter_count_matches_reference():
    m = E2ENet(1, 16)  # AMOS: 15 organs + background
    total = sum(p.numel() for p in m.parameters())
    assert abs(total - 23.90e6) / 23.90e6 < 0.005
    fused = sum(dict(m.named_modules())[n].weight.numel() for n in fusion_targets(m))
    # at S = 0.8 the paper reports 9.45M non-zero
    assert abs((total - 0.8 * fused) - 9.45e6) / 9.45e6 < 0.01


def test_deep_supervision_loss_weights_and_dynunet_stack():
    assert ds_weights(4) == [8 / 15, 4 / 15, 2 / 15, 1 / 15]
    loss = DeepSupervisionLoss()
    lab = torch.randint(0, 3, (2, 1, 8, 8, 8))
    perfect = torch.nn.functional.one_hot(lab[:, 0], 3).permute(0, 4, 1, 2, 3).float() * 20
    bad = -perfect
    assert float(loss(perfect, lab)) < 0.05 < float(loss(bad, lab))
    # a list with a worse low-resolution head costs more than a perfect one
    lo = torch.nn.functional.interpolate(perfect, size=(4, 4, 4))
    assert float(loss([perfect, lo], lab)) < float(loss([perfect, -lo], lab))
    net = nnunet_dynunet(1, 3, [4, 8, 8], deep_supervision=2).train()
    out = net(torch.randn(1, 1, 16, 16, 16))
    assert out.dim() == 6 and torch.isfinite(loss(out, torch.randint(0, 3, (1, 1, 16, 16, 16))))


def _pair(**kw):
    import copy

    torch.manual_seed(0)
    fast = E2ENet(1, 3, [4, 8, 16, 16], deep_supervision=3, **kw)
    ref = copy.deepcopy(fast)
    ref.set_fast(False)
    return fast, ref


def _grads(m, x):
    m.zero_grad()
    outs = m(x)
    sum(o.pow(2).mean() for o in outs).backward()
    return outs, {k: p.grad.clone() for k, p in m.named_parameters()}


import pytest  # noqa: E402


@pytest.mark.parametrize("groups,shift_input", [(3, False), (5, True)])
def test_fast_forward_equals_the_reference_path(groups, shift_input):
    """The fused node convolution (upsampling, pooling, concatenation and shift recomputed in backward) gives
    bitwise-equal outputs and gradients; the group-norm form of the instance norm equals it within float rounding
    (conv biases before an instance norm have a zero true gradient: only rounding noise is compared there)."""
    fast, ref = _pair(shift_groups=groups, shift_input=shift_input)
    x = torch.randn(2, 1, 16, 16, 8)
    # 1. the convolution path alone (instance norm as in the reference): bitwise
    conv_only = __import__("copy").deepcopy(ref)
    for mod in conv_only.modules():
        if type(mod).__name__ == "ShiftConv3d":
            mod.fast = True
    o_r, g_r = _grads(ref, x)
    o_c, g_c = _grads(conv_only, x)
    assert all(torch.equal(a, b) for a, b in zip(o_c, o_r))
    assert all(torch.equal(g_c[k], g_r[k]) for k in g_r)
    # 2. the whole fast path: within float tolerance
    o_f, g_f = _grads(fast, x)
    assert all(torch.allclose(a, b, rtol=1e-5, atol=1e-5) for a, b in zip(o_f, o_r))
    for k in g_r:
        if k.endswith("conv.bias"):
            continue
        assert torch.allclose(g_f[k], g_r[k], rtol=1e-4, atol=1e-4 * float(g_r[k].abs().max())), k
    # 3. without gradients (inference, FLOP counting) the plain modules run: same values
    fast.eval(), ref.eval()
    with torch.no_grad():
        assert torch.allclose(fast(x), ref(x), rtol=1e-5, atol=1e-5)


def test_fast_path_under_cpu_autocast_bf16_trains():
    fast, ref = _pair()
    x = torch.randn(2, 1, 16, 16, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        outs = fast(x)
        routs = ref(x)
    assert outs[0].dtype == routs[0].dtype
    assert torch.allclose(outs[0].float(), routs[0].float(), atol=0.1, rtol=0.05)
    sum(o.float().pow(2).mean() for o in outs).backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 and torch.isfinite(p.grad).all()
               for p in fast.parameters())


def test_up_matmul_and_pool_max_equal_torch():
    from apps.e2enet.models.blocks import pool_max, up_matmul

    x = torch.randn(2, 6, 3, 4, 5)
    for k in ((2, 2, 2), (1, 2, 2)):
        w = torch.randn(6, 4, *k)
        assert torch.allclose(up_matmul(x, w, k), torch.nn.functional.conv_transpose3d(x, w, stride=k), atol=1e-5)
    y = torch.randn(2, 3, 4, 6, 8)
    for k in ((2, 2, 2), (1, 2, 2)):
        assert torch.equal(pool_max(y, k), torch.nn.functional.max_pool3d(y, k, k))
