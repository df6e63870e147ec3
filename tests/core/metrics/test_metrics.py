import pytest
import torch
from torch import nn

from core.metrics import Timer, cer, count_flops, count_parameters, time_callable, wer


def test_wer_cer_values():
    assert wer(["the cat sat", "a b"], ["the cat sat", "a b"]) == 0.0
    # one substitution + one deletion over 5 reference words
    assert wer(["the cat sat", "a b"], ["the dog sat", "a"]) == pytest.approx(2 / 5)
    assert cer(["abcd"], ["abed"]) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="differ in length"):
        wer(["a"], [])


def test_count_parameters_with_masks():
    lin = nn.Linear(4, 3)
    model = nn.Sequential(lin)
    with torch.no_grad():
        lin.weight.fill_(1.0)
        lin.bias.fill_(1.0)
    mask = torch.zeros(3, 4, dtype=torch.bool)
    mask[0] = True
    out = count_parameters(model, masks={"0": mask})
    assert out == {"total": 15, "masked_out": 8, "unmasked": 7, "nonzero": 4 + 3}
    with torch.no_grad():
        lin.weight[1, 1] = 0.0
    assert count_parameters(model)["nonzero"] == 14


def test_count_parameters_kernel_mask_broadcasts():
    conv = nn.Conv3d(2, 4, (1, 3, 3), bias=False)
    nn.init.ones_(conv.weight)
    m = torch.zeros(4, 2, dtype=torch.bool)
    m[:2] = True  # half the (out, in) kernels
    out = count_parameters(nn.Sequential(conv), masks={"0": m})
    assert out["total"] == 4 * 2 * 9 and out["nonzero"] == 2 * 2 * 9
    assert out["masked_out"] == 2 * 2 * 9 and out["unmasked"] == out["total"] - out["masked_out"]


def test_count_parameters_separates_masked_from_zero_valued():
    # a zero-initialised bias is kept by no mask but is zero: unmasked counts it, nonzero does not
    conv = nn.Conv3d(2, 4, (1, 3, 3), bias=True)
    nn.init.ones_(conv.weight)
    nn.init.zeros_(conv.bias)
    m = torch.zeros(4, 2, dtype=torch.bool)
    m[0, 0] = True
    out = count_parameters(nn.Sequential(conv), masks={"0": m})
    assert out == {"total": 72 + 4, "masked_out": 72 - 9, "unmasked": 9 + 4, "nonzero": 9}


def test_count_flops_dense_and_sparse():
    model = nn.Sequential(nn.Linear(10, 20, bias=False), nn.ReLU(), nn.Linear(20, 5, bias=False))
    x = torch.randn(3, 10)
    f = count_flops(model, x)
    expected = 2 * 3 * (10 * 20 + 20 * 5)
    assert f["dense"] == expected and f["sparse"] == expected
    g = count_flops(model, x, densities={"0": 0.25})
    assert g["sparse"] == expected - int(0.75 * 2 * 3 * 10 * 20)
    with pytest.raises(ValueError, match="not in the model"):
        count_flops(model, x, densities={"nope": 0.5})


def test_timer_and_time_callable():
    with Timer() as t:
        sum(range(1000))
    assert t.elapsed >= 0
    calls = []
    out = time_callable(lambda: calls.append(1), warmup=2, repeats=3)
    assert len(calls) == 5 and len(out["times"]) == 3 and out["min"] <= out["mean"]


def test_local_edit_distance_equals_torchaudio():
    """core.metrics computes edit distance without torchaudio; it must agree with torchaudio's."""
    import random

    from torchaudio.functional import edit_distance as ta_edit_distance

    from core.metrics.edit_distance import edit_distance

    rng = random.Random(0)
    for _ in range(300):
        a = [rng.choice("abcd ") for _ in range(rng.randint(0, 12))]
        b = [rng.choice("abcd ") for _ in range(rng.randint(0, 12))]
        assert edit_distance(a, b) == ta_edit_distance(a, b)
    assert edit_distance("kitten".split(), []) == 1 and edit_distance(list("kitten"), list("sitting")) == 3


def test_count_flops_nested_densities_scale_every_flop_once():
    """Densities on a container and on modules inside it: each FLOP is scaled by its innermost density only.
    A double count (a container's density also applied to FLOPs a deeper density already scaled, or a grandchild's
    FLOPs taken off twice) changes the value."""
    torch.manual_seed(0)
    inner = nn.Sequential(nn.Linear(8, 8, bias=False), nn.Linear(8, 8, bias=False))
    model = nn.Sequential(nn.Sequential(nn.Linear(4, 8, bias=False), inner), nn.ReLU(), nn.Linear(8, 2, bias=False))
    x = torch.randn(3, 4)
    lin = lambda i, o: 2 * 3 * i * o  # noqa: E731   a Linear on 3 rows: 2 * rows * in * out
    f = count_flops(model, x)
    assert f["dense"] == lin(4, 8) + 2 * lin(8, 8) + lin(8, 2) == 1056
    one = count_flops(model, x, densities={"0": 0.5, "0.1": 0.25})
    # "0.1" scales its two Linears (768) by 0.25; "0" scales only what is left under it, "0.0" (192), by 0.5
    assert one["sparse"] == round(0.5 * lin(4, 8) + 0.25 * 2 * lin(8, 8) + lin(8, 2)) == 384
    three = count_flops(model, x, densities={"0": 0.5, "0.1": 0.25, "0.1.0": 0.1})
    assert three["sparse"] == round(0.5 * lin(4, 8) + 0.25 * lin(8, 8) + 0.1 * lin(8, 8) + lin(8, 2)) == 326
    root = count_flops(model, x, densities={"": 0.5, "0.1.1": 1.0})
    assert root["sparse"] == round(0.5 * (lin(4, 8) + lin(8, 8) + lin(8, 2)) + lin(8, 8)) == 720
    with pytest.raises(ValueError, match="must be in"):
        count_flops(model, x, densities={"0": 1.5})
