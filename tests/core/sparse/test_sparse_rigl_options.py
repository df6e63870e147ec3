"""RigL-reference options and safety: first/last-layer densities, random tie-breaking in drop and grow, regrowth drawn
on the weight's device, steps the optimizer skipped (GradScaler) and non-finite gradients, optimizers whose state
cannot be masked."""
import pytest
import torch
from torch import nn

from core.sparse import DynamicSparsity, erk_densities, topk_random_ties
from core.sparse import criteria as C
from sparse_testutils import cnn, loss_fn


# ---------------------------------------------------------------- first / last layer
def test_first_and_last_layer_density_as_rigl_custom_map():
    model = cnn()
    sp = DynamicSparsity(model, density=0.2, init="erk", first_layer_density=1.0, last_layer_density=0.5)
    d = sp.densities()
    assert d["conv1"] == 1.0 and abs(d["head"] - 0.5) <= 1 / model.head.weight.numel()
    assert torch.all(model.conv1.weight != 0)
    # the other layers hold `density` of *their* weights (RigL's custom_sparsity_map leaves fixed layers out)
    rest = [r for r in sp.report() if r["name"] not in ("conv1", "head")]
    assert sum(r["nonzero"] for r in rest) / sum(r["numel"] for r in rest) == pytest.approx(0.2, abs=1e-3)
    shapes = {r["name"]: r["shape"] for r in rest}
    erk = erk_densities(shapes, 0.2)
    assert all(abs(d[n] - erk[n]) < 2 / r["numel"] for n, r in zip(shapes, rest))
    # the dense first layer never changes in an update
    sp2 = DynamicSparsity(cnn(), density=0.2, first_layer_density=1.0, grow="random")
    before = sp2.masks["conv1"].clone()
    sp2.update_topology(drop_fraction=0.5)
    assert torch.equal(before, sp2.masks["conv1"]) and bool(before.all())


def test_first_layer_default_is_allocated_like_the_others():
    sp = DynamicSparsity(cnn(), density=0.2, init="uniform")
    assert sp.first_layer_density is None and sp.densities()["conv1"] == pytest.approx(0.2, abs=0.01)


@pytest.mark.parametrize("kwargs,needle", [
    (dict(first_layer_density=0.0), "first_layer_density"),
    (dict(last_layer_density=1.5), "last_layer_density"),
    (dict(first_layer_density=1.0, init="dense_first_last"), "dense_first_last"),
    (dict(first_layer_density=1.0, densities={"conv1": 1.0, "conv2": .2, "conv3": .2, "head": .2}), "densities"),
])
def test_edge_density_bad_input(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        DynamicSparsity(cnn(), density=0.2, **kwargs)


# ---------------------------------------------------------------- ties
def _zero_grad_case(seed):
    model = nn.Sequential(nn.Linear(64, 64, bias=False))
    mask = torch.zeros(64, 64, dtype=torch.bool)
    mask[:, :8] = True  # 512 active
    sp = DynamicSparsity.from_masks(model, {"0": mask}, grow="gradient", seed=seed)
    with torch.no_grad():
        model[0].weight.fill_(0.5)  # every active weight ties for pruning
    model[0].weight.grad = torch.zeros(64, 64)  # every inactive entry ties for growth
    before = sp.masks["0"].clone()
    sp.update_topology(drop_fraction=100 / 512)
    after = sp.masks["0"]
    return before & ~after, after & ~before


def test_ties_in_drop_and_grow_are_broken_at_random_with_the_seed():
    dropped, grown = _zero_grad_case(0)
    assert int(dropped.sum()) == int(grown.sum()) == 100
    # index order would fill the first rows (100 grown in 2 rows, 100 dropped in 13 rows); random spreads them
    assert int(grown.any(1).sum()) > 40 and int(dropped.any(1).sum()) > 40
    again = _zero_grad_case(0)
    other = _zero_grad_case(1)
    assert torch.equal(again[0], dropped) and torch.equal(again[1], grown)
    assert not torch.equal(other[1], grown)


def test_topk_random_ties_is_uniform_over_tied_and_exact_elsewhere():
    values = torch.tensor([5.0, 1.0, 3.0, 3.0, 3.0, 3.0, 0.0])
    g = torch.Generator().manual_seed(0)
    hits = torch.zeros(7)
    for _ in range(800):
        idx = topk_random_ties(values, 2, largest=True, generator=g)
        assert 0 in idx.tolist() and len(set(idx.tolist())) == 2
        hits[idx] += 1
    assert hits[0] == 800 and hits[1] == 0 and hits[6] == 0
    assert torch.all((hits[2:6] > 140) & (hits[2:6] < 260))  # 200 expected each (binomial sd ~12)
    smallest = set(topk_random_ties(values, 3, largest=False, generator=g).tolist())
    assert {1, 6} < smallest and len(smallest - {1, 6}) == 1 and (smallest - {1, 6}) <= {2, 3, 4, 5}


def test_regrowth_draws_on_the_weight_device_without_global_rng(monkeypatch):
    seen = []
    real = C.device_generator   # the engine draws through core.sparse.criteria.device_generator

    def spy(seed, device):
        seen.append(torch.device(device))
        return real(seed, device)

    monkeypatch.setattr(C, "device_generator", spy)
    model = cnn()
    sp = DynamicSparsity(model, density=0.3, grow="random")
    torch.manual_seed(5)
    state = torch.get_rng_state()
    sp.update_topology(drop_fraction=0.3)
    assert torch.equal(state, torch.get_rng_state())  # the global RNG is untouched
    assert seen and all(d == model.conv1.weight.device for d in seen)


# ---------------------------------------------------------------- skipped steps / non-finite gradients
def test_step_skipped_by_grad_scaler_does_not_count():
    model = cnn()
    sp = DynamicSparsity(model, density=0.3, grow="gradient", update_every=2, end_step=100)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sp.attach(opt)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**4)
    for step in range(4):
        opt.zero_grad()
        scaler.scale(loss_fn(model, step)).backward()
        if step == 1:  # an overflow: GradScaler skips optimizer.step()
            model.conv1.weight.grad[0, 0, 0, 0] = float("inf")
        masks = {n: m.clone() for n, m in sp.masks.items()}
        scaler.step(opt)
        scaler.update()
        updated = sp.step()
        if step == 1:
            assert not updated and sp.step_count == 1 and sp.skipped_steps == 1
            assert all(torch.equal(masks[n], sp.masks[n]) for n in sp.names)
    assert sp.step_count == 3  # 4 calls, one optimizer step skipped


@pytest.mark.parametrize("grow", ["gradient", "random"])
def test_update_skipped_when_gradients_not_finite(grow):
    model = cnn()
    sp = DynamicSparsity(model, density=0.3, grow=grow, update_every=1, end_step=100)
    loss_fn(model, 0).backward()
    model.conv2.weight.grad[0, 0, 0, 0] = float("nan")
    before = {n: m.clone() for n, m in sp.masks.items()}
    assert sp.step() is False
    assert sp.step_count == 1 and sp.skipped_updates == 1
    assert all(torch.equal(before[n], sp.masks[n]) for n in sp.names)
    model.conv2.weight.grad[0, 0, 0, 0] = 0.0
    assert sp.step() is True


# ---------------------------------------------------------------- optimizers the engine cannot mask
def test_adafactor_is_refused_at_attach():
    if not hasattr(torch.optim, "Adafactor"):
        pytest.skip("torch.optim.Adafactor not in this torch")
    model = cnn()
    sp = DynamicSparsity(model, density=0.3)
    with pytest.raises(ValueError, match="factored"):
        sp.attach(torch.optim.Adafactor(model.parameters(), lr=1e-2))


class _RowNormSGD(torch.optim.Optimizer):
    """A toy optimizer whose state is one value per output row (not weight-shaped)."""

    def __init__(self, params, lr=0.1):
        super().__init__(params, dict(lr=lr))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if p.dim() >= 2:
                    st["row_norm"] = p.grad.flatten(1).norm(dim=1)
                p.add_(p.grad, alpha=-group["lr"])


def test_optimizer_with_unmaskable_state_gets_a_clear_error():
    model = cnn()
    sp = DynamicSparsity(model, density=0.3)
    opt = _RowNormSGD(model.parameters())
    sp.attach(opt)
    loss_fn(model, 0).backward()
    with pytest.raises(ValueError, match=r"row_norm.*cannot|can only zero optimizer state of the weight's shape"):
        opt.step()
