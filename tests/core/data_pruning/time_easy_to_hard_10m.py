"""Timing script (not a test): easy_to_hard selection at 10M items against torch.randperm, 5 repetitions."""
import time, torch
torch.set_num_threads(1)
from core.data_pruning import DataPruner
n = 10**7
p = DataPruner(n, 0.7, "easy_to_hard", num_epochs=10, seed=0)
p.observe(torch.arange(n), torch.rand(n, generator=torch.Generator().manual_seed(0)))
for rep in range(5):
    t = time.perf_counter(); torch.randperm(n); rp = time.perf_counter() - t
    p._cache.clear(); p._current = None
    t = time.perf_counter(); p.select(rep + 1); se = time.perf_counter() - t
    print(f"rep {rep}: randperm {rp*1e3:.0f} ms, easy_to_hard select {se*1e3:.0f} ms, ratio {se/rp:.2f}", flush=True)
