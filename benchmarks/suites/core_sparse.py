"""core.sparse: overhead of the dynamic-sparsity engine on a training step, and topology-update scaling.

Overhead: a dense training step (forward, backward, optimizer.step) against the same step with
``DynamicSparsity`` attached (post-step mask hook every step) and ``sparsity.step()`` with a topology
update every 100 steps, amortized over the steps. Dense and sparse steps are interleaved one by one and
compared by medians (robust to other processes on a shared CPU); the update steps' extra time is spread
over all steps. Target: amortized sparse step <= 1.02 x dense step.

Scaling: time of one topology update (SET and RigL) and of one post-step hook against the number of
masked parameters, for a stack of Linear layers; saved as a log-log plot.
"""
from __future__ import annotations

import time

import torch
from torch import nn

from core.metrics import Timer
from core.sparse import DynamicSparsity
from core.testing import TinyCNN, TinyTransformer

NAME = "core_sparse"
DESCRIPTION = "dynamic sparsity engine: step overhead vs dense (CNN, transformer) and topology-update scaling"

UPDATE_EVERY = 100


def _cnn_task(size: dict, device, seed: int):
    torch.manual_seed(seed)
    model = TinyCNN(in_channels=3, width=size["width"], num_classes=10).to(device)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(size["batch"], 3, size["hw"], size["hw"], generator=g).to(device)
    y = torch.randint(0, 10, (size["batch"],), generator=g).to(device)

    def loss(m):
        return nn.functional.cross_entropy(m(x), y)

    return model, loss, lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9, weight_decay=5e-4)


def _transformer_task(size: dict, device, seed: int):
    torch.manual_seed(seed)
    vocab = 256
    model = TinyTransformer(vocab=vocab, d_model=size["d_model"], heads=4, layers=2, ffn=4 * size["d_model"],
                            max_len=size["seq"]).to(device)
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, vocab, (size["batch"], size["seq"]), generator=g).to(device)
    y = torch.randint(0, vocab, (size["batch"], size["seq"]), generator=g).to(device)

    def loss(m):
        return nn.functional.cross_entropy(m(x).reshape(-1, vocab), y.reshape(-1))

    return model, loss, lambda p: torch.optim.AdamW(p, lr=1e-3)


def _step_fn(model, loss, opt, sparsity):
    """One training step; returns True when the sparsity engine updated the topology."""

    def step() -> bool:
        opt.zero_grad(set_to_none=True)
        loss(model).backward()
        opt.step()
        return sparsity.step() if sparsity is not None else False

    return step


def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def _overhead(ctx, variant: str, task, size: dict, steps: int) -> None:
    """Dense and sparse steps interleaved one by one (both see the same background load on a shared CPU).

    Amortized sparse step = median regular sparse step + (total extra time of the update steps) / steps;
    the ratio to the median dense step is compared with the target.
    """
    t0 = time.perf_counter()
    dense_model, loss, make_opt = task(size, ctx.device, ctx.seed)
    sparse_model, _, _ = task(size, ctx.device, ctx.seed)
    dense_opt = make_opt(dense_model.parameters())
    sparse_opt = make_opt(sparse_model.parameters())
    sp = DynamicSparsity(sparse_model, density=0.1, init="erk", grow="random", update_every=UPDATE_EVERY,
                         drop_fraction=0.3, seed=ctx.seed).attach(sparse_opt)
    dense_step = _step_fn(dense_model, loss, dense_opt, None)
    sparse_step = _step_fn(sparse_model, loss, sparse_opt, sp)
    for _ in range(3):  # warm-up (allocator, optimizer state)
        dense_step(), sparse_step()
    dense_t, regular_t, update_t = [], [], []
    for i in ctx.progress(range(steps), total=steps, desc=f"{variant} overhead"):
        for which in ((0, 1) if i % 2 == 0 else (1, 0)):
            with Timer() as t:
                updated = (dense_step, sparse_step)[which]()
            if which == 0:
                dense_t.append(t.elapsed)
            else:
                (update_t if updated else regular_t).append(t.elapsed)
    dense = _median(dense_t)
    regular = _median(regular_t)
    sparse = regular + sum(u - regular for u in update_t) / (len(regular_t) + len(update_t))
    n_params = sum(p.numel() for p in sparse_model.parameters())
    ctx.record(NAME, variant, "step_time_amortized", sparse, "s", baseline=dense, target="<= 1.02",
               higher_is_better=False, wall_s=time.perf_counter() - t0, update_every=UPDATE_EVERY, steps=steps,
               updates=len(update_t), params=n_params, density=round(sp.density(), 4), dense_step_s=dense,
               regular_sparse_step_s=regular, update_step_s=(sum(update_t) / len(update_t)) if update_t else None,
               mean_ratio=sum(regular_t + update_t) / sum(dense_t))


def _hook_and_update_time(n_layers: int, width: int, device, seed: int, repeats: int) -> dict:
    torch.manual_seed(seed)
    model = nn.Sequential(*[nn.Linear(width, width) for _ in range(n_layers)]).to(device)
    out = {"params": n_layers * width * width}
    for grow in ("random", "gradient"):
        sp = DynamicSparsity(model, density=0.1, init="erk", grow=grow, drop_fraction=0.3, seed=seed)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        sp.attach(opt)
        opt.zero_grad()
        model(torch.randn(4, width, device=device)).sum().backward()
        opt.step()  # creates the momentum buffers the hook masks
        times = []
        for _ in range(repeats):
            with Timer() as t:
                sp.update_topology()
            times.append(t.elapsed)
        out[f"update_{grow}_s"] = min(times)
        if grow == "random":
            hook = next(iter(opt._optimizer_step_post_hooks.values()))
            times = []
            for _ in range(repeats):
                with Timer() as t:
                    hook(opt, (), {})
                times.append(t.elapsed)
            out["hook_s"] = min(times)
        sp.detach()
    return out


def _scaling(ctx, widths: list[int], repeats: int) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    t0 = time.perf_counter()
    rows = []
    for w in ctx.progress(widths, total=len(widths), desc="update scaling"):
        r = _hook_and_update_time(4, w, ctx.device, ctx.seed, repeats)
        rows.append(r)
        for key in ("update_random_s", "update_gradient_s", "hook_s"):
            ctx.record(NAME, "scaling_mlp4", key[:-2] + "_time", r[key], "s", params=r["params"], width=w)
    xs = [r["params"] for r in rows]
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.loglog(xs, [r["update_random_s"] * 1e3 for r in rows], "o-", label="topology update, SET (random)")
    ax.loglog(xs, [r["update_gradient_s"] * 1e3 for r in rows], "s-", label="topology update, RigL (gradient)")
    ax.loglog(xs, [r["hook_s"] * 1e3 for r in rows], "^-", label="post-step mask hook")
    ax.set_xlabel("masked parameters (4 Linear layers)")
    ax.set_ylabel("time [ms]")
    ax.set_title(f"core.sparse scaling ({ctx.device})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(ctx.plot_path(NAME, "update_scaling"), dpi=100)
    plt.close(fig)
    ctx.record(NAME, "scaling_mlp4", "points", len(rows), "", wall_s=time.perf_counter() - t0)


def run(ctx) -> None:
    threads = torch.get_num_threads()
    if str(ctx.device) == "cpu":
        torch.set_num_threads(1)  # stable timings on a shared CPU
    try:
        cnn = ctx.sizes(smoke=dict(width=8, hw=16, batch=8), quick=dict(width=16, hw=16, batch=16),
                        full=dict(width=64, hw=32, batch=128))
        tr = ctx.sizes(smoke=dict(d_model=32, seq=16, batch=4), quick=dict(d_model=64, seq=32, batch=8),
                       full=dict(d_model=256, seq=128, batch=32))
        steps = ctx.sizes(smoke=100, quick=400, full=1000)
        _overhead(ctx, "cnn_sgd", _cnn_task, cnn, steps)
        _overhead(ctx, "transformer_adamw", _transformer_task, tr, steps)
        widths = ctx.sizes(smoke=[32, 64, 128], quick=[64, 128, 256, 512, 1024], full=[256, 512, 1024, 2048, 4096])
        _scaling(ctx, widths, repeats=ctx.sizes(smoke=2, quick=3, full=5))
    finally:
        torch.set_num_threads(threads)
