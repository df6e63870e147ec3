"""SoftMasks: L1 (a soft count of kept weights) drives masks sparse while the task trains; hardening (global and
per layer), removal, gradients, the gate and the bound, state, bad input."""
import math

import pytest
import torch
from torch import nn

from core.regularizers import SoftMasks, soft_count
from core.schedules import Exponential, Linear


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 1))


def _train(lam, steps=300):
    torch.manual_seed(1)
    X = torch.randn(256, 20)
    y = X[:, :3] @ torch.tensor([[2.0], [-1.0], [0.5]])  # only 3 of 20 inputs matter
    model = _mlp()
    sm = SoftMasks(model, beta=Exponential(1.0, 4.0, steps), init_logit=3.0)
    weights = [p for n, p in model.named_parameters() if "logits" not in n]
    opt = torch.optim.Adam([{"params": weights, "lr": 1e-2}, {"params": sm.parameters(), "lr": 5e-2}])
    first = None
    for _ in range(steps):
        task = nn.functional.mse_loss(model(X), y)
        first = task.item() if first is None else first
        loss = task + lam * sm.penalty()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sm.step()
    return first, task.item(), sm


def test_l1_penalty_drives_masks_sparse_while_task_trains():
    first, last, sm = _train(lam=0.5 / 336)     # the price per weight of a mean over the 336 masked weights
    assert sm.density() < 0.4  # starts at 1.0 (sigmoid(3) = 0.95 > 0.5 everywhere)
    assert last < 0.05 * first
    assert sm.beta == pytest.approx(4.0)
    _, _, dense = _train(lam=0.0)
    assert dense.density() > 0.9  # without the penalty the masks stay open: the penalty did it


def test_parametrization_trains_logits_and_weights():
    model = _mlp()
    sm = SoftMasks(model, beta=2.0, init_logit=0.5)
    names = [n for n, _ in model.named_parameters()]
    assert "0.parametrizations.weight.0.logits" in names and "0.parametrizations.weight.original" in names
    assert "0.parametrizations.weight.0.logits" in model.state_dict()
    w_raw = model[0].parametrizations.weight.original.detach().clone()
    assert torch.allclose(model[0].weight, w_raw * torch.sigmoid(torch.tensor(1.0)))  # beta * logit = 1
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    before = sm.logits()["0"].detach().clone()
    model(torch.randn(8, 20)).pow(2).mean().backward()
    assert sm.logits()["0"].grad is not None and sm.logits()["0"].grad.abs().sum() > 0
    opt.step()
    assert not torch.equal(before, sm.logits()["0"])


def test_kernel_granularity_broadcasts_over_kernel():
    conv = nn.Sequential(nn.Conv2d(3, 4, 3))
    sm = SoftMasks(conv, granularity="kernel", beta=1.0, init_logit=2.0)
    logits = sm.logits()["0"]
    assert logits.shape == (4, 3)
    with torch.no_grad():
        logits[0, 1] = -5.0  # kernel (0, 1) off after hardening
    assert sm.density() == pytest.approx(11 / 12)
    masks = sm.harden()
    assert masks["0"].shape == (4, 3, 3, 3)
    assert bool((conv[0].weight[0, 1] == 0).all()) and int((conv[0].weight == 0).sum()) == 9


def test_harden_gives_expected_density_and_exact_zeros():
    model = _mlp()
    sm = SoftMasks(model, beta=1.0, init_logit=1.0)
    raw = {n: m.parametrizations.weight.original.detach().clone() for n, m in sm.modules.items()}
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in sm.parameters():
            p.copy_(torch.randn(p.shape, generator=g))  # about half below 0 -> sigmoid < 0.5
    soft = sm.soft()
    expected = sum(int((s > 0.7).sum()) for s in soft.values()) / sum(s.numel() for s in soft.values())
    assert sm.density(0.7) == pytest.approx(expected) and 0.1 < expected < 0.5
    masks = sm.harden(0.7)
    assert sum(int(m.sum()) for m in masks.values()) / sum(m.numel() for m in masks.values()) == pytest.approx(expected)
    for n, m in sm.modules.items():
        assert not hasattr(m, "parametrizations") or "weight" not in m.parametrizations
        assert isinstance(m.weight, nn.Parameter) and masks[n].dtype == torch.bool
        assert torch.equal(m.weight.detach(), raw[n] * masks[n])  # exact zeros off-mask, raw weights on it
    assert not any("logits" in n for n, _ in model.named_parameters())
    with pytest.raises(RuntimeError, match="already hardened"):
        sm.penalty()


def test_remove_restores_dense_raw_weights():
    model = _mlp()
    sm = SoftMasks(model, beta=1.0, init_logit=-2.0)
    raw = model[0].parametrizations.weight.original.detach().clone()
    assert not torch.allclose(model[0].weight, raw)
    sm.remove()
    assert torch.equal(model[0].weight.detach(), raw)
    assert sorted(n for n, _ in model.named_parameters()) == ["0.bias", "0.weight", "2.bias", "2.weight"]


def test_penalty_is_a_soft_count_of_kept_weights():
    model = _mlp()
    sm = SoftMasks(model, beta=2.0, init_logit=0.0)
    assert sm.numel() == 20 * 16 + 16 and sm.penalty().item() == pytest.approx(0.5 * 336)
    assert soft_count([torch.tensor([1.0, 0.5]), torch.tensor([0.25])]).item() == pytest.approx(1.75)
    assert soft_count([torch.tensor([0.5])], [9]).item() == pytest.approx(4.5)   # a kernel logit counts its size
    with pytest.raises(ValueError, match="at least one tensor"):
        soft_count([])


def test_gate_freezes_logits_exactly_and_bound_clamps():
    model = _mlp()
    sm = SoftMasks(model, beta=3.0, init_logit=1.0, bound=1.0)
    sm.set_gate(0.0)
    w_before = model[0].weight.detach().clone()
    (model(torch.randn(8, 20)).pow(2).mean() + 0.1 * sm.penalty()).backward()
    g = sm.logits()["0"].grad
    assert g is not None and torch.count_nonzero(g) == 0          # in the graph (DDP), but exactly zero
    assert torch.equal(model[0].weight.detach(), w_before)        # the value is unchanged by the gate
    sm.set_gate(1.0)
    model.zero_grad()
    (model(torch.randn(8, 20)).pow(2).mean() + 0.1 * sm.penalty()).backward()
    assert torch.count_nonzero(sm.logits()["0"].grad) > 0
    with torch.no_grad():
        sm.logits()["0"].add_(5.0)
        sm.logits()["2"].sub_(5.0)
    sm.clamp_()
    assert float(sm.logits()["0"].max()) == 1.0 and float(sm.logits()["2"].min()) == -1.0
    with pytest.raises(ValueError, match="outside"):
        SoftMasks(_mlp(), init_logit=2.0, bound=1.0)


def test_hard_per_layer_keeps_the_largest_logits_of_each_layer():
    model = _mlp()
    sm = SoftMasks(model, beta=1.0, init_logit=0.0)
    torch.manual_seed(3)
    with torch.no_grad():
        for lg in sm.logits().values():
            lg.copy_(torch.randn_like(lg))
    hard = sm.hard_per_layer({"0": 0.25, "2": 0.5})
    assert int(hard["0"].sum()) == 80 and int(hard["2"].sum()) == 8
    lg0 = sm.logits()["0"].detach()
    assert float(lg0[hard["0"]].min()) >= float(lg0[~hard["0"]].max())
    sm.set_gate(1.0)
    equal = SoftMasks(_mlp(), init_logit=0.5)                      # ties: broken by position, deterministically
    assert torch.equal(equal.hard_per_layer({"0": 0.5, "2": 0.5})["0"], equal.hard_per_layer({"0": 0.5, "2": 0.5})["0"])
    masks = sm.harden(masks=hard)
    assert torch.equal(masks["0"], hard["0"]) and int((model[0].weight == 0).sum()) == 240


def test_beta_schedule_and_state_dict():
    model = _mlp()
    sm = SoftMasks(model, beta=Linear(1.0, 11.0, 10), init_logit=1.0)
    for _ in range(5):
        sm.step()
    assert sm.beta == pytest.approx(6.0)
    assert torch.allclose(sm.soft()["0"], torch.full((16, 20), 1 / (1 + math.exp(-6.0))))
    state = sm.state_dict()
    other = SoftMasks(_mlp(), beta=Linear(1.0, 11.0, 10), init_logit=1.0)
    other.load_state_dict(state)
    assert other.beta == pytest.approx(6.0) and other.step_count == 5


def test_targets_globs():
    model = _mlp()
    sm = SoftMasks(model, ["2"])
    assert list(sm.modules) == ["2"] and not hasattr(model[0], "parametrizations")
    with pytest.raises(ValueError, match="matched no module"):
        SoftMasks(_mlp(), ["nothing*"])


@pytest.mark.parametrize("kwargs, match", [
    (dict(threshold=0.0), "threshold=0.0"),
    (dict(threshold=1.0), "threshold=1.0"),
    (dict(threshold=1.5), "threshold=1.5"),
    (dict(granularity="channel"), "unknown granularity 'channel'; valid choices: weight, kernel"),
    (dict(beta=0.0), "beta=0.0"),
    (dict(beta=-1.0), "beta=-1.0"),
    (dict(init_logit=float("inf")), "init_logit=inf"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SoftMasks(_mlp(), **kwargs)


def test_bad_input_after_construction():
    model = _mlp()
    sm = SoftMasks(model)
    with pytest.raises(ValueError, match="threshold=2"):
        sm.hard(2)
    with pytest.raises(ValueError, match="already has soft masks"):
        SoftMasks(model)
    with pytest.raises(ValueError, match="'step'"):
        sm.load_state_dict({})


def test_hardened_masks_feed_static_sparsity():
    from core.sparse import DynamicSparsity

    model = _mlp()
    sm = SoftMasks(model, init_logit=1.0)
    with torch.no_grad():
        sm.logits()["0"][:, 10:] = -1.0  # half of layer 0 off
    expected = sm.density()
    masks = sm.harden()
    ds = DynamicSparsity.from_masks(model, masks)
    assert ds.density() == pytest.approx(expected)
    assert torch.equal(ds.weight_mask("0"), masks["0"])
