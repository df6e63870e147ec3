"""Runs after the failing module: a value within a tolerance of its baseline."""
import torch

NAME = "gamma"
DESCRIPTION = "mean of seeded normal samples within 0.5 of 0"


def run(ctx) -> None:
    n = ctx.sizes(smoke=100, quick=1_000, full=10_000)
    g = torch.Generator().manual_seed(ctx.seed)
    mean = torch.randn(n, generator=g).mean()
    ctx.record(NAME, "normal", "mean", mean, "", baseline=0.0, target="within 0.5", n=n)
    torch.set_num_threads(1)  # a module may change global state; the runner restores the thread count
