"""core.data_pruning: epoch set-up of DataPruner + PrunedSampler against its physical floor and its peers.

Epoch set-up = ``sampler.set_epoch(e); sampler.indices()``: the pruner's selection for a new epoch (policy
over the running scores) plus the sampler's seeded permutation of the kept ids, on one rank (world_size 1,
the largest share). Every item has observed losses first, so the score-based policies (InfoBatch, UCB)
work on real scores. CPU, one thread, timed on the thread's CPU time (``ctx.compare_timing``).

* Target (issue 3, "set-up for 10M items < 1 s", made a ratio to the job's physical floor): the set-up of
  a new epoch costs at most two permutations of the items, ``<= 2`` x one ``torch.randperm(n)`` timed
  interleaved in the same run (A/B rounds, noise floor = randperm against itself). At the smoke size the
  figure is recorded but not judged (100k items cannot stand for the 10M-item claim).
* What a DataLoader does each epoch (``epoch_iteration_time``): ``set_epoch`` + iterating every index of the
  pruned sampler (keep 0.7), against PyTorch's ``RandomSampler`` iterated over all items (the unpruned epoch
  it replaces), same target ``<= 2``; easy_to_hard's O(n) window is among the set-up policies.
* Peer: the official InfoBatch sampler logic (``benchmarks/peers/infobatch_reference.py``: ``prune`` +
  ``IBSampler.reset``, numpy and a Python list) against our InfoBatch policy on the same scores: ratio
  ours / official, no target (a side-by-side row).
* Scaling: set-up time (fastest of a few epochs, wall clock) against the number of items, one curve per
  policy, log-log plot; not judged (absolute times follow the machine's load).
"""
from __future__ import annotations

import statistics
import time

import torch

from benchmarks.peers.infobatch_reference import InfoBatchReference
from core.data_pruning import DataPruner, PrunedSampler
from core.plotting import save_figure

NAME = "core_pruning"
DESCRIPTION = ("data pruner + DDP sampler: epoch set-up vs one torch.randperm (10M items; dynamic random, easy-to-hard, "
               "InfoBatch, UCB), a DataLoader epoch vs RandomSampler, vs the official InfoBatch logic, and scaling")

BENCH_POLICIES = ("dynamic_random", "easy_to_hard", "infobatch", "ucb")   # the policies timed here
EPOCHS = 1_000_000       # easy_to_hard's schedule length (its window moves 1/EPOCHS per epoch: never near the end here)
KEEP = 0.7
TARGET = "<= 2"          # set-up of a new epoch <= 2 x one torch.randperm(n)
CLAIM_N = 10_000_000     # the size the target stands for


def _make(policy: str, n: int, seed: int) -> tuple[PrunedSampler, torch.Tensor]:
    params = {"infobatch": {"infobatch_ratio": 0.5}, "ucb": {"ucb_c": 1.0}}.get(policy, {})
    pruner = DataPruner(n, 1.0 if policy == "infobatch" else KEEP, policy, seed=seed,
                        num_epochs=EPOCHS if policy == "easy_to_hard" else None, **params)
    g = torch.Generator().manual_seed(seed)
    ids = torch.arange(n)
    loss = None
    for _ in range(2):  # two observations per item: EMA means and (for UCB) non-zero variances
        loss = torch.rand(n, generator=g)
        pruner.observe(ids, loss)
    return PrunedSampler(pruner, rank=0, world_size=1, seed=seed), loss


def _setup_fn(sampler: PrunedSampler):
    """A callable that sets up the next, never-seen epoch (selections are cached per epoch)."""
    epoch = [0]

    def setup():
        epoch[0] += 1
        sampler.set_epoch(epoch[0])
        return sampler.indices()

    return setup


def _randperm(n: int):
    g = torch.Generator().manual_seed(0)
    return lambda: torch.randperm(n, generator=g)


def _vs_floor(ctx, n: int, rounds: int) -> dict[str, float]:
    not_judged = None if n >= CLAIM_N else f"{n:,} items cannot stand for the {CLAIM_N:,}-item claim"
    ratios = {}
    for policy in ctx.progress(BENCH_POLICIES, total=len(BENCH_POLICIES), desc=f"set-up vs randperm, {n:,} items"):
        sampler, _ = _make(policy, n, ctx.seed)
        kept = sampler.indices(0).numel()
        rec = ctx.compare_timing(policy, _randperm(n), _setup_fn(sampler), metric="epoch_setup_time", target=TARGET,
                                 rounds=rounds, warmup=1, peer="torch.randperm(n) (floor)",
                                 baseline_name="one torch.randperm(n)", not_judged=not_judged,
                                 items=n, kept=kept, keep=KEEP, runs_on="cpu", threads=torch.get_num_threads())
        ratios[policy] = rec
        del sampler
    return ratios


def _drain(it) -> int:
    """Consume an iterator of indices one by one in Python, as a DataLoader's BatchSampler does; -> how many."""
    return sum(1 for _ in it)


def _vs_dataloader(ctx, n: int, rounds: int) -> dict:
    """What a DataLoader really does each epoch: set_epoch + iterate every index of the rank, for the pruned
    sampler, against PyTorch's own ``RandomSampler`` over all ``n`` items (the unpruned epoch it replaces)."""
    from torch.utils.data import RandomSampler

    not_judged = None if n >= CLAIM_N else f"{n:,} items cannot stand for the {CLAIM_N:,}-item claim"
    sampler, _ = _make("dynamic_random", n, ctx.seed)
    epoch = [0]

    def pruned_epoch():
        epoch[0] += 1
        sampler.set_epoch(epoch[0])
        return _drain(iter(sampler))

    full = RandomSampler(range(n), generator=torch.Generator().manual_seed(ctx.seed))
    return ctx.compare_timing("dataloader_epoch", lambda: _drain(iter(full)), pruned_epoch,
                              metric="epoch_iteration_time", target=TARGET, rounds=rounds, warmup=1,
                              peer="torch RandomSampler (all items)", baseline_name="RandomSampler, full epoch",
                              not_judged=not_judged, items=n, kept=len(sampler), keep=KEEP, runs_on="cpu")


def _vs_official(ctx, n: int, rounds: int) -> dict:
    """Our InfoBatch policy against the official InfoBatch logic on the same scores (latest losses)."""
    sampler, loss = _make("infobatch", n, ctx.seed)
    ref = InfoBatchReference(n, num_epochs=10**9, prune_ratio=0.5)  # never reaches its annealing tail here
    ref.scores = loss.clone()          # official scores = each item's latest loss (our infobatch: ema 0, the same)
    kept_ours, kept_ref = sampler.indices(0).numel(), len(ref.reset())
    return ctx.compare_timing("infobatch_vs_official", ref.reset, _setup_fn(sampler), metric="epoch_setup_time",
                              rounds=rounds, warmup=1, peer="InfoBatch (official logic)",
                              baseline_name="InfoBatch IBSampler.reset (numpy, Python list)", items=n,
                              kept=kept_ours, kept_official=kept_ref, runs_on="cpu")


def _setup_times(sampler: PrunedSampler, epochs: int) -> list[float]:
    """Wall seconds of ``epochs`` epoch set-ups (epochs 1..epochs, each new)."""
    wall = []
    for e in range(1, epochs + 1):
        t = time.perf_counter()
        sampler.set_epoch(e)
        sampler.indices()
        wall.append(time.perf_counter() - t)
    return wall


def _scaling(ctx, sizes: list[int], epochs: int) -> None:
    t0 = time.perf_counter()
    curves: dict[str, list[float]] = {p: [] for p in BENCH_POLICIES}
    perm = []
    for n in ctx.progress(sizes, total=len(sizes), desc="set-up scaling"):
        for policy in BENCH_POLICIES:
            wall = _setup_times(_make(policy, n, ctx.seed)[0], epochs)
            curves[policy].append(min(wall))
            ctx.record(NAME, f"scaling_{policy}", "epoch_setup_time", min(wall), "s", items=n, epochs=epochs,
                       median_s=statistics.median(wall), runs_on="cpu")
        g = torch.Generator().manual_seed(0)
        ts = []
        for _ in range(epochs):
            t = time.perf_counter()
            torch.randperm(n, generator=g)
            ts.append(time.perf_counter() - t)
        perm.append(min(ts))
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 3.8))
    ax = fig.add_subplot(1, 1, 1)
    for policy, marker in zip(BENCH_POLICIES, "os^"):
        ax.loglog(sizes, curves[policy], marker + "-", label=policy)
    ax.loglog(sizes, perm, "k--", label="one torch.randperm(n)")
    ax.set_xlabel("items")
    ax.set_ylabel("epoch set-up [s] (select + permutation)")
    ax.set_title(f"core.data_pruning set-up scaling (CPU, keep={KEEP})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, ctx.plot_path(NAME, "setup_scaling"), dpi=100)
    ctx.record(NAME, "scaling", "points", len(sizes), "", wall_s=time.perf_counter() - t0)


def run(ctx) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the set-up is single-threaded CPU work; stable timings on a shared CPU
    try:
        n = ctx.sizes(smoke=100_000, quick=CLAIM_N, standard=CLAIM_N, full=CLAIM_N)
        rounds = ctx.sizes(smoke=3, quick=5, standard=15, full=15)   # quick: 3 arms x 5 rounds of ~1 s at 10M
        floor = _vs_floor(ctx, n, rounds)
        n_peer = ctx.sizes(smoke=100_000, quick=1_000_000, standard=CLAIM_N, full=CLAIM_N)
        peer = _vs_official(ctx, n_peer, ctx.sizes(smoke=3, quick=7, standard=7, full=9))
        loader = _vs_dataloader(ctx, n, rounds)
        points = [dict(method=f"{p} / randperm", x=r["ratio"], x_err=r["interval"]) for p, r in floor.items()]
        points.append(dict(method="DataLoader epoch: pruned / RandomSampler", x=loader["ratio"], x_err=loader["interval"]))
        points.append(dict(method=f"InfoBatch: ours / official ({n_peer:,})", x=peer["ratio"], x_err=peer["interval"]))
        ctx.headline_plot(points, x_label=f"epoch set-up time ratio, {n:,} items\n"
                                          f"(median of paired rounds; interval widened by the noise floor)", title="core_pruning: set-up against its floor and the "
                                                               "official InfoBatch", target=2.0, log_x=True)
        sizes = ctx.sizes(smoke=[1_000, 10_000], quick=[10_000, 100_000, 1_000_000],
                          standard=[10_000, 100_000, 1_000_000, 10_000_000], full=[10_000, 100_000, 1_000_000])
        _scaling(ctx, sizes, ctx.sizes(smoke=2, quick=3, standard=3, full=5))
    finally:
        torch.set_num_threads(threads)
