"""SoftMasks select parameters like the sparse engine: attention's in_proj_weight gets a soft mask that the
MultiheadAttention forward uses, and remove()/harden() give back plain Parameters."""
import torch
from torch import nn

from core.regularizers import SoftMasks
from core.sparse import DynamicSparsity
from core.testing import TinyTransformer


def test_default_targets_include_attention_and_count_in_penalty_and_density():
    torch.manual_seed(0)
    model = TinyTransformer()
    masks = SoftMasks(model, init_logit=3.0)
    name = "encoder.layers.0.self_attn.in_proj_weight"
    assert name in masks.targets and "encoder.layers.0.self_attn.out_proj" in masks.targets
    assert f"{name.rsplit('.', 1)[0]}.parametrizations.in_proj_weight.0.logits" in model.state_dict()
    with torch.no_grad():
        masks.logits()[name].fill_(-5.0)  # attention's Q/K/V all off
    total = sum(p.numel() for p in masks.parameters())
    off = masks.logits()[name].numel()
    assert abs(masks.density() - (total - off) / total) < 1e-9
    tokens = torch.randint(0, 64, (2, 6), generator=torch.Generator().manual_seed(0))
    out = model(tokens)
    (out.square().mean() + masks.penalty()).backward()
    assert masks.logits()[name].grad is not None


def test_remove_and_harden_restore_plain_parameters_on_attention():
    for how in ("remove", "harden"):
        torch.manual_seed(0)
        model = TinyTransformer()
        raw = model.encoder.layers[1].self_attn.in_proj_weight.detach().clone()
        masks = SoftMasks(model, ["*self_attn"], init_logit=3.0)
        assert sorted(masks.targets) == sorted(
            f"encoder.layers.{i}.self_attn.{p}" for i in (0, 1) for p in ("in_proj_weight", "out_proj"))
        with torch.no_grad():
            masks.logits()["encoder.layers.1.self_attn.in_proj_weight"][:5].fill_(-5.0)
        result = getattr(masks, how)()
        w = model.encoder.layers[1].self_attn.in_proj_weight
        assert isinstance(w, nn.Parameter)
        if how == "remove":
            assert torch.equal(w, raw)
        else:
            assert torch.all(w[:5] == 0) and torch.equal(w[5:], raw[5:])
            sp = DynamicSparsity.from_masks(model, result)
            assert int(sp.weight_mask("encoder.layers.1.self_attn.in_proj_weight")[:5].sum()) == 0
        tokens = torch.randint(0, 64, (2, 6), generator=torch.Generator().manual_seed(0))
        assert torch.isfinite(model(tokens)).all()
