"""Config -> settings -> objects for apps/asr_ddp (the only place the Hydra config meets code).

``settings_from_config(cfg)`` reads every key of the composed config once, through ``core.settings.ConfigReader``
(typed, validated, errors naming the key), into a frozen ``AsrSettings`` and ends with ``check_consumed()``: a key
nothing reads is an error. It touches no data. ``Recipe(cfg).run()`` then prepares the run folder (fingerprint,
resume decision) BEFORE any corpus is built, builds data, model, pruner and task from the settings only, and trains
through ``core.training.loop.TrainLoop``, which owns checkpoints, resume, AMP and DDP.

The walk of ``pruning.keep`` (one default, one validation, three hops):
``core/configs/pruning/common/base.yaml`` (the default; ``experiment/*`` or the command line override it) ->
``PrunerSettings.from_reader`` (read once; validated once by ``DataPruner``'s ``check_fraction``, error
``pruning.keep=...``) -> ``DataPruner.num_keep`` (the kept count each pruned epoch).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from core.data_pruning import PrunerSettings
from core.settings import ConfigError, ConfigReader
from core.speech.features import GlobalCMVN, SpecAugment
from core.speech.model import CTCAttentionModel
from core.training.atomic import atomic_torch_save
from core.training.loop import TrainLoop
from core.training.run import LoopSettings, prepare_run, run_fingerprint

from apps.asr_ddp.data.corpora import DataSettings, check_inputs, load_splits, read_data_settings, tokenizer_state
from apps.asr_ddp.task import ASRModule, ASRTask, TaskSettings

log = logging.getLogger(__name__)

__all__ = ["APP", "MODEL_FILE", "FINGERPRINT_EXCLUDE", "AsrSettings", "ModelSettings", "settings_from_config",
           "Recipe", "export_model", "dev_curve"]

APP = "asr_ddp"
MODEL_FILE = "model.pt"
# keys that never change what is trained (left out of the run's fingerprint)
FINGERPRINT_EXCLUDE = ("run_dir", "variant", "trainer.resume", "trainer.progress", "trainer.device", "trainer.log_every",
                       "data.root", "data.source", "data.on_error", "data.recordings_on_error", "data.allow_symlinks",
                       "data.allow_absolute")


@dataclass(frozen=True)
class ModelSettings:
    """``CTCAttentionModel`` keyword arguments (besides input size and vocabulary), validated once."""

    d_model: int
    heads: int
    layers: int
    ffn: int
    kernel_size: int
    decoder_layers: int
    ctc_weight: float
    dropout: float
    label_smoothing: float
    subsampling: int
    subsampling_channels: int | None

    @classmethod
    def from_reader(cls, r: ConfigReader) -> ModelSettings:
        m = cls(d_model=r.int("model.d_model", low=1), heads=r.int("model.heads", low=1),
                layers=r.int("model.layers", low=1), ffn=r.int("model.ffn", low=1),
                kernel_size=r.int("model.kernel_size", low=1), decoder_layers=r.int("model.decoder_layers", low=0),
                ctc_weight=r.float("model.ctc_weight", low=0.0, high=1.0),
                dropout=r.float("model.dropout", low=0.0, high=1.0, high_open=True),
                label_smoothing=r.float("model.label_smoothing", low=0.0, high=1.0, high_open=True),
                subsampling=r.choice("model.subsampling", (1, 2, 4, 8)),
                subsampling_channels=r.optional_int("model.subsampling_channels", low=1))
        if m.d_model % m.heads:
            raise ConfigError(f"model.d_model={m.d_model} must be divisible by model.heads={m.heads}")
        if m.kernel_size % 2 == 0:
            raise ConfigError(f"model.kernel_size={m.kernel_size} must be odd (the Conformer's depthwise convolution)")
        if m.ctc_weight < 1.0 and m.decoder_layers < 1:
            raise ConfigError(f"model.ctc_weight={m.ctc_weight} < 1 needs model.decoder_layers >= 1")
        return m

    def kwargs(self, input_dim: int, tok) -> dict:
        kw = {k: getattr(self, k) for k in self.__dataclass_fields__}
        return dict(input_dim=input_dim, vocab=tok.vocab_size, sos_eos=tok.sos, blank=tok.blank, **kw)


@dataclass(frozen=True)
class AsrSettings:
    """Everything a run needs, read and validated at the door."""

    loop: LoopSettings
    data: DataSettings
    model: ModelSettings
    task: TaskSettings
    pruning: PrunerSettings
    variant: str


def _variant(name: str | None, ps: PrunerSettings, task: TaskSettings) -> str:
    if name:
        return name
    v = ps.name if ps.name in ("full", "infobatch") else f"{ps.name}{ps.keep}"
    if task.time_keep < 1.0:
        v += f"x{task.time_keep}{task.time_unit}"
    return v


def settings_from_config(cfg) -> AsrSettings:
    """The composed config (a ``DictConfig`` or a plain nested dict) as frozen settings; see the module docstring."""
    from apps.common.hydra_config import to_plain

    plain = to_plain(cfg)
    r = ConfigReader(plain, source="asr_ddp config")
    try:
        loop = LoopSettings.from_reader(r, "trainer", run_dir=r.optional_str("run_dir"),
                                        fingerprint=run_fingerprint(plain, FINGERPRINT_EXCLUDE))
    except ConfigError:
        raise
    except ValueError as e:             # the loop's own validation: re-raised as a config error (it names the key)
        raise ConfigError(str(e)) from None
    if loop.epochs is None:
        raise ConfigError("trainer.epochs must be set (the LR schedule and the pruning schedule span the epochs; "
                          "trainer.max_steps may stop a run earlier)")
    data = read_data_settings(r)
    model = ModelSettings.from_reader(r)
    pruning = PrunerSettings.from_reader(r, "pruning")
    try:
        task = TaskSettings(epochs=loop.epochs, seed=loop.seed, lr=r.get("train.lr"),
                            warmup_steps=r.get("train.warmup_steps"), min_lr_ratio=r.get("train.min_lr_ratio"),
                            weight_decay=r.get("train.weight_decay"), frame_budget=r.get("train.frame_budget"),
                            max_batch=r.get("train.max_batch"), specaug=r.bool("train.specaug"),
                            time_keep=r.get("pruning.time_keep"), time_unit=r.get("pruning.time_unit"),
                            chunk_ms=r.get("pruning.chunk_ms"), eval_method=r.get("train.eval_method"),
                            test_method=r.get("train.test_method"), beam=r.get("train.beam"))
    except ValueError as e:
        raise ConfigError(str(e)) from None
    variant = _variant(r.optional_str("variant"), pruning, task)
    r.check_consumed()
    return AsrSettings(loop=loop, data=data, model=model, task=task, pruning=pruning, variant=variant)


class Recipe:
    """``Recipe(cfg).run()``: settings, run folder, data, model, pruner, task, training through the shared loop."""

    def __init__(self, cfg, stores: dict | None = None) -> None:
        self.settings = cfg if isinstance(cfg, AsrSettings) else settings_from_config(cfg)
        self.stores = stores            # pre-built (FeatureStores, tokenizer) for tests sharing a corpus

    def run(self) -> dict:
        s = self.settings
        check_inputs(s.data)                 # missing paths: an error naming the key, before the run folder is made
        run = prepare_run(s.loop, app=APP, variant=s.variant)
        if run.finished:
            log.info("%s already holds this finished run; its results are returned unchanged", run.run_dir)
            return dict(run.summary, run_dir=str(run.run_dir))
        return self._train(run)

    def _train(self, run) -> dict:
        s = self.settings
        stores, tok = self.stores or load_splits(s.data, None, s.model.subsampling)
        mkw = s.model.kwargs(s.data.n_mels, tok)
        model = CTCAttentionModel(**mkw)
        cmvn = GlobalCMVN(s.data.n_mels).fit(f.float() for f in stores["train"].feats)
        spec = SpecAugment(freq_width=max(1, round(27 * s.data.n_mels / 80))) if s.task.specaug else None
        module = ASRModule(model, cmvn, spec).to(run.device)
        pruner = s.pruning.build(len(stores["train"]), num_epochs=s.loop.epochs, seed_offset=s.loop.seed)
        task = ASRTask(module, tok, stores["train"], stores["dev"], pruner, s.task, run.dist, test=stores["test"])
        opt = torch.optim.AdamW(module.parameters(), lr=s.task.lr, weight_decay=s.task.weight_decay)
        loop = TrainLoop(run, module, opt, task, pruner=pruner)
        summary = loop.run()
        if run.is_main:
            export_model(run.run_dir / MODEL_FILE, module, mkw, tok, stores["train"].logmel, s.task)
            try:
                from apps.asr_ddp.plots import plot_wer_vs_time

                plot_wer_vs_time({summary["variant"]: dev_curve(loop.history)}, run.run_dir / "dev_wer_vs_time.png")
            except Exception as e:  # a plot must never lose a finished run's results
                log.warning("plot failed: %s", e)
        return summary


def dev_curve(history: list[dict]) -> list[dict]:
    """The loop's eval records as plot rows (train_s, train_cpu_s, dev_wer, step)."""
    return [r for r in history if r.get("kind") == "eval" and "dev_wer" in r]


def export_model(path: Path, module: ASRModule, model_kwargs: dict, tok, logmel, task: TaskSettings) -> None:
    """Everything ``sparselab-asr transcribe`` needs, in one file (atomic write)."""
    atomic_torch_save(path, {"format": "sparselab-asr-model/1", "model": model_kwargs, "tokenizer": tokenizer_state(tok),
                             "features": {"sample_rate": logmel.sample_rate, "n_mels": logmel.n_mels,
                                          "win_length": logmel.win_length, "hop_length": logmel.hop_length},
                             "decode": {"method": task.test_method, "beam": int(task.beam)},
                             "state_dict": {k: v.detach().cpu() for k, v in module.state_dict().items()
                                            if not k.startswith("specaug")}})

