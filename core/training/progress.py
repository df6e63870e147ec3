"""Progress on a terminal: rank-0 tqdm bars, and one line per evaluation that stays on screen.

When it shows (``progress_enabled``): on rank 0 only; a setting (``trainer.progress=on|off``, i.e. ``True`` /
``False``) decides when given; otherwise ``SPARSELAB_PROGRESS=1`` forces it on and ``=0`` off, ``CI`` set turns it
off, and else it is on exactly when stderr is a terminal (so logs and CI stay quiet).

The training loop's view (``RunProgress``): one bar per run when ``max_steps`` is known (else one per epoch),
and at every evaluation one line above the bar that stays when the bar goes::

    [asr_ddp dyn07] step 120/2000 · epoch 3/20 · val_wer 0.4120 · train loss 0.532 · 1m23s
"""
from __future__ import annotations

import math
import os
import sys

from tqdm.auto import tqdm

from core.training.distributed import is_main_process

__all__ = ["progress", "progress_enabled", "RunProgress", "format_eval_line"]


def progress_enabled(setting: bool | None = None) -> bool:
    """Whether this process shows progress (see the module docstring); ``setting`` is ``trainer.progress``."""
    if not is_main_process():
        return False
    if setting is not None:
        return bool(setting)
    flag = os.environ.get("SPARSELAB_PROGRESS")
    if flag is not None:
        return flag.strip().lower() not in ("0", "false", "off", "no", "")
    if os.environ.get("CI"):
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def progress(iterable=None, *, total: int | None = None, desc: str = "", enabled: bool | None = None, **kw):
    """``for x in progress(loader, desc="epoch 3"): ...`` -- a tqdm bar on rank 0, silent elsewhere."""
    on = progress_enabled(enabled)
    kw.setdefault("leave", False)
    return tqdm(iterable, total=total, desc=desc, disable=not on, dynamic_ncols=True, **kw)


def _duration(s: float) -> str:
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h{m:02d}m{sec:02d}s" if h else (f"{m}m{sec:02d}s" if m else f"{sec}s")


def _num(v) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if not math.isfinite(v):
        return str(v)
    return f"{v:.4g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.3e}"


def format_eval_line(label: str, *, step: int, epoch: int, metrics: dict, max_steps: int | None = None,
                     epochs: int | None = None, loss: float | None = None, elapsed: float | None = None) -> str:
    """``[label] step 120/2000 · epoch 3/20 · val_wer 0.412 · train loss 0.532 · 1m23s`` (scalars only)."""
    parts = [f"step {step}" + (f"/{max_steps}" if max_steps else ""),
             f"epoch {epoch}" + (f"/{epochs}" if epochs else "")]
    parts += [f"{k} {_num(v)}" for k, v in metrics.items() if isinstance(v, (int, float))]
    if loss is not None:
        parts.append(f"train loss {_num(float(loss))}")
    if elapsed is not None:
        parts.append(_duration(elapsed))
    return (f"[{label}] " if label else "") + " · ".join(parts)


class RunProgress:
    """What the training loop shows (see the module docstring); every method is a no-op when disabled."""

    def __init__(self, *, enabled: bool, label: str = "", max_steps: int | None = None, epochs: int | None = None):
        self.enabled, self.label, self.max_steps, self.epochs = bool(enabled), label, max_steps, epochs
        self.bar = None
        self._last = 0

    def begin(self, step: int) -> None:
        """Start the run's bar at ``step`` (a resumed run starts where it was) when the total is known."""
        self._last = step
        if self.enabled and self.max_steps:
            self.bar = tqdm(total=self.max_steps, initial=min(step, self.max_steps), desc=self.label,
                            dynamic_ncols=True, leave=False, file=sys.stderr, unit="step")

    def start_epoch(self, epoch: int, n_batches: int | None, done: int = 0) -> None:
        """Without ``max_steps``: a new bar for this epoch (``n_batches`` long when known)."""
        if not self.enabled or self.max_steps:
            return
        if self.bar is not None:
            self.bar.close()
        desc = f"{self.label} epoch {epoch + 1}" + (f"/{self.epochs}" if self.epochs else "")
        self.bar = tqdm(total=n_batches, initial=done, desc=desc.strip(), dynamic_ncols=True, leave=False,
                        file=sys.stderr, unit="step")

    def update(self, step: int) -> None:
        if self.bar is not None and step > self._last:
            self.bar.update(step - self._last)
        self._last = step

    def eval_line(self, *, step: int, epoch: int, metrics: dict, loss: float | None = None,
                  elapsed: float | None = None) -> None:
        """One line that stays on screen (written above the bar)."""
        if not self.enabled:
            return
        line = format_eval_line(self.label, step=step, epoch=epoch, metrics=metrics, max_steps=self.max_steps,
                                epochs=self.epochs, loss=loss, elapsed=elapsed)
        tqdm.write(line, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
