"""The official-InfoBatch reference keeps what the official code keeps; our InfoBatch policy agrees on the same scores."""
import numpy as np
import torch

from benchmarks.peers.infobatch_reference import InfoBatchReference
from core.data_pruning import DataPruner


def test_reference_prunes_below_mean_rescales_and_anneals():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    ref = InfoBatchReference(10, num_epochs=4, prune_ratio=0.5, delta=0.5)   # prunes while the epoch counter <= 2
    ref.scores = torch.arange(10, dtype=torch.float32)                          # mean 4.5: items 0..4 well learned
    first = ref.reset()
    kept = sorted(int(i) for i in first)
    assert len(first) == 5 + int(0.5 * 5) and set(range(5, 10)) <= set(kept)  # all hard items, 2 of the 5 easy
    easy_kept = [i for i in kept if i < 5]
    assert torch.equal(ref.weights[easy_kept], torch.full((2,), 2.0)) and ref.weights[5:].eq(1).all()
    again = InfoBatchReference(10, num_epochs=4, prune_ratio=0.5, delta=0.5)
    again.scores = ref.scores.clone()
    assert [int(i) for i in again.reset()] == [int(i) for i in first]          # seeded by the epoch counter
    ref.reset(), ref.reset()                                                   # epochs 1, 2: still pruning
    full = ref.reset()                                                         # counter 3 > 2: annealing tail
    assert sorted(full) == list(range(10)) and ref.weights.eq(1).all()
    assert (np.random.get_state()[1] == before).all()                          # numpy's global state untouched


def test_our_infobatch_keeps_as_many_as_the_official_logic():
    n = 10_000
    g = torch.Generator().manual_seed(0)
    loss = torch.rand(n, generator=g)
    ours = DataPruner(n, 0.7, "infobatch", infobatch_ratio=0.5, seed=0)
    ours.observe(torch.arange(n), loss)
    ref = InfoBatchReference(n, num_epochs=100, prune_ratio=0.5)
    ref.scores = loss.clone()
    kept_ref = ref.reset()
    kept_ours = ours.select(0)
    assert abs(kept_ours.numel() - len(kept_ref)) <= 1                          # rounding of the dropped count only
    assert set(torch.nonzero(loss >= loss.mean()).flatten().tolist()) <= set(kept_ours.tolist())
