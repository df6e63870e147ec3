"""A training 'step' with and without a fake engine, timed with ctx.compare_timing.

The engine adds nothing by default; SPARSELAB_FAKE_SLOWDOWN=F makes it do (1 + F) times the step's work:
the deliberately slowed engine of the gate test.
"""
import os

NAME = "engine"
DESCRIPTION = "fake engine step vs dense step (test double for the compare gate)"


def _step(n):
    data = list(range(n))
    return lambda: sum(x * x for x in data)


def run(ctx) -> None:
    n = ctx.sizes(smoke=10_000, quick=10_000, full=10_000)
    slow = float(os.environ.get("SPARSELAB_FAKE_SLOWDOWN", "0"))
    dense = _step(n)
    engine = _step(int(n * (1 + slow)))
    ctx.compare_timing("step", dense, engine, target="<= 1.3", rounds=7, warmup=1)
    ctx.record_seeds("model", "accuracy", {s: 0.9 + 0.01 * s for s in ctx.seed_list(3)}, target=">= 0.5")
