import pytest
import torch

from apps.asr_ddp.data.bucketing import BucketBatchSampler, bucket_batches, split_batches
from core.data_pruning import DataPruner


def test_buckets_cover_kept_items_within_budget():
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(50, 400, (100,), generator=g).tolist()
    ids = list(range(0, 100, 2))
    batches = bucket_batches(ids, lengths, frame_budget=1200, seed=1, epoch=0)
    flat = sorted(i for b in batches for i in b)
    assert flat == ids
    for b in batches:
        assert max(lengths[i] for i in b) * len(b) <= 1200 or len(b) == 1
        spread = max(lengths[i] for i in b) - min(lengths[i] for i in b)
        assert spread < 200                                        # similar lengths together
    assert batches == bucket_batches(ids, lengths, 1200, seed=1, epoch=0)
    assert batches != bucket_batches(ids, lengths, 1200, seed=1, epoch=1)


@pytest.mark.parametrize("world", [2, 3])
def test_equal_batches_per_rank(world):
    lengths = [100 + 7 * i for i in range(40)]
    pr = DataPruner(40, keep=0.7, policy="dynamic_random", seed=0)
    samplers = [BucketBatchSampler(pr, lengths, 500, rank=r, world_size=world) for r in range(world)]
    for epoch in range(3):
        for s in samplers:
            s.set_epoch(epoch)
        per_rank = [s.rank_batches() for s in samplers]
        assert len({len(b) for b in per_rank}) == 1
        seen = {i for b in per_rank for batch in b for i in batch}
        assert seen == set(pr.select(epoch).tolist())
        assert len(samplers[0]) == len(per_rank[0])


def test_split_batches_validation():
    assert split_batches([[1], [2], [3]], 1, 2) == [[2], [1]]
    with pytest.raises(ValueError, match="rank"):
        split_batches([[1]], 2, 2)
    with pytest.raises(ValueError, match="positive"):
        bucket_batches([0], [10], 0)
    with pytest.raises(ValueError, match="lengths"):
        BucketBatchSampler(DataPruner(5, 0.7), [1, 2], 100)
