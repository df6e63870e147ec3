"""Semantics that follow the references: InfoBatch's latest-loss score and annealing epoch (official infobatch.py),
easy_to_hard by selection instead of a sort, a sampler that streams the epoch, loss weights of the selected epoch."""
import math

import numpy as np
import pytest
import torch

from core.data_pruning import DataPruner, PrunedSampler
from core.data_pruning import sampler as sampler_mod
from core.data_pruning.pruner import default_ema


# ---------------------------------------------------------------- InfoBatch
def test_infobatch_score_is_the_latest_loss_by_default_smoothing_is_an_option():
    assert DataPruner(5, 1.0, policy="infobatch").ema == 0.0 == default_ema("infobatch")
    assert DataPruner(5, 0.7, policy="loss_hard").ema == 0.9 == default_ema("loss_hard")
    p = DataPruner(3, 1.0, policy="infobatch")
    p.observe([0, 1, 2], [1.0, 2.0, 3.0])
    p.observe([0, 1], [5.0, 0.5])
    assert p.scores.tolist() == [5.0, 0.5, 3.0]
    smooth = DataPruner(3, 1.0, policy="infobatch", ema=0.9)
    smooth.observe([0], [1.0])
    smooth.observe([0], [5.0])
    assert smooth.scores[0].item() == pytest.approx(0.9 * 1.0 + 0.1 * 5.0)


def _official_low_set(scores: torch.Tensor) -> torch.Tensor:
    """The official InfoBatch.prune(): well-learned = score < mean score (scores = latest loss per item)."""
    return scores < scores.mean()


def test_infobatch_low_set_equals_the_official_rule_over_epochs():
    n, epochs = 400, 6
    p = DataPruner(n, 1.0, policy="infobatch", num_epochs=epochs, anneal=0.0, seed=0)
    official = torch.full((n,), 3.0)  # the official initial score; every item is observed in epoch 0 (full data)
    g = torch.Generator().manual_seed(0)
    for e in range(epochs):
        ids = p.select(e)
        if e > 0:
            low = _official_low_set(official)
            kept = torch.zeros(n, dtype=torch.bool)
            kept[ids] = True
            w = torch.ones(n)
            w[ids] = p.loss_weights(ids)
            ours_low = ~kept | (w != 1.0)  # dropped items and the rescaled kept ones
            assert torch.equal(ours_low, low), f"epoch {e}: {(ours_low != low).sum()} items disagree"
            assert int((~kept).sum()) == math.floor(0.5 * int(low.sum()) + 0.5)
        losses = torch.rand(ids.numel(), generator=g) * (1 + ids.float() / n)  # a drift so the set changes
        p.observe(ids, losses)
        official[ids] = losses


@pytest.mark.parametrize("num_epochs,delta", [(100, 0.875), (10, 0.8), (7, 0.875), (30, 0.9), (200, 0.875)])
def test_annealing_epoch_equals_the_official_sampler(num_epochs, delta):
    # official IBSampler: its counter is 1 in the first training epoch (reset() runs once in __init__), and it
    # prunes while counter <= num_epochs * delta, so the first full epoch (0-based) is:
    official_first_full = next(e for e in range(num_epochs) if e + 1 > num_epochs * delta)
    p = DataPruner(50, 1.0, policy="infobatch", num_epochs=num_epochs, anneal=1 - delta)
    assert p.anneal_start == official_first_full
    assert p.phase(official_first_full) == "full" and p.phase(official_first_full - 1) == "pruned"
    if (num_epochs, delta) == (100, 0.875):
        assert p.anneal_start == 87


def test_infobatch_config_is_the_official_default():
    from pathlib import Path

    import yaml

    import core

    cfg = yaml.safe_load((Path(core.__file__).parent / "configs" / "pruning" / "infobatch.yaml").read_text())
    assert cfg["ema"] == 0.0 and cfg["infobatch_ratio"] == 0.5 and cfg["anneal"] == pytest.approx(1 - 0.875)
    cfg.pop("defaults")
    assert DataPruner(100, num_epochs=100, **cfg).anneal_start == 87


# ---------------------------------------------------------------- loss weights follow the selected epoch
def test_loss_weights_follow_the_selected_epoch_not_the_last_accessed():
    n = 100
    p = DataPruner(n, 1.0, policy="infobatch", num_epochs=10, seed=0, cache_epochs=1)
    p.observe(torch.arange(n), torch.arange(n, dtype=torch.float32))
    ids2 = p.select(2)
    w2 = p.loss_weights(ids2).clone()
    assert not torch.equal(w2, torch.ones(ids2.numel()))  # epoch 2 really rescales
    p.observe(torch.arange(n), torch.arange(n, 0, -1, dtype=torch.float32))  # scores flip
    p.keep_fraction(1)  # computes epoch 1 (the cache holds 1 entry + the current one)
    p.loss_weights(ids2, 1)
    assert p.current_epoch == 2
    assert torch.equal(p.loss_weights(ids2), w2)  # still epoch 2's weights, from its cached selection
    sampler = PrunedSampler(p, rank=0, world_size=1)
    sampler.set_epoch(3)
    len(sampler)  # DataLoader may call len() at any time: it does not switch the current epoch
    assert p.current_epoch == 2
    list(sampler)  # iterating selects epoch 3
    assert p.current_epoch == 3
    state = p.state_dict()
    q = DataPruner(n, 1.0, policy="infobatch", num_epochs=10, seed=0, cache_epochs=1)
    q.load_state_dict(state)
    assert q.current_epoch == 3 and torch.equal(q.loss_weights(ids2), p.loss_weights(ids2))


# ---------------------------------------------------------------- easy_to_hard by selection
def _window_reference(scores: np.ndarray, k: int, progress: float) -> np.ndarray:
    """Sorted scores of the window a full sort would keep (ties make the items, not the scores, ambiguous)."""
    start = int(math.floor((scores.size - k) * progress + 0.5))
    return np.sort(scores)[start:start + k]


@pytest.mark.parametrize("ties", [False, True])
def test_easy_to_hard_window_equals_the_sorted_window_without_sorting(monkeypatch, ties):
    n, keep, epochs = 1000, 0.3, 6
    g = torch.Generator().manual_seed(1)
    scores = torch.randint(0, 7, (n,), generator=g).float() if ties else torch.rand(n, generator=g)

    def no_sort(*a, **k):
        raise AssertionError("easy_to_hard must not sort")

    def run(seed):
        p = DataPruner(n, keep, "easy_to_hard", num_epochs=epochs, seed=seed)
        p.observe(torch.arange(n), scores)
        with monkeypatch.context() as m:  # any full sort inside the selection fails the test
            for mod, fn in ((torch, "sort"), (torch, "argsort"), (np, "sort"), (np, "argsort")):
                m.setattr(mod, fn, no_sort)
            picks = [p.select(e) for e in range(epochs)]
        return p, picks

    p, picks = run(0)
    for e, ids in enumerate(picks):
        expect = _window_reference(scores.numpy(), ids.numel(), p._curriculum_progress(e))
        assert np.array_equal(np.sort(scores[ids].numpy()), expect), f"epoch {e}"
    assert float(scores[picks[0]].mean()) < float(scores[picks[-1]].mean())  # easy first, hard last
    if ties:  # tied items at the window's edges are drawn at random: another seed picks other items
        _, other = run(7)
        assert any(not torch.equal(a, b) for a, b in zip(picks, other))


def test_easy_to_hard_keeps_unobserved_first_and_exact_count():
    n = 300
    p = DataPruner(n, 0.5, "easy_to_hard", num_epochs=4, seed=0)
    p.observe(torch.arange(200), torch.rand(200, generator=torch.Generator().manual_seed(0)))
    ids = p.select(1)
    assert ids.numel() == 150 and set(range(200, 300)) <= set(ids.tolist())


# ---------------------------------------------------------------- the sampler streams the epoch
def test_sampler_iterates_without_building_the_epoch_list(monkeypatch):
    monkeypatch.setattr(sampler_mod, "CHUNK", 7)
    calls = []
    real = torch.Tensor.tolist
    monkeypatch.setattr(torch.Tensor, "tolist", lambda t: calls.append(t.numel()) or real(t))
    p = DataPruner(103, 0.6, "dynamic_random", seed=0)
    for rank in range(2):
        s = PrunedSampler(p, rank=rank, world_size=2, seed=1)
        s.set_epoch(2)
        calls.clear()
        it = iter(s)
        assert not isinstance(it, type(iter([]))) and calls == []  # nothing converted before the first item
        first = next(it)
        assert calls == [7]  # one chunk converted
        assert [first] + list(it) == real(s.indices())
        assert max(calls) == 7 and sum(calls) == len(s)  # chunk by chunk, each id converted once
