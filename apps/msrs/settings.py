"""The typed boundary of apps/msrs: the composed config (a plain nested dict) becomes frozen settings, read key
by key through ``core.settings.ConfigReader`` (one validation per key, the key named in every error), and every
key must be read (``check_consumed``). The one default of every key is ``configs/train.yaml``; nothing here
repeats it. ``recipe.settings_from_config`` calls :func:`read_settings`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from core.paths import cache_dir
from core.regularizers import ALLOCATIONS
from core.settings import ConfigError, ConfigReader
from core.training.run import LoopSettings, run_fingerprint

from .data.corpus import AV_SIZES
from .data.grid_corpus import GRID_SIZES

__all__ = ["MSRSSettings", "DataSettings", "ModelSettings", "OptimSettings", "MaskSettings", "SparseSettings",
           "CurriculumSettings", "EvalSettings", "read_settings", "FINGERPRINT_EXCLUDE", "METHODS", "CORPORA",
           "UNITS", "MODES"]

MODES = ("vsr", "asr", "avsr")
METHODS = ("dense", "curriculum", "msrs_d", "msrs_s", "static", "set", "rigl")
CORPORA = ("grid", "open")
UNITS = ("auto", "char", "word", "spm")
DECODERS = ("greedy", "ctc_beam", "joint_beam")
SPARSE_INITS = ("erk", "uniform", "given")

# keys that do not change what is trained: left out of the run's fingerprint (core.training.run.run_fingerprint)
FINGERPRINT_EXCLUDE = ("run_dir", "trainer.resume", "trainer.progress", "trainer.num_workers", "cpu_threads",
                       "data.root", "data.cache", "data.allow_symlinks", "test_snrs", "eval.decode", "eval.beam")


@dataclass(frozen=True)
class DataSettings:
    corpus: str
    root: Path                      # embedded-corpus cache (core.paths.cache_dir("msrs") unless data.root)
    size: str
    frame_size: int
    num_speakers: int
    heldout_speakers: int
    max_words: int
    dataset_dir: Path | None
    train_labels: str
    val_labels: str
    test_labels: str
    units: str                      # resolved: char | word | spm
    spm_model: str | None
    spm_units: str | None
    word_list: str | None
    label_format: str               # resolved: ids | text
    lowercase: bool
    unk: str
    babble_dir: str
    babble_fallback: str
    on_error: str
    tolerance_frames: int
    max_frames: int | None
    cache: bool
    allow_symlinks: bool

    @property
    def embedded(self) -> bool:
        return self.dataset_dir is None


@dataclass(frozen=True)
class ModelSettings:
    frontend_width: int
    frontend_blocks: tuple[int, ...]
    stem_kernel: tuple[int, int, int]
    fusion_hidden: int
    d_model: int
    heads: int
    layers: int
    ffn: int
    decoder_layers: int
    kernel_size: int
    dropout: float
    ctc_weight: float
    label_smoothing: float
    modality_dropout: float
    audio_drop_share: float


@dataclass(frozen=True)
class OptimSettings:
    lr: float
    weight_decay: float
    betas: tuple[float, float]
    warmup_fraction: float
    min_lr_fraction: float


@dataclass(frozen=True)
class MaskSettings:
    """msrs.*: the soft-mask phase (core.regularizers.SoftMaskL1) and the switch."""
    lam: float
    mask_lr: float
    bound: float
    beta_start: float
    beta_end: float
    anneal_fraction: float
    start_wer: float | None
    allocation: str
    density: float | None
    check_every: int
    window: int
    tol: float
    density_tol: float | None
    max_density: float | None
    min_fraction: float
    force_fraction: float | None


@dataclass(frozen=True)
class SparseSettings:
    """sparse.*: the static / SET / RigL baselines."""
    density: float | None           # None with init=given
    init: str                       # erk | uniform | given (layer_densities, e.g. MSRS-S's learned allocation)
    layer_densities: tuple[float, ...] | None
    update_every: int
    end_step_fraction: float
    drop_start: float
    drop_end: float


@dataclass(frozen=True)
class CurriculumSettings:
    short_fraction: float
    phase_fraction: float


@dataclass(frozen=True)
class EvalSettings:
    max_val: int
    decode: str
    beam: int
    test_snrs: tuple[float | None, ...]     # None = clean
    grad_log_fraction: float
    grad_log_every: int


@dataclass(frozen=True)
class MSRSSettings:
    mode: str
    method: str
    snr: float | tuple[float, ...] | None   # training noise (inf = clean), None = clean training
    noise: str
    run_dir: str | None
    cpu_threads: int | None
    targets: tuple[str, ...]
    mask_decoder: bool
    batch_size: int
    num_workers: int
    loop: LoopSettings
    data: DataSettings
    model: ModelSettings
    optim: OptimSettings
    msrs: MaskSettings
    sparse: SparseSettings
    curriculum: CurriculumSettings
    eval: EvalSettings

    @property
    def seed(self) -> int:
        return int(self.loop.seed)

    @property
    def modality(self) -> str:
        return {"vsr": "video", "asr": "audio", "avsr": "audiovisual"}[self.mode]

    @property
    def is_msrs(self) -> bool:
        return self.method in ("msrs_d", "msrs_s")


# ---- readers of the few values ConfigReader has no type for ----------------------------------------------------

def _snr_number(key: str, v) -> float:
    """A number of dB (``inf`` = clean); a string such as "abc" is an error naming the key."""
    if isinstance(v, bool) or v is None or isinstance(v, (dict, list, tuple)):
        raise ConfigError(f"{key}={v!r} must be a number of dB (or inf for clean)")
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}={v!r} must be a number of dB (or inf for clean)") from None
    if math.isnan(f) or f == -math.inf:
        raise ConfigError(f"{key}={v!r} must be a number of dB (or inf for clean)")
    return f


def _read_snr(r: ConfigReader):
    v = r.get("snr")
    if v is None:
        return None
    if isinstance(v, (list, tuple)):
        if not v:
            raise ConfigError("snr=[] must be null, a number or a non-empty list of numbers")
        return tuple(_snr_number(f"snr[{i}]", x) for i, x in enumerate(v))
    return _snr_number("snr", v)


def _read_test_snrs(r: ConfigReader) -> tuple[float | None, ...]:
    v = r.get("test_snrs")
    if not isinstance(v, (list, tuple)) or not v:
        raise ConfigError(f"test_snrs={v!r} must be a non-empty list of 'clean' and numbers of dB")
    out: list[float | None] = []
    for i, x in enumerate(v):
        if isinstance(x, str) and x.lower() == "clean":
            out.append(None)
            continue
        f = _snr_number(f"test_snrs[{i}]", x)
        if math.isinf(f):
            raise ConfigError(f"test_snrs[{i}]={x!r}: write 'clean' for no noise")
        out.append(f)
    return tuple(out)


def _opt_fraction(r: ConfigReader, key: str) -> float | None:
    return r.optional_float(key, low=0.0, high=1.0)


def _read_data(r: ConfigReader) -> DataSettings:
    corpus = r.choice("data.corpus", CORPORA)
    root = r.optional_str("data.root")
    dataset_dir = r.optional_str("data.dataset_dir")
    embedded = dataset_dir is None
    units = r.choice("data.units", UNITS)
    if units == "auto":
        units = "word" if corpus == "grid" and embedded else "char"
    label_format = r.choice("data.label_format", ("auto", "ids", "text"))
    if label_format == "auto":
        label_format = "text" if corpus == "grid" and embedded else "ids"
    spm_model, spm_units = r.optional_str("data.spm_model"), r.optional_str("data.spm_units")
    if units == "spm" and not spm_model:
        raise ConfigError("data.units=spm needs data.spm_model=<auto_avsr's unigram5000.model> (and "
                          "data.spm_units=<unigram5000_units.txt>)")
    word_list = r.optional_str("data.word_list")
    if units == "word" and not word_list and not (corpus == "grid" and embedded):
        raise ConfigError("data.units=word needs the grid corpus or data.word_list=<file of words>")
    max_frames = r.optional_int("data.max_frames", low=1)
    return DataSettings(
        corpus=corpus, root=Path(root).expanduser() if root else cache_dir("msrs"),
        size=r.choice("data.size", tuple(GRID_SIZES if corpus == "grid" else AV_SIZES)),
        frame_size=r.int("data.frame_size", low=16, high=256),
        num_speakers=r.int("data.num_speakers", low=1), heldout_speakers=r.int("data.heldout_speakers", low=1),
        max_words=r.int("data.max_words", low=1),
        dataset_dir=Path(dataset_dir).expanduser() if dataset_dir else None,
        train_labels=r.str("data.train_labels"), val_labels=r.str("data.val_labels"),
        test_labels=r.str("data.test_labels"), units=units, spm_model=spm_model, spm_units=spm_units,
        word_list=word_list, label_format=label_format, lowercase=r.bool("data.lowercase"),
        unk=r.choice("data.unk", ("error", "map")), babble_dir=r.str("data.babble_dir"),
        babble_fallback=r.choice("data.babble_fallback", ("train", "error")),
        on_error=r.choice("data.on_error", ("raise", "skip")), tolerance_frames=r.int("data.tolerance_frames", low=0),
        max_frames=max_frames, cache=r.bool("data.cache"), allow_symlinks=r.bool("data.allow_symlinks"))


def _read_model(r: ConfigReader, mode: str) -> ModelSettings:
    m = ModelSettings(
        frontend_width=r.int("model.frontend_width", low=1),
        frontend_blocks=tuple(r.list("model.frontend_blocks", length=4, item="int", low=1)),
        stem_kernel=tuple(r.list("model.stem_kernel", length=3, item="int", low=1)),
        fusion_hidden=r.int("model.fusion_hidden", low=1), d_model=r.int("model.d_model", low=1),
        heads=r.int("model.heads", low=1), layers=r.int("model.layers", low=1), ffn=r.int("model.ffn", low=1),
        decoder_layers=r.int("model.decoder_layers", low=1), kernel_size=r.int("model.kernel_size", low=1),
        dropout=r.float("model.dropout", low=0.0, high=1.0, high_open=True),
        ctc_weight=r.float("model.ctc_weight", low=0.0, high=1.0),
        label_smoothing=r.float("model.label_smoothing", low=0.0, high=1.0, high_open=True),
        modality_dropout=r.float("model.modality_dropout", low=0.0, high=1.0),
        audio_drop_share=r.float("model.audio_drop_share", low=0.0, high=1.0))
    if m.d_model % m.heads:
        raise ConfigError(f"model.d_model={m.d_model} must be a multiple of model.heads={m.heads}")
    if m.modality_dropout > 0 and mode != "avsr":
        raise ConfigError(f"model.modality_dropout={m.modality_dropout} needs mode=avsr (mode={mode!r} has one modality)")
    return m


def _read_optim(r: ConfigReader) -> OptimSettings:
    return OptimSettings(lr=r.float("optim.lr", low=0.0, low_open=True),
                         weight_decay=r.float("optim.weight_decay", low=0.0),
                         betas=tuple(r.list("optim.betas", length=2, item="float", low=0.0)),
                         warmup_fraction=r.float("optim.warmup_fraction", low=0.0, high=1.0),
                         min_lr_fraction=r.float("optim.min_lr_fraction", low=0.0, high=1.0))


def _read_mask(r: ConfigReader) -> MaskSettings:
    allocation = r.choice("msrs.allocation", ALLOCATIONS)
    density = r.optional_float("msrs.density", low=0.0, high=1.0, low_open=True)
    if density is not None and allocation == "global":
        raise ConfigError(f"msrs.density={density} is read by msrs.allocation=erk only (the global rule learns its "
                          "density); set msrs.density=null or msrs.allocation=erk")
    beta_start = r.float("msrs.beta.start", low=0.0, low_open=True)
    beta_end = r.float("msrs.beta.end", low=0.0, low_open=True)
    return MaskSettings(
        lam=r.float("msrs.lam", low=0.0), mask_lr=r.float("msrs.mask_lr", low=0.0, low_open=True),
        bound=r.float("msrs.bound", low=0.0, low_open=True), beta_start=beta_start, beta_end=beta_end,
        anneal_fraction=r.fraction("msrs.anneal_fraction"),
        start_wer=r.optional_float("msrs.start_wer", low=0.0), allocation=allocation, density=density,
        check_every=r.int("msrs.check_every", low=1), window=r.int("msrs.window", low=2),
        tol=r.float("msrs.tol", low=0.0, high=1.0), density_tol=_opt_fraction(r, "msrs.density_tol"),
        max_density=_opt_fraction(r, "msrs.max_density"), min_fraction=r.float("msrs.min_fraction", low=0.0, high=1.0),
        force_fraction=r.optional_float("msrs.force_fraction", low=0.0, high=1.0, low_open=True))


def _read_sparse(r: ConfigReader) -> SparseSettings:
    init = r.choice("sparse.init", SPARSE_INITS)
    density = r.optional_float("sparse.density", low=0.0, high=1.0, low_open=True)
    given = r.get("sparse.layer_densities")
    if given is not None:
        if not isinstance(given, (list, tuple)) or not given:
            raise ConfigError(f"sparse.layer_densities={given!r} must be null or a list of densities in [0, 1]")
        given = tuple(r.list("sparse.layer_densities", item="float", low=0.0))
        bad = [d for d in given if not 0.0 <= d <= 1.0]
        if bad:
            raise ConfigError(f"sparse.layer_densities: {bad[:3]} outside [0, 1]")
    # one of the two decides the allocation, never both (a given allocation has its own overall density); that
    # init=given has its list is checked by the recipe for the methods that use it (a set hands it over)
    if init == "given" and density is not None:
        raise ConfigError(f"sparse.init=given takes the densities from sparse.layer_densities; set sparse.density=null "
                          f"(got {density})")
    if init != "given" and given is not None:
        raise ConfigError(f"sparse.layer_densities is read by sparse.init=given only (sparse.init={init})")
    if init != "given" and density is None:
        raise ConfigError(f"sparse.init={init} needs sparse.density (the overall density)")
    return SparseSettings(
        density=density, init=init, layer_densities=given,
        update_every=r.int("sparse.update_every", low=1), end_step_fraction=r.fraction("sparse.end_step_fraction"),
        drop_start=r.float("sparse.drop_fraction.start", low=0.0, high=1.0),
        drop_end=r.float("sparse.drop_fraction.end", low=0.0, high=1.0))


def read_settings(plain: dict) -> MSRSSettings:
    """Every key of the composed msrs config, read once and validated (``ConfigError`` names the key); keys that
    nothing reads are an error. Touches no data and makes no folder."""
    r = ConfigReader(plain, ignore=("hydra.*",))
    mode = r.choice("mode", MODES)
    method = r.choice("method", METHODS)
    run_dir = r.optional_str("run_dir")
    loop = LoopSettings.from_reader(r, prefix="trainer", run_dir=run_dir,
                                    fingerprint=run_fingerprint(plain, FINGERPRINT_EXCLUDE))
    if loop.max_steps is None and loop.epochs is None:
        raise ConfigError("set trainer.max_steps or trainer.epochs")
    cpu_threads = r.optional_int("cpu_threads", low=1)
    targets = tuple(r.list("targets", item="str"))
    if not targets:
        raise ConfigError("targets=[] must name at least one parameter or module glob")
    noise = r.choice("noise", ("babble", "white"))
    s = MSRSSettings(
        mode=mode, method=method, snr=_read_snr(r), noise=noise, run_dir=run_dir, cpu_threads=cpu_threads,
        targets=targets, mask_decoder=r.bool("mask_decoder"), batch_size=r.int("trainer.batch_size", low=1),
        num_workers=r.int("trainer.num_workers", low=0), loop=loop, data=_read_data(r),
        model=_read_model(r, mode), optim=_read_optim(r), msrs=_read_mask(r), sparse=_read_sparse(r),
        curriculum=CurriculumSettings(short_fraction=r.fraction("curriculum.short_fraction"),
                                      phase_fraction=r.float("curriculum.phase_fraction", low=0.0, high=1.0)),
        eval=EvalSettings(max_val=r.int("eval.max_val", low=1), decode=r.choice("eval.decode", DECODERS),
                          beam=r.int("eval.beam", low=1), test_snrs=_read_test_snrs(r),
                          grad_log_fraction=r.float("diagnostics.grad_log_fraction", low=0.0, high=1.0),
                          grad_log_every=r.int("diagnostics.grad_log_every", low=1)))
    r.check_consumed()
    if s.mode == "vsr" and s.snr is not None:
        raise ConfigError(f"snr={s.snr!r} adds acoustic noise, which mode=vsr has no input for; set snr=null")
    return s
