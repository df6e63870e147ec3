"""Config -> settings -> objects for apps/e2enet (the only place the Hydra config meets code).

``settings_from_config(cfg)`` reads every key of the composed config once through ``core.settings.ConfigReader``
(typed, validated, errors naming the key) into a frozen :class:`E2ENetSettings` and ends with
``check_consumed()``: a key that nothing reads is an error. It touches no data. ``Recipe(cfg).run()`` then
validates the dataset (every error names the case or file), prepares the run folder (fingerprint, resume
decision), preprocesses, builds the network, DSFF and optimizer from the settings only, and trains through
``core.training.loop.TrainLoop``; the task gets settings and built objects, never the recipe or the config.

The walk of ``model.sparsity`` (one default, one validation, three hops):
``configs/model/e2enet.yaml`` (``sparsity: 0.0``; variants / experiments / the command line override it) ->
``ModelSettings.sparsity`` (read once by ``settings_from_config``: a number in [0, 1), > 0 only for model=e2enet)
-> ``build_dsff(model, settings.model.sparsity, ...)`` (the per-layer kernel densities of the fusion layers).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch

from core.settings import ConfigError, ConfigReader
from core.training.loop import TrainLoop
from core.training.run import LoopSettings, prepare_run, run_fingerprint

from apps.e2enet.data import (
    MNI_VAL_CASES, build_cohort_dataset, build_mni_dataset, build_synthetic_dataset, default_cache_dir, load_dataset_json,
    preprocess_transforms, split_cases, validate_cases,
)
from apps.e2enet.dsff import FIDELITIES, build_dsff
from apps.e2enet.inference import voxel_spacing
from apps.e2enet.loss import DeepSupervisionLoss
from apps.e2enet.models import E2ENet, nnunet_dynunet
from apps.e2enet.models.e2enet import patch_divisor
from apps.e2enet.task import EvalSettings, PreparedData, SegmentationTask, TaskSettings

__all__ = ["APP", "ARCHS", "FINGERPRINT_EXCLUDE", "E2ENetSettings", "DataSettings", "ModelSettings", "SparseSettings",
           "TrainSettings", "settings_from_config", "Recipe", "build_model", "resolve_dataset_root", "variant_name"]

log = logging.getLogger(__name__)
APP = "e2enet"
ARCHS = ("e2enet", "dynunet")
SOURCES = ("cohort", "mni", "synthetic")
NORMALIZATIONS = ("zscore", "ct", "none")
# keys that never change what is trained or how it is scored (left out of the run's fingerprint)
FINGERPRINT_EXCLUDE = ("run_dir", "trainer.resume", "trainer.progress", "trainer.device", "trainer.log_every",
                       "trainer.eval_every", "trainer.checkpoint_every", "trainer.keep_checkpoints", "data.root",
                       "data.allow_symlinks")


@dataclass(frozen=True)
class DataSettings:
    name: str                       # embedded | decathlon
    source: str | None              # embedded only: cohort | mni | synthetic
    root: str | None
    voxel_mm: int | None
    num_subjects: int | None
    cohort_seed: int | None
    num_cases: int | None
    size: tuple[int, ...] | None
    pixdim: tuple[float, ...] | None
    normalize: str
    ct_window: tuple[float, float]
    crop_foreground: bool
    val_cases: tuple[str, ...] | None
    test_cases: tuple[str, ...] | None
    val_fraction: float
    allow_symlinks: bool

    def preprocess_kwargs(self) -> dict:
        return dict(pixdim=list(self.pixdim) if self.pixdim is not None else None, normalize=self.normalize,
                    ct_window=list(self.ct_window), crop_foreground=self.crop_foreground)


@dataclass(frozen=True)
class ModelSettings:
    arch: str
    channels: tuple[int, ...]
    depth_axis: int
    depth_pool_levels: int | None
    deep_supervision: int
    sparsity: float
    encoder_convs: int | None = None       # e2enet only
    inner_convs: int | None = None
    output_convs: int | None = None
    shift_groups: int | None = None
    shift_input: bool | None = None

    def model_cfg(self) -> dict:
        """The plain dict stored in model files (``build_model`` reads it back in predict)."""
        keys = ["arch", "channels", "depth_axis", "depth_pool_levels", "deep_supervision"]
        if self.arch == "e2enet":
            keys += ["encoder_convs", "inner_convs", "output_convs", "shift_groups", "shift_input"]
        out = {k: getattr(self, k) for k in keys}
        out["channels"] = list(self.channels)
        return out

    @property
    def divisor(self) -> tuple[int, int, int]:
        return patch_divisor(len(self.channels), self.depth_pool_levels, self.depth_axis)


@dataclass(frozen=True)
class SparseSettings:
    static: bool
    update_every: int
    drop_start: float
    drop_end: float
    init: str
    level0_min_density: float | None
    level0_fixed_density: float | None


@dataclass(frozen=True)
class TrainSettings:
    iters_per_epoch: int
    total_steps: int                # the LR and DSFF schedules span these (trainer.max_steps, else epochs x iters)
    patch_size: tuple[int, int, int]
    batch_size: int
    lr: float
    momentum: float
    nesterov: bool
    weight_decay: float
    poly_power: float
    include_background: bool
    batch_dice: bool


@dataclass(frozen=True)
class E2ENetSettings:
    """Everything a run needs, read and validated at the door."""

    fidelity: str
    loop: LoopSettings
    data: DataSettings
    model: ModelSettings
    sparse: SparseSettings
    train: TrainSettings
    eval: EvalSettings
    variant: str = field(default="")


def _data(r: ConfigReader) -> DataSettings:
    name = r.choice("data.name", ("embedded", "decathlon"))
    emb = name == "embedded"
    source = r.choice("data.source", SOURCES) if emb else None
    root = r.get("data.root")
    if root in ("???", ""):
        root = None                     # data=decathlon without a root: refused when the run starts (Recipe.run)
    if root is not None and not isinstance(root, str):
        raise ConfigError(f"data.root={root!r} must be a folder path")
    voxel_mm = r.choice("data.voxel_mm", (1, 2, 3, 4)) if emb else None
    num_subjects = r.int("data.num_subjects", low=3) if emb else None
    cohort_seed = r.int("data.cohort_seed", low=0) if emb else None
    num_cases = r.int("data.num_cases", low=2) if emb else None
    size = tuple(r.list("data.size", length=3, item="int", low=1)) if emb else None
    pixdim = r.get("data.pixdim")
    if pixdim is not None:
        pixdim = tuple(r.list("data.pixdim", length=3, item="float"))
        if min(pixdim) <= 0:
            raise ConfigError(f"data.pixdim={list(pixdim)} must be three positive voxel sizes in mm (or null)")
    ct = tuple(r.list("data.ct_window", length=2, item="float"))
    if ct[0] >= ct[1]:
        raise ConfigError(f"data.ct_window={list(ct)} must be [low, high] with low < high")
    val = r.get("data.val_cases")
    test = r.get("data.test_cases")
    for key, v in (("data.val_cases", val), ("data.test_cases", test)):
        if v is not None and not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
            raise ConfigError(f"{key}={v!r} must be a list of case names (or null)")
    val = tuple(val) if val else None
    test = tuple(test) if test else None
    if val and test and set(val) & set(test):
        raise ConfigError(f"cases {sorted(set(val) & set(test))} are in both data.val_cases and data.test_cases")
    return DataSettings(name=name, source=source, root=root, voxel_mm=voxel_mm, num_subjects=num_subjects,
                        cohort_seed=cohort_seed, num_cases=num_cases, size=size, pixdim=pixdim,
                        normalize=r.choice("data.normalize", NORMALIZATIONS), ct_window=ct,
                        crop_foreground=r.bool("data.crop_foreground"), val_cases=val, test_cases=test,
                        val_fraction=r.float("data.val_fraction", low=0.0, high=1.0, high_open=True),
                        allow_symlinks=r.bool("data.allow_symlinks"))


def _model(r: ConfigReader, fidelity: str) -> ModelSettings:
    arch = r.choice("model.arch", ARCHS)
    channels = tuple(r.list("model.channels", item="int", low=1))
    if len(channels) < 2:
        raise ConfigError(f"model.channels={list(channels)} needs >= 2 level widths")
    L = len(channels)
    dpl = r.optional_int("model.depth_pool_levels", low=0, high=L - 1)
    ds = r.int("model.deep_supervision", low=1, high=L - 1)
    sparsity = r.float("model.sparsity", low=0.0, high=1.0, high_open=True)
    common = dict(arch=arch, channels=channels, depth_axis=r.choice("model.depth_axis", (2, 3, 4)),
                  depth_pool_levels=dpl, deep_supervision=ds, sparsity=sparsity)
    if arch != "e2enet":
        if sparsity > 0:
            raise ConfigError(f"model.sparsity={sparsity} > 0 (DSFF) needs model=e2enet, got model.arch={arch!r}")
        if fidelity != "paper":
            raise ConfigError(f"fidelity={fidelity} describes the official E2ENet code; model.arch={arch!r} has no "
                              f"such variant (use fidelity=paper)")
        return ModelSettings(**common)
    groups = r.int("model.shift_groups", low=1)
    if groups % 2 == 0:
        raise ConfigError(f"model.shift_groups={groups} must be odd (3: shifts -1, 0, +1; 5: -2..+2)")
    return ModelSettings(**common, encoder_convs=r.int("model.encoder_convs", low=1),
                         inner_convs=r.int("model.inner_convs", low=1), output_convs=r.int("model.output_convs", low=1),
                         shift_groups=groups, shift_input=r.bool("model.shift_input"))


def _sparse(r: ConfigReader, fidelity: str, model: ModelSettings) -> SparseSettings:
    s = SparseSettings(static=r.bool("sparse.static"), update_every=r.int("sparse.update_every", low=1),
                       drop_start=r.float("sparse.drop_start", low=0.0, high=1.0),
                       drop_end=r.float("sparse.drop_end", low=0.0, high=1.0),
                       init=r.choice("sparse.init", ("uniform", "erk")),
                       level0_min_density=r.optional_float("sparse.level0_min_density", low=0.0, high=1.0, low_open=True),
                       level0_fixed_density=r.optional_float("sparse.level0_fixed_density", low=0.0, high=1.0,
                                                             low_open=True))
    if s.level0_min_density is not None and s.level0_fixed_density is not None:
        raise ConfigError("set one of sparse.level0_min_density (a floor on the level-0 layers) and "
                          "sparse.level0_fixed_density (the official fixed density of the level-0 convs), not both")
    if fidelity == "official" and (s.init != "uniform" or s.level0_min_density is not None):
        raise ConfigError("fidelity=official reproduces the official 'uniform' initialisation: it needs "
                          "sparse.init=uniform and sparse.level0_min_density=null (the official rule is "
                          "sparse.level0_fixed_density)")
    return s


def settings_from_config(cfg) -> E2ENetSettings:
    """The composed config (a ``DictConfig`` or a plain nested dict) as frozen settings; see the module docstring."""
    from apps.common.hydra_config import to_plain

    plain = to_plain(cfg)
    r = ConfigReader(plain, source="e2enet config")
    fidelity = r.choice("fidelity", FIDELITIES)
    r.mark_read("widths")   # interpolated into model.channels (read there)
    iters = r.int("train.iters_per_epoch", low=1)
    try:
        loop = LoopSettings.from_reader(r, "trainer", run_dir=r.optional_str("run_dir"),
                                        fingerprint=run_fingerprint(plain, FINGERPRINT_EXCLUDE))
    except ConfigError:
        raise
    except ValueError as e:             # the loop's own validation names the key
        raise ConfigError(str(e)) from None
    if loop.epochs is None:
        raise ConfigError("trainer.epochs must be set (an epoch is train.iters_per_epoch steps; trainer.max_steps may "
                          "stop a run earlier)")
    total = min(loop.max_steps, loop.epochs * iters) if loop.max_steps else loop.epochs * iters
    data = _data(r)
    model = _model(r, fidelity)
    sparse = _sparse(r, fidelity, model)
    patch = tuple(r.list("train.patch_size", length=3, item="int", low=1))
    div = model.divisor
    if any(p % q for p, q in zip(patch, div)):
        near = [-(-p // q) * q for p, q in zip(patch, div)]
        raise ConfigError(f"train.patch_size={list(patch)} must be a multiple of {list(div)} per axis (the network's "
                          f"{len(model.channels) - 1} downsamplings, model.depth_pool_levels="
                          f"{model.depth_pool_levels}); e.g. {near}")
    train = TrainSettings(iters_per_epoch=iters, total_steps=total, patch_size=patch,
                          batch_size=r.int("trainer.batch_size", low=1), lr=r.float("train.lr", low=0.0, low_open=True),
                          momentum=r.float("train.momentum", low=0.0, high=1.0, high_open=True),
                          nesterov=r.bool("train.nesterov"), weight_decay=r.float("train.weight_decay", low=0.0),
                          poly_power=r.float("train.poly_power", low=0.0),
                          include_background=r.bool("loss.include_background"), batch_dice=r.bool("loss.batch_dice"))
    ev = EvalSettings(validate=r.bool("eval.validate"), overlap=r.float("eval.overlap", low=0.0, high=1.0, high_open=True),
                      mode=r.choice("eval.mode", ("gaussian", "constant")), sw_batch_size=r.int("eval.sw_batch_size", low=1),
                      tta=r.bool("eval.tta"), hd95=r.bool("eval.hd95"), count_flops=r.bool("eval.count_flops"))
    r.check_consumed()
    s = E2ENetSettings(fidelity=fidelity, loop=loop, data=data, model=model, sparse=sparse, train=train, eval=ev)
    return E2ENetSettings(**{**{k: getattr(s, k) for k in s.__dataclass_fields__}, "variant": variant_name(s)})


def variant_name(s: E2ENetSettings) -> str:
    m = s.model
    if m.arch != "e2enet":
        return m.arch
    if m.sparsity == 0:
        return "e2enet_dense"
    sp = s.sparse
    name = f"e2enet_S{m.sparsity:g}_{s.fidelity}_{'static' if sp.static else 'dsff'}"
    if sp.init != "uniform":
        name += f"_{sp.init}"
    if sp.level0_min_density is not None:
        name += f"_floor{sp.level0_min_density:g}"
    if sp.level0_fixed_density is not None and s.fidelity != "official":
        name += f"_level0at{sp.level0_fixed_density:g}"
    return name


def build_model(model_cfg: dict, in_channels: int, num_classes: int) -> torch.nn.Module:
    """``{"arch": "e2enet"|"dynunet", ...}`` (``ModelSettings.model_cfg()``, also stored in model files for predict)
    -> network."""
    cfg = dict(model_cfg)
    arch = cfg.pop("arch")
    cfg.pop("sparsity", None)
    if arch == "e2enet":
        return E2ENet(in_channels, num_classes, **cfg)
    if arch == "dynunet":
        return nnunet_dynunet(in_channels, num_classes, cfg["channels"], deep_supervision=cfg.get("deep_supervision", 4),
                              depth_pool_levels=cfg.get("depth_pool_levels"), depth_axis=cfg.get("depth_axis", 4))
    raise ValueError(f"model file names an unknown architecture {arch!r}; valid choices: {', '.join(ARCHS)}")


def resolve_dataset_root(d: DataSettings, seed: int = 0) -> Path:
    """Build the embedded dataset if needed (under ``core.paths.cache_dir("e2enet")``); the Decathlon folder to read."""
    if d.name == "decathlon":
        return Path(d.root)
    if d.source == "cohort":
        return build_cohort_dataset(d.root, num_subjects=d.num_subjects, voxel_mm=d.voxel_mm, seed=d.cohort_seed)
    if d.source == "mni":
        return build_mni_dataset(d.root, voxel_mm=d.voxel_mm)
    root = Path(d.root) if d.root else default_cache_dir() / f"synthetic_{d.num_cases}_{'x'.join(map(str, d.size))}_s{seed}"
    if not (root / "dataset.json").is_file():
        build_synthetic_dataset(root, num_cases=d.num_cases, size=d.size, seed=seed)
    return root


class Recipe:
    """``Recipe(cfg).run()`` -> the run's summary (also ``<run_dir>/summary.json``, plus ``run_dir``): Dice / HD95
    (two conventions) / ASD per class on the test subjects, parameter counts, FLOPs, dead channels, times. A finished
    run re-run into its folder returns its summary untouched."""

    def __init__(self, cfg) -> None:
        self.settings = cfg if isinstance(cfg, E2ENetSettings) else settings_from_config(cfg)

    def run(self) -> dict:
        s = self.settings
        if s.data.name == "decathlon" and not s.data.root:
            raise ConfigError("data=decathlon needs data.root=/path/to/dataset (a folder with dataset.json, imagesTr/, "
                              "labelsTr/)")
        ds, cases = self._dataset()             # every bad case or file named, before the run folder is made
        run = prepare_run(s.loop, app=APP, variant=s.variant, runs_root="outputs")
        self.run_dir = run.run_dir
        if run.finished:
            log.info("%s holds a finished run of this configuration; its results are returned untouched", run.run_dir)
            self.summary = dict(run.summary, run_dir=str(run.run_dir))
            return self.summary
        data = self._prepare(ds, cases)
        self.data = data
        self.model = build_model(s.model.model_cfg(), data.in_channels, data.num_classes).to(run.device)
        t = s.train
        self.sparsity = build_dsff(self.model, s.model.sparsity, fidelity=s.fidelity, total_steps=t.total_steps,
                                   update_every=s.sparse.update_every, drop_start=s.sparse.drop_start,
                                   drop_end=s.sparse.drop_end, init=s.sparse.init,
                                   level0_min_density=s.sparse.level0_min_density,
                                   level0_fixed_density=s.sparse.level0_fixed_density, static=s.sparse.static,
                                   seed=s.loop.seed)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=t.lr, momentum=t.momentum, nesterov=t.nesterov,
                                         weight_decay=t.weight_decay)
        if self.sparsity is not None:
            self.sparsity.attach(self.optimizer)
        lr0, power, total = t.lr, t.poly_power, t.total_steps
        lr_schedule = lambda step: lr0 * (1.0 - min(step, total) / total) ** power   # nnU-Net poly  # noqa: E731
        loss_fn = DeepSupervisionLoss(include_background=t.include_background, batch_dice=t.batch_dice)
        ts = TaskSettings(patch_size=t.patch_size, batch_size=t.batch_size, seed=s.loop.seed,
                          iters_per_epoch=t.iters_per_epoch, total_steps=t.total_steps, eval=s.eval,
                          amp=s.loop.amp != "off", model_cfg=s.model.model_cfg(), preprocess=s.data.preprocess_kwargs())
        self.task = SegmentationTask(ts, data, loss_fn, run.device, run.run_dir)
        self.loop = TrainLoop(run, self.model, self.optimizer, self.task, lr_schedule=lr_schedule, sparsity=self.sparsity)
        self.summary = dict(self.loop.run(), run_dir=str(run.run_dir))
        return self.summary

    # ------------------------------------------------------------------ data
    def _dataset(self):
        """Build (embedded) or read the dataset description; validate every case; pick train / val / test cases."""
        s = self.settings
        d = s.data
        root = resolve_dataset_root(d, s.loop.seed)
        ds = load_dataset_json(root, allow_symlinks=d.allow_symlinks)
        validate_cases(ds)
        cases = ds.training
        names = {c.name for c in cases}
        test_names = list(d.test_cases or [])
        val_names = list(d.val_cases) if d.val_cases else None
        if val_names and d.name == "embedded" and d.source == "mni":
            val_names = [v for v in val_names if v in names] or MNI_VAL_CASES
        for key, given in (("data.test_cases", test_names), ("data.val_cases", val_names or [])):
            unknown = sorted(set(given) - names)
            if unknown:
                raise ConfigError(f"{key} {unknown} are not cases of {root} (cases: {sorted(names)[:10]}"
                                  f"{' ...' if len(names) > 10 else ''})")
        test = [c for c in cases if c.name in set(test_names)]
        rest = [c for c in cases if c.name not in set(test_names)]
        train, val = split_cases(rest, val_fraction=d.val_fraction, val_cases=val_names, seed=s.loop.seed)
        return ds, (train, val, test)

    def _prepare(self, ds, cases) -> PreparedData:
        s = self.settings
        train, val, test = cases
        kw = s.data.preprocess_kwargs()
        pre_train = preprocess_transforms(min_size=s.train.patch_size, **kw)
        pre_eval = preprocess_transforms(**kw)

        def load(pre, c):
            item = {"image": [str(p) for p in c.images] if len(c.images) > 1 else str(c.images[0]), "label": str(c.label)}
            out = pre(item)
            out["name"] = c.name
            out["spacing"] = voxel_spacing(out["image"])
            return out

        tr = [load(pre_train, c) for c in train]
        return PreparedData(train=tr, val=[load(pre_eval, c) for c in val], test=[load(pre_eval, c) for c in test],
                            in_channels=int(tr[0]["image"].shape[0]), num_classes=ds.num_classes,
                            labels=dict(ds.labels))
