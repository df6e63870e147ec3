"""A real, tiny benchmark: sorting time against a Python-loop baseline, a target met and one not, a plot."""
import time

import torch

NAME = "alpha"
DESCRIPTION = "torch.sort vs sorted() on seeded data; scaling of torch.sort"


def run(ctx) -> None:
    n = ctx.sizes(smoke=2_000, quick=4_000, full=8_000)
    g = torch.Generator().manual_seed(ctx.seed)
    x = torch.rand(n, generator=g)
    t0 = time.perf_counter()
    ref = sorted(x.tolist())
    base = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = torch.sort(x).values
    fast = time.perf_counter() - t0
    assert out.tolist() == ref
    ctx.record(NAME, "torch_sort", "time", fast, "s", baseline=base, wall_s=fast + base, items=n)
    ctx.record(NAME, "torch_sort", "sorted_ok", float(out.tolist() == ref), "", target=">= 1")
    ctx.record(NAME, "torch_sort", "items", n, "", target="< 0")  # deliberately not met
    sizes, times = [], []
    for m in ctx.progress([100, 1_000, n], total=3, desc="scaling"):
        t0 = time.perf_counter()
        torch.sort(torch.rand(m, generator=g))
        sizes.append(m)
        times.append(time.perf_counter() - t0)
        ctx.record(NAME, "scaling", "sort_time", times[-1], "s", items=m)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3, 2))
    FigureCanvasAgg(fig)
    fig.add_subplot(1, 1, 1).plot(sizes, times, "o-")
    fig.savefig(ctx.plot_path(NAME, "sort_scaling"))
