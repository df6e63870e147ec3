"""The one training loop every app runs through, with a few hooks for what differs.

Why this shape: one loop that owns the plumbing (device and AMP, DDP wrapping, gradient clipping, checkpoint
naming/rotation/atomic writes, exact resume, progress, evaluation cadence, one results schema) and a small
``Task`` the app implements (its batches, its step, its evaluation, its extra state). That is Lightning's
loop-plus-callbacks idea cut down to what four apps need, kept explicit like torchtune's recipes: there is
no trainer magic to learn, a reader can follow one ``run()`` from top to bottom, and the parts of the sparse
core plug in at the points they already use:

    loss = task.training_step(model, batch, step).loss (+ regularizer.penalty())
    backward; unscale; clip (live weights only when a sparsity engine is given)
    optimizer.step()  (+ extra optimizers); GradScaler update
    scheduler.step(); sparsity.step(); regularizer.step()   (skipped when fp16 found inf gradients)
    pruner.observe(item_ids, item_losses)                     (a collective under DDP)
    task.on_step_end(loop, step)     # e.g. the MSRS switch: loop.replace_optimizer(...); loop.rewrap_model()

Exact resume: a checkpoint holds the model, optimizers, scheduler, GradScaler, sparsity engine, pruner,
regularizer, the loop's counters and history, and *for every rank* its RNG state now and at the start of the
epoch plus its task state. Resuming restores the epoch-start RNG, rebuilds the epoch's batches, skips the
ones already trained and then restores the step RNG, so a run killed at step k and resumed gives bitwise the
same weights and metrics as one that was never stopped (tests/core/training/test_loop*.py).

Files in the run folder (written by rank 0, each atomically): ``run.json`` (the run's identity, when training
starts from scratch), ``checkpoints/step_XXXXXXXX.pt`` (newest ``keep_checkpoints`` kept), ``metrics.jsonl`` (every
train/eval/epoch/event record, rewritten from the checkpointed history so a resumed run neither loses nor repeats
records), ``summary.json`` (status, counts, timings, last evaluation, the task's final fields); ``.lock`` holds the
pid of the process that owns the folder (``core.training.run``). A run resumed with nothing left to train (killed
after its last optimizer step) restores the saved RNG before finishing, so its final checkpoint and summary are
bitwise those of an uninterrupted run.

Progress (``core.training.progress``): on rank 0, on a terminal (or ``trainer.progress=on`` /
``SPARSELAB_PROGRESS=1``), a bar per run (per epoch without ``max_steps``) and one line per evaluation that stays:
``[app variant] step 120/2000 · epoch 3/20 · val_wer 0.412 · train loss 0.532 · 1m23s``.

Comparisons (runs x seeds, with declared hand-over between runs) are YAML sets run by
``core/training/experiments.py`` (``python -m core.training.experiments SET --out DIR``), each run a
subprocess of the app's CLI into its own run folder.
"""
from __future__ import annotations

import itertools
import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from core.training.atomic import atomic_write_json, atomic_write_text
from core.training.checkpoint import capture_state, restore_state, save_checkpoint
from core.training.distributed import barrier, is_distributed
from core.training.progress import RunProgress, progress_enabled
from core.training.results import git_commit
from core.training.run import CHECKPOINT_DIR, Run, checkpoint_path, fingerprint_diff, fingerprint_hash
from core.training.seeding import get_rng_state, set_rng_state

__all__ = ["StepOutput", "Task", "TrainLoop"]

log = logging.getLogger(__name__)


@dataclass
class StepOutput:
    """What a task's ``training_step`` returns.

    loss: scalar tensor to back-propagate (the task's own terms included; the loop adds the regularizer's penalty).
    item_ids / item_losses: ``(B,)`` item ids and per-item losses for a data pruner (both or neither).
    logs: extra scalars (the same keys on every rank), averaged over ranks, the log window and the epoch.
    work: units of data this step processed on this rank (audio seconds, voxels, ...), summed over ranks.
    """

    loss: Tensor
    item_ids: Tensor | None = None
    item_losses: Tensor | None = None
    logs: dict[str, float] = field(default_factory=dict)
    work: float = 0.0


class Task:
    """What an app brings to the loop. Override the first three; the hooks are optional."""

    def epoch_batches(self, epoch: int) -> Sequence | Iterable:
        """This rank's batches of ``epoch``; a deterministic function of (seed, epoch, state at the epoch start).
        Every rank must get the same number of batches."""
        raise NotImplementedError

    def training_step(self, model: nn.Module, batch: Any, step: int) -> StepOutput:
        """Forward one batch. ``model`` is the DDP-wrapped module when distributed (call it, don't unwrap it)."""
        raise NotImplementedError

    def evaluate(self, model: nn.Module, step: int) -> dict[str, float]:
        """Validation metrics (called on every rank; rank 0's values are recorded). ``model`` is unwrapped."""
        return {}

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def on_epoch_start(self, loop: TrainLoop, epoch: int) -> None:
        pass

    def on_step_end(self, loop: TrainLoop, step: int) -> None:
        pass

    def finish(self, loop: TrainLoop) -> dict:
        """Final fields for summary.json (e.g. test-set metrics). Called on every rank after training."""
        return {}


class TrainLoop:
    """``TrainLoop(run, model, optimizer, task, ...).run() -> summary``; see the module docstring."""

    def __init__(self, run: Run, model: nn.Module, optimizer: torch.optim.Optimizer, task: Task, *,
                 lr_schedule: Callable[[int], float] | None = None, scheduler=None, sparsity=None, pruner=None,
                 regularizer=None, extra_optimizers: Sequence[torch.optim.Optimizer] = ()) -> None:
        if run.finished:
            raise ValueError(f"{run.run_dir} holds a finished run; return run.summary instead of training again")
        self.run_info, self.s = run, run.settings
        self.device = run.device
        self.module = model
        self.optimizer = optimizer
        self.extra_optimizers = list(extra_optimizers)
        self.task, self.lr_schedule, self.scheduler = task, lr_schedule, scheduler
        self.sparsity, self.pruner, self.regularizer = sparsity, pruner, regularizer
        self.amp_dtype = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}[self.s.amp]
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.s.amp == "fp16")
        self.net = self._wrap(model)
        # counters (identical on every rank) and history (rank 0's view)
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.train_s = 0.0
        self.train_cpu_s = 0.0
        self.work = 0.0
        self.skipped_steps = 0
        self.history: list[dict] = []
        self.last_eval: dict = {}
        self.last_eval_step = -1
        self._epoch_acc = _Acc()
        self._window = _Acc()
        self._epoch_rng: dict | None = None
        self._events: list[dict] = []

    # ------------------------------------------------------------------ wiring the hooks may change
    def _wrap(self, model: nn.Module) -> nn.Module:
        if self.run_info.dist.world_size > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            return nn.parallel.DistributedDataParallel(model, device_ids=ids)
        return model

    def rewrap_model(self) -> None:
        """Wrap the (possibly changed) module for DDP again, e.g. after removing a parametrization."""
        self.net = self._wrap(self.module)

    def replace_optimizer(self, optimizer: torch.optim.Optimizer, *, sparsity=None, extra_optimizers=None,
                          regularizer="keep", scheduler="keep") -> None:
        """Swap the optimizer (and what depends on it) from a hook, e.g. when MSRS hardens its masks."""
        self.optimizer = optimizer
        self.sparsity = sparsity
        if extra_optimizers is not None:
            self.extra_optimizers = list(extra_optimizers)
        if regularizer != "keep":
            self.regularizer = regularizer
        if scheduler != "keep":
            self.scheduler = scheduler

    def record_event(self, event: str, **fields) -> None:
        """A one-off record in metrics.jsonl (e.g. the MSRS switch)."""
        self.history.append({"kind": "event", "event": event, "step": self.step, "epoch": self.epoch, **fields})

    @property
    def optimizers(self) -> list[torch.optim.Optimizer]:
        return [self.optimizer, *self.extra_optimizers]

    # ------------------------------------------------------------------ state
    def _loop_state(self) -> dict:
        return {"step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
                "train_s": self.train_s, "train_cpu_s": self.train_cpu_s, "work": self.work,
                "skipped_steps": self.skipped_steps, "history": self.history, "last_eval": self.last_eval,
                "last_eval_step": self.last_eval_step, "epoch_acc": self._epoch_acc.state(),
                "window": self._window.state()}

    def _load_loop_state(self, st: dict) -> None:
        self.step, self.epoch, self.batch_in_epoch = int(st["step"]), int(st["epoch"]), int(st["batch_in_epoch"])
        self.train_s, self.train_cpu_s, self.work = float(st["train_s"]), float(st["train_cpu_s"]), float(st["work"])
        self.skipped_steps = int(st["skipped_steps"])
        self.history, self.last_eval = list(st["history"]), dict(st["last_eval"])
        self.last_eval_step = int(st["last_eval_step"])
        self._epoch_acc, self._window = _Acc.from_state(st["epoch_acc"]), _Acc.from_state(st["window"])

    def _rank_state(self) -> dict:
        return {"rng": get_rng_state(), "epoch_rng": self._epoch_rng, "task": self.task.state_dict()}

    def save(self) -> None:
        """Checkpoint now (every rank takes part; rank 0 writes)."""
        per_rank = _gather_objects(self._rank_state())
        stateful = {"model": self.module, "optimizer": self.optimizer, "scheduler": self.scheduler,
                    "scaler": self.scaler if self.scaler.is_enabled() else None, "sparsity": self.sparsity,
                    "pruner": self.pruner, "regularizer": self.regularizer}
        state = capture_state(step=self.step, epoch=self.epoch, rng=False, **stateful,
                              extra={"loop": {"state": self._loop_state(), "per_rank": per_rank,
                                              "fingerprint": self.s.fingerprint,
                                              "world_size": self.run_info.dist.world_size,
                                              "extra_optimizers": [o.state_dict() for o in self.extra_optimizers]}})
        if self.run_info.is_main:
            save_checkpoint(checkpoint_path(self.run_info.run_dir, self.step), state)
            self._rotate()
            self._write_metrics()
        barrier()

    def _rotate(self) -> None:
        ckpts = sorted((self.run_info.run_dir / CHECKPOINT_DIR).glob("step_*.pt"))
        for p in ckpts[:-self.s.keep_checkpoints]:
            p.unlink(missing_ok=True)

    def _restore(self, ckpt: dict) -> None:
        stateful = {"model": self.module, "optimizer": self.optimizer, "scheduler": self.scheduler,
                    "scaler": self.scaler if self.scaler.is_enabled() else None, "sparsity": self.sparsity,
                    "pruner": self.pruner, "regularizer": self.regularizer}
        restore_state(ckpt, rng=False, **stateful)
        loop = ckpt["extra"]["loop"]
        for o, sd in zip(self.extra_optimizers, loop.get("extra_optimizers", [])):
            o.load_state_dict(sd)
        self._load_loop_state(loop["state"])
        mine = loop["per_rank"][self.run_info.dist.rank]
        self.task.load_state_dict(mine["task"])
        self._resume_rng = mine["rng"]
        self._epoch_rng = mine["epoch_rng"]
        diff = fingerprint_diff(loop.get("fingerprint", {}), self.s.fingerprint)
        if diff:
            log.warning("resuming %s under a changed configuration (resume=force):\n  %s",
                        self.run_info.ckpt_path, "\n  ".join(diff))
            self.record_event("forced_resume", changed=diff)
        self.record_event("resumed", checkpoint=str(self.run_info.ckpt_path))

    # ------------------------------------------------------------------ the loop
    def _done(self) -> bool:
        s = self.s
        return (s.max_steps is not None and self.step >= s.max_steps) or \
            (s.epochs is not None and self.epoch >= s.epochs)

    def run(self) -> dict:
        """Train to the end (or resume and finish), evaluate, write the summary; returns it."""
        self._resume_rng = None
        self._t_start = time.perf_counter()
        if self.run_info.ckpt is not None:
            self._restore(self.run_info.ckpt)
            log.info("resumed %s at step %d (epoch %d, batch %d)", self.run_info.ckpt_path, self.step, self.epoch,
                     self.batch_in_epoch)
        else:
            self.run_info.write_identity()      # run.json: only once the run really starts
        for path, why in self.run_info.resume_skipped:
            self.record_event("resume_skipped", checkpoint=path, reason=why)
        self.module.train()
        self._bar = RunProgress(enabled=progress_enabled(self.s.progress), label=self._label(),
                                max_steps=self.s.max_steps, epochs=self.s.epochs)
        self._bar.begin(self.step)
        try:
            while not self._done():
                resuming_mid_epoch = self._resume_rng is not None and self.batch_in_epoch > 0
                if resuming_mid_epoch:
                    set_rng_state(self._epoch_rng)
                elif self._resume_rng is not None:
                    set_rng_state(self._resume_rng)
                    self._resume_rng = None
                if not resuming_mid_epoch:
                    self._epoch_rng = get_rng_state()
                self.task.on_epoch_start(self, self.epoch)
                batches = self.task.epoch_batches(self.epoch)
                self._bar.start_epoch(self.epoch, _len_or_none(batches), done=self.batch_in_epoch)
                it = iter(batches)
                if resuming_mid_epoch:
                    for _ in itertools.islice(it, self.batch_in_epoch):
                        pass
                    set_rng_state(self._resume_rng)
                    self._resume_rng = None
                exhausted = True
                for batch in it:
                    self._train_step(batch)
                    self._bar.update(self.step)
                    self.task.on_step_end(self, self.step)
                    self._after_step()
                    if self.s.max_steps is not None and self.step >= self.s.max_steps:
                        exhausted = _is_exhausted(it)
                        break
                if exhausted:
                    self._end_epoch()
            if self._resume_rng is not None:
                # resumed with nothing left to train (killed after its last optimizer step): finish under the RNG the
                # checkpoint saved, exactly as the uninterrupted run did, not under the fresh seed of this process
                set_rng_state(self._resume_rng)
                self._resume_rng = None
            return self._finish()
        except BaseException:
            self.run_info.release()     # a failed run is over: another process may resume the folder now
            raise
        finally:
            self._bar.close()

    def _label(self) -> str:
        return f"{self.run_info.app} {self.run_info.variant}".strip()

    def _set_lr(self) -> float | None:
        if self.lr_schedule is None:
            return None
        lr = float(self.lr_schedule(self.step))
        for g in self.optimizer.param_groups:
            g["lr"] = g.get("lr_fixed", lr)
        return lr

    def _train_step(self, batch: Any) -> None:
        t0, c0 = time.perf_counter(), time.process_time()
        lr = self._set_lr()
        with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None):
            out = self.task.training_step(self.net, batch, self.step)
            loss = out.loss
            if self.regularizer is not None:
                loss = loss + self.regularizer.penalty().to(loss)
        if not torch.isfinite(loss.detach()).all():
            raise FloatingPointError(f"loss became {float(loss.detach())} at step {self.step + 1} "
                                     f"(epoch {self.epoch}); lower the learning rate or check the data")
        for o in self.optimizers:
            o.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.s.grad_clip:
            for o in self.optimizers:
                self.scaler.unscale_(o)
            self._clip()
        scale = self.scaler.get_scale() if self.scaler.is_enabled() else None
        for o in self.optimizers:
            self.scaler.step(o)
        self.scaler.update()
        skipped = scale is not None and self.scaler.get_scale() < scale
        self.skipped_steps += int(skipped)
        if not skipped:
            if self.scheduler is not None:
                self.scheduler.step()
            if self.sparsity is not None:
                self.sparsity.step()
            if self.regularizer is not None and hasattr(self.regularizer, "step"):
                self.regularizer.step()
        if self.pruner is not None:
            if out.item_ids is None or out.item_losses is None:
                raise ValueError("a data pruner is attached: training_step must return item_ids and item_losses")
            self.pruner.observe(out.item_ids.detach().cpu(), out.item_losses.detach().float().cpu())
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.train_s += time.perf_counter() - t0
        self.train_cpu_s += time.process_time() - c0
        keys = sorted(out.logs)
        local = [float(out.work), float(out.loss.detach()), *(float(out.logs[k]) for k in keys)]
        total = _sum_over_ranks(local)  # one all-reduce: every rank logs the same global means
        ws = self.run_info.dist.world_size
        self.work += total[0]
        self.step += 1
        self.batch_in_epoch += 1
        vals = {"loss": total[1] / ws, **{k: v / ws for k, v in zip(keys, total[2:])}}
        if lr is not None:
            vals["lr"] = lr
        self._epoch_acc.add(vals)
        self._window.add(vals)

    def _clip(self) -> None:
        params = [p for o in self.optimizers for g in o.param_groups for p in g["params"]]
        if self.sparsity is not None:
            from core.sparse.clipping import clip_grad_norm_live

            clip_grad_norm_live(params, self.s.grad_clip, self.sparsity)
        else:
            nn.utils.clip_grad_norm_(params, self.s.grad_clip)

    def _after_step(self) -> None:
        s = self.s
        if self.step % s.log_every == 0:
            self.history.append({"kind": "train", "step": self.step, "epoch": self.epoch, **self._window.mean(),
                                 "train_s": self.train_s, "train_cpu_s": self.train_cpu_s, "work": self.work})
            self._window = _Acc()
        last = s.max_steps is not None and self.step >= s.max_steps
        if s.eval_every and (self.step % s.eval_every == 0 or last):
            self._evaluate()
        if s.checkpoint_every and self.step % s.checkpoint_every == 0 and not last:
            self.save()

    def _end_epoch(self) -> None:
        rec = {"kind": "epoch", "epoch": self.epoch, "step": self.step, "batches": self.batch_in_epoch,
               **{f"train_{k}": v for k, v in self._epoch_acc.mean().items()},
               "train_s": self.train_s, "train_cpu_s": self.train_cpu_s, "work": self.work}
        if self.pruner is not None and hasattr(self.pruner, "keep_fraction"):
            rec["keep_fraction"] = float(self.pruner.keep_fraction(self.epoch))
        self.history.append(rec)
        self._epoch_acc = _Acc()
        self.epoch += 1
        self.batch_in_epoch = 0
        if not self.s.eval_every:
            self._evaluate()
        if not self.s.checkpoint_every and not self._done():
            self.save()

    def _evaluate(self) -> None:
        if self.last_eval_step == self.step:
            return
        was = self.module.training
        self.module.eval()
        with torch.no_grad(), torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                                             enabled=self.amp_dtype is not None):
            metrics = self.task.evaluate(self.module, self.step)
        self.module.train(was)
        metrics = {k: _plain_number(v) for k, v in (metrics or {}).items()}
        self.last_eval, self.last_eval_step = metrics, self.step
        self.history.append({"kind": "eval", "step": self.step, "epoch": self.epoch, "train_s": self.train_s,
                             "train_cpu_s": self.train_cpu_s, "work": self.work, **metrics})
        bar = getattr(self, "_bar", None)
        if bar is not None:
            loss = self._epoch_acc.mean().get("loss")
            if loss is None:    # evaluated right after an epoch ended: that epoch's mean
                loss = next((r.get("train_loss") for r in reversed(self.history) if r.get("kind") == "epoch"), None)
            bar.eval_line(step=self.step, epoch=self.epoch, metrics=metrics, loss=loss,
                          elapsed=time.perf_counter() - self._t_start)

    def _finish(self) -> dict:
        self._evaluate()
        self.save()
        extra = self.task.finish(self) or {}
        s, info = self.s, self.run_info
        summary = {"status": "finished", "app": info.app, "variant": info.variant, "seed": s.seed,
                   "steps": self.step, "epochs": self.epoch, "train_s": self.train_s,
                   "train_cpu_s": self.train_cpu_s, "work": self.work, "skipped_steps": self.skipped_steps,
                   "world_size": info.dist.world_size, "device": str(self.device), "amp": s.amp,
                   "last_eval": self.last_eval, "fingerprint": s.fingerprint,
                   "fingerprint_hash": fingerprint_hash(s.fingerprint), "commit": git_commit(),
                   "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), **{k: _plain(v) for k, v in extra.items()}}
        if info.is_main:
            self._write_metrics()
            atomic_write_json(info.run_dir / "summary.json", summary)
        barrier()
        return summary

    def _write_metrics(self) -> None:
        text = "".join(json.dumps(_plain(r)) + "\n" for r in self.history)
        atomic_write_text(self.run_info.run_dir / "metrics.jsonl", text)

    # ------------------------------------------------------------------ views
    def records(self, kind: str) -> list[dict]:
        return [r for r in self.history if r.get("kind") == kind]


class _Acc:
    """Running sums of named scalars (checkpointed, so a resumed epoch averages all of its batches)."""

    def __init__(self, sums: dict | None = None, n: int = 0) -> None:
        self.sums, self.n = dict(sums or {}), n

    def add(self, vals: dict[str, float]) -> None:
        for k, v in vals.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v)
        self.n += 1

    def mean(self) -> dict[str, float]:
        return {k: v / self.n for k, v in self.sums.items()} if self.n else {}

    def state(self) -> dict:
        return {"sums": dict(self.sums), "n": self.n}

    @classmethod
    def from_state(cls, st: dict) -> _Acc:
        return cls(st["sums"], int(st["n"]))


def _len_or_none(x) -> int | None:
    try:
        return len(x)
    except TypeError:
        return None


def _is_exhausted(it) -> bool:
    """True when the iterator has nothing left (peeks one item; only used when training stops anyway)."""
    try:
        next(it)
    except StopIteration:
        return True
    return False


def _gather_objects(obj: Any) -> list:
    if not is_distributed():
        return [obj]
    import torch.distributed as dist

    out: list = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def _sum_over_ranks(xs: list[float]) -> list[float]:
    """Element-wise sum over ranks (the identity on one process)."""
    if not is_distributed():
        return list(xs)
    import torch.distributed as dist

    t = torch.tensor(xs, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def _plain_number(v: Any) -> Any:
    if isinstance(v, Tensor):
        return v.item() if v.numel() == 1 else v.tolist()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return _plain(v)


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, Tensor):
        return v.item() if v.numel() == 1 else v.tolist()
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        try:
            return v.item()
        except (TypeError, ValueError):
            return repr(v)
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)
