"""Two gloo processes observe different losses; every rank ends with the same scores and subsets."""
import pytest
import torch

from core.data_pruning import DataPruner, PrunedSampler
from core.testing.distributed import run_distributed


def _worker(rank, world_size):
    pruner = DataPruner(40, 0.5, "ucb", seed=3)
    sampler = PrunedSampler(pruner, seed=1)  # rank/world from the process group
    out = {"rank": sampler.rank, "world": sampler.world_size, "parts": []}
    for epoch in range(3):
        sampler.set_epoch(epoch)
        ids = sampler.indices()
        g = torch.Generator().manual_seed(1000 * rank + epoch)  # each rank sees different losses
        seen = ids[:7] if (rank == 1 and epoch == 2) else ids  # and batches of different lengths
        pruner.observe(seen, torch.rand(seen.numel(), generator=g))
        out["parts"].append(ids)
    out["scores"], out["counts"] = pruner.scores.clone(), pruner.counts.clone()
    out["select3"] = pruner.select(3)
    return out


@pytest.mark.distributed
def test_observe_gathers_to_identical_state():
    r0, r1 = run_distributed(_worker, 2)
    assert (r0["rank"], r0["world"], r1["rank"], r1["world"]) == (0, 2, 1, 2)
    assert torch.equal(r0["scores"], r1["scores"]) and torch.equal(r0["counts"], r1["counts"])
    assert torch.equal(r0["select3"], r1["select3"])
    for a, b in zip(r0["parts"], r1["parts"]):
        assert a.numel() == b.numel() == 10 and not set(a.tolist()) & set(b.tolist())
    # each item was observed by one rank but both ranks counted it (rank 1 saw 3 fewer in epoch 2)
    assert int(r0["counts"].sum()) == 3 * 20 - 3
