"""DataPruner: keep counts, policies, InfoBatch unbiasedness, annealing, determinism, state, bad input."""
import math

import pytest
import torch

from core.data_pruning import REGISTRY, DataPruner, keep_count, policy_names

POLICIES = policy_names()
SCORE_POLICIES = tuple(n for n, c in REGISTRY.items() if c.uses_scores)

N = 200


def _scored(policy, n=N, keep=0.7, seed=0, **kw):
    """A pruner whose every item has been observed with loss = its id (item n-1 is hardest)."""
    p = DataPruner(n, keep, policy, seed=seed, **kw)
    p.observe(torch.arange(n), torch.arange(n, dtype=torch.float32))
    return p


@pytest.mark.parametrize("policy", [p for p in POLICIES if p not in ("full", "infobatch")])
@pytest.mark.parametrize("keep", [0.3, 0.55, 1.0])
def test_exact_keep_count_sorted_unique(policy, keep):
    n = 101
    p = DataPruner(n, keep, policy, num_epochs=6, seed=3)
    expected = math.floor(keep * n + 0.5)
    for e in range(5):
        ids = p.select(e)
        assert ids.dtype == torch.long
        assert ids.numel() == expected == keep_count(keep, n)
        assert torch.equal(ids, torch.unique(ids))  # sorted, no duplicates
        assert int(ids.min()) >= 0 and int(ids.max()) < n
        assert p.keep_fraction(e) == pytest.approx(expected / n)
        p.observe(ids, torch.rand(ids.numel(), generator=torch.Generator().manual_seed(e)))


def test_keep_count_rounding_half_up():
    assert keep_count(0.5, 5) == 3  # 2.5 -> 3 (half up, not banker's)
    assert keep_count(0.001, 10) == 1  # at least one item
    assert keep_count(1.0, 7) == 7


def test_full_policy_keeps_everything():
    p = DataPruner(50, 0.3, "full")
    assert torch.equal(p.select(4), torch.arange(50))
    assert torch.equal(p.loss_weights(torch.arange(50), 4), torch.ones(50))


def test_static_random_never_changes_dynamic_random_covers_all():
    static = DataPruner(N, 0.3, "static_random", seed=1)
    first = static.select(0)
    for e in range(1, 10):
        assert torch.equal(static.select(e), first)
    dyn = DataPruner(N, 0.3, "dynamic_random", seed=1)
    seen = torch.zeros(N, dtype=torch.bool)
    changed = False
    for e in range(30):
        ids = dyn.select(e)
        seen[ids] = True
        changed |= not torch.equal(ids, dyn.select(0))
    assert changed
    assert bool(seen.all())  # P(miss an item in 30 epochs at keep 0.3) = 0.7^30 per item ~ 2e-5


def test_loss_hard_and_easy_keep_extreme_scores():
    hard = _scored("loss_hard", keep=0.25)
    assert torch.equal(hard.select(0), torch.arange(150, 200))
    easy = _scored("loss_easy", keep=0.25)
    assert torch.equal(easy.select(0), torch.arange(0, 50))


def test_unobserved_items_take_priority():
    for policy in ("loss_hard", "loss_easy", "ucb"):
        p = DataPruner(100, 0.5, policy, seed=0)
        p.observe(torch.arange(60), torch.arange(60, dtype=torch.float32))  # ids 60..99 never seen
        ids = p.select(0)
        assert set(range(60, 100)) <= set(ids.tolist()), policy


def test_ema_scores_and_duplicate_ids():
    p = DataPruner(4, 0.5, "loss_hard", ema=0.5)
    p.observe([0, 1], [2.0, 4.0])
    assert p.scores[:2].tolist() == [2.0, 4.0]  # first observation sets the score
    p.observe([0, 0, 1], [4.0, 6.0, 0.0])  # duplicates averaged: id 0 -> 5
    assert p.scores[:2].tolist() == [pytest.approx(3.5), pytest.approx(2.0)]
    assert p.counts.tolist() == [3, 2, 0, 0]
    assert p.observed.tolist() == [True, True, False, False]


def test_eps_greedy_splits_budget():
    n, keep, eps = 400, 0.5, 0.2
    p = _scored("eps_greedy", n=n, keep=keep, epsilon=eps, seed=5)
    ids = p.select(0)
    k = keep_count(keep, n)
    n_greedy = math.floor(k * (1 - eps) + 0.5)
    assert ids.numel() == k
    top = set(range(n - n_greedy, n))
    assert top <= set(ids.tolist())  # the greedy part is the top scores
    rest = [i for i in ids.tolist() if i not in top]
    assert len(rest) == k - n_greedy and max(rest) < n - n_greedy
    assert not torch.equal(p.select(0), _scored("eps_greedy", n=n, keep=keep, epsilon=eps, seed=6).select(0))
    greedy_only = _scored("eps_greedy", n=n, keep=keep, epsilon=0.0)
    assert torch.equal(greedy_only.select(0), torch.arange(n - k, n))


def test_ucb_prefers_uncertain_items():
    def pruner(c):
        p = DataPruner(4, 0.5, "ucb", ucb_c=c, ema=0.5)
        p.observe(torch.arange(4), torch.tensor([1.0, 1.5, 1.5, 0.1]))
        p.observe(torch.arange(4), torch.tensor([0.0, 1.5, 1.5, 0.1]))  # item 0 now uncertain
        return p

    p = pruner(3.0)
    # item 0: mean 0.5, EMA variance 0.5 * (0 + 0.5 * 1^2) = 0.25 -> UCB = 0.5 + 3 * 0.5 = 2.0 > 1.5
    assert p.scores.tolist() == pytest.approx([0.5, 1.5, 1.5, 0.1])
    ids = p.select(0).tolist()
    assert 0 in ids and len(ids) == 2 and 3 not in ids
    assert pruner(0.0).select(0).tolist() == [1, 2]  # c = 0: plain loss ranking


def test_easy_to_hard_window_slides():
    n, keep, epochs = 100, 0.2, 5
    p = _scored("easy_to_hard", n=n, keep=keep, num_epochs=epochs)
    assert torch.equal(p.select(0), torch.arange(0, 20))  # easiest first
    assert torch.equal(p.select(2), torch.arange(40, 60))  # window start round((100-20) * 2/4) = 40
    assert torch.equal(p.select(4), torch.arange(80, 100))  # hardest last


def test_infobatch_drops_only_low_score_items_and_rescales():
    r = 0.5
    p = _scored("infobatch", infobatch_ratio=r, seed=2)
    ids = p.select(0)
    low = torch.arange(N).float() < torch.arange(N).float().mean()  # ids 0..99 are below the mean 99.5
    n_low = int(low.sum())
    n_drop = math.floor(r * n_low + 0.5)
    assert ids.numel() == N - n_drop
    kept = torch.zeros(N, dtype=torch.bool)
    kept[ids] = True
    assert bool(kept[~low].all())  # high-score items always kept
    w = p.loss_weights(ids, 0)
    expected = torch.where(low[ids], torch.tensor(n_low / (n_low - n_drop)), torch.tensor(1.0))
    assert torch.allclose(w, expected)
    assert w.max().item() == pytest.approx(1 / (1 - r))


def test_infobatch_rescaled_loss_is_unbiased():
    g = torch.Generator().manual_seed(0)
    n = 60
    losses = torch.rand(n, generator=g) ** 3 * 5  # skewed losses
    full_mean = losses.mean().item()
    estimates = []
    for seed in range(400):
        p = DataPruner(n, 1.0, "infobatch", infobatch_ratio=0.7, seed=seed)
        p.observe(torch.arange(n), losses)
        ids = p.select(1)
        assert ids.numel() < n  # it really prunes
        estimates.append((p.loss_weights(ids, 1) * losses[ids]).sum().item() / n)
    est = torch.tensor(estimates)
    sem = est.std().item() / math.sqrt(len(estimates))
    assert abs(est.mean().item() - full_mean) < 4 * sem + 1e-6
    # the unweighted mean over kept items is biased upward (low-loss items dropped): the test can tell
    p = DataPruner(n, 1.0, "infobatch", infobatch_ratio=0.7, seed=0)
    p.observe(torch.arange(n), losses)
    assert losses[p.select(1)].mean().item() > full_mean + 10 * sem


def test_anneal_returns_to_full_data_with_unit_weights():
    for policy in POLICIES:
        p = DataPruner(N, 0.5, policy, num_epochs=10, anneal=0.2, seed=0,
                       **({"infobatch_ratio": 0.5} if policy == "infobatch" else {}))
        assert p.anneal_start == 8
        for e in range(10):
            ids = p.select(e)
            p.observe(ids, torch.rand(ids.numel(), generator=torch.Generator().manual_seed(e)))
            if e >= 8:
                assert torch.equal(ids, torch.arange(N)), (policy, e)
                assert torch.equal(p.loss_weights(ids, e), torch.ones(N))
            elif policy == "infobatch" and e == 0:
                assert ids.numel() == N  # nothing observed yet: nothing is "well learned"
            elif policy != "full":
                assert ids.numel() < N, (policy, e)


def test_warmup_is_the_same_schedule_for_every_policy():
    """Equal budgets: a warm-up gives every policy (random ones too) full data for its first epochs."""
    for policy in POLICIES:
        p = DataPruner(N, 0.5, policy, num_epochs=10, warmup_epochs=2)
        for e in range(2):
            assert p.select(e).numel() == N and p.phase(e) == ("full" if policy == "full" else "warmup")
            p.observe(torch.arange(N), torch.rand(N))
        assert (p.select(2).numel() < N) == (policy != "full"), policy
    assert DataPruner(N, 0.5, "dynamic_random").select(0).numel() == 100     # no warm-up by default


@pytest.mark.parametrize("policy", [p for p in POLICIES if p != "full"])
def test_same_seed_same_subsets_different_seed_differs(policy):
    def run(seed):
        p = DataPruner(N, 0.5, policy, num_epochs=6, seed=seed)
        out = []
        for e in range(4):
            ids = p.select(e)
            out.append(ids)
            # losses with ties so that random tie-breaking matters too
            p.observe(ids, (torch.arange(ids.numel()) % 7).float())
        return out

    a, b, c = run(0), run(0), run(1)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))


def test_selection_is_cached_per_epoch():
    p = DataPruner(N, 0.5, "loss_hard")
    first = p.select(0)
    p.observe(torch.arange(N), torch.rand(N))
    assert torch.equal(p.select(0), first)  # later scores do not change a running epoch


@pytest.mark.parametrize("policy", ["dynamic_random", "ucb", "infobatch", "eps_greedy"])
def test_state_dict_round_trip_continues_identically(policy, tmp_path):
    def step(p, e):
        ids = p.select(e)
        g = torch.Generator().manual_seed(100 + e)
        p.observe(ids, torch.rand(ids.numel(), generator=g))
        return ids, p.loss_weights(ids, e)

    a = DataPruner(N, 0.6, policy, num_epochs=8, anneal=0.25, seed=4)
    for e in range(3):
        step(a, e)
    a.select(3)  # selected but not yet trained: the cache must survive the checkpoint
    torch.save(a.state_dict(), tmp_path / "p.pt")
    b = DataPruner(N, 0.6, policy, num_epochs=8, anneal=0.25, seed=4)
    b.load_state_dict(torch.load(tmp_path / "p.pt"))
    assert torch.equal(a.scores, b.scores) and torch.equal(a.counts, b.counts)
    for e in range(3, 8):
        ia, wa = step(a, e)
        ib, wb = step(b, e)
        assert torch.equal(ia, ib) and torch.equal(wa, wb)
    assert a.history == b.history


def test_load_state_dict_rejects_other_pruner():
    sd = DataPruner(N, 0.5, "ucb").state_dict()
    with pytest.raises(ValueError, match="num_items=200"):
        DataPruner(N + 1, 0.5, "ucb").load_state_dict(sd)
    with pytest.raises(ValueError, match="policy='ucb'"):
        DataPruner(N, 0.5, "loss_hard").load_state_dict(sd)
    with pytest.raises(ValueError, match="missing keys"):
        DataPruner(N, 0.5, "ucb").load_state_dict({"num_items": N})


@pytest.mark.parametrize("kwargs, match", [
    (dict(keep=0.0), "keep=0.0"),
    (dict(keep=1.5), "keep=1.5"),
    (dict(policy="hardest"), "unknown policy 'hardest'; valid choices: full, static_random"),
    (dict(ucb_c=2.0), "policy 'dynamic_random' has no parameter.s. ucb_c"),
    (dict(rescore_fraction=1.5), "rescore_fraction=1.5"),
    (dict(anneal=0.1), "num_epochs=None but anneal=0.1"),
    (dict(policy="easy_to_hard"), "easy_to_hard"),
    (dict(policy="eps_greedy", epsilon=1.5), "epsilon=1.5"),
    (dict(policy="eps_greedy", epsilon=-0.1), "epsilon=-0.1"),
    (dict(anneal=1.0, num_epochs=3), "anneal=1.0"),
    (dict(policy="infobatch", infobatch_ratio=1.0), "infobatch_ratio=1.0"),
    (dict(ema=1.0), "ema=1.0"),
    (dict(warmup_epochs=-1), "warmup_epochs=-1"),
    (dict(num_items=0), "num_items=0"),
])
def test_bad_construction(kwargs, match):
    args = dict(num_items=N, keep=0.5, policy="dynamic_random")
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        DataPruner(args.pop("num_items"), args.pop("keep"), args.pop("policy"), **args)


def test_bad_observe():
    p = DataPruner(10, 0.5, "loss_hard")
    with pytest.raises(ValueError, match="item id 10 out of range"):
        p.observe([1, 10], [0.1, 0.2])
    with pytest.raises(ValueError, match="item id -1 out of range"):
        p.observe([-1], [0.1])
    with pytest.raises(ValueError, match=r"item_ids shape \(2,\) and losses shape \(3,\)"):
        p.observe([1, 2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="finite; got nan"):
        p.observe([1], [float("nan")])
    with pytest.raises(ValueError, match="integers"):
        p.observe(torch.tensor([1.0]), [0.1])
    with pytest.raises(ValueError, match="epoch=-1"):
        p.select(-1)
    with pytest.raises(ValueError, match="item id 12 out of range"):
        p.loss_weights([12])
    assert p.counts.sum() == 0  # nothing was half-applied


@pytest.mark.parametrize("batch", [6, 400])  # small batch: sort-based dedup; big batch: O(N) bincount path
def test_observe_paths_average_duplicates(batch):
    n = 1000
    g = torch.Generator().manual_seed(batch)
    ids = torch.randint(0, 50, (batch,), generator=g)  # many duplicates
    vals = torch.rand(batch, generator=g)
    p = DataPruner(n, 0.5, "ucb", ema=0.5)
    p.observe(ids, vals)
    p.observe(ids, vals * 2)
    for i in torch.unique(ids).tolist():
        m = vals[ids == i].mean().item()
        assert p.scores[i].item() == pytest.approx(0.5 * m + 0.5 * 2 * m, rel=1e-5)
        assert p.counts[i].item() == 2 * int((ids == i).sum())
    assert int(p.counts.sum()) == 2 * batch


def test_ucb_variance_value():
    """The EMA variance, by hand: v <- a * (v + (1 - a) * (loss - s_old)^2). Dropping (1 - a) gives 2.0, not 1.0."""
    p = DataPruner(3, 0.5, "ucb", ema=0.5)
    p.observe([0, 1], [1.0, 2.0])
    assert p.variance.tolist() == [0.0, 0.0, 0.0]                  # a first observation has no spread
    p.observe([0, 1], [3.0, 2.0])                                  # item 0: s_old 1, loss 3, d = 2
    assert p.variance[0].item() == pytest.approx(0.5 * (0.0 + 0.5 * 2.0 ** 2)) == 1.0
    assert p.variance[1].item() == 0.0 and p.scores[0].item() == pytest.approx(2.0)
    p.observe([0], [0.0])                                          # s_old 2, d = -2: 0.5 * (1 + 0.5 * 4) = 1.5
    assert p.variance[0].item() == pytest.approx(1.5)
    assert DataPruner(3, 0.5, "loss_hard").variance is None        # only UCB tracks it


def test_policies_are_registered_objects():
    from core.data_pruning import Policy, Selection, make_policy, register

    assert set(POLICIES) == {"full", "static_random", "dynamic_random", "loss_hard", "loss_easy", "easy_to_hard",
                             "eps_greedy", "ucb", "infobatch"}
    assert make_policy("eps_greedy", epsilon=0.3).epsilon == 0.3
    with pytest.raises(ValueError, match="epsilon=2"):
        make_policy("eps_greedy", epsilon=2)

    from dataclasses import dataclass
    from typing import ClassVar

    @dataclass(frozen=True)
    class EveryOther(Policy):                      # a new policy: one class (+ one yaml for configs)
        name: ClassVar[str] = "test_every_other"

        def select(self, state):
            return Selection(torch.arange(state.num_items) % 2 == state.epoch % 2)

    register(EveryOther)
    try:
        p = DataPruner(10, 0.5, "test_every_other")
        assert p.select(1).tolist() == [1, 3, 5, 7, 9] and p.select(2).tolist() == [0, 2, 4, 6, 8]
        with pytest.raises(ValueError, match="already registered"):
            register(EveryOther)
    finally:
        REGISTRY.pop("test_every_other")


def test_score_requests_full_pass_after_warmup_then_rescoring_of_dropped_items():
    p = DataPruner(100, 0.6, "eps_greedy", num_epochs=6, warmup_epochs=1, rescore_every=1, rescore_fraction=0.5,
                   seed=3)
    assert p.score_request(0) is None                              # warm-up: training losses only
    p.select(0)
    p.observe(torch.arange(100), torch.arange(100).float())        # position-like scores from the warm-up
    req = p.score_request(1)
    assert req.replace and req.reason == "score_pass" and torch.equal(req.ids, torch.arange(100))
    fresh = torch.rand(100, generator=torch.Generator().manual_seed(0))
    p.observe(req.ids, fresh, replace=True)
    assert torch.allclose(p.scores, fresh) and (p.counts == 1).all()   # replaced, not blended into the EMA
    kept = p.select(1)
    assert p.score_request(1) is None                              # once selected, nothing more to score
    req2 = p.score_request(2)
    dropped = sorted(set(range(100)) - set(kept.tolist()))
    assert not req2.replace and req2.ids.numel() == 20 and set(req2.ids.tolist()) <= set(dropped)
    assert torch.equal(req2.ids, p.score_request(2).ids)          # seeded: the same sample every time
    assert DataPruner(100, 0.6, "dynamic_random", num_epochs=6, warmup_epochs=1).score_request(1) is None
    no_pass = DataPruner(100, 0.6, "ucb", num_epochs=6, warmup_epochs=1, score_pass=False)
    no_pass.select(0)
    assert no_pass.score_request(1) is None
