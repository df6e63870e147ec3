"""What E2ENet brings to the shared loop (``core.training.loop``): patch batches, the deep-supervision step,
validation Dice, and the final evaluation (test subjects, parameter / FLOP counts, dead channels, model file)."""
from __future__ import annotations

import time

import torch

from core.metrics import count_flops, count_parameters
from core.training.atomic import atomic_torch_save
from core.training.distributed import get_rank, is_main_process
from core.training.loop import StepOutput, Task

from apps.e2enet.data import PatchSampler
from apps.e2enet.dsff import dead_output_channels
from apps.e2enet.inference import evaluate_cases

__all__ = ["SegmentationTask"]


class SegmentationTask(Task):
    """``recipe`` holds the prepared data, model, loss and settings (see ``apps.e2enet.recipe.Recipe``)."""

    def __init__(self, recipe) -> None:
        self.r = recipe
        self.sampler = PatchSampler(recipe.train_cases, recipe.patch, recipe.batch_size, seed=recipe.seed)
        self.last_loss: float | None = None   # this rank's loss of the latest step (task state: kept across a resume)

    def state_dict(self) -> dict:
        return {"last_loss": self.last_loss}

    def load_state_dict(self, state: dict) -> None:
        self.last_loss = state.get("last_loss")

    def epoch_batches(self, epoch: int):
        # batch k of the run is a pure function of (seed, k, rank): nothing to checkpoint
        start, stop = epoch * self.r.iters, min((epoch + 1) * self.r.iters, self.r.total_steps)
        rank = get_rank()
        return (self.sampler.batch(k, rank) for k in range(start, stop))

    def training_step(self, model, batch, step: int) -> StepOutput:
        img, lab = (t.to(self.r.device, non_blocking=True) for t in batch)   # (B, C, *P), (B, 1, *P)
        out = model(img)
        loss = self.r.loss_fn(out, lab)
        self.last_loss = float(loss.detach())
        return StepOutput(loss, work=float(lab.numel()))

    def _evaluate(self, model, cases) -> dict:
        e = self.r.cfg.eval
        return evaluate_cases(model, cases, self.r.patch, self.r.num_classes, hd95=bool(e.hd95), overlap=float(e.overlap),
                              mode=e.mode, sw_batch_size=int(e.sw_batch_size), tta=bool(e.tta), amp=self.r.amp_on)

    def evaluate(self, model, step: int) -> dict:
        """Validation subjects (rank 0): mean Dice and, per class, Dice / HD95 mm."""
        if not is_main_process() or not self.r.val_cases or not bool(self.r.cfg.eval.get("validate", True)):
            return {}
        ev = self._evaluate(model, self.r.val_cases)
        out = {"val_mean_dice": ev["mean_dice"], "val_missed": ev["missed"], "val_spurious": ev["spurious"]}
        if ev["mean_hd95"] is not None:
            out["val_mean_hd95_mm"] = ev["mean_hd95"]
        return out

    def finish(self, loop) -> dict:
        """Test subjects (or validation ones when no test split), counts, FLOPs, model_final.pt (rank 0)."""
        if not is_main_process():
            return {}
        r, e = self.r, self.r.cfg.eval
        model = r.model
        sp = loop.sparsity
        masks = sp.parameter_masks() if sp is not None else None
        params = count_parameters(model, masks)
        dead = dead_output_channels(model, sp)
        out = {"params_total": params["total"], "params_unmasked": params["unmasked"], "params_nonzero": params["nonzero"],
               "params_masked_out": params["masked_out"], "density": sp.density() if sp is not None else 1.0,
               "dead_channels": dead["dead"], "dead_channel_fraction": dead["fraction"],
               "fusion_output_channels": dead["channels"], "labels": {str(k): v for k, v in r.dataset.labels.items()},
               "final_loss": self.last_loss}
        if e.count_flops:
            was = model.training
            x = torch.zeros(1, r.in_channels, *r.patch, device=r.device)
            fl = count_flops(model, x, densities=sp.densities() if sp is not None else None)
            model.train(was)
            out.update(flops_dense=fl["dense"], flops_sparse=fl["sparse"])
        cases = r.test_cases or r.val_cases
        if cases:
            t0 = time.perf_counter()
            ev = self._evaluate(model, cases)
            out.update(eval_split="test" if r.test_cases else "val", eval_cases=[c["name"] for c in cases],
                       dice=ev["dice"], mean_dice=ev["mean_dice"], hd95_mm=ev["hd95"], mean_hd95_mm=ev["mean_hd95"],
                       asd_mm=ev["asd"], mean_asd_mm=ev["mean_asd"], missed=ev["missed"], spurious=ev["spurious"],
                       missed_per_class=ev["missed_per_class"],
                       infer_s_per_volume=(time.perf_counter() - t0) / len(cases))
            r.last_preds, r.last_eval_cases = ev["preds"], cases
        atomic_torch_save(r.run_dir / "model_final.pt", {
            "model": model.state_dict(), "model_cfg": r.model_cfg, "in_channels": r.in_channels,
            "num_classes": r.num_classes, "labels": dict(r.dataset.labels), "patch_size": r.patch, "preprocess": r.pre_kw})
        return out
