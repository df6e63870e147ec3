"""ItemIndex: (sample, part) <-> id round trips and grouping."""
import pytest
import torch

from core.data_pruning import DataPruner, ItemIndex


def test_round_trip_with_empty_samples():
    parts = [3, 0, 2, 5, 1]
    idx = ItemIndex(parts)
    assert idx.num_items == 11 and idx.num_samples == 5 and len(idx) == 11
    samples, ps = idx.to_pairs(torch.arange(11))
    expected = [(s, p) for s, n in enumerate(parts) for p in range(n)]
    assert list(zip(samples.tolist(), ps.tolist())) == expected
    assert torch.equal(idx.to_id(samples, ps), torch.arange(11))
    assert idx.to_id(3, 4) == 9 and isinstance(idx.to_id(3, 4), int)
    assert idx.parts_of(3) == range(5, 10) and idx.parts_of(1) == range(2, 2)


def test_group_by_sample():
    idx = ItemIndex([3, 0, 2, 5, 1])
    assert idx.group_by_sample([9, 0, 2, 6, 10, 2]) == {0: [0, 2], 3: [1, 4], 4: [0]}


def test_pruner_over_segments():
    idx = ItemIndex([4] * 25)
    pruner = DataPruner(idx.num_items, 0.5, "dynamic_random", seed=0)
    groups = idx.group_by_sample(pruner.select(0))
    assert sum(len(v) for v in groups.values()) == 50
    assert all(0 <= p < 4 for v in groups.values() for p in v)


def test_bad_input():
    with pytest.raises(ValueError, match=">= 0; got -2"):
        ItemIndex([1, -2])
    with pytest.raises(ValueError, match="non-empty"):
        ItemIndex([])
    with pytest.raises(ValueError, match="sums to 0"):
        ItemIndex([0, 0])
    idx = ItemIndex([2, 3])
    with pytest.raises(ValueError, match="item id 5 out of range"):
        idx.to_pairs([0, 5])
    with pytest.raises(ValueError, match="part 2 out of range \\[0, 2\\) for sample 0"):
        idx.to_id(torch.tensor([1, 0]), torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="sample 2 out of range"):
        idx.to_id(2, 0)
    with pytest.raises(ValueError, match="sample 7 out of range"):
        idx.parts_of(7)
