"""What apps/msrs brings to the shared loop (``core.training.loop``): batches, the step, evaluation, state,
the MSRS switch and the final test evaluation. Built from the frozen settings and built objects only
(``MSRSTask(settings, data, model, run, total_steps=..., controller=..., sparsity=...)``), never the recipe or
the config.

* ``epoch_batches``: this rank's batches (a seeded permutation per epoch; ``curriculum`` trains on the
  shortest utterances while the epoch starts inside the curriculum phase -- the start step of every epoch is
  task state, so a resumed epoch rebuilds the same batches);
* ``training_step``: joint CTC/attention loss (the loop adds the soft-mask price through its regularizer slot);
* ``on_step_end``: per-layer-group gradient norms over the first ``grad_log_fraction`` of training, and the
  MSRS switch: when the controller says the mask has settled (or the forced step came), MSRS-D drops the masks,
  MSRS-S hardens them into a static ``DynamicSparsity``; the new optimizer goes to ``loop.replace_optimizer``
  (the regularizer leaves the loop) and the model is re-wrapped for DDP (``loop.rewrap_model``);
* ``evaluate``: validation WER/CER (greedy CTC) on the first ``max_val`` utterances, and the mask density;
  the WER goes to the MSRS controller (the mask starts learning once the model has learned);
* ``finish``: test WER/CER per test set and SNR, MSRS switch facts, plots; returned into ``summary.json``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import DataLoader

from core.metrics import cer, wer
from core.training.loop import StepOutput, Task
from core.training.run import Run

from .data import AVDataset, collate_av
from .plots import plot_curve, plot_grad_norms, plot_layer_density, plot_mask_histogram, plot_mask_timeline
from .settings import MSRSSettings

__all__ = ["MSRSTask", "MSRSData", "group_of", "snr_key"]


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


def snr_key(snr: float | None) -> str:
    """The summary's key of a test SNR: "clean" or the number ("5", "-5")."""
    return "clean" if snr is None else f"{snr:g}"


@dataclass
class MSRSData:
    """The built datasets and what the summary says about them. ``noisy(name, snr)`` builds a test set with
    babble / white noise at ``snr`` dB (None: the clean one)."""
    train_set: AVDataset
    val_set: AVDataset
    test_sets: dict[str, AVDataset]
    tokenizer: object
    units: str
    noisy: object                                  # (name, snr) -> AVDataset
    skipped: dict[str, list] = field(default_factory=dict)
    viseme_ceiling: dict | None = None
    babble_source: str | None = None


class MSRSTask(Task):
    """See module docstring."""

    def __init__(self, settings: MSRSSettings, data: MSRSData, model: torch.nn.Module, run: Run, *,
                 total_steps: int, controller=None, sparsity=None) -> None:
        self.s, self.data, self.model, self.run = settings, data, model, run
        self.total_steps = int(total_steps)
        self.ctrl, self.sparsity = controller, sparsity
        self.grad_norms: list[dict] = []
        self.epoch_start: dict[int, int] = {}
        self.grad_until = max(1, int(settings.eval.grad_log_fraction * self.total_steps))

    # ------------------------------------------------------------------ batches
    def on_epoch_start(self, loop, epoch: int) -> None:
        self.epoch_start.setdefault(int(epoch), int(loop.step))
        self.data.train_set.set_epoch(epoch)

    def epoch_batches(self, epoch: int):
        s, train = self.s, self.data.train_set
        n = len(train)
        ids = np.arange(n)
        start = self.epoch_start.get(int(epoch), 0)
        if s.method == "curriculum" and start < s.curriculum.phase_fraction * self.total_steps:
            lengths = np.asarray(train.lengths())
            k = max(1, int(round(s.curriculum.short_fraction * n)))
            ids = np.argsort(lengths, kind="stable")[:k]
        rng = np.random.default_rng([s.seed, epoch])
        ids = ids[rng.permutation(len(ids))]
        bs, W, k = s.batch_size, self.run.dist.world_size, self.run.dist.rank
        per = bs * W
        nb = max(1, math.ceil(len(ids) / per))
        ids = np.resize(ids, nb * per)           # pad by repeating so every rank gets equal batches
        batches = [ids[b * per + k * bs: b * per + (k + 1) * bs].tolist() for b in range(nb)]
        return DataLoader(train, batch_sampler=batches, collate_fn=collate_av, num_workers=s.num_workers)

    # ------------------------------------------------------------------ step
    def _to(self, batch: dict) -> dict:
        dev = self.run.device
        return {k: v.to(dev, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}

    def training_step(self, model, batch, step: int) -> StepOutput:
        batch = self._to(batch)
        out = model(batch)
        logs = {}
        if self.ctrl is not None and self.ctrl.active:
            logs["mask_beta"] = float(self.ctrl.reg.beta)
        return StepOutput(loss=out["loss"], logs=logs, work=float(batch["lengths"].sum()) / 25.0)

    def on_step_end(self, loop, step: int) -> None:
        if step <= self.grad_until and (step - 1) % self.s.eval.grad_log_every == 0:
            self._log_grads(step)
        ctrl = self.ctrl
        if ctrl is not None and ctrl.active and ctrl.after_step(step):
            new_opt = ctrl.switch(step, loop.optimizer)
            self.sparsity = ctrl.sparsity
            loop.replace_optimizer(new_opt, sparsity=ctrl.sparsity, regularizer=None)
            loop.rewrap_model()
            loop.record_event("msrs_switch", forced=bool(ctrl.forced), density=ctrl.final_density,
                              start_step=ctrl.start_step)

    def _log_grads(self, step: int) -> None:
        """Per-layer-group L2 norms of this step's gradients (after clipping, which scales all groups alike)."""
        sq: dict[str, float] = {}
        for name, p in self.model.named_parameters():
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
        loader = DataLoader(torch.utils.data.Subset(dataset, range(n)), batch_size=self.s.batch_size,
                            collate_fn=collate_av, num_workers=self.s.num_workers)
        refs, hyps = [], []
        tok = self.data.tokenizer
        for batch in loader:
            batch = self._to(batch)
            out = model.decode(batch, method, self.s.eval.beam)
            hyps += [tok.decode(h) for h in out]
            refs += batch["texts"]
        model.train(was)
        return wer(refs, hyps), cer(refs, hyps)

    def density(self) -> float:
        c = self.ctrl
        if c is not None and c.active:
            return c.reg.hard_density()
        sp = c.sparsity if c is not None else self.sparsity
        return sp.density() if sp is not None else 1.0

    def evaluate(self, model, step: int) -> dict:
        w, c = self.decode_set(model, self.data.val_set, self.s.eval.max_val)
        if self.ctrl is not None:
            self.ctrl.observe_eval(step, w)
        return {"val_wer": w, "val_cer": c, "density": self.density()}

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        return {"grad_norms": list(self.grad_norms), "epoch_start": dict(self.epoch_start),
                "msrs": None if self.ctrl is None else self.ctrl.record()}

    def load_state_dict(self, state: dict) -> None:
        self.grad_norms = list(state["grad_norms"])
        self.epoch_start = {int(k): int(v) for k, v in state["epoch_start"].items()}
        if self.ctrl is not None and self.ctrl.active and state.get("msrs") is not None:
            self.ctrl.load_record(state["msrs"])

    # ------------------------------------------------------------------ end
    def finish(self, loop) -> dict:
        s, d = self.s, self.data
        res: dict = {"mode": s.mode, "method": s.method, "units": d.units, "corpus": s.data.corpus,
                     "viseme_ceiling_wer": d.viseme_ceiling, "babble_source": d.babble_source,
                     "skipped": {k: len(v) for k, v in d.skipped.items()}, "grad_norms": self.grad_norms,
                     "density": self.density(), "total_steps": self.total_steps}
        evals = loop.records("eval")
        res["val"] = [{"step": e["step"], "train_s": e["train_s"], "train_cpu_s": e["train_cpu_s"],
                       "wer": e["val_wer"], "cer": e["val_cer"], "density": e["density"]} for e in evals]
        sp = self.sparsity
        if sp is not None:
            res["layer_density"] = {n: float(v) for n, v in sp.densities().items()}
        ctrl = self.ctrl
        if ctrl is not None:
            rec = ctrl.record()
            res.update(mask_history=rec["history"], mask_start_step=rec["start_step"], stable_step=rec["stable_step"],
                       switch_step=rec["switch_step"], switch_forced=bool(rec["forced"]),
                       mask_density_at_switch=rec["final_density"], mask_layers=rec["layers"],
                       mask_histograms=rec["histograms"])
            if rec["layers"]:
                # the learned per-layer densities, in target order, for baselines with the same allocation
                # (a set's `needs: {msrs_s: {sparse.layer_densities: layer_densities_list}}`)
                res["layer_densities_list"] = [round(v["density"], 6) for v in rec["layers"].values()]
        if self.run.is_main:
            for name, clean in d.test_sets.items():
                tw, tc = {}, {}
                for snr in s.eval.test_snrs:
                    if snr is not None and s.mode == "vsr":
                        continue        # video-only: acoustic noise does not change the input
                    ds = clean if snr is None else d.noisy(name, snr)
                    tw[snr_key(snr)], tc[snr_key(snr)] = self.decode_set(self.model, ds, None, s.eval.decode)
                res[f"{name}_wer"], res[f"{name}_cer"] = tw, tc
            self._plots(res)
        return res

    def _plots(self, res: dict) -> None:
        out = self.run.run_dir
        s = self.s
        plot_curve({s.method: [{"time": v["train_cpu_s"], **v} for v in res["val"]]}, out / "curve.png",
                   title=f"{s.mode}: val WER")
        if self.grad_norms:
            plot_grad_norms(self.grad_norms, out / "grad_norms.png", title=f"{s.mode}-{s.method}")
        if res.get("mask_start_step") is not None or res.get("mask_history"):
            plot_mask_timeline(res, out / "mask_timeline.png", title=f"{s.mode}-{s.method}")
        if res.get("mask_layers"):
            plot_layer_density(res["mask_layers"], out / "layer_density.png",
                               title=f"{s.mode}-{s.method} ({s.msrs.allocation}) at the switch")
        if res.get("mask_histograms"):
            plot_mask_histogram(res["mask_histograms"], out / "mask_histogram.png",
                                title=f"{s.mode}-{s.method}: mask at the switch (step {res.get('switch_step')})")
