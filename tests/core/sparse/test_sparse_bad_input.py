"""Bad input raises a ValueError naming the value and the valid choices, before the model is touched."""
import pytest
import torch

from core.sparse import DynamicSparsity, build_sparsity
from sparse_testutils import cnn

CASES = [
    (dict(density=0.0), "density"),
    (dict(density=1.5), "density"),
    (dict(density=-0.2), "density"),
    (dict(init="random_erk"), "erk, uniform, dense_first_last"),
    (dict(prune="gradient"), "magnitude"),
    (dict(grow="momentum"), "random, gradient, none"),
    (dict(granularity="channel"), "weight, kernel"),
    (dict(update_every=0), "update_every"),
    (dict(update_every=2.5), "update_every"),
    (dict(end_step=-1), "end_step"),
    (dict(drop_fraction=1.5), "drop_fraction"),
    (dict(drop_fraction="sawtooth"), "cosine"),
    (dict(drop_fraction={"schedule": "sawtooth"}), "sawtooth"),
    (dict(drop_fraction={"schedule": "cosine", "start": 2.0}, end_step=10), "start"),
    (dict(drop_fraction="cosine"), "end_step"),
    (dict(targets=["decoder.*"]), "decoder"),
    (dict(densities={"conv1": 0.5}), "missing"),
    (dict(seed="zero"), "seed"),
]


@pytest.mark.parametrize("kwargs,needle", CASES, ids=[str(c[0]) for c in CASES])
def test_constructor_rejects_before_touching_model(kwargs, needle):
    model = cnn()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=needle):
        DynamicSparsity(model, **kwargs)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), f"{k} modified by a failed constructor"


def test_message_names_the_bad_value():
    with pytest.raises(ValueError, match="'momentum'.*valid choices: random, gradient, none"):
        DynamicSparsity(cnn(), grow="momentum")
    with pytest.raises(ValueError, match=r"density=1\.5 must be in \(0, 1\]"):
        DynamicSparsity(cnn(), density=1.5)


def test_attach_to_unrelated_optimizer():
    sp = DynamicSparsity(cnn(), density=0.5)
    with pytest.raises(ValueError, match="none of the target weights"):
        sp.attach(torch.optim.SGD(cnn().parameters(), lr=0.1))


def test_gradient_growth_without_grad_is_explained():
    sp = DynamicSparsity(cnn(), density=0.5, grow="gradient", drop_fraction=0.3)
    with pytest.raises(RuntimeError, match="before optimizer.zero_grad"):
        sp.update_topology()


def test_build_sparsity_checks():
    assert build_sparsity(cnn(), enabled=False) is None
    with pytest.raises(ValueError, match="total_steps"):
        build_sparsity(cnn(), end_step_fraction=0.5)
    with pytest.raises(ValueError, match="end_step_fraction"):
        build_sparsity(cnn(), end_step_fraction=1.5, total_steps=10)
