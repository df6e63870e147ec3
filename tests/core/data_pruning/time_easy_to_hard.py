"""Time easy_to_hard selection (new O(n) vs the old sort path) against torch.randperm(n); sampler iteration."""
import math, sys, time
import torch
torch.set_num_threads(1)
from core.data_pruning import DataPruner, PrunedSampler
from core.data_pruning.rng import SALT_TIES, make_generator

def old_e2h(scores, observed, k, progress, generator):  # the pre-change implementation (full sort)
    from core.data_pruning.policies import nonzero_ids
    mask = ~observed
    k_rest = k - int(mask.sum())
    obs_idx = nonzero_ids(observed)
    perm = torch.randperm(obs_idx.numel(), generator=generator)
    obs_idx = obs_idx[perm]
    order = torch.sort(scores[obs_idx], stable=True).indices
    ranked = obs_idx[order]
    start = int(math.floor((ranked.numel() - k_rest) * progress + 0.5))
    mask[ranked[start:start + k_rest]] = True
    return mask

def best(fn, reps=3):
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    return min(ts)

for n in (10**6, 10**7):
    p = DataPruner(n, 0.7, "easy_to_hard", num_epochs=10, seed=0)
    g = torch.Generator().manual_seed(0)
    p.observe(torch.arange(n), torch.rand(n, generator=g))
    rp = best(lambda: torch.randperm(n))
    e = [0]
    def new():
        e[0] += 1; p._cache.clear(); p._current = None; p.select(e[0] % 8)
    t_new = best(new)
    k = p.num_keep
    t_old = best(lambda: old_e2h(p.scores, p.observed, k, 0.5, make_generator(0, 1, SALT_TIES)))
    s = PrunedSampler(p, rank=0, world_size=1, seed=0)
    s.set_epoch(3); s.indices()
    t_list = best(lambda: sum(1 for _ in iter(s.indices().tolist())), reps=2)
    t_iter = best(lambda: sum(1 for _ in s), reps=2)
    print(f"n={n:>9}: randperm {rp*1e3:8.1f} ms | easy_to_hard select new {t_new*1e3:8.1f} ms ({t_new/rp:.2f}x) "
          f"old sort {t_old*1e3:8.1f} ms ({t_old/rp:.2f}x) | sampler epoch iteration: chunked {t_iter:.2f} s, "
          f"list {t_list:.2f} s", flush=True)
