import torch

from apps.e2enet.models import E2ENet, fusion_targets
from apps.e2enet.dsff import build_dsff


def _train(model, sp, opt, steps, seed=0):
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randn(2, 1, 8, 8, 8, generator=g)
        opt.zero_grad()
        out = model(x)
        loss = sum(o.pow(2).mean() for o in out) if isinstance(out, list) else out.pow(2).mean()
        loss.backward()
        opt.step()
        sp.step()


def test_kernel_masks_zero_whole_kernels_and_density_holds_through_updates():
    torch.manual_seed(0)
    m = E2ENet(1, 3, [4, 8, 8], deep_supervision=2)
    sp = build_dsff(m, 0.8, total_steps=6, update_every=2, seed=0)
    assert set(sp.names) == set(fusion_targets(m))
    opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.99, nesterov=True)
    sp.attach(opt)
    before = {n: sp.masks[n].clone() for n in sp.names}
    counts = {n: int(sp.masks[n].sum()) for n in sp.names}
    _train(m, sp, opt, 6)
    assert any(not torch.equal(before[n], sp.masks[n]) for n in sp.names), "topology never changed"
    mods = dict(m.named_modules())
    for n in sp.names:
        mask = sp.masks[n]
        assert mask.shape == mods[n].weight.shape[:2]
        assert int(mask.sum()) == counts[n]                    # per-layer density is exact after updates
        w = mods[n].weight.detach()
        per_kernel_nz = w.flatten(2).ne(0).any(-1)             # (out, in): any non-zero weight in the kernel
        assert not per_kernel_nz[~mask].any()                  # pruned kernels are entirely zero
        mom = opt.state[mods[n].weight]["momentum_buffer"]
        assert not mom.flatten(2).ne(0).any(-1)[~mask].any()   # momentum cannot revive them
    assert abs(sp.density() - 0.2) < 0.01


def test_dense_is_none_and_bad_sparsity_rejected():
    m = E2ENet(1, 2, [4, 8], deep_supervision=1)
    assert build_dsff(m, 0.0, total_steps=10) is None
    import pytest

    with pytest.raises(ValueError, match="sparsity"):
        build_dsff(m, 1.0, total_steps=10)


def test_level0_floor_keeps_full_resolution_fusion_layers_at_density_0_2():
    from apps.e2enet.dsff import dead_output_channels, dsff_densities, level0_targets

    m = E2ENet(1, 3, [8, 16, 32, 64], deep_supervision=3)
    names = fusion_targets(m)
    lv0 = set(level0_targets(names))
    assert lv0 and all(n.startswith(("nodes.0_", "ups.0_")) for n in lv0)
    d = dsff_densities(m, 0.9)
    assert all(abs(d[n] - 0.2) < 1e-9 for n in lv0)
    assert all(abs(d[n] - 0.1) < 1e-9 for n in names if n not in lv0)   # the others hold exactly 1 - S
    assert all(abs(v - 0.3) < 1e-9 for v in dsff_densities(m, 0.7).values())  # floor below 1 - S: no effect
    assert all(abs(v - 0.1) < 1e-9 for v in dsff_densities(m, 0.9, level0_min_density=None).values())
    erk = dsff_densities(m, 0.8, init="erk", level0_min_density=None)
    assert len(set(round(v, 6) for v in erk.values())) > 1
    # dead output channels: an output with every input kernel masked
    torch.manual_seed(0)
    sp = build_dsff(m, 0.9, total_steps=1, level0_min_density=None, seed=0)
    rep = dead_output_channels(m, sp)
    mods = dict(m.named_modules())
    expect = 0
    for n in sp.names:
        k = sp.weight_mask(n).flatten(2).any(-1)
        expect += int((~(k.any(0) if isinstance(mods[n], torch.nn.ConvTranspose3d) else k.any(1))).sum())
    assert rep["dead"] == expect > 0 and rep["channels"] == sum(
        mods[n].out_channels for n in sp.names)
    assert dead_output_channels(m, None)["dead"] == 0
