"""A training 'step' with and without a fake engine, timed with ctx.compare_timing on the virtual clock.

The engine adds nothing by default; SPARSELAB_FAKE_SLOWDOWN=F makes it cost (1 + F) times the step:
the deliberately slowed engine of the gate test.
"""
import os

import fake_clock as clock

NAME = "engine"
DESCRIPTION = "fake engine step vs dense step (test double for the compare gate)"


def run(ctx) -> None:
    n = ctx.sizes(smoke=10_000, quick=10_000, full=10_000)
    slow = float(os.environ.get("SPARSELAB_FAKE_SLOWDOWN", "0"))
    ctx.compare_timing("step", clock.work(n), clock.work(int(n * (1 + slow))), target="<= 1.3", rounds=7, warmup=1)
    ctx.record_seeds("model", "accuracy", {s: 0.9 + 0.01 * s for s in ctx.seed_list(3)}, target=">= 0.5")
