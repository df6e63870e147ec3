"""Prune/grow choices: RigL grows where |grad| is largest, SET at seeded random, kernel masks whole kernels,
and the drop-fraction schedule sets exactly how many connections move at each update."""
import math

import pytest
import torch
from torch import nn

from core.schedules import Constant, Cosine, Cubic
from core.sparse import DynamicSparsity, prune_and_grow
from sparse_testutils import cnn, train


def _linear_case(grow, seed=0):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 2, bias=False))  # weight (2, 4): 8 entries
    mask = torch.tensor([[1, 1, 1, 1], [0, 0, 0, 0]], dtype=torch.bool)
    sp = DynamicSparsity.from_masks(model, {"0": mask}, grow=grow, seed=seed)
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[0.1, -5.0, 0.2, 3.0], [0, 0, 0, 0]]))
    # dense gradient: largest at (1, 2) then (1, 0); tiny elsewhere
    model[0].weight.grad = torch.tensor([[9.0, 9.0, 9.0, 9.0], [-4.0, 0.01, 7.0, 0.02]])
    return model, sp, mask


def test_rigl_grows_at_largest_gradient_and_prunes_smallest_magnitude():
    model, sp, mask = _linear_case("gradient")
    replaced = sp.update_topology(drop_fraction=0.5)  # 4 active -> drop 2
    assert replaced == {"0": 2}
    new = sp.masks["0"]
    # pruned |w| = 0.1 and 0.2 at (0,0), (0,2); grown at (1,2) |g|=7 and (1,0) |g|=4 -- never at the
    # just-pruned (0,0)/(0,2) even though their gradient (9) is the largest
    expect = torch.tensor([[0, 1, 0, 1], [1, 0, 1, 0]], dtype=torch.bool)
    assert torch.equal(new, expect)
    w = model[0].weight
    assert torch.equal(w, torch.tensor([[0.0, -5.0, 0.0, 3.0], [0.0, 0.0, 0.0, 0.0]]))


def test_set_grows_at_seeded_random_positions():
    picks = []
    for seed in (0, 0, 1, 2, 3):
        torch.manual_seed(123)  # the global RNG must not matter
        _, sp, mask = _linear_case("random", seed=seed)
        sp.update_topology(drop_fraction=0.5)
        new = sp.masks["0"]
        assert int(new.sum()) == 4
        assert torch.equal(new[0], torch.tensor([False, True, False, True]))  # magnitude pruning as before
        picks.append(tuple(new[1].tolist()))
    assert picks[0] == picks[1]  # same seed, same picks
    assert len(set(picks)) > 1   # the picks are random (6 possible pairs; 4 seeds not all equal)


def test_prune_and_grow_counts_and_clipping():
    g = torch.Generator().manual_seed(0)
    mask = torch.rand(50, generator=g) < 0.8  # dense-ish: fewer inactive than the drop asks
    inactive = int((~mask).sum())
    new = prune_and_grow(mask, torch.rand(50, generator=g), torch.rand(50, generator=g), n_drop=30)
    assert int(new.sum()) == int(mask.sum())
    assert int((mask & ~new).sum()) == inactive  # clipped to the inactive count: no just-pruned regrowth
    assert torch.equal(prune_and_grow(mask, torch.rand(50), torch.rand(50), 0), mask)
    full = torch.ones(10, dtype=torch.bool)
    assert torch.equal(prune_and_grow(full, torch.rand(10), torch.rand(10), 5), full)  # dense layer unchanged


def test_kernel_granularity_masks_whole_kernels():
    model = cnn()
    sp = DynamicSparsity(model, density=0.3, granularity="kernel", init="uniform", update_every=3, end_step=20)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sp.attach(opt)
    train(model, opt, sp, 10)
    for n in sp.names:
        w = sp.weight(n)
        m = sp.masks[n]
        assert m.shape == w.shape[:2]
        wm = sp.weight_mask(n)
        assert wm.shape == w.shape
        if w.dim() == 4:
            flat = wm.flatten(2)
            assert torch.all(flat.all(-1) | ~flat.any(-1)), "a kernel is partly masked"
            assert torch.all(w.flatten(2)[~m].abs().sum(-1) == 0)
            assert int(m.sum()) in (math.floor(0.3 * m.numel()), math.ceil(0.3 * m.numel()))
    assert sp.density() == pytest.approx(0.3, abs=0.01)


def test_kernel_magnitude_is_l1_of_the_kernel():
    model = nn.Sequential(nn.Conv2d(4, 1, 2, bias=False))  # weight (1, 4, 2, 2): 4 kernels
    mask = torch.tensor([[1, 1, 0, 0]], dtype=torch.bool)
    sp = DynamicSparsity.from_masks(model, {"0": mask}, grow="random", granularity="kernel")
    with torch.no_grad():
        w = model[0].weight
        w.zero_()
        w[0, 0] = torch.tensor([[5.0, 0.0], [0.0, 0.0]])   # L1 5, max 5
        w[0, 1] = torch.tensor([[2.0, -2.0], [2.0, 2.0]])  # L1 8, max 2
    sp.update_topology(drop_fraction=0.5)
    new = sp.masks["0"]
    assert new[0, 1] and not new[0, 0]  # dropped the smaller L1 kernel, not the smaller max
    assert int(new.sum()) == 2
    assert torch.all(model[0].weight[0, 0] == 0)


@pytest.mark.parametrize(
    "schedule", [Constant(0.25), Cosine(0.5, 0.0, 40), Cubic(0.5, 0.05, 40)], ids=["constant", "cosine", "cubic"]
)
def test_schedule_drives_drop_counts(schedule):
    model = cnn()
    sp = DynamicSparsity(model, density=0.25, init="uniform", grow="random", drop_fraction=schedule,
                         update_every=10, end_step=40)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    sp.attach(opt)
    seen = {}

    def on_step(step, updated):
        if updated:
            moved = {n: int((prev[n] & ~sp.masks[n]).sum()) for n in sp.names}
            expect = {n: min(round(schedule(sp.step_count) * int(prev[n].sum())), prev[n].numel() - int(prev[n].sum()))
                      for n in sp.names}
            assert moved == expect
            seen[sp.step_count] = moved
        prev.update({n: m.clone() for n, m in sp.masks.items()})

    prev = {n: m.clone() for n, m in sp.masks.items()}
    train(model, opt, sp, 45, on_step=on_step)
    assert sorted(seen) == [10, 20, 30]  # no update at or after end_step
    if isinstance(schedule, Cosine):  # decays: fewer moves later
        assert sum(seen[10].values()) > sum(seen[20].values()) > sum(seen[30].values())


def test_make_drop_fraction_forms():
    from core.sparse import make_drop_fraction

    assert make_drop_fraction(0.2, None) == Constant(0.2)
    assert make_drop_fraction(None, 100) == Cosine(0.3, 0.0, 100)
    assert make_drop_fraction(None, None) == Constant(0.3)
    assert make_drop_fraction("cubic", 50) == Cubic(0.3, 0.0, 50)
    assert make_drop_fraction({"schedule": "cosine", "start": 0.5, "end": 0.1}, 80) == Cosine(0.5, 0.1, 80)
    assert make_drop_fraction({"schedule": "linear", "start": 0.5, "end": 0.0, "total_steps": 10}, None)(5) == pytest.approx(0.25)
    assert make_drop_fraction({"schedule": "constant", "value": 0.1}, None) == Constant(0.1)
    s = Cubic(0.4, 0.0, 7)
    assert make_drop_fraction(s, 100) is s


def test_kernel_rigl_grows_kernel_with_largest_grad_l1():
    model = nn.Sequential(nn.Conv2d(4, 1, 2, bias=False))  # 4 kernels of 2x2
    mask = torch.tensor([[1, 1, 0, 0]], dtype=torch.bool)
    sp = DynamicSparsity.from_masks(model, {"0": mask}, grow="gradient", granularity="kernel")
    with torch.no_grad():
        model[0].weight.copy_(torch.ones(1, 4, 2, 2))
        model[0].weight[0, 0] *= 0.1  # smallest L1 -> dropped
    g = torch.zeros(1, 4, 2, 2)
    g[0, 2] = torch.tensor([[3.0, 0.0], [0.0, 0.0]])    # L1 3, max 3
    g[0, 3] = torch.tensor([[1.0, -1.0], [1.0, 1.0]])   # L1 4, max 1 -> grown (L1, not max)
    g[0, 0] = 100.0                                     # just pruned: never regrown in the same update
    model[0].weight.grad = g
    sp.update_topology(drop_fraction=0.5)
    assert sp.masks["0"].tolist() == [[False, True, False, True]]
    assert torch.all(model[0].weight[0, 3] == 0) and torch.all(model[0].weight[0, 0] == 0)


def test_dtype_change_after_construction():
    model = cnn()
    sp = DynamicSparsity(model, density=0.3, grow="gradient", update_every=3, end_step=100)
    model.double()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sp.attach(opt)
    for s in range(7):
        opt.zero_grad()
        x = torch.randn(2, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(s))
        model(x).square().mean().backward()
        opt.step()
        sp.step()
        for n in sp.names:
            w = sp.weight(n)
            assert w.dtype == torch.float64 and torch.all(w[~sp.weight_mask(n)] == 0)
            assert torch.all(opt.state[w]["momentum_buffer"][~sp.weight_mask(n)] == 0)
