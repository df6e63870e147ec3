import pytest
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


def test_dense_is_none():
    m = E2ENet(1, 2, [4, 8], deep_supervision=1)
    assert build_dsff(m, 0.0, total_steps=10) is None
    assert build_dsff(m, 0.0, total_steps=10, fidelity="official") is None


def test_level0_floor_keeps_full_resolution_fusion_layers_at_density_0_2():
    from apps.e2enet.dsff import dead_output_channels, dsff_densities, level0_targets

    m = E2ENet(1, 3, [8, 16, 32, 64], deep_supervision=3)
    names = fusion_targets(m)
    lv0 = set(level0_targets(names))
    assert lv0 and all(n.startswith(("nodes.0_", "ups.0_")) for n in lv0)
    d = dsff_densities(m, 0.9, level0_min_density=0.2)
    assert all(abs(d[n] - 0.2) < 1e-9 for n in lv0)
    assert all(abs(d[n] - 0.1) < 1e-9 for n in names if n not in lv0)   # the others hold exactly 1 - S
    assert all(abs(v - 0.3) < 1e-9 for v in dsff_densities(m, 0.7, level0_min_density=0.2).values())  # floor below 1 - S: no effect
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


def test_official_level0_rule_counts_at_paper_widths():
    """fidelity=official: the six level-0 node convs (48 outputs) at a fixed 0.2, the transposed convs and every other
    fusion layer at 1 - S, round(numel * d / k) kernels: 11.229M non-zero at S=0.7, 9.445M at 0.8, 7.661M at 0.9
    (the paper's table: 11.25M / 9.45M / 7.64M = the uniform rule, also checked)."""
    from apps.e2enet.dsff import level0_convs, official_densities
    from core.metrics import count_parameters

    torch.manual_seed(0)
    m = E2ENet(1, 16)
    names = fusion_targets(m)
    mods = dict(m.named_modules())
    lv0 = level0_convs(names)
    assert len(lv0) == 6 and all(mods[n].weight.shape[0] == 48 for n in lv0)
    assert {n for n in names if mods[n].weight.shape[0] == 48} == set(lv0)       # the official shape[0] == 48 test
    dens = official_densities(m, 0.7)
    assert all(dens[n] == 0.2 for n in lv0) and all(abs(dens[n] - 0.3) < 1e-12 for n in names if n not in lv0)
    want = {0.7: 11_229_255, 0.8: 9_445_351, 0.9: 7_661_439}
    paper = {0.7: 11.25e6, 0.8: 9.45e6, 0.9: 7.64e6}
    for S, n in want.items():
        sp = build_dsff(m, S, fidelity="official", total_steps=10, seed=0, static=True, level0_fixed_density=0.2)
        assert sp.grow == "none"                                              # static: the documented command
        assert count_parameters(m, sp.parameter_masks())["unmasked"] == n
        sp.detach()
        up = build_dsff(m, S, fidelity="paper", total_steps=10, seed=0)
        assert abs(count_parameters(m, up.parameter_masks())["unmasked"] - paper[S]) / paper[S] < 0.001
        up.detach()


def test_official_static_mask_never_changes():
    torch.manual_seed(0)
    m = E2ENet(1, 3, [4, 8, 8], deep_supervision=2, shift_groups=5, shift_input=True)
    sp = build_dsff(m, 0.8, fidelity="official", total_steps=6, update_every=1, seed=0, static=True)
    opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9)
    sp.attach(opt)
    before = {n: sp.masks[n].clone() for n in sp.names}
    _train(m, sp, opt, 4)
    assert all(torch.equal(before[n], sp.masks[n]) for n in sp.names)


def test_official_update_arithmetic():
    """ceil(rate * nnz / k) kernels pruned by L1 (every kernel at or below the boundary), as many regrown at random among
    all zero kernels -- just-pruned ones included, and a regrown just-pruned kernel keeps its weights -- and the prune
    rate follows CosineDecay(0.5, T, eta_min=0.001)."""
    import math

    from apps.e2enet.dsff import OfficialKernelSparsity

    torch.manual_seed(0)
    m = E2ENet(1, 3, [4, 8, 8], deep_supervision=2)
    from apps.common.hydra_config import compose
    from apps.e2enet.recipe import settings_from_config

    o = settings_from_config(compose("e2enet", ["variant=official"]))
    assert (o.fidelity, o.sparse.static, o.sparse.drop_end, o.sparse.level0_fixed_density) == ("official", True, 0.001, 0.2)
    assert (o.model.shift_groups, o.model.shift_input, o.model.sparsity) == (5, True, 0.8)
    sp = build_dsff(m, 0.8, fidelity="official", total_steps=100, update_every=10, seed=0, static=False, drop_end=0.001)
    assert isinstance(sp, OfficialKernelSparsity) and sp.drop_fraction(100) == pytest.approx(0.001)
    assert sp.drop_fraction(0) == pytest.approx(0.5) and sp.end_step is None
    name = sp.names[0]
    w = sp.weight(name)
    with torch.no_grad():                                   # distinct kernel norms: no ties at the boundary
        w.copy_(torch.arange(w.numel(), dtype=w.dtype).view_as(w) + 1.0)
        sp.apply_masks()
    before = sp.masks[name].clone()
    nnz = int(before.sum())
    l1 = w.detach().abs().flatten(2).sum(-1)
    rep = sp.update_topology(drop_fraction=0.3)
    after = sp.masks[name]
    pruned = math.ceil(0.3 * nnz)
    assert rep[name] == pruned and int(after.sum()) == nnz   # as many regrown as pruned
    gone = before & ~after
    kept_l1 = l1[before & after]
    assert int(gone.sum()) <= pruned and (gone.sum() == 0 or l1[gone].max() <= kept_l1.min())   # lowest L1 went
    # a fully dense layer: the only zero kernels after the death are the just-pruned ones; they are regrown with their weights
    full = {n: torch.ones_like(sp.masks[n]) if n == name else sp.masks[n] for n in sp.names}
    with torch.no_grad():
        w.copy_(torch.arange(w.numel(), dtype=w.dtype).view_as(w) + 1.0)   # every kernel non-zero again
    sp2 = OfficialKernelSparsity.from_masks(m, full, granularity="kernel", grow="random", update_every=1, seed=0,
                                            drop_fraction=0.5)
    w_before = sp2.weight(name).detach().clone()
    sp2.update_topology(drop_fraction=0.5)
    assert bool(sp2.masks[name].all()) and torch.equal(sp2.weight(name), w_before)


def test_sparse_flops_count_each_upsampling_once():
    """A node's first conv runs its upsampling inside its forward: torch's counter lists those FLOPs under both
    modules; sparse_flops must scale them once (by the transposed conv's density), as an analytic count does."""
    import math

    import torch
    from torch import nn

    from apps.e2enet.dsff import dsff_densities, sparse_flops
    from core.metrics import count_flops

    torch.manual_seed(0)
    m = E2ENet(1, 3, channels=[4, 8, 8], deep_supervision=2).eval()
    x = torch.zeros(1, 1, 16, 16, 8)
    dens = dsff_densities(m, 0.8)
    mods = dict(m.named_modules())
    own = {}
    hooks = []
    for name in dens:
        mod = mods[name]

        def hook(mod, args, out, name=name):
            k = math.prod(mod.kernel_size)
            if isinstance(mod, nn.ConvTranspose3d):   # 2 * input voxels * Cout * k (torch's convention)
                own[name] = 2 * args[0].numel() * mod.out_channels * k
            else:                                     # 2 * output voxels * Cin * k
                own[name] = 2 * out.numel() * mod.in_channels * k
        hooks.append(mod.register_forward_hook(hook))
    with torch.no_grad():
        m(x)
    for h in hooks:
        h.remove()
    dense = count_flops(m, x)["dense"]
    expected = dense - sum((1 - d) * own[n] for n, d in dens.items())
    got = sparse_flops(m, x, dens)
    assert got["dense"] == dense
    assert got["sparse"] == pytest.approx(expected, abs=1)        # sparse is rounded to an integer
    assert count_flops(m, x, densities=dens)["sparse"] < expected   # the plain count takes the upsampling off twice
    assert sparse_flops(m, x, None)["sparse"] == dense
