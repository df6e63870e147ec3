"""PrunedSampler: DDP partition, determinism, padding, DataLoader integration."""
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from core.data_pruning import DataPruner, PrunedSampler


@pytest.mark.parametrize("n, keep, world", [(100, 0.7, 2), (101, 0.5, 2), (37, 0.9, 3), (10, 0.1, 4)])
def test_ranks_partition_kept_subset(n, keep, world):
    pruner = DataPruner(n, keep, "dynamic_random", seed=1)
    samplers = [PrunedSampler(pruner, rank=r, world_size=world, seed=2) for r in range(world)]
    for epoch in (0, 3):
        kept = pruner.select(epoch)
        parts = []
        for s in samplers:
            s.set_epoch(epoch)
            parts.append(s.indices())
        lens = {len(s) for s in samplers}
        assert len(lens) == 1 and lens == {p.numel() for p in parts}  # equal length on every rank
        allv = torch.cat(parts)
        assert set(allv.tolist()) == set(kept.tolist())  # complete, nothing outside the subset
        pad = allv.numel() - kept.numel()
        assert 0 <= pad < world
        assert torch.unique(allv).numel() == kept.numel()  # disjoint up to the pad repeats
        if pad == 0:
            for a in range(world):
                for b in range(a + 1, world):
                    assert not set(parts[a].tolist()) & set(parts[b].tolist())


def test_drop_last_truncates_and_stays_disjoint():
    pruner = DataPruner(101, 0.5, "static_random")  # 51 kept
    parts = [PrunedSampler(pruner, rank=r, world_size=2, drop_last=True).indices() for r in range(2)]
    assert [p.numel() for p in parts] == [25, 25]
    assert not set(parts[0].tolist()) & set(parts[1].tolist())


def test_set_epoch_reshuffles_deterministically():
    pruner = DataPruner(50, 1.0, "full")
    s = PrunedSampler(pruner, rank=0, world_size=1, seed=7)
    s.set_epoch(1)
    a = list(s)
    s.set_epoch(2)
    b = list(s)
    assert sorted(a) == sorted(b) == list(range(50)) and a != b
    s2 = PrunedSampler(pruner, rank=0, world_size=1, seed=7)
    s2.set_epoch(1)
    assert list(s2) == a
    s3 = PrunedSampler(pruner, rank=0, world_size=1, seed=8)
    s3.set_epoch(1)
    assert list(s3) != a
    assert list(PrunedSampler(pruner, rank=0, world_size=1, shuffle=False)) == list(range(50))


def test_single_process_defaults_to_rank0_world1():
    s = PrunedSampler(DataPruner(20, 0.5, "static_random"))
    assert (s.rank, s.world_size) == (0, 1) and len(s) == 10


class _Items(Dataset):
    def __len__(self):
        return 30

    def __getitem__(self, i):
        return i, torch.tensor(float(i))


def test_dataloader_integration_with_loss_weights():
    pruner = DataPruner(30, 1.0, "infobatch", infobatch_ratio=0.5, seed=0)
    pruner.observe(torch.arange(30), torch.arange(30).float())
    sampler = PrunedSampler(pruner, rank=0, world_size=1)
    loader = DataLoader(_Items(), batch_size=4, sampler=sampler)
    sampler.set_epoch(1)
    seen, wsum = [], 0.0
    for ids, x in loader:
        seen += ids.tolist()
        wsum += pruner.loss_weights(ids, 1).sum().item()
    assert sorted(seen) == pruner.select(1).tolist() and len(seen) < 30
    assert len(loader) == -(-len(seen) // 4)
    # the kept items' weights add up to the full item count (inverse inclusion probabilities)
    assert wsum == pytest.approx(30.0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(rank=2, world_size=2), "rank=2"),
    (dict(rank=0, world_size=0), "world_size=0"),
    (dict(rank=-1, world_size=2), "rank=-1"),
])
def test_bad_sampler_args(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PrunedSampler(DataPruner(10, 0.5), **kwargs)
    with pytest.raises(ValueError, match="DataPruner"):
        PrunedSampler(list(range(10)))
    with pytest.raises(ValueError, match="epoch=-2"):
        PrunedSampler(DataPruner(10, 0.5), rank=0, world_size=1).set_epoch(-2)
