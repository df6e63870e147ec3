"""What E2ENet brings to the shared loop (``core.training.loop``): patch batches, the deep-supervision step,
validation Dice, and the final evaluation (test subjects, parameter / FLOP counts, dead channels, model file).

The task is built from settings (:class:`TaskSettings`, frozen) and built objects (the prepared cases, the loss,
the device and run folder); the loop hands it the model and the sparsity engine."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from core.metrics import count_parameters
from core.training.atomic import atomic_torch_save
from core.training.distributed import get_rank, is_main_process
from core.training.loop import StepOutput, Task

from apps.e2enet.data import PatchSampler
from apps.e2enet.dsff import dead_output_channels, sparse_flops
from apps.e2enet.inference import evaluate_cases

__all__ = ["SegmentationTask", "TaskSettings", "EvalSettings", "PreparedData", "MODEL_FILE"]

MODEL_FILE = "model_final.pt"


@dataclass(frozen=True)
class EvalSettings:
    validate: bool          # score the validation subjects at each evaluation of the loop
    overlap: float
    mode: str
    sw_batch_size: int
    tta: bool
    hd95: bool
    count_flops: bool


@dataclass(frozen=True)
class TaskSettings:
    patch_size: tuple[int, int, int]
    batch_size: int
    seed: int
    iters_per_epoch: int
    total_steps: int
    eval: EvalSettings
    amp: bool                       # autocast in sliding-window inference (CUDA only)
    model_cfg: dict = field(default_factory=dict)     # stored in the model file (predict rebuilds the network)
    preprocess: dict = field(default_factory=dict)    # stored in the model file (predict preprocesses alike)


@dataclass
class PreparedData:
    """Preprocessed cases (dicts with image (C, *S) MetaTensor, label (1, *S), name, spacing) and the label map."""

    train: list
    val: list
    test: list
    in_channels: int
    num_classes: int
    labels: dict


class SegmentationTask(Task):
    def __init__(self, settings: TaskSettings, data: PreparedData, loss_fn, device: torch.device, run_dir: Path) -> None:
        self.s, self.data, self.loss_fn, self.device, self.run_dir = settings, data, loss_fn, device, Path(run_dir)
        self.sampler = PatchSampler(data.train, settings.patch_size, settings.batch_size, seed=settings.seed)
        self.last_loss: float | None = None   # this rank's loss of the latest step (task state: kept across a resume)
        self.last_preds = None

    def state_dict(self) -> dict:
        return {"last_loss": self.last_loss}

    def load_state_dict(self, state: dict) -> None:
        self.last_loss = state.get("last_loss")

    def epoch_batches(self, epoch: int):
        # batch k of the run is a pure function of (seed, k, rank): nothing to checkpoint
        s = self.s
        start, stop = epoch * s.iters_per_epoch, min((epoch + 1) * s.iters_per_epoch, s.total_steps)
        rank = get_rank()
        return (self.sampler.batch(k, rank) for k in range(start, stop))

    def training_step(self, model, batch, step: int) -> StepOutput:
        img, lab = (t.to(self.device, non_blocking=True) for t in batch)   # (B, C, *P), (B, 1, *P)
        out = model(img)
        loss = self.loss_fn(out, lab)
        self.last_loss = float(loss.detach())
        return StepOutput(loss, work=float(lab.numel()))

    def _evaluate(self, model, cases) -> dict:
        e = self.s.eval
        return evaluate_cases(model, cases, self.s.patch_size, self.data.num_classes, hd95=e.hd95, overlap=e.overlap,
                              mode=e.mode, sw_batch_size=e.sw_batch_size, tta=e.tta, amp=self.s.amp)

    def evaluate(self, model, step: int) -> dict:
        """Validation subjects (rank 0): mean Dice and HD95 mm."""
        if not is_main_process() or not self.data.val or not self.s.eval.validate:
            return {}
        ev = self._evaluate(model, self.data.val)
        out = {"val_mean_dice": ev["mean_dice"], "val_missed": ev["missed"], "val_spurious": ev["spurious"]}
        if ev["mean_hd95"] is not None:
            out["val_mean_hd95_mm"] = ev["mean_hd95"]
        return out

    def finish(self, loop) -> dict:
        """Test subjects (or validation ones when no test split), counts, FLOPs, model_final.pt (rank 0)."""
        if not is_main_process():
            return {}
        s, d = self.s, self.data
        model = loop.module
        model = getattr(model, "module", model)         # DDP wrapper -> the network
        sp = loop.sparsity
        masks = sp.parameter_masks() if sp is not None else None
        params = count_parameters(model, masks)
        dead = dead_output_channels(model, sp)
        out = {"params_total": params["total"], "params_unmasked": params["unmasked"], "params_nonzero": params["nonzero"],
               "params_masked_out": params["masked_out"], "density": sp.density() if sp is not None else 1.0,
               "dead_channels": dead["dead"], "dead_channel_fraction": dead["fraction"],
               "fusion_output_channels": dead["channels"], "labels": {str(k): v for k, v in d.labels.items()},
               "final_loss": self.last_loss}
        if s.eval.count_flops:
            was = model.training
            x = torch.zeros(1, d.in_channels, *s.patch_size, device=self.device)
            fl = sparse_flops(model, x, sp.densities() if sp is not None else None)   # each upsampling counted once
            model.train(was)
            out.update(flops_dense=fl["dense"], flops_sparse=fl["sparse"])
        cases = d.test or d.val
        if cases:
            t0 = time.perf_counter()
            ev = self._evaluate(model, cases)
            out.update(eval_split="test" if d.test else "val", eval_cases=[c["name"] for c in cases],
                       dice=ev["dice"], mean_dice=ev["mean_dice"], hd95_mm=ev["hd95"], mean_hd95_mm=ev["mean_hd95"],
                       hd95_nan_dropped_mm=ev["hd95_nan_dropped"], mean_hd95_nan_dropped_mm=ev["mean_hd95_nan_dropped"],
                       asd_mm=ev["asd"], mean_asd_mm=ev["mean_asd"], missed=ev["missed"], spurious=ev["spurious"],
                       missed_per_class=ev["missed_per_class"],
                       infer_s_per_volume=(time.perf_counter() - t0) / len(cases))
            self.last_preds = ev["preds"]
        atomic_torch_save(self.run_dir / MODEL_FILE, {
            "model": model.state_dict(), "model_cfg": dict(s.model_cfg), "in_channels": d.in_channels,
            "num_classes": d.num_classes, "labels": dict(d.labels), "patch_size": list(s.patch_size),
            "preprocess": dict(s.preprocess)})
        return out
