"""state_dict round trip (a fresh engine continues bitwise identically), from_masks, report and plot."""
import pytest
import torch

from core.sparse import DynamicSparsity, plot_density
from core.testing import TinyCNN
from sparse_testutils import cnn, train


def _make(seed_model, seed_engine, grow="random"):
    model = cnn(seed_model)
    sp = DynamicSparsity(model, density=0.2, grow=grow, update_every=4, end_step=40, seed=seed_engine)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sp.attach(opt)
    return model, sp, opt


@pytest.mark.parametrize("grow", ["random", "gradient"])
def test_round_trip_continues_identically(grow, tmp_path):
    model, sp, opt = _make(0, 0, grow)
    train(model, opt, sp, 10)
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sparsity": sp.state_dict()}, tmp_path / "ck.pt")
    train(model, opt, sp, 15, start=10)

    model2, sp2, opt2 = _make(7, 99, grow)  # different weights and generator: all must come from the checkpoint
    ck = torch.load(tmp_path / "ck.pt", weights_only=False)
    model2.load_state_dict(ck["model"])
    opt2.load_state_dict(ck["opt"])
    sp2.load_state_dict(ck["sparsity"])
    assert sp2.step_count == 10
    train(model2, opt2, sp2, 15, start=10)
    for n in sp2.names:  # the hook follows the optimizer's new state dict after load_state_dict
        w = sp2.weight(n)
        assert torch.all(opt2.state[w]["momentum_buffer"][~sp2.weight_mask(n)] == 0), n
    for n in sp.names:
        assert torch.equal(sp.masks[n], sp2.masks[n]), n
    for (k, a), (_, b) in zip(model.state_dict().items(), model2.state_dict().items()):
        assert torch.equal(a, b), k


def test_load_state_dict_from_another_model_fails_naming_layer():
    sp = DynamicSparsity(cnn(), density=0.2)
    other = DynamicSparsity(TinyCNN(width=4), density=0.2)
    with pytest.raises(ValueError, match="conv1"):
        sp.load_state_dict(other.state_dict())
    sd = sp.state_dict()
    sd["masks"]["extra"] = sd["masks"]["conv1"]
    with pytest.raises(ValueError, match="extra"):
        sp.load_state_dict(sd)
    del sd["masks"]["extra"], sd["masks"]["head"]
    with pytest.raises(ValueError, match="head"):
        sp.load_state_dict(sd)
    with pytest.raises(ValueError, match="generator"):
        sp.load_state_dict({"masks": {}, "step": 0})


def test_from_masks_static():
    model = cnn()
    g = torch.Generator().manual_seed(0)
    masks = {"conv2": torch.rand(model.conv2.weight.shape, generator=g) < 0.3,
             "conv3": torch.rand(model.conv3.weight.shape[:2], generator=g) < 0.5}
    with pytest.raises(ValueError, match="conv3"):  # (out, in) mask needs granularity="kernel"
        DynamicSparsity.from_masks(model, masks)
    masks["conv3"] = masks["conv3"][:, :, None, None].expand_as(model.conv3.weight).clone()
    before = {n: getattr(model, n).weight.detach().clone() for n in masks}
    sp = DynamicSparsity.from_masks(model, masks, update_every=2)
    for n in masks:  # active weights kept exactly, the rest zeroed
        w = getattr(model, n).weight
        assert torch.equal(w[masks[n]], before[n][masks[n]]) and torch.all(w[~masks[n]] == 0)
    assert sp.names == ["conv2", "conv3"]
    for n in sp.names:
        assert torch.equal(sp.masks[n], masks[n])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sp.attach(opt)
    train(model, opt, sp, 6)
    for n in sp.names:
        assert torch.equal(sp.masks[n], masks[n])  # static: never changes
        assert torch.all(sp.weight(n)[~masks[n]] == 0)
    want = sum(int(m.sum()) for m in masks.values()) / sum(m.numel() for m in masks.values())
    assert sp.density() == pytest.approx(want)
    with pytest.raises(ValueError, match="nope"):
        DynamicSparsity.from_masks(model, {"nope": masks["conv2"]})


def test_report_and_plot(tmp_path):
    sp = DynamicSparsity(cnn(), density=0.1)
    rows = sp.report()
    assert [r["name"] for r in rows] == sp.names
    for r in rows:
        assert r["nonzero"] == int(sp.weight_mask(r["name"]).sum()) and r["density"] == r["nonzero"] / r["numel"]
    assert sp.densities() == {r["name"]: r["density"] for r in rows}
    assert sp.density() == pytest.approx(0.1, abs=1e-3)
    p = plot_density(rows, tmp_path / "plots" / "density.png")
    assert p.exists() and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
