"""A toy regression task for the shared loop's tests: dropout on, noise drawn from the global RNG every step,
item ids and per-item losses for a data pruner, per-rank task state, sharded batches for DDP."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from core.data_pruning import DataPruner
from core.regularizers import build_regularizer
from core.sparse import DynamicSparsity
from core.training.distributed import get_rank, get_world_size
from core.training.loop import StepOutput, Task, TrainLoop
from core.training.run import LoopSettings, prepare_run


class Killed(RuntimeError):
    """Raised by the toy task to simulate a crash after a given step."""


class ToyTask(Task):
    def __init__(self, n: int = 48, batch: int = 4, seed: int = 0, pruner: DataPruner | None = None,
                 kill_after: int | None = None) -> None:
        g = torch.Generator().manual_seed(123)
        self.x = torch.randn(n, 6, generator=g)
        self.y = self.x @ torch.randn(6, 1, generator=g) + 0.1 * torch.randn(n, 1, generator=g)
        self.n, self.batch, self.seed, self.pruner, self.kill_after = n, batch, seed, pruner, kill_after
        self.seen = 0          # per-rank task state
        self.epochs_started: list[int] = []

    def epoch_batches(self, epoch: int):
        ids = self.pruner.select(epoch) if self.pruner is not None else torch.arange(self.n)
        perm = ids[torch.randperm(len(ids), generator=torch.Generator().manual_seed(self.seed * 1000 + epoch))]
        r, w, b = get_rank(), get_world_size(), self.batch
        nb = len(perm) // (b * w)
        return [perm[i * b * w + r * b: i * b * w + (r + 1) * b] for i in range(nb)]

    def training_step(self, model, ids, step):
        noise = 0.01 * torch.randn(len(ids), 6)                 # global RNG: resume must restore it
        per = ((model(self.x[ids] + noise) - self.y[ids]) ** 2).mean(1)   # (B,)
        self.seen += len(ids)
        w = self.pruner.loss_weights(ids) if self.pruner is not None else torch.ones(len(ids))
        return StepOutput((per * w).mean(), item_ids=ids, item_losses=per.detach(), logs={"seen": self.seen},
                          work=float(len(ids)))

    def evaluate(self, model, step):
        return {"val_mse": float(((model(self.x) - self.y) ** 2).mean())}

    def on_epoch_start(self, loop, epoch):
        self.epochs_started.append(epoch)

    def on_step_end(self, loop, step):
        if self.kill_after is not None and step == self.kill_after:
            raise Killed(f"killed after step {step}")

    def state_dict(self):
        return {"seen": self.seen}

    def load_state_dict(self, sd):
        self.seen = int(sd["seen"])

    def finish(self, loop):
        # a draw from the global RNG: a run resumed at its very end must finish under the RNG it saved
        return {"seen_total": self.seen, "finish_draw": float(torch.rand(()))}


def toy_model() -> nn.Module:
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 1))


def build_and_run(run_dir: Path, *, max_steps: int | None = 14, epochs: int | None = None, kill_after=None,
                  resume="auto", sparse: bool = True, prune: bool = True, regularize: bool = False,
                  fingerprint=None, checkpoint_every: int = 3, eval_every: int = 4, grad_clip=1.0, amp="off",
                  seed: int = 0):
    """Build everything the way a recipe would and run it; returns (summary, loop)."""
    settings = LoopSettings(run_dir=run_dir, max_steps=max_steps, epochs=epochs, seed=seed, amp=amp,
                            checkpoint_every=checkpoint_every, eval_every=eval_every, log_every=2,
                            grad_clip=grad_clip, resume=resume, progress=False,
                            fingerprint=fingerprint if fingerprint is not None else {"lr": 0.05, "sparse": sparse})
    run = prepare_run(settings, app="toy", variant="v")
    if run.finished:
        return run.summary, None
    torch.manual_seed(0)
    model = toy_model()
    reg = build_regularizer(model, lam=1e-3, beta=1.0, targets=["0", "3"]) if regularize else None
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sp = None
    if sparse:
        sp = DynamicSparsity(model, density=0.5, init="uniform", grow="gradient", update_every=2, end_step=12,
                             seed=0, targets=["0", "3"]).attach(opt)
    pruner = DataPruner(48, keep=0.75, policy="ucb", num_epochs=20, seed=0) if prune else None
    task = ToyTask(pruner=pruner, kill_after=kill_after)
    loop = TrainLoop(run, model, opt, task, lr_schedule=lambda s: 0.05 * (1 - s / 40), sparsity=sp, pruner=pruner,
                     regularizer=reg)
    return loop.run(), loop


def comparable(history: list[dict]) -> list[dict]:
    """History without wall/CPU timings and resume events (which differ between runs by nature)."""
    drop = {"train_s", "train_cpu_s"}
    return [{k: v for k, v in r.items() if k not in drop} for r in history if r.get("kind") != "event"]


def distributed_kill_resume(rank: int, world_size: int, root: str) -> dict:
    """Under 2 gloo ranks: uninterrupted run vs killed-at-5-and-resumed run; returns weights and histories."""
    root = Path(root)
    full, loop_a = build_and_run(root / "a", max_steps=10, epochs=None)
    try:
        build_and_run(root / "b", max_steps=10, kill_after=5)
    except Killed:
        pass
    torch.rand(1000)  # disturb the global RNG before resuming
    resumed, loop_b = build_and_run(root / "b", max_steps=10)
    return {"a": {k: v.clone() for k, v in loop_a.module.state_dict().items()},
            "b": {k: v.clone() for k, v in loop_b.module.state_dict().items()},
            "ha": comparable(loop_a.history), "hb": comparable(loop_b.history),
            "seen_a": loop_a.task.seen, "seen_b": loop_b.task.seen, "work_a": full["work"], "work_b": resumed["work"]}
