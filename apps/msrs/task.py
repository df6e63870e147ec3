"""What apps/msrs brings to the shared loop (``core.training.loop``): batches, the step, evaluation, state,
the MSRS switch and the final test evaluation.

* ``epoch_batches``: this rank's batches (a seeded permutation per epoch; ``curriculum`` trains on the
  shortest utterances while the epoch starts inside the curriculum phase -- the start step of every epoch is
  task state, so a resumed epoch rebuilds the same batches);
* ``training_step``: joint CTC/attention loss (+ ``lam * soft-mask L1`` while MSRS learns its mask);
* ``on_step_end``: per-layer-group gradient norms over the first ``grad_log_fraction`` of training, and the
  MSRS switch: when the controller says the mask has settled (or the forced step came), MSRS-D drops the masks,
  MSRS-S hardens them into a static ``DynamicSparsity``; the new optimizer goes to ``loop.replace_optimizer``
  and the model is re-wrapped for DDP (``loop.rewrap_model``);
* ``evaluate``: validation WER/CER (greedy CTC) on the first ``max_val`` utterances, and the mask density;
* ``finish``: test WER/CER per test set and SNR, MSRS switch facts, plots; returned into ``summary.json``.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch.utils.data import DataLoader

from core.metrics import cer, wer
from core.training.loop import StepOutput, Task

from .data import collate_av
from .plots import plot_curve, plot_grad_norms, plot_mask_history

__all__ = ["MSRSTask", "group_of"]


def group_of(param_name: str) -> str:
    """Layer group for gradient-norm logging: front-end parts, encoder blocks, heads."""
    n = param_name.replace("module.", "").replace(".parametrizations.weight.original", ".weight")
    n = n.replace(".parametrizations.in_proj_weight.original", ".in_proj_weight")
    parts = n.split(".")
    if parts[0] in ("video", "audio"):
        return f"{parts[0]}.{parts[1]}" if parts[1] == "stem" else f"{parts[0]}.trunk"
    if parts[0] == "fusion":
        return "fusion"
    if n.startswith("asr.encoder.conformer.conformer_layers."):
        return f"enc.block{parts[4]}"
    if n.startswith("asr.encoder."):
        return "enc.input"
    if n.startswith("asr.decoder."):
        return "decoder"
    return "heads"


def _snr_value(s):
    if s is None or (isinstance(s, str) and s.lower() == "clean"):
        return None
    return float(s)


class MSRSTask(Task):
    """See module docstring. ``recipe`` holds the datasets, tokenizer, config and the method's objects."""

    def __init__(self, recipe) -> None:
        self.r = recipe
        self.cfg = recipe.cfg
        self.grad_norms: list[dict] = []
        self.epoch_start: dict[int, int] = {}
        self.grad_until = max(1, int(float(self.cfg.train.grad_log_fraction) * recipe.max_steps))

    # ------------------------------------------------------------------ batches
    def on_epoch_start(self, loop, epoch: int) -> None:
        self.epoch_start.setdefault(int(epoch), int(loop.step))
        self.r.train_set.set_epoch(epoch)

    def epoch_batches(self, epoch: int):
        r, cfg = self.r, self.cfg
        n = len(r.train_set)
        ids = np.arange(n)
        start = self.epoch_start.get(int(epoch), 0)
        if r.method == "curriculum" and start < float(cfg.curriculum.phase_fraction) * r.max_steps:
            lengths = np.asarray(r.train_set.lengths())
            k = max(1, int(round(float(cfg.curriculum.short_fraction) * n)))
            ids = np.argsort(lengths, kind="stable")[:k]
        rng = np.random.default_rng([int(cfg.seed), epoch])
        ids = ids[rng.permutation(len(ids))]
        bs, W, k = int(cfg.trainer.batch_size), r.world, r.rank
        per = bs * W
        nb = max(1, math.ceil(len(ids) / per))
        ids = np.resize(ids, nb * per)           # pad by repeating so every rank gets equal batches
        batches = [ids[b * per + k * bs: b * per + (k + 1) * bs].tolist() for b in range(nb)]
        return DataLoader(r.train_set, batch_sampler=batches, collate_fn=collate_av,
                          num_workers=int(cfg.trainer.num_workers))

    # ------------------------------------------------------------------ step
    def _to(self, batch: dict) -> dict:
        dev = self.r.device
        return {k: v.to(dev, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}

    def training_step(self, model, batch, step: int) -> StepOutput:
        batch = self._to(batch)
        out = model(batch)
        loss = out["loss"]
        logs = {}
        ctrl = self.r.msrs
        if ctrl is not None and ctrl.active:
            pen = ctrl.penalty().to(loss)
            loss = loss + pen
            logs["mask_penalty"] = float(pen.detach())
        return StepOutput(loss=loss, logs=logs, work=float(batch["lengths"].sum()) / 25.0)

    def on_step_end(self, loop, step: int) -> None:
        if step <= self.grad_until and (step - 1) % int(self.cfg.train.grad_log_every) == 0:
            self._log_grads(step)
        ctrl = self.r.msrs
        if ctrl is not None and ctrl.active and ctrl.after_step(step):
            new_opt = ctrl.switch(step, loop.optimizer)
            self.r.optimizer = new_opt
            loop.replace_optimizer(new_opt, sparsity=ctrl.sparsity, extra_optimizers=[])
            loop.rewrap_model()
            loop.record_event("msrs_switch", forced=bool(ctrl.forced), density=ctrl.final_density)

    def _log_grads(self, step: int) -> None:
        """Per-layer-group L2 norms of this step's gradients (after clipping, which scales all groups alike)."""
        sq: dict[str, float] = {}
        for name, p in self.r.model.named_parameters():
            if p.grad is None or "logits" in name:
                continue
            g = group_of(name)
            sq[g] = sq.get(g, 0.0) + float(p.grad.detach().float().pow(2).sum())
        self.grad_norms.append({"step": step, **{k: math.sqrt(v) for k, v in sq.items()}})

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def decode_set(self, model, dataset, limit: int | None = None, method: str = "greedy") -> tuple[float, float]:
        """(WER, CER) of ``method`` decoding on the first ``limit`` items."""
        was = model.training
        model.eval()
        n = len(dataset) if limit is None else min(limit, len(dataset))
        loader = DataLoader(torch.utils.data.Subset(dataset, range(n)), batch_size=int(self.cfg.trainer.batch_size),
                            collate_fn=collate_av, num_workers=int(self.cfg.trainer.num_workers))
        refs, hyps = [], []
        for batch in loader:
            batch = self._to(batch)
            out = model.decode(batch, method, int(self.cfg.train.beam))
            hyps += [self.r.tok.decode(h) for h in out]
            refs += batch["texts"]
        model.train(was)
        return wer(refs, hyps), cer(refs, hyps)

    def _density(self) -> float:
        r = self.r
        if r.msrs is not None and r.msrs.active:
            return r.msrs.masks.density()
        sp = r.msrs.sparsity if r.msrs is not None else r.sparsity
        return sp.density() if sp is not None else 1.0

    def evaluate(self, model, step: int) -> dict:
        w, c = self.decode_set(model, self.r.val_set, int(self.cfg.train.max_val))
        return {"val_wer": w, "val_cer": c, "density": self._density()}

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        ctrl = self.r.msrs
        return {"grad_norms": list(self.grad_norms), "epoch_start": dict(self.epoch_start),
                "msrs": None if ctrl is None else ctrl.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.grad_norms = list(state["grad_norms"])
        self.epoch_start = {int(k): int(v) for k, v in state["epoch_start"].items()}
        ctrl = self.r.msrs
        if ctrl is not None and ctrl.active and state.get("msrs") is not None:
            ctrl.load_state_dict(state["msrs"])

    # ------------------------------------------------------------------ end
    def finish(self, loop) -> dict:
        r, cfg = self.r, self.cfg
        res: dict = {"mode": r.mode, "method": r.method, "units": r.units, "corpus": cfg.data.corpus,
                     "viseme_ceiling_wer": r.viseme_ceiling, "babble_source": r.babble_source,
                     "skipped": {k: len(v) for k, v in r.skipped.items()}, "grad_norms": self.grad_norms,
                     "density": self._density()}
        evals = loop.records("eval")
        res["val"] = [{"step": e["step"], "train_s": e["train_s"], "train_cpu_s": e["train_cpu_s"],
                       "wer": e["val_wer"], "cer": e["val_cer"], "density": e["density"]} for e in evals]
        ctrl = r.msrs
        if ctrl is not None:
            res.update(mask_history=ctrl.history, stable_step=ctrl.stable_step, switch_step=ctrl.switch_step,
                       switch_forced=bool(ctrl.forced), mask_density_at_switch=ctrl.final_density)
        if r.is_main:
            for name, ds_clean in r.test_sets.items():
                tw, tc = {}, {}
                for s in cfg.test_snrs:
                    snr = _snr_value(s)
                    if snr is not None and r.mode == "vsr":
                        continue        # video-only: acoustic noise does not change the input
                    ds = ds_clean if snr is None else r.dataset(r.test_labels[name], cfg.noise, snr, int(cfg.seed) + 2)
                    key = "clean" if snr is None else f"{snr:g}"
                    tw[key], tc[key] = self.decode_set(r.model, ds, None, cfg.train.decode)
                res[f"{name}_wer"], res[f"{name}_cer"] = tw, tc
            out = r.run_info.run_dir
            plot_curve({r.method: [{"time": v["train_cpu_s"], **v} for v in res["val"]]}, out / "curve.png",
                       title=f"{r.mode}: val WER")
            if self.grad_norms:
                plot_grad_norms(self.grad_norms, out / "grad_norms.png", title=f"{r.mode}-{r.method}")
            if ctrl is not None and ctrl.history:
                plot_mask_history(ctrl.history, ctrl.stable_step, ctrl.switch_step, out / "mask_distance.png")
        return res
