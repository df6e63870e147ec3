"""Shared helpers for the core/sparse tests: deterministic data and a training loop."""
import torch

from core.testing import TinyCNN


def batch(step: int, kind: str = "cnn"):
    """Deterministic (inputs, targets) for a step: same data in every run and every process."""
    g = torch.Generator().manual_seed(1000 + step)
    if kind == "cnn":
        return torch.randn(4, 3, 8, 8, generator=g), torch.randint(0, 10, (4,), generator=g)
    return torch.randint(0, 64, (2, 6), generator=g), torch.randint(0, 64, (2, 6), generator=g)


def loss_fn(model, step: int, kind: str = "cnn"):
    x, y = batch(step, kind)
    out = model(x)
    if kind != "cnn":
        out, y = out.reshape(-1, out.shape[-1]), y.reshape(-1)
    return torch.nn.functional.cross_entropy(out, y)


def train(model, opt, sparsity, steps: int, start: int = 0, kind: str = "cnn", on_step=None):
    """``steps`` optimizer steps; ``sparsity.step()`` after each (if given); ``on_step(step, updated)``."""
    for s in range(start, start + steps):
        opt.zero_grad(set_to_none=True)
        loss_fn(model, s, kind).backward()
        opt.step()
        updated = sparsity.step() if sparsity is not None else False
        if on_step is not None:
            on_step(s, updated)


def cnn(seed: int = 0):
    torch.manual_seed(seed)
    return TinyCNN(width=8)
