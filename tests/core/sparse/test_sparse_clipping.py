"""clip_grad_norm_live: the norm is over live (unpruned) entries only, every gradient is scaled by one coefficient,
so RigL's growth ranking (dense |grad|) is unchanged."""
import pytest
import torch
from torch import nn

from core.sparse import DynamicSparsity, clip_grad_norm_live, live_grad_norm


def _mlp_with_grads(density=0.1, seed=0):
    """A 0.1-density 3-layer MLP (32-64-64-8, no biases) after one backward: dense gradients."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(32, 64, bias=False), nn.ReLU(), nn.Linear(64, 64, bias=False), nn.ReLU(),
                          nn.Linear(64, 8, bias=False))
    sp = DynamicSparsity(model, density=density, init="uniform", grow="gradient", update_every=1)
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(16, 32, generator=g), torch.randint(0, 8, (16,), generator=g)
    nn.functional.cross_entropy(model(x), y).backward()
    return model, sp


def _active_norm(model, sp):
    masks = {id(p): m for p, m in sp.masked_parameters()}
    sq = 0.0
    for p in model.parameters():
        g = p.grad.double()
        if id(p) in masks:
            g = g[masks[id(p)].bool()]
        sq += float(g.square().sum())
    return sq ** 0.5


def test_norm_is_over_active_entries_and_every_grad_scaled_alike():
    model, sp = _mlp_with_grads()
    dense_before = {n: p.grad.clone() for n, p in model.named_parameters()}
    active = _active_norm(model, sp)
    full = float(torch.nn.utils.get_total_norm([p.grad for p in model.parameters()]))
    print(f"0.1-density MLP 32-64-64-8: dense grad norm / live grad norm = {full / active:.2f}")
    assert full > 1.5 * active  # the plain norm is dominated by weights that do not exist
    assert float(live_grad_norm(model.parameters(), sp)) == pytest.approx(active, rel=1e-5)
    max_norm = active / 4
    total = clip_grad_norm_live(model.parameters(), max_norm, sp)
    assert float(total) == pytest.approx(active, rel=1e-5)
    coef = max_norm / (float(total) + 1e-6)
    for n, p in model.named_parameters():  # dense gradients, pruned entries included, all scaled by coef
        assert torch.allclose(p.grad, dense_before[n] * coef, rtol=1e-5, atol=1e-9), n
    assert float(live_grad_norm(model.parameters(), sp)) == pytest.approx(max_norm, rel=1e-4)


def test_no_clip_below_max_norm_and_plain_without_sparsity():
    model, sp = _mlp_with_grads()
    before = [p.grad.clone() for p in model.parameters()]
    clip_grad_norm_live(model.parameters(), 1e6, sp)
    assert all(torch.equal(a, p.grad) for a, p in zip(before, model.parameters()))
    model2, _ = _mlp_with_grads()
    total = clip_grad_norm_live(model2.parameters(), 0.01)  # no sparsity: torch's clip_grad_norm_
    ref_model, _ = _mlp_with_grads()
    ref = torch.nn.utils.clip_grad_norm_(ref_model.parameters(), 0.01)
    assert float(total) == pytest.approx(float(ref), rel=1e-6)
    assert all(torch.allclose(a.grad, b.grad) for a, b in zip(model2.parameters(), ref_model.parameters()))
    inf_norm = live_grad_norm(model.parameters(), sp, norm_type=float("inf"))
    masks = {id(p): m for p, m in sp.masked_parameters()}
    expect = max(float((p.grad * masks.get(id(p), torch.ones_like(p))).abs().max()) for p in model.parameters())
    assert float(inf_norm) == pytest.approx(expect)
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm_live(model.parameters(), 0.0, sp)


def test_rigl_growth_unchanged_by_clipping():
    grown = []
    for clip in (False, True):
        model, sp = _mlp_with_grads(seed=3)
        if clip:
            clip_grad_norm_live(model.parameters(), 1e-3, sp)
        before = {n: m.clone() for n, m in sp.masks.items()}
        sp.update_topology(drop_fraction=0.3)
        grown.append({n: (sp.masks[n] & ~before[n]) for n in sp.names})
    assert all(int(grown[0][n].sum()) > 0 for n in grown[0])
    assert all(torch.equal(grown[0][n], grown[1][n]) for n in grown[0])
