"""core.data_pruning: epoch set-up time of DataPruner + PrunedSampler for millions of items.

Epoch set-up = ``sampler.set_epoch(e); sampler.indices()``: the pruner's selection for a new epoch
(policy over the running scores) plus the sampler's seeded permutation of the kept ids, on one rank
(world_size 1, the largest share). Every item has observed losses first, so the score-based
policies (InfoBatch, UCB) work on real scores. The selection and permutation always run on the CPU
(the pruner's state is CPU tensors), whatever ``--device`` says. One thread.

Target (issue 3): set-up for 10 million items < 1 s, recorded as ``value <= 1.0`` seconds. The value
is the fastest of several epochs' wall times (as in core_sparse: the cost without interference from
other processes on a shared CPU); the median and max wall times and the median thread CPU time
(``time.thread_time``) are kept as extra fields so a loaded machine shows up in the record.
Scaling: set-up time against the number of items (1e4 .. 1e7; the largest point is the headline
run), one curve per policy, log-log plot.
"""
from __future__ import annotations

import statistics
import time

import torch

from core.data_pruning import DataPruner, PrunedSampler
from core.plotting import save_figure

NAME = "core_pruning"
DESCRIPTION = "data pruner + DDP sampler: epoch set-up time for 10M items (dynamic random, InfoBatch, UCB) and scaling"

POLICIES = ("dynamic_random", "infobatch", "ucb")
KEEP = 0.7


def _make(policy: str, n: int, seed: int) -> PrunedSampler:
    pruner = DataPruner(n, KEEP, policy, seed=seed, infobatch_ratio=0.5, ucb_c=1.0)
    g = torch.Generator().manual_seed(seed)
    ids = torch.arange(n)
    for _ in range(2):  # two observations per item: EMA means and (for UCB) non-zero variances
        pruner.observe(ids, torch.rand(n, generator=g))
    return PrunedSampler(pruner, rank=0, world_size=1, seed=seed)


def _setup_times(sampler: PrunedSampler, epochs: int) -> tuple[list[float], list[float], int]:
    """Wall and thread-CPU seconds of ``epochs`` epoch set-ups (epochs 1..epochs, each new)."""
    wall, cpu, kept = [], [], 0
    for e in range(1, epochs + 1):
        t, c = time.perf_counter(), time.thread_time()
        sampler.set_epoch(e)
        idx = sampler.indices()
        wall.append(time.perf_counter() - t)
        cpu.append(time.thread_time() - c)
        kept = idx.numel()
    return wall, cpu, kept


def _headline(ctx, n: int, epochs: int) -> dict[str, float]:
    best = {}
    for policy in ctx.progress(POLICIES, total=len(POLICIES), desc=f"set-up {n:,} items"):
        t0 = time.perf_counter()
        sampler = _make(policy, n, ctx.seed)
        wall, cpu, kept = _setup_times(sampler, epochs)
        best[policy] = min(wall)
        ctx.record(NAME, policy, "epoch_setup_time", min(wall), "s", target="<= 1.0",
                   higher_is_better=False, wall_s=time.perf_counter() - t0, items=n, kept=kept, epochs=epochs,
                   median_s=statistics.median(wall), max_s=max(wall), cpu_median_s=statistics.median(cpu),
                   keep=KEEP, runs_on="cpu", threads=torch.get_num_threads())
        del sampler
    return best


def _scaling(ctx, sizes: list[int], epochs: int, headline_n: int, headline: dict[str, float]) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    t0 = time.perf_counter()
    curves: dict[str, list[float]] = {p: [] for p in POLICIES}
    for n in ctx.progress(sizes, total=len(sizes), desc="set-up scaling"):
        for policy in POLICIES:
            wall, cpu, _ = _setup_times(_make(policy, n, ctx.seed), epochs)
            curves[policy].append(min(wall))
            ctx.record(NAME, f"scaling_{policy}", "epoch_setup_time", min(wall), "s", items=n, epochs=epochs,
                       median_s=statistics.median(wall), cpu_median_s=statistics.median(cpu), runs_on="cpu")
    xs = list(sizes)
    if headline_n > max(sizes):  # the headline run is the curve's last point (not re-measured)
        xs.append(headline_n)
        for policy in POLICIES:
            curves[policy].append(headline[policy])
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for policy, marker in zip(POLICIES, "os^"):
        ax.loglog(xs, curves[policy], marker + "-", label=policy)
    ax.axhline(1.0, color="grey", ls="--", label="target 1 s")
    ax.set_xlabel("items")
    ax.set_ylabel("epoch set-up [s] (select + permutation)")
    ax.set_title(f"core.data_pruning set-up scaling (CPU, keep={KEEP})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, ctx.plot_path(NAME, "setup_scaling"), dpi=100)
    ctx.record(NAME, "scaling", "points", len(xs), "", wall_s=time.perf_counter() - t0)


def run(ctx) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the set-up is single-threaded CPU work; stable timings on a shared CPU
    try:
        n = ctx.sizes(smoke=100_000, quick=10_000_000, full=10_000_000)
        headline = _headline(ctx, n, epochs=ctx.sizes(smoke=3, quick=4, full=9))
        sizes = ctx.sizes(smoke=[1_000, 10_000], quick=[10_000, 100_000, 1_000_000],
                          full=[10_000, 100_000, 1_000_000])
        _scaling(ctx, sizes, ctx.sizes(smoke=2, quick=3, full=5), n, headline)
    finally:
        torch.set_num_threads(threads)


if __name__ == "__main__":  # standalone: python -m benchmarks.suites.core_pruning [smoke|quick|full]
    import json
    import sys
    import tempfile
    from pathlib import Path

    class _PrintContext:
        """Minimal stand-in for BenchContext: prints each record as JSON, plots under a temp dir."""

        def __init__(self, suite: str) -> None:
            self.suite, self.device, self.seed = suite, "cpu", 0
            self.out_dir = Path(tempfile.mkdtemp(prefix="core_pruning_"))

        def record(self, app, variant, metric, value, unit="", **extra):
            print(json.dumps(dict(app=app, variant=variant, metric=metric, value=value, unit=unit, **extra)), flush=True)

        def plot_path(self, app, name):
            path = self.out_dir / "plots" / app / f"{name}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            return path

        def progress(self, iterable, total=None, desc=""):
            return iterable

        def sizes(self, smoke, quick, full):
            return {"smoke": smoke, "quick": quick, "full": full}[self.suite]

    ctx = _PrintContext(sys.argv[1] if len(sys.argv) > 1 else "quick")
    run(ctx)
    print(f"plots in {ctx.out_dir / 'plots' / NAME}")
