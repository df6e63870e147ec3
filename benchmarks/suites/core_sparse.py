"""core.sparse: overhead of the dynamic-sparsity engine on a training step, and topology-update scaling.

Overhead: a dense training step (forward, backward, optimizer.step) against the same step with
``DynamicSparsity`` attached (post-step mask hook every step) and ``sparsity.step()`` with a topology
update every 100 steps, amortized over the steps. Two figures, both with target <= 1.02 x the dense step:
``step_time_amortized`` (end to end, dense / sparse / dense-control steps interleaved one by one and
compared by paired per-round ratios; ``control_ratio`` shows the noise floor) and ``step_time_engine``
(dense step + the hook timed inside the real steps + one update / 100: the engine's own cost).
On CPU the clock is the thread's CPU time (one intra-op thread), which ignores time the OS gives to other
processes on a shared machine; on CUDA it is synchronized wall time.

Scaling: time of one topology update (SET and RigL) and of one post-step hook against the number of
masked parameters, for a stack of Linear layers; saved as a log-log plot.
"""
from __future__ import annotations

import time

import torch
from torch import nn

from core.sparse import DynamicSparsity, plot_density
from core.testing import TinyCNN, TinyTransformer
from core.plotting import save_figure

NAME = "core_sparse"
DESCRIPTION = "dynamic sparsity engine: step overhead vs dense (CNN, transformer) and topology-update scaling"

UPDATE_EVERY = 100  # quick/full; the smoke suite updates every 10 steps to see updates in its few steps


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


class _Clock:
    """CPU time of this thread on CPU (one intra-op thread: all compute runs here, and time the OS gives to
    other processes is not counted); synchronized wall time on CUDA."""

    def __init__(self, device: str):
        self.cpu = str(device) == "cpu"
        self.name = "thread_cpu_time" if self.cpu else "wall_time"

    def __call__(self) -> float:
        if self.cpu:
            return time.thread_time()
        torch.cuda.synchronize()
        return time.perf_counter()


def _overhead(ctx, variant: str, task, size: dict, steps: int, update_every: int) -> None:
    """Two figures against the median dense step:

    * ``step_time_amortized`` (end to end): dense, sparse and a second identical dense model ("control")
      step in rotating order, one step each per round. Amortized sparse step = median dense step x median
      per-round ratio sparse/dense over the regular steps + the mean extra time of an update step / update_every. The control's median per-round ratio to dense (``control_ratio``) is the noise floor.
    * ``step_time_engine`` (components): dense step + the post-step hook timed in place (inside the real
      training steps, caches as they are) + one topology update / UPDATE_EVERY.
    """
    t0 = time.perf_counter()
    clock = _Clock(ctx.device)
    models = {k: task(size, ctx.device, ctx.seed) for k in ("dense", "control", "sparse")}
    loss = models["dense"][1]
    opts = {k: mk(m.parameters()) for k, (m, _, mk) in models.items()}
    sp = DynamicSparsity(models["sparse"][0], density=0.1, init="erk", grow="random", update_every=update_every,
                         drop_fraction=0.3, seed=ctx.seed).attach(opts["sparse"])
    # time the registered post-step hook where it really runs (a direct loop of calls underestimates it ~4x:
    # in a loop its code and data stay hot in the caches)
    hooks = opts["sparse"]._optimizer_step_post_hooks
    key = next(iter(hooks))
    inner, hook_t = hooks[key], []

    def timed_hook(opt, args, kwargs):
        h0 = clock()
        inner(opt, args, kwargs)
        hook_t.append(clock() - h0)

    hooks[key] = timed_hook
    fns = {k: _step_fn(models[k][0], loss, opts[k], sp if k == "sparse" else None) for k in models}
    for _ in range(3):  # warm-up (allocator, optimizer state)
        for f in fns.values():
            f()
    hook_t.clear()
    rounds = []  # per round: {dense, control, sparse} seconds and whether the sparse step updated
    keys = list(fns)
    for i in ctx.progress(range(steps), desc=f"{variant} overhead"):
        r = {}
        for k in keys[i % 3:] + keys[: i % 3]:
            c0 = clock()
            updated = fns[k]()
            r[k] = clock() - c0
            if k == "sparse":
                r["updated"] = updated
        rounds.append(r)
    # paired ratios within a round share the background load, so they are far less noisy than raw times
    dense = _median([r["dense"] for r in rounds])
    regular_ratio = _median([r["sparse"] / r["dense"] for r in rounds if not r["updated"]])
    control_ratio = _median([r["control"] / r["dense"] for r in rounds])
    update_extra = [r["sparse"] - regular_ratio * r["dense"] for r in rounds if r["updated"]]
    # one update per update_every steps (not per measured round: the rounds need not be a multiple of it)
    sparse = dense * regular_ratio + (sum(update_extra) / len(update_extra) / update_every if update_extra else 0.0)
    wall_e2e = time.perf_counter() - t0

    upd_t = []
    for _ in range(ctx.sizes(smoke=2, quick=5, full=10)):
        c0 = clock()
        sp.update_topology()
        upd_t.append(clock() - c0)
    hook_s, update_s = _median(hook_t), _median(upd_t)
    if ctx.suite != "smoke":  # keep the smoke run inside its budget: only the scaling plot there
        plot_density(sp.report(), ctx.plot_path(NAME, f"density_{variant}"),
                     title=f"ERK density per layer ({variant}, global 0.1)")
    common = dict(clock=clock.name, steps=steps, params=sum(p.numel() for p in models["sparse"][0].parameters()),
                  density=round(sp.density(), 4), dense_step_s=dense, hook_s=hook_s, update_s=update_s)
    # smoke: 20 steps of models with 16-128 samples/tokens per step, an update every 10 steps: they exercise
    # the code, but are too small to stand for the overhead on a training step -> no targets in smoke
    target = None if ctx.suite == "smoke" else "<= 1.02"
    ctx.record(NAME, variant, "step_time_amortized", sparse, "s", baseline=dense,
               target=target, higher_is_better=False, wall_s=wall_e2e,
               update_every=update_every, updates=len(update_extra), regular_sparse_step_s=dense * regular_ratio,
               control_ratio=control_ratio, **common)
    # amortized at the production interval (UPDATE_EVERY) in every suite
    ctx.record(NAME, variant, "step_time_engine", dense + hook_s + update_s / UPDATE_EVERY, "s", baseline=dense,
               target=target, higher_is_better=False, wall_s=time.perf_counter() - t0 - wall_e2e,
               update_every=UPDATE_EVERY, **common)


def _hook_and_update_time(n_layers: int, width: int, device, seed: int, repeats: int, clock: _Clock) -> dict:
    """Fastest of ``repeats`` topology updates (SET, RigL) and post-step hooks (weights + SGD momentum), seconds."""
    out = {"params": n_layers * width * width}
    for grow in ("random", "gradient"):
        torch.manual_seed(seed)
        model = nn.Sequential(*[nn.Linear(width, width) for _ in range(n_layers)]).to(device)
        sp = DynamicSparsity(model, density=0.1, init="erk", grow=grow, drop_fraction=0.3, seed=seed)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        sp.attach(opt)
        opt.zero_grad()
        model(torch.randn(4, width, device=device)).sum().backward()
        opt.step()  # creates the momentum buffers the hook masks
        times = []
        for _ in range(repeats):
            c0 = clock()
            sp.update_topology()
            times.append(clock() - c0)
        out[f"update_{grow}_s"] = min(times)
        if grow == "random":
            hook = next(iter(opt._optimizer_step_post_hooks.values()))
            times = []
            for _ in range(repeats):
                c0 = clock()
                hook(opt, (), {})
                times.append(clock() - c0)
            out["hook_s"] = min(times)
        sp.detach()
    return out


def _scaling(ctx, widths: list[int], repeats: int) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    t0 = time.perf_counter()
    clock = _Clock(ctx.device)
    rows = []
    for w in ctx.progress(widths, desc="update scaling"):
        r = _hook_and_update_time(4, w, ctx.device, ctx.seed, repeats, clock)
        rows.append(r)
        for key in ("update_random_s", "update_gradient_s", "hook_s"):
            ctx.record(NAME, "scaling_mlp4", key[:-2] + "_time", r[key], "s", params=r["params"], width=w, clock=clock.name)
    xs = [r["params"] for r in rows]
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.loglog(xs, [r["update_random_s"] * 1e3 for r in rows], "o-", label="topology update, SET (random)")
    ax.loglog(xs, [r["update_gradient_s"] * 1e3 for r in rows], "s-", label="topology update, RigL (gradient)")
    ax.loglog(xs, [r["hook_s"] * 1e3 for r in rows], "^-", label="post-step mask hook (direct calls)")
    ax.set_xlabel("masked parameters (4 Linear layers)")
    ax.set_ylabel(f"{clock.name.replace('_', ' ')} [ms]")
    ax.set_title(f"core.sparse scaling ({ctx.device})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, ctx.plot_path(NAME, "update_scaling"), dpi=100)
    ctx.record(NAME, "scaling_mlp4", "points", len(rows), "", wall_s=time.perf_counter() - t0)


def run(ctx) -> None:
    threads = torch.get_num_threads()
    if str(ctx.device) == "cpu":
        torch.set_num_threads(1)  # stable timings on a shared CPU
    try:
        cnn = ctx.sizes(smoke=dict(width=8, hw=16, batch=8), quick=dict(width=16, hw=16, batch=16),
                        full=dict(width=64, hw=32, batch=128))
        tr = ctx.sizes(smoke=dict(d_model=32, seq=8, batch=2), quick=dict(d_model=64, seq=32, batch=8),
                       full=dict(d_model=256, seq=128, batch=32))
        steps = ctx.sizes(smoke=20, quick=200, full=1000)
        every = ctx.sizes(smoke=10, quick=UPDATE_EVERY, full=UPDATE_EVERY)
        _overhead(ctx, "cnn_sgd", _cnn_task, cnn, steps, every)
        _overhead(ctx, "transformer_adamw", _transformer_task, tr, steps, every)
        widths = ctx.sizes(smoke=[32, 64, 128], quick=[64, 128, 256, 512, 1024], full=[256, 512, 1024, 2048, 4096])
        _scaling(ctx, widths, repeats=ctx.sizes(smoke=2, quick=3, full=5))
    finally:
        torch.set_num_threads(threads)
