"""Recipe: the one place the Hydra config becomes objects (run, corpus, loaders, model, method), handed to the
shared loop (``core.training.loop.TrainLoop``) with ``MSRSTask`` (``task.py``).

Methods: ``dense``, ``curriculum`` (shortest utterances first, then all), ``msrs_d`` / ``msrs_s`` (soft masks
with L1 on the ``targets`` until the mask has settled, then dense / hardened-sparse), ``static`` (random ERK
mask), ``set`` and ``rigl`` (dynamic sparse training) at ``sparse.density``.

The run folder (``run_dir``; a unique ``outputs/msrs/<time>-<hash>`` when null) holds the loop's
``checkpoints/``, ``metrics.jsonl`` and ``summary.json`` (test WER per set and SNR, validation curve, MSRS
switch facts, gradient norms), and ``curve.png``, ``grad_norms.png``, ``mask_distance.png``.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from core.regularizers.build import make_beta
from core.schedules import warmup_cosine
from core.sparse import DynamicSparsity
from core.sparse.build import build_sparsity
from core.speech import CharTokenizer
from core.speech.spm_tokenizer import SentencePieceTokenizer
from core.speech.word_tokenizer import WordTokenizer
from core.training import progress
from core.training.distributed import barrier, broadcast_object, cleanup, is_main_process
from core.training.loop import TrainLoop
from core.training.run import LoopSettings, prepare_run

from .controller import MSRSController
from .data import AVDataset, babble_from_wavs, build_av_corpus, build_grid_corpus, load_babble_bank
from .data.grid_words import VOCABULARY
from .models import MODES, AVSRModel, check_modality_dropout
from .task import MSRSTask, _snr_value

__all__ = ["Recipe", "METHODS", "CORPORA", "UNITS", "fingerprint_of"]

METHODS = ("dense", "curriculum", "msrs_d", "msrs_s", "static", "set", "rigl")
CORPORA = ("grid", "open")
UNITS = ("auto", "char", "word", "spm")
_MODALITY = {"vsr": "video", "asr": "audio", "avsr": "audiovisual"}
# keys that do not change what is trained (left out of the run's fingerprint)
_NOT_TRAINING = ("run_dir", "trainer.resume", "trainer.progress", "trainer.num_workers", "cpu_threads", "data.root",
                 "data.cache", "test_snrs", "train.decode", "train.beam", "hydra")


def fingerprint_of(cfg: DictConfig) -> dict:
    """The config that matters for training, as a plain dict (see ``core.training.run``)."""
    d = OmegaConf.to_container(cfg, resolve=True)
    for key in _NOT_TRAINING:
        node, *rest = key.split(".")
        if not rest:
            d.pop(node, None)
        elif isinstance(d.get(node), dict):
            d[node].pop(rest[0], None)
    return d


def _glob_hits(glob: str, name: str) -> bool:
    import fnmatch

    return fnmatch.fnmatchcase(name, glob) or fnmatch.fnmatchcase(name + ".weight", glob)


class Recipe:
    def __init__(self, cfg: DictConfig) -> None:
        self.cfg = cfg
        self.mode = cfg.mode
        self.method = cfg.method
        if self.mode not in MODES:
            raise ValueError(f"mode={self.mode!r}; valid choices: {MODES}")
        if self.method not in METHODS:
            raise ValueError(f"method={self.method!r}; valid choices: {METHODS}")
        check_modality_dropout(self.mode, cfg.model.modality_dropout, cfg.model.audio_drop_share)
        t = cfg.trainer
        self.settings = LoopSettings.from_mapping(
            OmegaConf.to_container(t, resolve=True), extra_keys=("batch_size", "num_workers"), run_dir=cfg.run_dir, max_steps=cfg.train.max_steps, epochs=None,
            eval_every=cfg.train.eval_every, checkpoint_every=cfg.train.checkpoint_every,
            fingerprint=fingerprint_of(cfg))
        self.max_steps = int(self.settings.max_steps)

    # ------------------------------------------------------------------ data
    def _dataset_root(self) -> Path:
        d = self.cfg.data
        if d.dataset_dir:
            root = Path(d.dataset_dir)
            if not root.is_dir():
                raise FileNotFoundError(f"data.dataset_dir={root} does not exist")
            return root
        root = None
        if is_main_process():
            bar = lambda it, **kw: progress(it, **kw)  # noqa: E731
            if d.corpus == "grid":
                root = build_grid_corpus(d.root, d.size, int(self.cfg.seed), num_speakers=int(d.num_speakers),
                                         heldout_speakers=int(d.heldout_speakers), frame_size=int(d.frame_size),
                                         progress=bar)
            else:
                root = build_av_corpus(d.root, d.size, int(self.cfg.seed), max_words=int(d.max_words),
                                       num_speakers=int(d.num_speakers), progress=bar)
            root = str(root)
        barrier()
        return Path(broadcast_object(root))

    def _units(self) -> str:
        d = self.cfg.data
        return ("word" if d.corpus == "grid" and not d.dataset_dir else "char") if d.units == "auto" else d.units

    def _label_format(self) -> str:
        d = self.cfg.data
        if d.label_format != "auto":
            return d.label_format
        return "text" if d.corpus == "grid" and not d.dataset_dir else "ids"

    def build_tokenizer(self):
        """The output units: characters, words (GRID's 51, or ``data.word_list``) or auto_avsr's SentencePiece."""
        d = self.cfg.data
        units = self._units()
        if units == "char":
            return CharTokenizer(unk=d.unk)
        if units == "word":
            if d.word_list:
                path = Path(d.word_list)
                if not path.is_file():
                    raise FileNotFoundError(f"data.word_list={path} does not exist (one word per line)")
                return WordTokenizer(path.read_text().split(), unk=d.unk)
            if d.corpus != "grid" or d.dataset_dir:
                raise ValueError("data.units=word needs the grid corpus or data.word_list=<file of words>")
            return WordTokenizer(VOCABULARY, unk=d.unk)
        if not d.spm_model:
            raise ValueError("data.units=spm needs data.spm_model=<auto_avsr's unigram5000.model> (and "
                             "data.spm_units=<unigram5000_units.txt>)")
        return SentencePieceTokenizer(d.spm_model, d.spm_units, lowercase=bool(d.lowercase))

    def dataset(self, labels: str, noise: str, snr, seed: int) -> AVDataset:
        d = self.cfg.data
        return AVDataset(self.root, labels, _MODALITY[self.mode], tokenizer=self.tok, label_format=self._label_format(),
                         noise=noise if snr is not None else "none", snr_db=snr, babble_bank=self.babble,
                         tolerance_frames=int(d.tolerance_frames), on_error=d.on_error, seed=seed,
                         max_frames=d.max_frames, frame_size=int(d.frame_size), lowercase=bool(d.lowercase),
                         cache=bool(d.cache))

    def _test_labels(self) -> dict[str, str]:
        """Name -> label list: ``test`` and, for the GRID corpus, ``test_unseen`` (held-out speakers)."""
        d = self.cfg.data
        sets = {"test": d.test_labels}
        if d.corpus == "grid" and not d.dataset_dir:
            sets["test_unseen"] = "labels/test_unseen.csv"
        return sets

    def _babble(self, train_set: AVDataset):
        """The babble bank: wavs in ``data.babble_dir``; if there are none, the training set's own audio
        (``data.babble_fallback=train``) or a how-to error (``error``)."""
        d = self.cfg.data
        bdir = Path(d.babble_dir)
        bdir = bdir if bdir.is_absolute() else self.root / bdir
        if d.babble_dir != "train" and bdir.is_dir() and any(bdir.glob("*.wav")):
            self.babble_source = str(bdir)
            return load_babble_bank(bdir)
        if d.babble_dir == "train" or d.babble_fallback == "train":
            self.babble_source = "train"
            if is_main_process() and d.babble_dir != "train":
                print(f"[msrs] no babble wavs in {bdir}: babble is built from the training set's audio "
                      f"(data.babble_fallback=train)", flush=True)
            return babble_from_wavs(train_set.audio_paths(), seed=int(self.cfg.seed))
        return load_babble_bank(bdir)          # raises the how-to error

    def build_data(self) -> None:
        cfg = self.cfg
        d = cfg.data
        if d.corpus not in CORPORA:
            raise ValueError(f"data.corpus={d.corpus!r}; valid choices: {CORPORA}")
        if d.units not in UNITS:
            raise ValueError(f"data.units={d.units!r}; valid choices: {UNITS}")
        if d.babble_fallback not in ("train", "error"):
            raise ValueError(f"data.babble_fallback={d.babble_fallback!r}; valid choices: train, error")
        self.root = self._dataset_root()
        self.tok = self.build_tokenizer()
        self.units = self._units()
        needs_babble = cfg.noise == "babble" and self.mode != "vsr" and (
            cfg.snr is not None or any(_snr_value(s) is not None for s in cfg.test_snrs))
        snr = cfg.snr
        if snr is not None and not isinstance(snr, (int, float)):
            snr = [float(s) for s in snr]
        noise = cfg.noise if self.mode != "vsr" else "none"
        self.babble, self.babble_source = None, None
        train_noise = noise if snr is not None and self.mode != "vsr" else "none"
        if needs_babble:
            probe = self.dataset(d.train_labels, "none", None, int(cfg.seed))
            self.babble = self._babble(probe)
        self.train_set = self.dataset(d.train_labels, train_noise, snr if self.mode != "vsr" else None, int(cfg.seed))
        self.val_set = self.dataset(d.val_labels, "none", None, int(cfg.seed) + 1)
        # every test list is read and checked now, before any training
        self.test_labels = self._test_labels()
        self.test_sets = {k: self.dataset(v, "none", None, int(cfg.seed) + 2) for k, v in self.test_labels.items()}
        self.skipped = {"train": self.train_set.skipped, "val": self.val_set.skipped,
                        **{k: v.skipped for k, v in self.test_sets.items()}}
        self.viseme_ceiling = None
        man = self.root / "manifest.json"
        if man.is_file():
            self.viseme_ceiling = json.loads(man.read_text()).get("viseme_ceiling_wer")

    # ------------------------------------------------------------------ model / method
    def build_model(self) -> AVSRModel:
        m = self.cfg.model
        return AVSRModel(self.mode, self.tok.vocab_size, frontend_width=int(m.frontend_width),
                         frontend_blocks=tuple(m.frontend_blocks), fusion_hidden=int(m.fusion_hidden),
                         d_model=int(m.d_model), heads=int(m.heads), layers=int(m.layers), ffn=int(m.ffn),
                         decoder_layers=int(m.decoder_layers), kernel_size=int(m.kernel_size),
                         dropout=float(m.dropout), ctc_weight=float(m.ctc_weight),
                         label_smoothing=float(m.label_smoothing), sos_eos=int(self.tok.sos),
                         blank=int(self.tok.blank), stem_kernel=tuple(m.stem_kernel),
                         modality_dropout=float(m.modality_dropout),
                         audio_drop_share=float(m.audio_drop_share)).to(self.device)

    def targets(self) -> list[str]:
        """Parameter / module globs MSRS (and the static/SET/RigL baselines) act on: ``targets`` plus the
        decoder when ``mask_decoder``; only the parts the mode has (no audio front-end in VSR)."""
        names = {n for n, _ in self.model.named_modules()}
        globs = [g for g in self.cfg.targets if any(_glob_hits(g, n) for n in names)]
        if self.cfg.mask_decoder:
            globs.append("asr.decoder.*")
        if not globs:
            raise ValueError(f"targets={list(self.cfg.targets)} match no module of the {self.mode} model")
        return globs

    def _optimizer(self, groups) -> torch.optim.Optimizer:
        o = self.cfg.optim
        return torch.optim.AdamW(groups, lr=float(o.lr), weight_decay=float(o.weight_decay), betas=tuple(o.betas))

    def lr_at(self, step: int) -> float:
        o = self.cfg.optim
        warm = max(1, int(float(o.warmup_fraction) * self.max_steps))
        return warmup_cosine(step, float(o.lr), warm, self.max_steps, float(o.min_lr_fraction))

    def _switched_state(self) -> dict | None:
        """The MSRS controller state of a checkpoint taken after the switch (else None)."""
        ck = self.run_info.ckpt
        if ck is None:
            return None
        task = ck["extra"]["loop"]["per_rank"][self.rank]["task"]
        st = task.get("msrs")
        return st if st is not None and st.get("switch_step") is not None else None

    def build_method(self) -> None:
        """Model-side objects of the method: optimizer(s), MSRS controller or sparsity engine. A run resumed
        past the MSRS switch is rebuilt in its post-switch shape (no masks; MSRS-S with its hardened masks)."""
        cfg = self.cfg
        targets = self.targets()
        self.msrs = self.sparsity = None
        self.extra_optimizers = []
        switched = self._switched_state()
        if self.method in ("msrs_d", "msrs_s") and switched is None:
            c = cfg.msrs
            beta = OmegaConf.to_container(c.beta) if not isinstance(c.beta, (int, float)) else c.beta
            if isinstance(beta, dict):
                frac = float(beta.pop("fraction", 1.0))
                beta = make_beta(beta, max(1, int(frac * self.max_steps)))
            self.msrs = MSRSController(
                self.model, targets, variant=self.method[-1], lam=float(c.lam), beta=beta,
                init_logit=float(c.init_logit), threshold=float(c.threshold), check_every=int(c.check_every),
                window=int(c.window), tol=float(c.tol),
                density_tol=None if c.density_tol is None else float(c.density_tol),
                max_density=None if c.max_density is None else float(c.max_density),
                min_steps=int(float(c.min_fraction) * self.max_steps),
                force_at=max(1, int(float(c.force_fraction) * self.max_steps)) if c.force_fraction is not None else None)
            logits = {id(p) for p in self.msrs.mask_parameters()}
            main = [p for p in self.model.parameters() if id(p) not in logits]
            if c.mask_optimizer == "adam":
                self.optimizer = self._optimizer([{"params": main},
                                                  {"params": self.msrs.mask_parameters(),
                                                   "lr_fixed": float(c.mask_lr), "weight_decay": 0.0}])
            elif c.mask_optimizer == "sgd":
                # plain SGD on the logits: their steps shrink as sigmoid(beta * logits) saturates, so the
                # mask freezes as beta grows (Adam would rescale the vanishing gradients back up)
                self.optimizer = self._optimizer([{"params": main}])
                self.extra_optimizers = [torch.optim.SGD(self.msrs.mask_parameters(), lr=float(c.mask_lr),
                                                         momentum=float(c.mask_momentum))]
            else:
                raise ValueError(f"msrs.mask_optimizer={c.mask_optimizer!r}; valid choices: adam, sgd")
        elif self.method in ("msrs_d", "msrs_s"):     # resuming past the switch: same order as switch()
            self.optimizer = self._optimizer([{"params": [p for _, p in sorted(self.model.named_parameters(),
                                                                                key=lambda t: t[0])]}])
            self.msrs = MSRSController.restore_switched(self.model, switched, self.method[-1], self.optimizer,
                                                        self.run_info.ckpt["states"].get("sparsity"))
            self.sparsity = self.msrs.sparsity
        else:
            self.optimizer = self._optimizer([{"params": list(self.model.parameters())}])
            if self.method in ("static", "set", "rigl"):
                s = cfg.sparse
                grow = {"static": "none", "set": "random", "rigl": "gradient"}[self.method]
                drop = OmegaConf.to_container(s.drop_fraction) if not isinstance(s.drop_fraction, (int, float)) \
                    else s.drop_fraction
                self.sparsity = build_sparsity(
                    self.model, total_steps=self.max_steps, density=float(s.density), init=s.init, grow=grow,
                    update_every=int(s.update_every), targets=targets, seed=int(cfg.seed),
                    end_step_fraction=float(s.end_step_fraction) if grow != "none" else None,
                    drop_fraction=drop if grow != "none" else 0.0).attach(self.optimizer)

    # ------------------------------------------------------------------ run
    def run(self) -> dict:
        cfg = self.cfg
        self.run_info = prepare_run(self.settings, app="msrs", variant=f"{cfg.data.corpus}-{self.mode}-{self.method}")
        try:
            if self.run_info.finished:
                if self.run_info.is_main:
                    print(f"[msrs] {self.run_info.run_dir} already holds this finished run; its results are kept", flush=True)
                return self.run_info.summary
            self.rank, self.world, self.device = self.run_info.dist.rank, self.run_info.dist.world_size, self.run_info.device
            self.is_main = self.run_info.is_main
            if self.device.type == "cpu" and cfg.cpu_threads:
                torch.set_num_threads(int(cfg.cpu_threads))
            self.build_data()
            torch.manual_seed(int(cfg.seed))
            self.model = self.build_model()
            self.build_method()
            self.task = MSRSTask(self)
            loop = TrainLoop(self.run_info, self.model, self.optimizer, self.task, lr_schedule=self.lr_at,
                             sparsity=self.sparsity, extra_optimizers=self.extra_optimizers)
            summary = loop.run()
            if self.is_main:
                print(json.dumps({k: summary.get(k) for k in ("variant", "seed", "steps", "train_cpu_s", "test_wer",
                                                              "test_unseen_wer", "switch_step", "switch_forced",
                                                              "density")}), flush=True)
            return summary
        finally:
            cleanup()
