"""Prune/grow criteria are small registered objects (issue 27): the built-in names keep working, a new criterion
is one class plus its registration, bad names list the valid ones."""
import pytest
import torch
from torch import nn

from core.sparse import (DynamicSparsity, GrowCriterion, PruneCriterion, build_sparsity, grow_criteria, make_grow,
                         make_prune, prune_criteria, register_grow, register_prune)
from core.sparse import criteria as C
from core.sparse.topology import kernel_reduce


def test_builtin_names_resolve_to_their_classes():
    assert {"magnitude"} <= set(prune_criteria()) and {"random", "gradient", "none"} <= set(grow_criteria())
    assert isinstance(make_prune("magnitude"), C.MagnitudePruning)
    assert isinstance(make_grow("gradient"), C.GradientGrowth) and make_grow("none").updates is False
    sp = DynamicSparsity(nn.Sequential(nn.Linear(4, 4)), density=0.5, prune="magnitude", grow="gradient")
    assert (sp.prune, sp.grow) == ("magnitude", "gradient") and isinstance(sp.grow_criterion, C.GradientGrowth)
    with pytest.raises(ValueError, match="grow='momentum' is not a registered grow criterion; valid choices: random"):
        DynamicSparsity(nn.Sequential(nn.Linear(4, 4)), grow="momentum")
    with pytest.raises(ValueError, match="prune='snip'.*valid choices: magnitude"):
        build_sparsity(nn.Sequential(nn.Linear(4, 4)), prune="snip")


def _case():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 2, bias=False))
    mask = torch.tensor([[1, 1, 1, 1], [0, 0, 0, 0]], dtype=torch.bool)
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[0.1, -5.0, 0.2, 3.0], [0.0, 0.0, 0.0, 0.0]]))
    model[0].weight.grad = torch.tensor([[9.0, 9.0, 9.0, 9.0], [-4.0, 0.01, 7.0, 0.02]])
    return model, mask


def test_a_new_growth_criterion_is_one_class_and_its_registration():
    @register_grow
    class SmallestGradient(GrowCriterion):
        """A deliberately odd rule: grow where |grad| is smallest."""

        name = "test_smallest_gradient"

        def score(self, weight, grad, granularity):
            return -kernel_reduce(grad, granularity)

    try:
        assert "test_smallest_gradient" in grow_criteria()
        model, mask = _case()
        sp = DynamicSparsity.from_masks(model, {"0": mask}, grow="test_smallest_gradient")
        sp.update_topology(drop_fraction=0.5)       # drop |w| 0.1, 0.2; grow the two smallest |grad| of row 1
        assert torch.equal(sp.masks["0"], torch.tensor([[0, 1, 0, 1], [0, 1, 0, 1]], dtype=torch.bool))
        # the same through the sparse config keys, and as an instance
        sp2 = build_sparsity(nn.Sequential(nn.Linear(4, 4)), density=0.5, grow="test_smallest_gradient")
        assert sp2.grow == "test_smallest_gradient"
        sp3 = DynamicSparsity.from_masks(_case()[0], {"0": mask}, grow=SmallestGradient())
        assert sp3.grow == "test_smallest_gradient"
        with pytest.raises(ValueError, match="already registered"):
            @register_grow
            class Other(GrowCriterion):
                name = "test_smallest_gradient"

                def score(self, weight, grad, granularity):
                    return None
    finally:
        C._GROW.pop("test_smallest_gradient", None)


def test_a_new_prune_criterion_sees_weight_and_gradient():
    @register_prune
    class WeightTimesGrad(PruneCriterion):
        name = "test_w_times_g"

        def score(self, weight, grad, granularity):
            return (weight * grad).abs()

    try:
        model, mask = _case()
        sp = DynamicSparsity.from_masks(model, {"0": mask}, prune="test_w_times_g", grow="gradient")
        sp.update_topology(drop_fraction=0.25)      # |w*g| on row 0: 0.9, 45, 1.8, 27 -> drops (0, 0)
        assert sp.masks["0"][0].tolist() == [False, True, True, True]
    finally:
        C._PRUNE.pop("test_w_times_g", None)
    with pytest.raises(TypeError, match="subclass of PruneCriterion"):
        register_prune(int)
