"""The one place a config becomes objects: data, model, DSFF sparsity, optimizer, loop, evaluation, checkpoints."""
from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from core.metrics import count_flops, count_parameters
from core.training import (
    barrier, capture_state, init_distributed, is_main_process, latest_checkpoint, load_checkpoint, progress,
    restore_state, save_checkpoint, seed_everything,
)
from core.training.atomic import atomic_torch_save, atomic_write_json
from core.validation import check_choice

from apps.e2enet.data import (
    MNI_VAL_CASES, PatchSampler, build_mni_dataset, build_synthetic_dataset, default_cache_dir, load_dataset_json,
    preprocess_transforms, split_cases, validate_cases,
)
from apps.e2enet.inference import evaluate_cases, predict_volume
from apps.e2enet.loss import DeepSupervisionLoss
from apps.e2enet.models import E2ENet, nnunet_dynunet
from apps.e2enet.sparsity import build_dsff

__all__ = ["Recipe", "compose_config", "build_model", "resolve_dataset_root"]

log = logging.getLogger(__name__)
ARCHS = ("e2enet", "dynunet")
CONFIG_DIR = Path(__file__).parent / "configs"


def compose_config(overrides: list[str] | None = None, config_name: str = "train") -> DictConfig:
    """The real config files composed without running Hydra's app (tests, benchmarks)."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
        return compose(config_name=config_name, overrides=list(overrides or []))


def build_model(model_cfg: dict, in_channels: int, num_classes: int) -> torch.nn.Module:
    """``{"arch": "e2enet"|"dynunet", ...}`` -> network (plain dict, also stored in checkpoints for predict)."""
    cfg = dict(model_cfg)
    arch = check_choice("model.arch", cfg.pop("arch"), ARCHS)
    cfg.pop("sparsity", None)
    if arch == "e2enet":
        return E2ENet(in_channels, num_classes, **cfg)
    return nnunet_dynunet(in_channels, num_classes, cfg["channels"], deep_supervision=cfg.get("deep_supervision", 4),
                          depth_pool_levels=cfg.get("depth_pool_levels"), depth_axis=cfg.get("depth_axis", 4))


def resolve_dataset_root(data_cfg, seed: int = 0) -> Path:
    """Build the embedded dataset if needed; return the Decathlon folder to read."""
    if data_cfg.name == "decathlon":
        if OmegaConf.is_missing(data_cfg, "root") or data_cfg.root in (None, ""):
            raise ValueError("data=decathlon needs data.root=/path/to/dataset (a folder with dataset.json)")
        return Path(data_cfg.root)
    if data_cfg.name != "embedded":
        raise ValueError(f"data.name={data_cfg.name!r}; valid choices: embedded, decathlon")
    source = check_choice("data.source", data_cfg.source, ("mni", "synthetic"))
    if source == "mni":
        return build_mni_dataset(data_cfg.root, voxel_mm=int(data_cfg.voxel_mm))
    root = Path(data_cfg.root) if data_cfg.root else default_cache_dir() / (
        f"synthetic_{data_cfg.num_cases}_{'x'.join(map(str, data_cfg.size))}_s{seed}")
    if not (root / "dataset.json").is_file():
        build_synthetic_dataset(root, num_cases=int(data_cfg.num_cases), size=tuple(data_cfg.size), seed=seed)
    return root


class Recipe:
    """``Recipe(cfg).run()`` -> final metrics dict (also written to ``<run_dir>/metrics.json``)."""

    def __init__(self, cfg: DictConfig):
        self.cfg = cfg
        t = cfg.trainer
        self.patch = [int(p) for p in cfg.train.patch_size]
        if len(self.patch) != 3 or min(self.patch) < 1:
            raise ValueError(f"train.patch_size={self.patch} must be three positive ints (X, Y, Z)")
        if not 0.0 <= float(cfg.model.sparsity) < 1.0:
            raise ValueError(f"model.sparsity={cfg.model.sparsity} must be in [0, 1) (0 = dense)")
        check_choice("model.arch", cfg.model.arch, ARCHS)
        if cfg.model.arch != "e2enet" and float(cfg.model.sparsity) > 0:
            raise ValueError(f"model.sparsity > 0 (DSFF) needs model=e2enet, got model.arch={cfg.model.arch!r}")
        self.iters = int(cfg.train.iters_per_epoch)
        self.total_steps = int(t.max_steps) if t.max_steps else int(t.epochs) * self.iters
        if self.total_steps < 1:
            raise ValueError(f"nothing to train: trainer.epochs={t.epochs}, train.iters_per_epoch={self.iters}")
        self.run_dir = Path(cfg.run_dir) if cfg.get("run_dir") else self._hydra_dir()

    @staticmethod
    def _hydra_dir() -> Path:
        try:
            from hydra.core.hydra_config import HydraConfig

            return Path(HydraConfig.get().runtime.output_dir)
        except ValueError:
            return Path("outputs/e2enet/run")

    # ------------------------------------------------------------------ data
    def prepare_data(self):
        """Validate every case (errors name the case) before any training; preprocess and cache the volumes."""
        d = self.cfg.data
        root = resolve_dataset_root(d, int(self.cfg.trainer.seed))
        ds = load_dataset_json(root)
        validate_cases(ds)
        val_names = list(d.val_cases) if d.get("val_cases") else None
        if val_names and d.name == "embedded" and d.source == "mni":
            val_names = [v for v in val_names if v in {c.name for c in ds.training}] or MNI_VAL_CASES
        train, val = split_cases(ds.training, val_fraction=float(d.val_fraction), val_cases=val_names, seed=int(self.cfg.trainer.seed))
        self.pre_kw = dict(pixdim=list(d.pixdim) if d.pixdim is not None else None, normalize=d.normalize,
                           ct_window=list(d.ct_window), crop_foreground=bool(d.crop_foreground))
        pre_train = preprocess_transforms(min_size=self.patch, **self.pre_kw)
        pre_val = preprocess_transforms(**self.pre_kw)

        def load(pre, c):
            item = {"image": [str(p) for p in c.images] if len(c.images) > 1 else str(c.images[0]), "label": str(c.label)}
            out = pre(item)
            out["name"] = c.name
            return out

        self.dataset = ds
        self.train_cases = [load(pre_train, c) for c in train]
        self.val_cases = [load(pre_val, c) for c in val]
        self.in_channels = int(self.train_cases[0]["image"].shape[0])
        self.num_classes = ds.num_classes
        return self

    # ------------------------------------------------------------------ model
    def build(self, device: torch.device):
        cfg = self.cfg
        self.model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
        self.model = build_model(self.model_cfg, self.in_channels, self.num_classes).to(device)
        if cfg.model.arch == "e2enet":
            div = self.model.divisor
            bad = [p for p, q in zip(self.patch, div) if p % q]
            if bad:
                raise ValueError(f"train.patch_size={self.patch} must be a multiple of {div} per axis for model.channels={list(cfg.model.channels)}")
        self.sparsity = None
        if float(cfg.model.sparsity) > 0:
            s = cfg.sparse
            self.sparsity = build_dsff(self.model, float(cfg.model.sparsity), total_steps=self.total_steps, update_every=int(s.update_every),
                                       drop_start=float(s.drop_start), drop_end=float(s.drop_end), init=s.init, seed=int(cfg.trainer.seed))
        t = cfg.train
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=float(t.lr), momentum=float(t.momentum), nesterov=bool(t.nesterov),
                                         weight_decay=float(t.weight_decay))
        if self.sparsity is not None:
            self.sparsity.attach(self.optimizer)
        self.scheduler = torch.optim.lr_scheduler.PolynomialLR(self.optimizer, total_iters=self.total_steps, power=float(t.poly_power))
        self.amp = bool(cfg.trainer.amp) and device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.loss_fn = DeepSupervisionLoss()
        return self

    # ------------------------------------------------------------------ loop
    def run(self) -> dict:
        cfg = self.cfg
        t = cfg.trainer
        dev = None if t.device == "auto" else t.device
        info = init_distributed(device=dev)
        device = torch.device(info.device) if not isinstance(info.device, torch.device) else info.device
        seed_everything(int(t.seed))
        self.prepare_data()
        self.build(device)
        net = self.model
        if info.world_size > 1:
            net = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=[device.index] if device.type == "cuda" else None)
        sampler = PatchSampler(self.train_cases, self.patch, int(t.batch_size), seed=int(t.seed))
        ckpt_dir = self.run_dir / "checkpoints"
        start = 0
        resume = str(t.resume)
        path = latest_checkpoint(ckpt_dir) if resume == "auto" else (None if resume == "never" else Path(resume))
        if path is not None:
            ck = restore_state(load_checkpoint(path, map_location=device), model=self.model, optimizer=self.optimizer,
                               scheduler=self.scheduler, sparsity=self.sparsity, scaler=self.scaler)
            start = int(ck["step"])
            log.info("resumed from %s at step %d", path, start)
        history = []
        t0 = time.perf_counter()
        net.train()
        bar = progress(range(start, self.total_steps), total=self.total_steps - start, desc="e2enet train",
                       enabled=None if t.progress == "auto" else t.progress == "on")
        for step in bar:
            img, lab = sampler.batch(step, info.rank)
            img, lab = img.to(device), lab.to(device)
            self.optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device.type, enabled=self.amp):
                out = net(img)
            loss = self.loss_fn(out, lab)
            self.scaler.scale(loss).backward()
            if t.grad_clip:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), float(t.grad_clip))
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            if self.sparsity is not None:
                self.sparsity.step()
            lv = float(loss.detach())
            if not math.isfinite(lv):
                raise FloatingPointError(f"loss became {lv} at step {step + 1}; lower train.lr or check the data")
            history.append((step + 1, lv))
            if (step + 1) % int(t.log_every) == 0:
                log.info("step %d/%d loss %.4f lr %.5f", step + 1, self.total_steps, lv, self.scheduler.get_last_lr()[0])
            epoch_end = (step + 1) % self.iters == 0 or step + 1 == self.total_steps
            if epoch_end and ((step + 1) // self.iters % int(t.checkpoint_every_epochs) == 0 or step + 1 == self.total_steps):
                self.save(ckpt_dir / f"step_{step + 1:07d}.pt", step + 1)
        train_s = time.perf_counter() - t0
        self.history_steps = [s for s, _ in history]
        metrics = self.finish(history, train_s, device)
        barrier()
        return metrics

    def save(self, path: Path, step: int) -> None:
        state = capture_state(step=step, epoch=step // self.iters, model=self.model, optimizer=self.optimizer, scheduler=self.scheduler,
                              sparsity=self.sparsity, scaler=self.scaler)
        save_checkpoint(path, state)

    def finish(self, history, train_s: float, device) -> dict:
        """Evaluate on the validation cases (rank 0), count parameters/FLOPs, write metrics.json and model_final.pt."""
        if not is_main_process():
            return {}
        cfg = self.cfg
        e = cfg.eval
        masks = {n: self.sparsity.weight_mask(n) for n in self.sparsity.names} if self.sparsity is not None else None
        params = count_parameters(self.model, masks)
        metrics = {"steps": self.total_steps, "train_s": train_s, "final_loss": history[-1][1] if history else None,
                   "params_total": params["total"], "params_nonzero": params["nonzero"],
                   "density": self.sparsity.density() if self.sparsity is not None else 1.0,
                   "labels": {str(k): v for k, v in self.dataset.labels.items()}, "loss_history": history}
        if e.count_flops:
            x = torch.zeros(1, self.in_channels, *self.patch, device=device)
            fl = count_flops(self.model, x, densities=self.sparsity.densities() if self.sparsity is not None else None)
            metrics.update(flops_dense=fl["dense"], flops_sparse=fl["sparse"])
        if self.val_cases:
            t0 = time.perf_counter()
            ev = evaluate_cases(self.model, self.val_cases, self.patch, self.num_classes, hd95=bool(e.hd95), overlap=float(e.overlap),
                                mode=e.mode, sw_batch_size=int(e.sw_batch_size), tta=bool(e.tta), amp=self.amp)
            metrics.update(dice=ev["dice"], mean_dice=ev["mean_dice"], hd95=ev["hd95"],
                           infer_s_per_volume=(time.perf_counter() - t0) / len(self.val_cases), val_cases=[c["name"] for c in self.val_cases])
            self.last_preds = ev["preds"]
        self.run_dir.mkdir(parents=True, exist_ok=True)
        atomic_torch_save(self.run_dir / "model_final.pt", {"model": self.model.state_dict(), "model_cfg": self.model_cfg, "in_channels": self.in_channels,
                    "num_classes": self.num_classes, "labels": dict(self.dataset.labels), "patch_size": self.patch,
                    "preprocess": self.pre_kw})
        atomic_write_json(self.run_dir / "metrics.json", metrics)
        log.info("metrics: %s", {k: v for k, v in metrics.items() if k != "loss_history"})
        return metrics
