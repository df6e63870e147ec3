"""Config -> objects for apps/asr_ddp (the only place the Hydra config meets code)."""
from __future__ import annotations

import inspect
import json
import logging
from pathlib import Path


from core.data_pruning import DataPruner
from core.speech.corpus import build_corpus
from core.speech.datasets import load_manifest, scan_librispeech
from core.speech.features import LogMel
from core.speech.model import CTCAttentionModel
from core.speech.tokenizer import CharTokenizer
from core.training import checkpoint as ckpt_lib
from core.training.distributed import cleanup, init_distributed
from core.training.progress import progress
from core.training.seeding import seed_everything

from apps.asr_ddp.data.store import FeatureStore
from apps.asr_ddp.plots import plot_wer_vs_time
from apps.asr_ddp.trainer import ASRTrainer, TrainSettings

log = logging.getLogger(__name__)

_PRUNER_KEYS = [p for p in inspect.signature(DataPruner.__init__).parameters if p not in ("self", "num_items")]


def _plain(cfg) -> dict:
    try:
        from omegaconf import OmegaConf

        return OmegaConf.to_container(cfg, resolve=True)
    except (ImportError, ValueError):
        return dict(cfg)


def make_pruner(pruning: dict, num_items: int, num_epochs: int) -> DataPruner:
    """DataPruner from the ``pruning`` config group (core/configs/pruning/*.yaml + time_* keys, ignored here)."""
    kw = {k: pruning[k] for k in _PRUNER_KEYS if k in pruning and k != "num_epochs"}
    return DataPruner(num_items, num_epochs=num_epochs, **kw)


def load_splits(data: dict, tokenizer: CharTokenizer, subsampling: int, on_error: str) -> dict[str, FeatureStore]:
    """The train/dev/test FeatureStores for ``data.name`` in {embedded, librispeech, manifest}."""
    name = data["name"]
    sr = int(data.get("sample_rate", 16000))
    if name == "embedded":
        manifest = build_corpus(data["root"], data["size"], seed=data.get("seed", 0), sample_rate=sr,
                                noise_prob=data.get("noise_prob", 0.8),
                                snr_db=tuple(data.get("snr_db", (5.0, 30.0))))
        utts = {k: load_manifest(manifest, split=k) for k in ("train", "dev", "test")}
    elif name == "librispeech":
        root = data.get("root")
        if not root:
            raise ValueError("data=librispeech needs data.root=<folder holding train-clean-100/, dev-clean/, ...>")
        utts = {k: scan_librispeech(root, data[k]) for k in ("train", "dev", "test")}
    elif name == "manifest":
        utts = {k: load_manifest(data[k]) for k in ("train", "dev", "test")}
    else:
        raise ValueError(f"data.name={name!r}; valid choices: embedded, librispeech, manifest")
    lim = data.get("max_train")
    if lim:
        utts["train"] = utts["train"][: int(lim)]
    logmel = LogMel(sr, n_mels=int(data.get("n_mels", 80)))
    stores = {k: FeatureStore(v, tokenizer, sample_rate=sr, logmel=logmel, subsampling=subsampling,
                              on_error=on_error) for k, v in utts.items()}
    for k, st in stores.items():
        if len(st.skipped):
            log.warning("%s: skipped %d utterances (on_error=skip)", k, len(st.skipped))
    return stores


class Recipe:
    """``Recipe(cfg).run()``: build data, model, pruner, trainer; train; test; plot."""

    def __init__(self, cfg) -> None:
        self.cfg = _plain(cfg)

    def build(self):
        c = self.cfg
        tr = c["trainer"]
        device = None if tr.get("device", "auto") == "auto" else tr["device"]
        self.dist = init_distributed(device=device)
        seed_everything(int(tr.get("seed", 0)))
        self.tok = CharTokenizer(unk="map" if c["data"].get("unk") == "map" else "error")
        m = c["model"]
        stores = load_splits(c["data"], self.tok, int(m.get("subsampling", 4)), c["data"].get("on_error", "raise"))
        self.stores = stores
        model = CTCAttentionModel(input_dim=int(c["data"].get("n_mels", 80)), vocab=self.tok.vocab_size,
                                  d_model=m["d_model"], heads=m["heads"], layers=m["layers"], ffn=m["ffn"],
                                  decoder_layers=m["decoder_layers"], ctc_weight=m["ctc_weight"],
                                  kernel_size=m.get("kernel_size", 15), dropout=m.get("dropout", 0.1),
                                  subsampling=m.get("subsampling", 4), label_smoothing=m.get("label_smoothing", 0.1),
                                  sos_eos=self.tok.sos, blank=self.tok.blank,
                                  subsampling_channels=m.get("subsampling_channels"))
        p = c["pruning"]
        pruner = make_pruner(p, len(stores["train"]), int(tr["epochs"]))
        t = c["train"]
        settings = TrainSettings(epochs=int(tr["epochs"]), lr=t["lr"], warmup_steps=t["warmup_steps"],
                                 weight_decay=t["weight_decay"], frame_budget=t["frame_budget"],
                                 max_batch=t.get("max_batch", 64), grad_clip=tr.get("grad_clip", 5.0),
                                 time_keep=float(p.get("time_keep", 1.0)), time_unit=p.get("time_unit", "chunk"),
                                 chunk_frames=int(p.get("chunk_frames", 20)), specaug=t.get("specaug", True),
                                 amp=bool(tr.get("amp", True)), seed=int(tr.get("seed", 0)),
                                 max_steps=tr.get("max_steps"), checkpoint_every_steps=t.get("checkpoint_every_steps", 0),
                                 eval_method=t.get("eval_method", "greedy"), test_method=t.get("test_method", "greedy"),
                                 beam=t.get("beam", 4))
        self.run_dir = Path(c.get("run_dir") or ".")
        variant = c.get("variant") or self.variant_name()
        self.trainer = ASRTrainer(model, self.tok, stores["train"], stores["dev"], pruner, settings, self.run_dir,
                                  self.dist, test=stores["test"], variant=variant)
        return self.trainer

    def variant_name(self) -> str:
        p = self.cfg["pruning"]
        name = p["policy"] if p["policy"] == "full" else f"{p['policy']}{p.get('keep', '')}"
        if float(p.get("time_keep", 1.0)) < 1.0:
            name += f"x{p['time_keep']}{p.get('time_unit', 'chunk')}"
        return name

    def run(self) -> dict:
        trainer = self.build()
        tr = self.cfg["trainer"]
        resume = tr.get("resume", "auto")
        path = None
        if resume == "auto":
            path = ckpt_lib.latest_checkpoint(self.run_dir / "checkpoints")
        elif resume not in ("never", None):
            path = Path(resume)
        if path is not None:
            log.info("resuming from %s", path)
            trainer.resume(path)
        enabled = {"on": True, "off": False}.get(str(tr.get("progress", "auto")))
        trainer.fit(progress=lambda it, total, desc: progress(it, total=total, desc=desc, enabled=enabled))
        summary = trainer.finish()
        if self.dist.rank == 0:
            plot_wer_vs_time({trainer.variant: trainer.history}, self.run_dir / "dev_wer_vs_time.png")
            log.info("summary: %s", json.dumps({k: v for k, v in summary.items() if k != "settings"}))
        cleanup()
        return summary
