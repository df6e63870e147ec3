"""Attention weights are targets: nn.MultiheadAttention's in_proj_weight is masked by default (torchaudio's Conformer,
nn.TransformerEncoderLayer), module- and parameter-name globs reach it, Q/K/V thirds can get their own densities,
and density()/report() equal the true non-zero fraction of every matrix weight."""
import pytest
import torch
import torchaudio
from torch import nn

from core.sparse import DynamicSparsity, resolve_target, select_parameters
from core.testing import TinyTransformer


def _matrix_params(model, skip=("embed", "pos")):
    """Every >= 2-D parameter except embeddings: what 'every matrix weight' means in these tests."""
    return {n: p for n, p in model.named_parameters() if p.dim() >= 2 and not n.startswith(skip)}


def _true_density(params):
    return sum(int((p != 0).sum()) for p in params.values()) / sum(p.numel() for p in params.values())


def _conformer():
    torch.manual_seed(0)
    return torchaudio.models.Conformer(input_dim=16, num_heads=2, ffn_dim=32, num_layers=2, depthwise_conv_kernel_size=3)


def _encoder_layer():
    torch.manual_seed(0)
    return nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)


@pytest.mark.parametrize("make", [_conformer, _encoder_layer], ids=["conformer", "encoder_layer"])
@pytest.mark.parametrize("init", ["uniform", "erk"])
def test_every_matrix_weight_masked_at_target_density(make, init):
    model = make()
    mats = _matrix_params(model)
    assert any(n.endswith("in_proj_weight") for n in mats)
    sp = DynamicSparsity(model, density=0.2, init=init)
    assert {r["param"] for r in sp.report()} == set(mats)  # every matrix weight is a target, nothing else
    assert sp.density() == pytest.approx(0.2, abs=1e-3)
    assert _true_density(mats) == pytest.approx(sp.density(), abs=1e-12)  # reported == real non-zero fraction
    for row in sp.report():
        p = mats[row["param"]]
        assert int((p != 0).sum()) == row["nonzero"], row["name"]
        if init == "uniform":
            assert abs(row["nonzero"] - 0.2 * row["numel"]) <= 1, row["name"]


def test_tiny_transformer_attention_counted():
    model = TinyTransformer()
    sp = DynamicSparsity(model, density=0.1)
    mats = _matrix_params(model)
    assert "encoder.layers.0.self_attn.in_proj_weight" in sp.names
    assert _true_density(mats) == pytest.approx(0.1, abs=1e-3) == sp.density()


def test_module_and_parameter_globs():
    model = TinyTransformer()
    attn = list(select_parameters(model, "*self_attn"))
    assert attn == ["encoder.layers.0.self_attn.in_proj_weight", "encoder.layers.0.self_attn.out_proj",
                    "encoder.layers.1.self_attn.in_proj_weight", "encoder.layers.1.self_attn.out_proj"]
    assert list(select_parameters(model, "*.in_proj_weight")) == [a for a in attn if a.endswith("in_proj_weight")]
    assert list(select_parameters(model, "*out_proj.weight")) == [a for a in attn if a.endswith("out_proj")]
    # a callable over modules picks the attention module's own matrix (its out_proj is a separate Linear)
    picked = select_parameters(model, lambda n, m: isinstance(m, nn.MultiheadAttention))
    assert list(picked) == [a for a in attn if a.endswith("in_proj_weight")]
    # biases and norm scales are never candidates, even under "*"; parametrization internals neither
    everything = select_parameters(model, "*")
    assert not any("bias" in n or "norm" in n for n in everything)
    assert resolve_target(model, "encoder.layers.0.linear1.weight").name == "encoder.layers.0.linear1"
    with pytest.raises(ValueError, match="no module weight or parameter named"):
        resolve_target(model, "encoder.layers.0.nope")


def test_split_qkv_separate_densities():
    model = TinyTransformer()
    base = "encoder.layers.0.self_attn.in_proj_weight"
    names = list(select_parameters(model, None, split_qkv=True))
    assert [f"{base}[q]", f"{base}[k]", f"{base}[v]"] == names[:3]
    dens = {n: 0.5 for n in names}
    dens.update({f"{base}[q]": 0.1, f"{base}[k]": 0.3, f"{base}[v]": 0.9})
    sp = DynamicSparsity(model, density=0.5, split_qkv=True, densities=dens, grow="gradient", update_every=1)
    w = model.encoder.layers[0].self_attn.in_proj_weight
    e = w.shape[1]
    for i, (q, d) in enumerate([("q", 0.1), ("k", 0.3), ("v", 0.9)]):
        block = w[i * e:(i + 1) * e]
        assert int((block != 0).sum()) == round(d * e * e) == sp.report()[i]["nonzero"]
        assert sp.weight(f"{base}[{q}]").shape == (e, e)
    # an update keeps each block's own count, and the parameter-level mask joins the blocks
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    sp.attach(opt)
    counts = {n: int(m.sum()) for n, m in sp.masks.items()}
    tokens = torch.randint(0, 64, (2, 6), generator=torch.Generator().manual_seed(0))
    model(tokens).square().mean().backward()
    opt.step()
    assert sp.step()
    assert {n: int(m.sum()) for n, m in sp.masks.items()} == counts
    pm = sp.parameter_masks()["encoder.layers.0.self_attn.in_proj_weight"]
    assert torch.equal(pm, torch.cat([sp.weight_mask(f"{base}[{q}]") for q in "qkv"]))
    assert torch.all(w[~pm] == 0) and torch.all(opt.state[w]["exp_avg"][~pm] == 0)


def test_soft_masks_on_attention_forward_backward_harden():
    from core.regularizers import SoftMasks

    layer = _encoder_layer()
    x = torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(1))
    ref = layer(x).detach()
    masks = SoftMasks(layer, init_logit=3.0)
    assert "self_attn.in_proj_weight" in masks.targets
    out = layer(x)  # MultiheadAttention's forward reads the parametrized in_proj_weight
    assert not torch.allclose(out, ref)  # the masks act on attention too
    out.square().mean().backward()
    logits = masks.logits()["self_attn.in_proj_weight"]
    assert logits.grad is not None and float(logits.grad.abs().sum()) > 0
    layer.eval()
    with torch.no_grad():  # the inference fast path works with the parametrized weight as well
        assert torch.isfinite(layer(x)).all()
    layer.train()
    with torch.no_grad():
        logits[:8].fill_(-10.0)  # switch off the first 8 rows of Q
    hard = masks.harden()
    assert hard["self_attn.in_proj_weight"].shape == (48, 16)
    w = layer.self_attn.in_proj_weight
    assert isinstance(w, nn.Parameter) and torch.all(w[:8] == 0)
    sp = DynamicSparsity.from_masks(layer, hard)
    assert set(sp.names) == set(hard)
    assert sp.weight_mask("self_attn.in_proj_weight")[:8].sum() == 0


@pytest.mark.parametrize("grow", ["random", "gradient"])
def test_transformer_training_keeps_attention_exact(grow):
    torch.manual_seed(0)
    model = TinyTransformer()
    sp = DynamicSparsity(model, density=0.2, grow=grow, update_every=3, end_step=20, drop_fraction=0.3, seed=1)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    sp.attach(opt)
    mats = {n: p for n, p in _matrix_params(model).items() if n in {r["param"] for r in sp.report()}}
    changed = False
    before = {n: m.clone() for n, m in sp.masks.items()}
    for s in range(9):
        g = torch.Generator().manual_seed(s)
        opt.zero_grad()
        out = model(torch.randint(0, 64, (2, 6), generator=g))
        nn.functional.cross_entropy(out.reshape(-1, 64), torch.randint(0, 64, (12,), generator=g)).backward()
        opt.step()
        sp.step()
        assert _true_density(mats) <= sp.density() + 1e-12
        for n in sp.names:
            wm = sp.weight_mask(n)
            assert torch.all(sp.weight(n)[~wm] == 0)
            assert torch.all(opt.state[sp.weight(n)]["exp_avg_sq"][~wm] == 0)
    changed = any(not torch.equal(before[n], sp.masks[n]) for n in sp.names if "in_proj" in n)
    assert changed, "the attention masks never moved"
