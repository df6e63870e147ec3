"""core.sparse: the dynamic-sparsity engine's cost on a training step, against dense and its peers, and scaling.

Every timing is a ``ctx.compare_timing`` of single training steps (forward, backward, optimizer.step and
what the method adds), ``inner = update_every`` steps per sample so each sample holds exactly one
topology update (amortized cost), A/B/A' rounds interleaved in this process with a noise floor (the
baseline against itself). CPU: the thread's CPU time with one intra-op thread (time the OS gives to other
processes is not counted); CUDA: synchronized wall time. Two tasks: a small CNN with SGD + momentum and a
small transformer with AdamW (attention ``in_proj_weight`` masked too).

* ``step_time`` vs the dense step: target ``<= 1.02`` (the engine adds at most 2 % to a step, update
  amortized), judged on the ratio interval widened by the noise floor. Not judged in smoke (20-odd
  samples of steps with 16-128 samples/tokens cannot stand for a training step's overhead). On a shared
  CPU the per-round A/B ratio spreads by about +-10 %, so this row can say "within noise" but rarely
  resolve 2 %.
* ``step_time_engine_share``: the same target on T / (T - E), E = the time spent inside the engine (post-step
  hook, ``sparsity.step()`` with its updates) within each sample T of the masked model's steps, same clock
  (``ctx.record_samples``: median of ``rounds`` samples with its order-statistics interval). It resolves
  fractions of a percent because load moves T and E together; indirect costs are left to the A/B row.
* peers, same model, same initial weights, same per-layer densities, same update interval:
  ``torch.ao.pruning``'s ``WeightNormSparsifier`` (``FakeSparsity`` parametrization: the mask multiplies
  the weight in every forward; ``sparsifier.step()`` recomputes masks at each update) and a bare mask
  multiply (``weight.mul_(mask)`` after ``optimizer.step()``, static masks, optimizer state not masked:
  the least any masking can cost). Ratio ours / peer, no target (side-by-side rows).

Scaling: time of one topology update (SET and RigL) and of one post-step hook against the number of
masked parameters, for a stack of Linear layers; saved as a log-log plot (absolute times: not judged).
"""
from __future__ import annotations

import time

import torch
from torch import nn

from benchmarks.timing import Clock
from core.plotting import save_figure
from core.sparse import DynamicSparsity, plot_density
from core.testing import TinyCNN, TinyTransformer

NAME = "core_sparse"
DESCRIPTION = ("dynamic sparsity engine: step cost vs dense, vs torch.ao.pruning and vs a bare mask multiply "
               "(CNN, transformer), topology-update scaling")

UPDATE_EVERY = 100  # quick/standard/full; smoke updates every 5 steps
DENSITY = 0.1
TARGET = "<= 1.02"
PEER_AO = "torch.ao.pruning WeightNormSparsifier (FakeSparsity)"
PEER_MUL = "bare mask multiply (weight.mul_(mask) after the step)"


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


def _step_fn(model, loss, opt, after=None):
    """One training step: zero_grad, forward + backward, optimizer.step, then ``after()`` (the method's part)."""

    def step():
        opt.zero_grad(set_to_none=True)
        loss(model).backward()
        opt.step()
        if after is not None:
            after()

    return step


class _Arms:
    """Dense, ours, bare mask multiply and torch.ao on copies of one model (same init, same per-layer densities)."""

    def __init__(self, task, size: dict, device, seed: int, update_every: int):
        self.update_every = update_every
        mk = {k: task(size, device, seed) for k in ("dense", "ours", "mul", "ao")}
        self.loss = mk["dense"][1]
        self.models = {k: v[0] for k, v in mk.items()}
        self.opts = {k: v[2](self.models[k].parameters()) for k, v in mk.items()}
        self.sparsity = DynamicSparsity(self.models["ours"], density=DENSITY, init="erk", grow="random",
                                        update_every=update_every, drop_fraction=0.3, seed=seed).attach(self.opts["ours"])
        pmasks = self.sparsity.parameter_masks()        # {parameter name: bool mask}
        self.params = sum(p.numel() for p in self.models["ours"].parameters())
        named = dict(self.models["mul"].named_parameters())
        self.mul_pairs = [(named[k], m.to(named[k].dtype)) for k, m in pmasks.items()]
        with torch.no_grad():
            for p, m in self.mul_pairs:
                p.mul_(m)
        # WeightNormSparsifier computes masks of 2-D weights only (it reads shape[-2:]): conv kernels are out of its reach
        self.ao_ok = all(m.dim() == 2 for m in pmasks.values())
        self._ao_count = 0
        if self.ao_ok:
            from torch.ao.pruning import WeightNormSparsifier

            self.ao = WeightNormSparsifier(sparsity_level=1 - DENSITY, sparse_block_shape=(1, 1), zeros_per_block=1)
            self.ao.prepare(self.models["ao"], [{"tensor_fqn": k, "sparsity_level": 1.0 - m.float().mean().item()}
                                                for k, m in pmasks.items()])
            self.ao.step()

    def _mul(self):
        with torch.no_grad():
            for p, m in self.mul_pairs:
                p.mul_(m)

    def _ao_step(self):
        self._ao_count += 1
        if self._ao_count % self.update_every == 0:
            self.ao.step()

    def step(self, arm: str):
        m, o = self.models[arm], self.opts[arm]
        after = {"dense": None, "ours": self.sparsity.step, "mul": self._mul, "ao": self._ao_step}[arm]
        return _step_fn(m, self.loss, o, after)


def _overhead(ctx, variant: str, task, size: dict, update_every: int, rounds: int, peers: bool = True,
              peer_rounds: int | None = None) -> dict:
    """ours vs dense (target, ``rounds``), ours vs torch.ao and vs a bare mask multiply (peer rows, ``peer_rounds``)."""
    peer_rounds = rounds if peer_rounds is None else peer_rounds
    arms = _Arms(task, size, ctx.device, ctx.seed, update_every)
    small = None if ctx.suite != "smoke" else ("smoke sizes (a few steps of a tiny model) cannot stand for a "
                                               "training step's overhead")
    common = dict(update_every=update_every, params=arms.params, density=round(arms.sparsity.density(), 4))
    out = {"dense": ctx.compare_timing(variant, arms.step("dense"), arms.step("ours"), metric="step_time",
                                       target=TARGET, rounds=rounds, warmup=1, inner=update_every,
                                       baseline_name="dense step", not_judged=small, **common)}
    out["engine"] = _attributed(ctx, variant, arms, update_every, rounds, common, small)
    if peers and not arms.ao_ok:
        ctx.note(f"{variant}: no torch.ao.pruning row: its WeightNormSparsifier computes masks of 2-D weights only "
                 f"and this model has conv kernels among its masked weights")
    if peers and arms.ao_ok:
        out["ao"] = ctx.compare_timing(f"{variant}_vs_torch_ao", arms.step("ao"), arms.step("ours"), metric="step_time",
                                       rounds=peer_rounds, warmup=1, inner=update_every, peer=PEER_AO, **common)
    if peers:
        out["mul"] = ctx.compare_timing(f"{variant}_vs_mask_multiply", arms.step("mul"), arms.step("ours"),
                                        metric="step_time", rounds=peer_rounds, warmup=1, inner=update_every,
                                        peer=PEER_MUL, **common)
    if ctx.suite != "smoke":  # keep the smoke run inside its budget
        plot_density(arms.sparsity.report(), ctx.plot_path(NAME, f"density_{variant}"),
                     title=f"ERK density per layer ({variant}, global {DENSITY})")
    arms.sparsity.detach()
    return out


def _attributed(ctx, variant: str, arms: "_Arms", update_every: int, rounds: int, common: dict, small) -> dict:
    """The engine's own share of its training step, measured inside the step: per sample of ``update_every``
    steps of the masked model, T = the sample's time and E = the time spent in the engine (the post-step mask
    hook and ``sparsity.step()`` with its topology update), both on the same clock; the figure is T / (T - E),
    i.e. 1 + what the engine adds to the step it rides on. Both parts of a sample see the same machine, so
    load moves them together and the spread is small where the A/B ratio spreads by +-10 % on a shared
    CPU; what it cannot see is an indirect cost (caches the mask multiply evicts), which the A/B row bounds."""
    clock = Clock(ctx.device)
    opt, model, sp = arms.opts["ours"], arms.models["ours"], arms.sparsity
    hid = next(h.id for o, _, h in sp._hooks if o is opt)
    hooks = opt._optimizer_step_post_hooks
    inner_hook, spent = hooks[hid], [0.0]

    def timed(fn):
        def wrapped(*a, **k):
            c0 = clock.now()[0]
            try:
                return fn(*a, **k)
            finally:
                spent[0] += clock.now()[0] - c0
        return wrapped

    hooks[hid] = timed(inner_hook)
    step = _step_fn(model, arms.loss, opt, timed(sp.step))
    shares, totals = [], []
    try:
        step()                                          # warm-up
        for _ in ctx.progress(range(rounds), desc=f"{variant}: engine share"):
            spent[0] = 0.0
            c0 = clock.now()[0]
            for _ in range(update_every):
                step()
            t = clock.now()[0] - c0
            totals.append(t)
            shares.append(t / (t - spent[0]))
    finally:
        hooks[hid] = inner_hook
    return ctx.record_samples(variant, "step_time_engine_share", shares, unit="x", target=TARGET, not_judged=small,
                              clock=clock.name, inner=update_every, sample_s=sorted(totals)[len(totals) // 2],
                              **common)


def _hook_and_update_time(n_layers: int, width: int, device, seed: int, repeats: int, clock: Clock) -> dict:
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
            c0 = clock.now()[0]
            sp.update_topology()
            times.append(clock.now()[0] - c0)
        out[f"update_{grow}_s"] = min(times)
        if grow == "random":
            hook = next(iter(opt._optimizer_step_post_hooks.values()))
            times = []
            for _ in range(repeats):
                c0 = clock.now()[0]
                hook(opt, (), {})
                times.append(clock.now()[0] - c0)
            out["hook_s"] = min(times)
        sp.detach()
    return out


def _scaling(ctx, widths: list[int], repeats: int) -> None:
    from core.plotting import pyplot

    plt = pyplot()

    t0 = time.perf_counter()
    clock = Clock(ctx.device)
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
        torch.set_num_threads(1)  # stable timings on a shared CPU; all compute on this thread
    try:
        cnn = ctx.sizes(smoke=dict(width=8, hw=16, batch=8), quick=dict(width=16, hw=16, batch=16),
                        standard=dict(width=32, hw=32, batch=32), full=dict(width=64, hw=32, batch=128))
        tr = ctx.sizes(smoke=dict(d_model=32, seq=8, batch=2), quick=dict(d_model=64, seq=16, batch=8),
                       standard=dict(d_model=128, seq=64, batch=16), full=dict(d_model=256, seq=128, batch=32))
        every = ctx.sizes(smoke=5, quick=UPDATE_EVERY, standard=UPDATE_EVERY, full=UPDATE_EVERY)
        rounds = ctx.sizes(smoke=2, quick=7, standard=15, full=21)
        peer_rounds = ctx.sizes(smoke=2, quick=5, standard=9, full=15)   # side-by-side rows: no target to judge
        res = {"cnn_sgd": _overhead(ctx, "cnn_sgd", _cnn_task, cnn, every, rounds, peer_rounds=peer_rounds),
               "transformer_adamw": _overhead(ctx, "transformer_adamw", _transformer_task, tr, every, rounds,
                                              peer_rounds=peer_rounds)}
        points = []
        label = {"dense": "ours / dense", "engine": "1 + engine's share of its step", "ao": "ours / torch.ao",
                 "mul": "ours / mask multiply"}
        for task, r in res.items():
            points += [dict(method=f"{task}: {label[k]}", x=rec["ratio"] if k != "engine" else rec["value"],
                            x_err=rec["interval"]) for k, rec in r.items()]
        ctx.headline_plot(points, x_label=f"step time ratio, one update every {every} steps amortized\n"
                                          f"(median of paired rounds; interval widened by the noise floor)",
                          title=f"core_sparse: cost of a masked training step (density {DENSITY})", target=1.02)
        widths = ctx.sizes(smoke=[32, 64, 128], quick=[64, 128, 256, 512, 1024], standard=[64, 128, 256, 512, 1024, 2048],
                           full=[256, 512, 1024, 2048, 4096])
        _scaling(ctx, widths, repeats=ctx.sizes(smoke=2, quick=3, standard=5, full=5))
    finally:
        torch.set_num_threads(threads)
