"""SoftMaskL1 (the loop's regularizer slot): a price per weight that is the same on a model and on its 4x-wider copy,
a mask that cannot learn -- let alone saturate -- before the model has learned, the temperature schedule that
starts with it, global and ERK allocation, state, and the loop adding its penalty to the loss."""
import copy
import math

import pytest
import torch
from torch import nn

from core.regularizers import MaskStability, SoftMaskL1, SoftMasks, build_regularizer
from core.sparse.density import allocate_densities, layer_counts


def _net(width: int) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 4))


def _reg(model, **kw) -> SoftMaskL1:
    kw = {"lam": 1e-3, "beta": {"start": 3.0, "end": 10.0, "anneal_steps": 20}, "bound": 1.0, "init_logit": 1.0,
          "lr": 0.01, **kw}
    return build_regularizer(model, **kw)


def test_per_logit_pull_is_the_same_for_a_model_and_its_4x_wider_copy():
    """The penalty's gradient on every logit, and the mask optimizer's first step, do not depend on the number of
    mask entries (a mean over entries would make the wide copy's pull 4-16x weaker)."""
    pulls, steps = [], []
    for width in (16, 64):
        reg = _reg(_net(width))
        assert reg.started                                  # start_after=0, no learning milestone
        reg.penalty().backward()
        grads = torch.cat([p.grad.flatten() for p in reg.parameters()])
        pulls.append(grads)
        before = torch.cat([p.detach().flatten().clone() for p in reg.parameters()])
        reg.step()                                          # Adam on the logits, then the bound
        after = torch.cat([p.detach().flatten() for p in reg.parameters()])
        steps.append(before - after)
    b = 3.0
    expected = 1e-3 * b * torch.sigmoid(torch.tensor(b)) * (1 - torch.sigmoid(torch.tensor(b)))
    for g in pulls:
        assert torch.allclose(g, torch.full_like(g, float(expected)), rtol=1e-5)
    assert pulls[1].numel() > 4 * pulls[0].numel()          # the wide copy has many more entries ...
    assert float(pulls[0][0]) == pytest.approx(float(pulls[1][0]), rel=1e-6)   # ... and the same pull on each
    for s in steps:                                         # Adam's first step: lr on every logit, at every size
        assert torch.allclose(s, torch.full_like(s, 0.01), rtol=1e-3)


def test_no_learning_or_saturation_before_the_model_has_learned():
    """Logits frozen (exactly), penalty 0, temperature at its start value and the stability checks not counted
    until both the warm-up (start_after) and the learning milestone (start_below) are met; then the mask learns
    and sharpens, never more saturated than sigmoid(beta(t) * bound)."""
    model = _net(16)
    reg = _reg(model, lam=10.0, start_after=3, start_below=0.5, stability={"window": 2, "tol": 1.0})
    init = {n: p.detach().clone() for n, p in reg.masks.logits().items()}
    x = torch.randn(32, 8)
    lo, hi = torch.sigmoid(torch.tensor(-3.0)), torch.sigmoid(torch.tensor(3.0))
    for step in range(1, 13):
        loss = model(x).pow(2).mean() + reg.penalty()
        loss.backward()
        reg.step()                                          # steps the logits' Adam (after the start), zeroes them
        model.zero_grad()
        if step == 10:
            reg.observe(0.4)                                # the first evaluation below the milestone
        elif step < 10:
            reg.observe(0.9 if step % 2 else float("nan"))  # not learned yet (NaN: no evaluation)
        if not reg.started:
            assert float(reg.penalty()) == 0.0 and reg.masks.gate == 0.0 and reg.beta == 3.0
            assert all(torch.equal(p.detach(), init[n]) for n, p in reg.masks.logits().items())
            soft = torch.cat([s.flatten() for s in reg.masks.soft().values()])
            assert float(soft.min()) >= float(lo) - 1e-6 and float(soft.max()) <= float(hi) + 1e-6
            assert reg.check() is False and reg.stability.num_updates == 0
    assert reg.start_step == 11                             # the step after the milestone was observed
    assert reg.masks.gate == 1.0 and reg.beta > 3.0
    assert any(not torch.equal(p.detach(), init[n]) for n, p in reg.masks.logits().items())
    for t in (11, 21, 31, 100):                             # the temperature follows the steps after the start
        assert reg.beta_at(t) == pytest.approx(3.0 * (10 / 3) ** (min(t - 11, 20) / 20))
    soft = torch.cat([s.flatten() for s in reg.masks.soft().values()])
    cap = torch.sigmoid(torch.tensor(reg.beta * 1.0))
    assert float(soft.max()) <= float(cap) + 1e-6 and float(soft.min()) >= float(1 - cap) - 1e-6


def test_warm_up_alone_starts_the_mask_when_no_milestone_is_set():
    reg = _reg(_net(16), start_after=5)
    for _ in range(4):
        reg.step()
    assert not reg.started
    reg.step()
    assert reg.start_step == 5


def test_erk_allocation_fills_erk_budgets_with_the_largest_logits():
    model = _net(32)
    reg = _reg(model, allocation="erk", density=0.3)
    torch.manual_seed(1)
    with torch.no_grad():
        for lg in reg.parameters():
            lg.copy_(torch.rand_like(lg) * 2 - 1)
    hard = reg.hard()
    shapes = reg.masks.shapes()
    counts = layer_counts({n: math.prod(s) for n, s in shapes.items()}, allocate_densities(shapes, 0.3, "erk"))
    for n, h in hard.items():
        assert abs(int(h.sum()) - counts[n]) <= 1
        lg = reg.masks.logits()[n].detach()
        assert float(lg[h].min()) >= float(lg[~h].max())
    assert reg.hard_density(hard) == pytest.approx(0.3, abs=0.01)
    # the global rule on the same logits: one threshold, so per-layer densities are whatever the logits say
    glob = _reg(_net(32))
    with torch.no_grad():
        for a, b in zip(glob.parameters(), reg.parameters()):
            a.copy_(b)
    assert all(torch.equal(h, lg.detach() > 0) for h, lg in zip(glob.hard().values(), glob.parameters()))
    # erk without a density follows the global rule's overall density
    free = _reg(_net(32), allocation="erk")
    with torch.no_grad():
        for a, b in zip(free.parameters(), reg.parameters()):
            a.copy_(b)
    assert free.hard_density() == pytest.approx(glob.global_density(), abs=0.01)
    with pytest.raises(ValueError, match="density is read by allocation='erk'"):
        _reg(_net(8), density=0.3)


def test_state_round_trip_resumes_the_schedule_and_the_mask_optimizer():
    a = _reg(_net(16), start_after=2, stability={"window": 2, "tol": 0.5})
    x = torch.randn(4, 8)
    for _ in range(4):
        (a.masks.model(x).pow(2).mean() + a.penalty()).backward()
        a.step()
        a.check()
    state = copy.deepcopy(a.state_dict())               # as through a checkpoint file (no shared tensors)
    b = _reg(_net(16), start_after=2, stability={"window": 2, "tol": 0.5})
    with torch.no_grad():
        for p, q in zip(b.parameters(), a.parameters()):
            p.copy_(q)
    b.load_state_dict(state)
    assert b.start_step == a.start_step == 2 and b.beta == a.beta and b.masks.gate == 1.0
    assert b.stability.num_updates == a.stability.num_updates
    for r in (a, b):
        (r.masks.model(x).pow(2).mean() + r.penalty()).backward()
        r.step()
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    with pytest.raises(ValueError, match="lacks"):
        b.load_state_dict({"step": 1})


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="lam"):
        _reg(_net(8), lam=-1.0)
    with pytest.raises(ValueError, match="allocation"):
        _reg(_net(8), allocation="per_block")
    with pytest.raises(ValueError, match="beta_start"):
        SoftMaskL1(SoftMasks(_net(8)), lam=0.1, beta_start=0.0, beta_end=1.0, anneal_steps=1)
    with pytest.raises(ValueError, match="stability detector"):
        _reg(_net(8)).check()
    assert build_regularizer(_net(8), lam=0.1, enabled=False) is None


def test_the_loop_adds_the_penalty_and_steps_the_regularizer(tmp_path):
    """Through core.training.loop.TrainLoop's regularizer slot: with a price, the logits fall; without, they move
    only with the task; the regularizer's state is in the checkpoint."""
    from core.training.loop import StepOutput, Task, TrainLoop
    from core.training.run import LoopSettings, prepare_run

    class T(Task):
        def epoch_batches(self, epoch):
            g = torch.Generator().manual_seed(epoch)
            return [torch.randn(8, 8, generator=g) for _ in range(4)]

        def training_step(self, model, batch, step):
            return StepOutput(model(batch).pow(2).mean())

    means = {}
    for lam in (0.0, 0.05):
        run = prepare_run(LoopSettings(run_dir=tmp_path / f"lam{lam}", max_steps=6, progress=False), app="toy")
        model = _net(16)
        reg = _reg(model, lam=lam, lr=0.05)
        logits = {id(p) for p in reg.parameters()}
        opt = torch.optim.SGD([p for p in model.parameters() if id(p) not in logits], lr=0.01)
        TrainLoop(run, model, opt, T(), regularizer=reg).run()
        means[lam] = float(torch.cat([p.detach().flatten() for p in reg.parameters()]).mean())
        ck = torch.load(sorted((tmp_path / f"lam{lam}" / "checkpoints").glob("*.pt"))[-1], weights_only=False)
        assert ck["states"]["regularizer"]["step"] == 6
    assert means[0.05] < means[0.0] - 0.1                    # the price reached the loss and the logits


def test_stability_needs_the_start():
    reg = _reg(_net(8), start_after=100, stability={"window": 2, "tol": 1.0})
    for _ in range(3):
        reg.step()
        assert reg.check() is False
    assert isinstance(reg.stability, MaskStability) and reg.stability.num_updates == 0
