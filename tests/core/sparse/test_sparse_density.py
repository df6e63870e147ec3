"""Density allocation: ERK exact global density with dense-capped layers, uniform, counts."""
import math

import pytest

from core.sparse import dense_first_last_densities, erk_densities, global_density, layer_counts, uniform_densities

SHAPES = {
    "stem": (16, 3, 3, 3),      # small, high ERK probability -> dense
    "conv1": (32, 16, 3, 3),
    "conv2": (64, 32, 3, 3),
    "conv3": (128, 64, 3, 3),
    "fc": (10, 128),
}


def _numel(s):
    return math.prod(s)


@pytest.mark.parametrize("density", [0.05, 0.1, 0.3, 0.8])
def test_erk_global_density_exact_and_capped(density):
    d = erk_densities(SHAPES, density)
    assert set(d) == set(SHAPES)
    assert all(0 < v <= 1.0 for v in d.values())
    assert global_density(SHAPES, d) == pytest.approx(density, rel=1e-12)
    # the non-dense layers follow the ERK ratio (sum/prod) with one common scale
    sparse = [n for n, v in d.items() if v < 1.0]
    raw = {n: sum(s) / _numel(s) for n, s in SHAPES.items()}
    eps = {d[n] / raw[n] for n in sparse}
    assert max(eps) == pytest.approx(min(eps), rel=1e-9)
    # a capped (dense) layer would have exceeded 1 with the common scale
    for n, v in d.items():
        if v == 1.0:
            assert raw[n] * min(eps) >= 1.0 - 1e-9


def test_erk_caps_small_layers_at_low_density():
    d = erk_densities(SHAPES, 0.1)
    assert d["stem"] == 1.0 and d["fc"] == 1.0
    assert d["conv3"] < d["conv2"] < d["conv1"] < 1.0


def test_erk_density_one_and_power_scale_zero():
    assert erk_densities(SHAPES, 1.0) == {n: 1.0 for n in SHAPES}
    d0 = erk_densities(SHAPES, 0.3, power_scale=0.0)
    assert all(v == pytest.approx(0.3) for v in d0.values())


def test_uniform_and_dense_first_last():
    assert uniform_densities(SHAPES, 0.2) == {n: 0.2 for n in SHAPES}
    d = dense_first_last_densities(SHAPES, 0.2)
    assert d["stem"] == 1.0 and d["fc"] == 1.0
    assert global_density(SHAPES, d) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="dense_first_last"):
        dense_first_last_densities({"a": (100, 100), "b": (10, 10), "c": (100, 100)}, 0.1)


@pytest.mark.parametrize("density", [0.013, 0.1, 0.37])
def test_layer_counts_sum_exactly(density):
    d = erk_densities(SHAPES, density)
    numel = {n: _numel(s) for n, s in SHAPES.items()}
    c = layer_counts(numel, d)
    assert sum(c.values()) == round(density * sum(numel.values()))
    for n in SHAPES:
        assert math.floor(d[n] * numel[n]) <= c[n] <= math.ceil(d[n] * numel[n]) and c[n] <= numel[n]


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5, float("nan"), "x"])
def test_bad_density(bad):
    with pytest.raises(ValueError, match="density"):
        erk_densities(SHAPES, bad)
    with pytest.raises(ValueError, match="density"):
        uniform_densities(SHAPES, bad)


def test_engine_uses_the_chosen_allocation():
    from core.sparse import DynamicSparsity
    from sparse_testutils import cnn

    model = cnn()
    shapes = {n: tuple(getattr(model, n).weight.shape) for n in ("conv1", "conv2", "conv3", "head")}
    numel = {n: math.prod(s) for n, s in shapes.items()}
    for init, fn in (("erk", erk_densities), ("uniform", uniform_densities), ("dense_first_last", dense_first_last_densities)):
        sp = DynamicSparsity(cnn(), density=0.3, init=init)
        want = layer_counts(numel, fn(shapes, 0.3))
        assert {r["name"]: r["nonzero"] for r in sp.report()} == want, init
        assert sum(want.values()) == round(0.3 * sum(numel.values()))
    sp = DynamicSparsity(cnn(), density=0.3, densities={"conv1": 1.0, "conv2": 0.5, "conv3": 0.25, "head": 0.1})
    assert sp.densities() == pytest.approx({"conv1": 1.0, "conv2": 0.5, "conv3": 0.25, "head": 0.1}, abs=1 / 80)
