"""Config -> objects for apps/asr_ddp (the only place the Hydra config meets code).

Order: every config value is checked (``validate``) and the run folder prepared (``prepare_run``: fingerprint,
resume decision, writable folder) BEFORE any corpus is built or any feature extracted; then data, model,
pruner, task, and ``core.training.loop.TrainLoop`` runs it. The recipe holds no checkpoint, resume, AMP or
DDP code of its own.
"""
from __future__ import annotations

import inspect
import logging
from pathlib import Path
from types import SimpleNamespace

import torch

from core.data_pruning import DataPruner
from core.speech.features import GlobalCMVN, SpecAugment
from core.speech.model import CTCAttentionModel
from core.training.atomic import atomic_torch_save
from core.training.loop import TrainLoop
from core.training.run import LoopSettings, prepare_run

from apps.asr_ddp.data.corpora import (DATA_NAMES, check_units, digit_spec, keyword_spec, load_splits, make_tokenizer,
                                      tokenizer_state, vocab_size_hint)
from apps.asr_ddp.task import ASRModule, ASRTask, TaskSettings

log = logging.getLogger(__name__)

APP = "asr_ddp"
MODEL_FILE = "model.pt"
_PRUNER_KEYS = [p for p in inspect.signature(DataPruner.__init__).parameters if p not in ("self", "num_items")]
_MODEL_KEYS = ("d_model", "heads", "layers", "ffn", "decoder_layers", "ctc_weight", "kernel_size", "dropout",
               "subsampling", "label_smoothing", "subsampling_channels")
# keys that never change what is trained (left out of the fingerprint)
_NOT_TRAINING = {"run_dir", "variant", "trainer.resume", "trainer.progress", "trainer.device", "trainer.num_workers",
                 "data.root", "data.on_error", "data.recordings_on_error", "trainer.log_every"}


def _plain(cfg) -> dict:
    try:
        from omegaconf import OmegaConf

        return OmegaConf.to_container(cfg, resolve=True)
    except (ImportError, ValueError):
        return dict(cfg)


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _num(key: str, v, kind=float):
    if isinstance(v, bool) or v is None:
        raise ValueError(f"{key}={v!r} must be a number")
    try:
        x = kind(v)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{key}={v!r} must be a number") from e
    if kind is int and float(v) != x:
        raise ValueError(f"{key}={v!r} must be an integer")
    return x


def pruner_seed(cfg: dict) -> int:
    """The pruner follows the run's seed: pruning.seed + trainer.seed."""
    return int(cfg["pruning"].get("seed", 0)) + int(cfg["trainer"].get("seed", 0))


def make_pruner(pruning: dict, num_items: int, num_epochs: int, seed: int) -> DataPruner:
    """DataPruner from the ``pruning`` config group (the time_* / rescore_* keys are the task's)."""
    kw = {k: pruning[k] for k in _PRUNER_KEYS if k in pruning and k not in ("num_epochs", "seed")}
    return DataPruner(num_items, num_epochs=num_epochs, seed=seed, **kw)


def task_settings(cfg: dict) -> TaskSettings:
    t, p, tr = cfg["train"], cfg["pruning"], cfg["trainer"]
    return TaskSettings(epochs=_num("trainer.epochs", tr["epochs"], int), lr=_num("train.lr", t["lr"]),
                        warmup_steps=_num("train.warmup_steps", t["warmup_steps"], int),
                        min_lr_ratio=_num("train.min_lr_ratio", t.get("min_lr_ratio", 0.05)),
                        frame_budget=_num("train.frame_budget", t["frame_budget"], int),
                        max_batch=_num("train.max_batch", t.get("max_batch", 64), int),
                        time_keep=_num("pruning.time_keep", p.get("time_keep", 1.0)),
                        time_unit=p.get("time_unit", "chunk"), chunk_ms=_num("pruning.chunk_ms", p.get("chunk_ms", 200)),
                        rescore_every=_num("pruning.rescore_every", p.get("rescore_every", 1), int),
                        rescore_fraction=_num("pruning.rescore_fraction", p.get("rescore_fraction", 0.25)),
                        eval_method=t.get("eval_method", "greedy"), test_method=t.get("test_method", "greedy"),
                        beam=_num("train.beam", t.get("beam", 4), int), seed=_num("trainer.seed", tr.get("seed", 0), int))


def loop_settings(cfg: dict) -> LoopSettings:
    tr = cfg["trainer"]
    amp = tr.get("amp", "off")
    if amp is True or amp in ("true", "on"):          # "true": bf16 where it pays (CUDA), off on CPU
        amp = "bf16" if torch.cuda.is_available() and tr.get("device", "auto") != "cpu" else "off"
    prog = {"on": True, "off": False, "auto": None, True: True, False: False, None: None}.get(tr.get("progress", "auto"))
    fp = {k: v for k, v in _flat(cfg).items() if k not in _NOT_TRAINING}
    return LoopSettings(run_dir=cfg.get("run_dir"), epochs=tr["epochs"], max_steps=tr.get("max_steps"),
                        seed=tr.get("seed", 0), device=tr.get("device", "auto"), amp=amp, grad_clip=tr.get("grad_clip"),
                        eval_every=tr.get("eval_every", 0), checkpoint_every=tr.get("checkpoint_every", 0),
                        keep_checkpoints=tr.get("keep_checkpoints", 2), log_every=tr.get("log_every", 10),
                        resume=tr.get("resume", "auto"), progress=prog, fingerprint=fp)


def model_kwargs(cfg: dict, vocab: int, tok) -> dict:
    m = cfg["model"]
    kw = {k: m[k] for k in _MODEL_KEYS if k in m}
    for k in ("d_model", "heads", "layers", "ffn", "decoder_layers", "kernel_size", "subsampling"):
        if k in kw:
            kw[k] = _num(f"model.{k}", kw[k], int)
    if kw["d_model"] % kw["heads"]:
        raise ValueError(f"model.d_model={kw['d_model']} must be divisible by model.heads={kw['heads']}")
    if kw.get("subsampling", 4) not in (1, 2, 4, 8):
        raise ValueError(f"model.subsampling={kw['subsampling']}; valid choices: 1, 2, 4, 8")
    return dict(input_dim=_num("data.n_mels", cfg["data"].get("n_mels", 80), int), vocab=vocab, sos_eos=tok.sos,
                blank=tok.blank, **kw)


def validate(cfg: dict) -> None:
    """Every check that needs no data: raises ValueError naming the key (called before any corpus is built)."""
    d = cfg["data"]
    if d.get("name") not in DATA_NAMES:
        raise ValueError(f"data.name={d.get('name')!r}; valid choices: {', '.join(DATA_NAMES)}")
    if d.get("on_error", "raise") not in ("raise", "skip"):
        raise ValueError(f"data.on_error={d.get('on_error')!r}; valid choices: raise, skip")
    _num("data.sample_rate", d.get("sample_rate", 16000), int)
    for k in ("win_ms", "hop_ms"):
        if k in d and not _num(f"data.{k}", d[k]) > 0:
            raise ValueError(f"data.{k}={d[k]} must be > 0")
    if d["name"] == "digits":
        digit_spec(d)
    if d["name"] == "arabic":
        keyword_spec(d)
    if d["name"] == "librispeech" and not d.get("root"):
        raise ValueError("data=librispeech needs data.root=<folder holding train-clean-100/, dev-clean/, ...>")
    if d["name"] == "manifest":
        for k in ("train", "dev", "test"):
            if not d.get(k):
                raise ValueError(f"data=manifest needs data.{k}=<manifest .jsonl/.tsv>")
    check_units(d)
    hint = vocab_size_hint(d)        # SentencePiece pieces still to train: the size is known, the corpus not read
    tok = SimpleNamespace(vocab_size=hint, sos=hint - 1, blank=0) if hint else make_tokenizer(d)
    TaskSettings.__post_init__(task_settings(cfg))
    for k in ("eval_method", "test_method"):
        v = cfg["train"].get(k, "greedy")
        if v not in ("greedy", "ctc_beam", "joint_beam"):
            raise ValueError(f"train.{k}={v!r}; valid choices: greedy, ctc_beam, joint_beam")
    try:
        make_pruner(cfg["pruning"], 10, int(cfg["trainer"]["epochs"]), pruner_seed(cfg))
    except (TypeError, ValueError) as e:
        raise ValueError(f"pruning: {e}") from e
    CTCAttentionModel(**model_kwargs(cfg, tok.vocab_size, tok))        # checks the architecture (tiny cost)


def variant_name(cfg: dict) -> str:
    if cfg.get("variant"):
        return str(cfg["variant"])
    p = cfg["pruning"]
    name = p["policy"] if p["policy"] == "full" else f"{p['policy']}{p.get('keep', '')}"
    if float(p.get("time_keep", 1.0)) < 1.0:
        name += f"x{p['time_keep']}{p.get('time_unit', 'chunk')}"
    return name


class Recipe:
    """``Recipe(cfg).run()``: validate, prepare the run, build data/model/pruner/task, train through the loop."""

    def __init__(self, cfg, stores: dict | None = None) -> None:
        self.cfg = _plain(cfg)
        self.stores = stores            # pre-built FeatureStores (experiment driver: one feature pass per corpus)

    def run(self) -> dict:
        c = self.cfg
        validate(c)
        settings = loop_settings(c)
        run = prepare_run(settings, app=APP, variant=variant_name(c))
        if run.finished:
            log.info("%s already holds this finished run; its results are returned unchanged", run.run_dir)
            return run.summary
        return self._train(run)

    def _train(self, run) -> dict:
        c = self.cfg
        tok = make_tokenizer(c["data"])
        mkw = model_kwargs(c, tok.vocab_size, tok)
        stores = self.stores or load_splits(c["data"], tok, mkw.get("subsampling", 4))
        model = CTCAttentionModel(**mkw)
        cmvn = GlobalCMVN(stores["train"].feats[0].shape[1]).fit(f.float() for f in stores["train"].feats)
        n_mels = stores["train"].feats[0].shape[1]
        spec = SpecAugment(freq_width=max(1, round(27 * n_mels / 80))) if c["train"].get("specaug", False) else None
        module = ASRModule(model, cmvn, spec).to(run.device)
        ts = task_settings(c)
        pruner = make_pruner(c["pruning"], len(stores["train"]), ts.epochs, pruner_seed(c))
        task = ASRTask(module, tok, stores["train"], stores["dev"], pruner, ts, run.dist, test=stores["test"])
        opt = torch.optim.AdamW(module.parameters(), lr=ts.lr,
                                weight_decay=_num("train.weight_decay", c["train"].get("weight_decay", 0.01)))
        loop = TrainLoop(run, module, opt, task, pruner=pruner)
        summary = loop.run()
        if run.is_main:
            export_model(run.run_dir / MODEL_FILE, module, mkw, tok, stores["train"].logmel, c)
            try:
                from apps.asr_ddp.plots import plot_wer_vs_time

                plot_wer_vs_time({summary["variant"]: dev_curve(loop.history)}, run.run_dir / "dev_wer_vs_time.png")
            except Exception as e:  # a plot must never lose a finished run's results
                log.warning("plot failed: %s", e)
        return summary


def dev_curve(history: list[dict]) -> list[dict]:
    """The loop's eval records as plot rows (train_s, train_cpu_s, dev_wer, step)."""
    return [r for r in history if r.get("kind") == "eval" and "dev_wer" in r]


def export_model(path: Path, module: ASRModule, model_kwargs: dict, tok, logmel, cfg: dict) -> None:
    """Everything ``sparselab-asr transcribe`` needs, in one file (atomic write)."""
    atomic_torch_save(path, {"format": "sparselab-asr-model/1", "model": model_kwargs, "tokenizer": tokenizer_state(tok),
                             "features": {"sample_rate": logmel.sample_rate, "n_mels": logmel.n_mels,
                                          "win_length": logmel.win_length, "hop_length": logmel.hop_length},
                             "decode": {"method": cfg["train"].get("test_method", "greedy"),
                                        "beam": int(cfg["train"].get("beam", 4))},
                             "state_dict": {k: v.detach().cpu() for k, v in module.state_dict().items()
                                            if not k.startswith("specaug")}})
