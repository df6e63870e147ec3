"""A small but complete training run used by the exact-resume test (run as a fresh process).

python resume_run.py TOTAL_STEPS STOP_AT CKPT OUT [--resume]
Trains a dropout MLP with AdamW + LR schedule, RigL dynamic sparsity and a UCB data pruner with
InfoBatch-style weights, stops after STOP_AT steps (saving a checkpoint mid-epoch) or runs to TOTAL_STEPS.
"""
import sys

import torch
from torch import nn

from core.data_pruning import DataPruner, PrunedSampler
from core.sparse import DynamicSparsity
from core.training import capture_state, load_checkpoint, restore_state, save_checkpoint, seed_everything

torch.set_num_threads(1)


def main(total: int, stop_at: int, ckpt: str, out: str, resume: bool) -> None:
    seed_everything(0)
    g = torch.Generator().manual_seed(123)
    x = torch.randn(64, 16, generator=g)
    y = torch.randint(0, 4, (64,), generator=g)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 4))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.5)
    sparsity = DynamicSparsity(model, density=0.5, init="erk", grow="gradient", update_every=3, end_step=total, seed=1).attach(opt)
    pruner = DataPruner(64, keep=0.5, policy="ucb", num_epochs=100, seed=2)
    sampler = PrunedSampler(pruner, rank=0, world_size=1, seed=3)
    step, epoch, skip = 0, 0, 0
    if resume:
        ck = restore_state(load_checkpoint(ckpt), model=model, optimizer=opt, scheduler=sched, sparsity=sparsity, pruner=pruner)
        step, epoch, skip = ck["step"], ck["epoch"], ck["extra"]["batch_in_epoch"]
    while step < total:
        sampler.set_epoch(epoch)
        ids_all = list(iter(sampler))
        batches = [ids_all[i:i + 8] for i in range(0, len(ids_all), 8)]
        for b, ids in enumerate(batches):
            if b < skip:
                continue
            ids_t = torch.tensor(ids)
            losses = nn.functional.cross_entropy(model(x[ids_t]), y[ids_t], reduction="none")
            w = pruner.loss_weights(ids_t, epoch=epoch)
            (losses * w).mean().backward()
            opt.step()
            sparsity.step()  # RigL reads the dense gradients: before zero_grad
            opt.zero_grad(set_to_none=True)
            sched.step()
            pruner.observe(ids_t, losses.detach())
            step += 1
            if step == stop_at and not resume:
                save_checkpoint(ckpt, capture_state(step=step, epoch=epoch, extra={"batch_in_epoch": b + 1},
                                                    model=model, optimizer=opt, scheduler=sched, sparsity=sparsity, pruner=pruner))
                return
            if step >= total:
                break
        skip = 0
        epoch += 1
    torch.save({"model": model.state_dict(), "masks": {k: v.clone() for k, v in sparsity.masks.items()},
                "scores": pruner.state_dict()}, out)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], "--resume" in sys.argv)
