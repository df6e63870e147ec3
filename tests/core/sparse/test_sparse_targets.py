"""Target selection: default types, globs, callables, and the error when nothing matches."""
import pytest
from torch import nn

from core.sparse import select_targets
from core.testing import TinyCNN, TinyTransformer


def test_default_is_conv_and_linear():
    assert list(select_targets(TinyCNN(), None)) == ["conv1", "conv2", "conv3", "head"]
    t = select_targets(TinyTransformer(), None)
    assert "head" in t and "encoder.layers.0.linear1" in t and "encoder.layers.0.self_attn.out_proj" in t
    assert not any("norm" in n for n in t) and "embed" not in t


def test_globs_and_callable():
    m = TinyCNN()
    assert list(select_targets(m, ["conv*"])) == ["conv1", "conv2", "conv3"]
    assert list(select_targets(m, "head")) == ["head"]
    assert list(select_targets(m, lambda n, mod: isinstance(mod, nn.Conv2d) and mod.in_channels > 3)) == ["conv2", "conv3"]
    # globs never pick 1-D norm scales; they may pick an embedding explicitly
    tt = TinyTransformer()
    picked = select_targets(tt, ["encoder.layers.0.*", "embed"])
    assert "embed" in picked and not any("norm" in n for n in picked)


def test_nothing_matches_names_filter_and_modules():
    with pytest.raises(ValueError) as e:
        select_targets(TinyCNN(), ["decoder.*"])
    msg = str(e.value)
    assert "decoder.*" in msg and "conv1" in msg and "head" in msg
    with pytest.raises(ValueError, match="matched no module"):
        select_targets(nn.Sequential(nn.ReLU()), None)
    with pytest.raises(ValueError, match="valid choices"):
        select_targets(TinyCNN(), 42)
