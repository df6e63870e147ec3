"""The one place a config becomes objects: data, model, DSFF sparsity, optimizer; training runs through the shared
loop (``core.training.loop``), which owns the run folder, checkpoints, exact resume, AMP, DDP and results."""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from core.training.loop import TrainLoop
from core.training.run import LoopSettings, prepare_run
from core.validation import check_choice

from apps.e2enet.data import (
    MNI_VAL_CASES, build_cohort_dataset, build_mni_dataset, build_synthetic_dataset, default_cache_dir, load_dataset_json,
    preprocess_transforms, split_cases, validate_cases,
)
from apps.e2enet.dsff import build_dsff
from apps.e2enet.inference import voxel_spacing
from apps.e2enet.loss import DeepSupervisionLoss
from apps.e2enet.models import E2ENet, nnunet_dynunet
from apps.e2enet.task import SegmentationTask

__all__ = ["Recipe", "compose_config", "build_model", "resolve_dataset_root", "fingerprint_of"]

log = logging.getLogger(__name__)
ARCHS = ("e2enet", "dynunet")
CONFIG_DIR = Path(__file__).parent / "configs"
# what is fingerprinted: the groups that decide what is trained and how it is scored, and the trainer keys that
# change the result (other trainer keys -- device, resume, progress, logging -- do not)
_FINGERPRINT_GROUPS = ("data", "model", "widths", "train", "loss", "sparse", "eval")
_FINGERPRINT_TRAINER = ("seed", "epochs", "max_steps", "batch_size", "grad_clip", "amp")


def compose_config(overrides: list[str] | None = None, config_name: str = "train") -> DictConfig:
    """The real config files composed without running Hydra's app (tests, benchmarks)."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
        return compose(config_name=config_name, overrides=list(overrides or []))


def fingerprint_of(cfg: DictConfig) -> dict:
    """The configuration that decides what is trained and how it is scored, as a flat plain dict."""
    from core.training.run import flatten_config

    c = OmegaConf.to_container(cfg, resolve=True)
    keep = {k: c[k] for k in _FINGERPRINT_GROUPS if k in c}
    keep["trainer"] = {k: c["trainer"].get(k) for k in _FINGERPRINT_TRAINER}
    return flatten_config(keep)


def build_model(model_cfg: dict, in_channels: int, num_classes: int) -> torch.nn.Module:
    """``{"arch": "e2enet"|"dynunet", ...}`` -> network (plain dict, also stored in model files for predict)."""
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
    source = check_choice("data.source", data_cfg.source, ("cohort", "mni", "synthetic"))
    if source == "cohort":
        return build_cohort_dataset(data_cfg.root, num_subjects=int(data_cfg.num_subjects), voxel_mm=int(data_cfg.voxel_mm),
                                    seed=int(data_cfg.cohort_seed))
    if source == "mni":
        return build_mni_dataset(data_cfg.root, voxel_mm=int(data_cfg.voxel_mm))
    root = Path(data_cfg.root) if data_cfg.root else default_cache_dir() / (
        f"synthetic_{data_cfg.num_cases}_{'x'.join(map(str, data_cfg.size))}_s{seed}")
    if not (root / "dataset.json").is_file():
        build_synthetic_dataset(root, num_cases=int(data_cfg.num_cases), size=tuple(data_cfg.size), seed=seed)
    return root


class Recipe:
    """``Recipe(cfg).run()`` -> the run's summary (also ``<run_dir>/summary.json``): Dice / HD95 / ASD per class on
    the test subjects, parameter counts, FLOPs, dead channels, times. A finished run re-run into its folder returns
    its summary untouched."""

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
        if self.iters < 1:
            raise ValueError(f"train.iters_per_epoch={self.iters} must be >= 1")
        self.total_steps = int(t.max_steps) if t.max_steps else int(t.epochs) * self.iters
        if self.total_steps < 1:
            raise ValueError(f"nothing to train: trainer.epochs={t.epochs}, train.iters_per_epoch={self.iters}")
        self.batch_size, self.seed = int(t.batch_size), int(t.seed)
        if self.batch_size < 1:
            raise ValueError(f"trainer.batch_size={t.batch_size} must be >= 1")
        for key in ("lr", "momentum", "weight_decay", "poly_power"):
            v = cfg.train[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValueError(f"train.{key}={v!r} must be a number")
        self.settings = self._settings()

    def _settings(self) -> LoopSettings:
        t = self.cfg.trainer
        dev = str(t.device)
        cuda = dev == "cuda" or (dev == "auto" and torch.cuda.is_available())
        amp = t.amp
        amp = ("fp16" if cuda else "off") if amp is True else ("off" if amp in (False, None) else str(amp))
        epochs = -(-self.total_steps // self.iters)
        every = self.cfg.eval.get("every_steps")
        prog = str(t.progress)
        return LoopSettings(run_dir=self.cfg.get("run_dir"), epochs=epochs, max_steps=self.total_steps, seed=self.seed,
                            device=dev, amp=amp, grad_clip=t.grad_clip, eval_every=int(every) if every else self.total_steps,
                            checkpoint_every=int(t.get("checkpoint_every", 0) or 0),
                            keep_checkpoints=int(t.get("keep_checkpoints", 2)), log_every=int(t.log_every),
                            resume=str(t.resume), progress=None if prog == "auto" else prog == "on",
                            fingerprint=fingerprint_of(self.cfg))

    # ------------------------------------------------------------------ data
    def prepare_data(self):
        """Validate every case (errors name the case) before any training; split by subject; preprocess and cache."""
        d = self.cfg.data
        root = resolve_dataset_root(d, self.seed)
        ds = load_dataset_json(root)
        validate_cases(ds)
        cases = ds.training
        test_names = list(d.test_cases) if d.get("test_cases") else []
        val_names = list(d.val_cases) if d.get("val_cases") else None
        if val_names and d.name == "embedded" and d.source == "mni":
            val_names = [v for v in val_names if v in {c.name for c in cases}] or MNI_VAL_CASES
        if test_names:
            unknown = sorted(set(test_names) - {c.name for c in cases})
            if unknown:
                raise ValueError(f"data.test_cases {unknown} are not cases of {root}")
            overlap = sorted(set(test_names) & set(val_names or []))
            if overlap:
                raise ValueError(f"cases {overlap} are in both data.val_cases and data.test_cases")
        test = [c for c in cases if c.name in set(test_names)]
        rest = [c for c in cases if c.name not in set(test_names)]
        train, val = split_cases(rest, val_fraction=float(d.val_fraction), val_cases=val_names, seed=self.seed)
        self.pre_kw = dict(pixdim=list(d.pixdim) if d.pixdim is not None else None, normalize=d.normalize,
                           ct_window=list(d.ct_window), crop_foreground=bool(d.crop_foreground))
        pre_train = preprocess_transforms(min_size=self.patch, **self.pre_kw)
        pre_eval = preprocess_transforms(**self.pre_kw)

        def load(pre, c):
            item = {"image": [str(p) for p in c.images] if len(c.images) > 1 else str(c.images[0]), "label": str(c.label)}
            out = pre(item)
            out["name"] = c.name
            out["spacing"] = voxel_spacing(out["image"])
            return out

        self.dataset = ds
        self.train_cases = [load(pre_train, c) for c in train]
        self.val_cases = [load(pre_eval, c) for c in val]
        self.test_cases = [load(pre_eval, c) for c in test]
        self.in_channels = int(self.train_cases[0]["image"].shape[0])
        self.num_classes = ds.num_classes
        return self

    # ------------------------------------------------------------------ model
    def build(self, device: torch.device):
        cfg = self.cfg
        self.device = device
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
            floor = s.get("level0_min_density")
            self.sparsity = build_dsff(self.model, float(cfg.model.sparsity), total_steps=self.total_steps,
                                       update_every=int(s.update_every), drop_start=float(s.drop_start), drop_end=float(s.drop_end),
                                       init=s.init, level0_min_density=None if floor is None else float(floor), seed=self.seed)
        t = cfg.train
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=float(t.lr), momentum=float(t.momentum), nesterov=bool(t.nesterov),
                                         weight_decay=float(t.weight_decay))
        if self.sparsity is not None:
            self.sparsity.attach(self.optimizer)
        lr0, power, total = float(t.lr), float(t.poly_power), self.total_steps
        self.lr_schedule = lambda step: lr0 * (1.0 - min(step, total) / total) ** power   # nnU-Net poly
        lc = cfg.get("loss") or {}
        self.loss_fn = DeepSupervisionLoss(include_background=bool(lc.get("include_background", True)),
                                           batch_dice=bool(lc.get("batch_dice", False)))
        self.amp_on = self.settings.amp != "off"
        return self

    # ------------------------------------------------------------------ run
    def run(self) -> dict:
        """Prepare the run (folder, identity, resume point) before any data is built, then train through the loop."""
        run = prepare_run(self.settings, app="e2enet", variant=self.variant_name(), runs_root="outputs")
        self.run_dir = run.run_dir
        if run.finished:
            log.info("%s holds a finished run of this configuration; its results are returned untouched", run.run_dir)
            self.summary = run.summary
            return run.summary
        self.prepare_data()
        self.build(run.device)
        self.task = SegmentationTask(self)
        self.loop = TrainLoop(run, self.model, self.optimizer, self.task, lr_schedule=self.lr_schedule, sparsity=self.sparsity)
        self.summary = self.loop.run()
        return self.summary

    def variant_name(self) -> str:
        m = self.cfg.model
        if m.arch != "e2enet":
            return str(m.arch)
        s = float(m.sparsity)
        return "e2enet_dense" if s == 0 else f"e2enet_S{s:g}_{self.cfg.sparse.init}"
