"""Recipe: the one place the Hydra config becomes objects (corpus, loaders, model, method, loop).

Methods: ``dense``, ``curriculum`` (shortest utterances first, then all), ``msrs_d`` / ``msrs_s`` (soft masks
with L1 on the encoder until the mask is stable, then dense / hardened-sparse), ``static`` (random ERK
mask), ``set`` and ``rigl`` (dynamic sparse training) at ``sparse.density``.

Writes to ``out_dir``: ``results.json`` (WER per test SNR, training time, curves, mask history,
stabilization step, gradient norms), ``curve.png`` (val WER vs training wall-clock), ``mask_distance.png``
(MSRS), ``grad_norms.png``, checkpoints ``ckpt/step-*.pt`` (exact resume).
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader

from core.metrics import cer, wer
from core.regularizers.build import make_beta
from core.schedules import warmup_cosine
from core.speech import CharTokenizer
from core.speech.spm_tokenizer import SentencePieceTokenizer
from core.speech.word_tokenizer import WordTokenizer
from core.sparse import DynamicSparsity
from core.sparse.build import build_sparsity
from core.training import (capture_state, cleanup, init_distributed, is_main_process, latest_checkpoint,
                           load_checkpoint, progress, restore_state, save_checkpoint, seed_everything)
from core.training.distributed import barrier, broadcast_object

from .controller import MSRSController
from .data import AVDataset, babble_from_wavs, build_av_corpus, build_grid_corpus, collate_av, load_babble_bank
from .data.grid_words import VOCABULARY
from .models import MODES, AVSRModel
from .plots import plot_curve, plot_grad_norms, plot_mask_history

__all__ = ["Recipe", "METHODS", "group_of"]

METHODS = ("dense", "curriculum", "msrs_d", "msrs_s", "static", "set", "rigl")
CORPORA = ("grid", "open")
UNITS = ("auto", "char", "word", "spm")
_MODALITY = {"vsr": "video", "asr": "audio", "avsr": "audiovisual"}


def group_of(param_name: str) -> str:
    """Layer group for gradient-norm logging: front-end parts, encoder blocks, heads."""
    n = param_name.replace("module.", "").replace(".parametrizations.weight.original", ".weight")
    parts = n.split(".")
    if parts[0] in ("video", "audio"):
        return f"{parts[0]}.{parts[1]}" if parts[1] == "stem" else f"{parts[0]}.trunk"
    if parts[0] == "fusion":
        return "fusion"
    if n.startswith("asr.encoder.conformer.conformer_layers."):
        return f"enc.block{parts[4]}"
    if n.startswith("asr.encoder."):
        return "enc.input"
    if n.startswith("asr.decoder."):
        return "decoder"
    return "heads"


def _glob_hits(glob: str, name: str) -> bool:
    import fnmatch

    return fnmatch.fnmatchcase(name, glob) or fnmatch.fnmatchcase(name + ".weight", glob)


def _snr_value(s):
    if s is None or (isinstance(s, str) and s.lower() == "clean"):
        return None
    return float(s)


class Recipe:
    def __init__(self, cfg: DictConfig) -> None:
        self.cfg = cfg
        self.mode = cfg.mode
        self.method = cfg.method
        if self.mode not in MODES:
            raise ValueError(f"mode={self.mode!r}; valid choices: {MODES}")
        if self.method not in METHODS:
            raise ValueError(f"method={self.method!r}; valid choices: {METHODS}")
        self.max_steps = int(cfg.trainer.max_steps or cfg.train.max_steps)
        if self.max_steps < 1:
            raise ValueError(f"train.max_steps={self.max_steps} must be >= 1")
        self.out_dir = Path(cfg.out_dir)

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

    def _dataset(self, labels: str, noise: str, snr, seed: int) -> AVDataset:
        d = self.cfg.data
        return AVDataset(self.root, labels, _MODALITY[self.mode], tokenizer=self.tok, label_format=self._label_format(),
                         noise=noise if snr is not None else "none", snr_db=snr, babble_bank=self.babble,
                         tolerance_frames=int(d.tolerance_frames), on_error=d.on_error, seed=seed,
                         max_frames=d.max_frames, frame_size=int(d.frame_size), lowercase=bool(d.lowercase),
                         cache=bool(d.cache))

    def _test_sets(self) -> dict[str, str]:
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
        needs_babble = cfg.noise == "babble" and self.mode != "vsr" and (
            cfg.snr is not None or any(_snr_value(s) is not None for s in cfg.test_snrs))
        snr = cfg.snr
        if snr is not None and not isinstance(snr, (int, float)):
            snr = [float(s) for s in snr]
        noise = cfg.noise if self.mode != "vsr" else "none"
        self.babble, self.babble_source = None, None
        train_noise = noise if snr is not None and self.mode != "vsr" else "none"
        if needs_babble:
            probe = self._dataset(d.train_labels, "none", None, int(cfg.seed))
            self.babble = self._babble(probe)
        self.train_set = self._dataset(d.train_labels, train_noise, snr if self.mode != "vsr" else None, int(cfg.seed))
        self.val_set = self._dataset(d.val_labels, "none", None, int(cfg.seed) + 1)
        # every test list is read and checked now, before any training
        self.test_sets = {k: self._dataset(v, "none", None, int(cfg.seed) + 2) for k, v in self._test_sets().items()}
        self.skipped = {"train": self.train_set.skipped, "val": self.val_set.skipped,
                        **{k: v.skipped for k, v in self.test_sets.items()}}
        self.viseme_ceiling = None
        man = self.root / "manifest.json"
        if man.is_file():
            self.viseme_ceiling = json.loads(man.read_text()).get("viseme_ceiling_wer")

    def _epoch_batches(self, epoch: int, step: int) -> list[list[int]]:
        """This rank's batches of epoch ``epoch`` (deterministic in seed and epoch; the curriculum phase is
        decided by the step the epoch starts at)."""
        n = len(self.train_set)
        ids = np.arange(n)
        if self.method == "curriculum" and step < self.cfg.curriculum.phase_fraction * self.max_steps:
            lengths = np.asarray(self.train_set.lengths())
            k = max(1, int(round(self.cfg.curriculum.short_fraction * n)))
            ids = np.argsort(lengths, kind="stable")[:k]
        rng = np.random.default_rng([int(self.cfg.seed), epoch])
        ids = ids[rng.permutation(len(ids))]
        bs, W, r = int(self.cfg.trainer.batch_size), self.world, self.rank
        per = bs * W
        nb = max(1, math.ceil(len(ids) / per))
        ids = np.resize(ids, nb * per)           # pad by repeating so every rank gets equal batches
        return [ids[b * per + r * bs: b * per + (r + 1) * bs].tolist() for b in range(nb)]

    # ------------------------------------------------------------------ model / method
    def build_model(self) -> AVSRModel:
        m = self.cfg.model
        return AVSRModel(self.mode, self.tok.vocab_size, frontend_width=int(m.frontend_width),
                         frontend_blocks=tuple(m.frontend_blocks), fusion_hidden=int(m.fusion_hidden),
                         d_model=int(m.d_model), heads=int(m.heads), layers=int(m.layers), ffn=int(m.ffn),
                         decoder_layers=int(m.decoder_layers), kernel_size=int(m.kernel_size),
                         dropout=float(m.dropout), ctc_weight=float(m.ctc_weight),
                         label_smoothing=float(m.label_smoothing), sos_eos=int(self.tok.sos),
                         blank=int(self.tok.blank), stem_kernel=tuple(m.stem_kernel)).to(self.device)

    def _optimizer(self, groups) -> torch.optim.Optimizer:
        o = self.cfg.optim
        return torch.optim.AdamW(groups, lr=float(o.lr), weight_decay=float(o.weight_decay), betas=tuple(o.betas))

    def _lr(self, step: int) -> float:
        o = self.cfg.optim
        warm = max(1, int(o.warmup_fraction * self.max_steps))
        return warmup_cosine(step, float(o.lr), warm, self.max_steps, float(o.min_lr_fraction))

    def build_method(self, ckpt: dict | None) -> None:
        cfg = self.cfg
        targets = self.targets()
        self.msrs = self.sparsity = self.mask_opt = None
        extra = ckpt["extra"] if ckpt else {}
        switched = extra.get("msrs_switched", False)
        if self.method in ("msrs_d", "msrs_s") and not switched:
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
                min_steps=int(c.min_fraction * self.max_steps),
                force_at=max(1, int(c.force_fraction * self.max_steps)) if c.force_fraction is not None else None)
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
                self.mask_opt = torch.optim.SGD(self.msrs.mask_parameters(), lr=float(c.mask_lr),
                                                momentum=float(c.mask_momentum))
            else:
                raise ValueError(f"msrs.mask_optimizer={c.mask_optimizer!r}; valid choices: adam, sgd")
        elif self.method in ("msrs_d", "msrs_s"):     # resuming past the switch: same order as switch()
            self.optimizer = self._optimizer([{"params": [p for _, p in sorted(self.model.named_parameters(),
                                                                                key=lambda t: t[0])]}])
            st = ckpt["states"]
            self.msrs = MSRSController.restore_switched(self.model, st["msrs"], self.method[-1], self.optimizer,
                                                        st.get("sparsity"))
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

    def _wrap(self) -> None:
        self.ddp = self.model
        if self.world > 1:
            self.ddp = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=False)

    # ------------------------------------------------------------------ evaluation
    def _to(self, batch: dict) -> dict:
        return {k: v.to(self.device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}

    @torch.no_grad()
    def evaluate(self, dataset: AVDataset, limit: int | None = None, method: str = "greedy") -> tuple[float, float]:
        """(WER, CER) of ``method`` decoding on the first ``limit`` items."""
        self.model.eval()
        n = len(dataset) if limit is None else min(limit, len(dataset))
        loader = DataLoader(torch.utils.data.Subset(dataset, range(n)), batch_size=int(self.cfg.trainer.batch_size),
                            collate_fn=collate_av, num_workers=int(self.cfg.trainer.num_workers))
        refs, hyps = [], []
        for batch in loader:
            batch = self._to(batch)
            with self._autocast():
                out = self.model.decode(batch, method, int(self.cfg.train.beam))
            hyps += [self.tok.decode(h) for h in out]
            refs += batch["texts"]
        self.model.train()
        return wer(refs, hyps), cer(refs, hyps)

    def _autocast(self):
        if self.amp:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return torch.autocast("cpu", enabled=False)

    # ------------------------------------------------------------------ loop
    def run(self) -> dict:
        cfg = self.cfg
        info = init_distributed(device=None if cfg.trainer.device == "auto" else cfg.trainer.device)
        self.rank, self.world, self.device = info.rank, info.world_size, torch.device(info.device)
        if self.device.type == "cpu":
            if cfg.cpu_threads:
                torch.set_num_threads(int(cfg.cpu_threads))
        self.amp = bool(cfg.trainer.amp) and self.device.type == "cuda"
        try:
            return self._run()
        finally:
            cleanup()

    def _save(self, step: int, epoch: int, pos: int) -> None:
        extra = {"epoch_pos": pos, "train_time": self.train_time, "log": self.log,
                 "msrs_switched": self.msrs is not None and not self.msrs.active}
        state = capture_state(step=step, epoch=epoch, model=self.model, optimizer=self.optimizer,
                              sparsity=self.sparsity, msrs=self.msrs, mask_optimizer=self.mask_opt, extra=extra)
        save_checkpoint(self.out_dir / "ckpt" / f"step-{step:07d}.pt", state)

    def _run(self) -> dict:
        cfg = self.cfg
        seed_everything(int(cfg.seed))
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.build_data()
        ckpt = None
        if cfg.trainer.resume not in ("never", None):
            path = latest_checkpoint(self.out_dir / "ckpt") if cfg.trainer.resume == "auto" else Path(cfg.trainer.resume)
            if path is not None:
                ckpt = load_checkpoint(path)
        torch.manual_seed(int(cfg.seed))
        self.model = self.build_model()
        self.build_method(ckpt)
        self.log = {"train": [], "val": [], "grad_norms": [], "events": []}
        self.train_time, step, epoch, pos = 0.0, 0, 0, 0
        if ckpt is not None:
            restore_state(ckpt, model=self.model, optimizer=self.optimizer, sparsity=self.sparsity,
                          msrs=self.msrs if self.msrs is not None and self.msrs.active else None,
                          mask_optimizer=self.mask_opt)
            step, epoch = ckpt["step"], ckpt["epoch"]
            pos, self.train_time, self.log = ckpt["extra"]["epoch_pos"], ckpt["extra"]["train_time"], ckpt["extra"]["log"]
        self._wrap()
        self.model.train()
        grad_until = max(1, int(cfg.train.grad_log_fraction * self.max_steps))
        bar = progress(total=self.max_steps, desc=f"{self.mode}-{self.method}")
        bar.update(step)
        while step < self.max_steps:
            self.train_set.set_epoch(epoch)
            batches = self._epoch_batches(epoch, step)
            loader = DataLoader(self.train_set, batch_sampler=batches[pos:], collate_fn=collate_av,
                                num_workers=int(cfg.trainer.num_workers))
            for batch in loader:
                t0 = time.perf_counter()
                batch = self._to(batch)
                lr = self._lr(step)
                for g in self.optimizer.param_groups:
                    g["lr"] = g.get("lr_fixed", lr)
                with self._autocast():
                    out = self.ddp(batch)
                    loss = out["loss"]
                    if self.msrs is not None and self.msrs.active:
                        loss = loss + self.msrs.penalty().to(loss)
                self.optimizer.zero_grad(set_to_none=True)
                if self.mask_opt is not None:
                    self.mask_opt.zero_grad(set_to_none=True)
                loss.backward()
                if step < grad_until and step % int(cfg.train.grad_log_every) == 0:
                    self._log_grads(step)
                if cfg.trainer.grad_clip:
                    torch.nn.utils.clip_grad_norm_([p for g in self.optimizer.param_groups for p in g["params"]],
                                                   float(cfg.trainer.grad_clip))
                self.optimizer.step()
                if self.mask_opt is not None:
                    self.mask_opt.step()
                if self.sparsity is not None:
                    self.sparsity.step()
                step += 1
                pos += 1
                if self.msrs is not None and self.msrs.active and self.msrs.after_step(step):
                    self.optimizer = self.msrs.switch(step, self.optimizer)
                    self.mask_opt = None
                    self.sparsity = self.msrs.sparsity
                    self._wrap()
                    self.log["events"].append({"step": step, "event": "switch", "forced": self.msrs.forced,
                                               "density": self.msrs.final_density})
                if self.device.type == "cuda":
                    torch.cuda.synchronize()
                self.train_time += time.perf_counter() - t0
                bar.update(1)
                if step % int(cfg.trainer.log_every) == 0:
                    self.log["train"].append({"step": step, "loss": float(out["loss"].detach()), "lr": lr,
                                              "time": self.train_time})
                if step % int(cfg.train.eval_every) == 0 or step == self.max_steps:
                    self._validate(step)
                if step % int(cfg.train.checkpoint_every) == 0 or step == self.max_steps:
                    self._save(step, epoch if pos < len(batches) else epoch + 1, pos % len(batches))
                if step >= self.max_steps:
                    break
            if pos >= len(batches):
                epoch, pos = epoch + 1, 0
        bar.close()
        return self._finish(step)

    def _log_grads(self, step: int) -> None:
        sq: dict[str, float] = {}
        for name, p in self.model.named_parameters():
            if p.grad is None or "logits" in name:
                continue
            g = group_of(name)
            sq[g] = sq.get(g, 0.0) + float(p.grad.detach().float().pow(2).sum())
        self.log["grad_norms"].append({"step": step, **{k: math.sqrt(v) for k, v in sq.items()}})

    def _validate(self, step: int) -> None:
        if is_main_process():
            w, c = self.evaluate(self.val_set, int(self.cfg.train.max_val))
            dens = self.sparsity.density() if self.sparsity is not None else (
                self.msrs.masks.density() if self.msrs is not None and self.msrs.active else 1.0)
            self.log["val"].append({"step": step, "time": self.train_time, "wer": w, "cer": c, "density": dens})
        barrier()

    def _finish(self, step: int) -> dict:
        cfg = self.cfg
        res: dict = {"mode": self.mode, "method": self.method, "steps": step, "train_time_s": self.train_time,
                     "final_val_wer": self.log["val"][-1]["wer"] if self.log["val"] else None,
                     "final_val_cer": self.log["val"][-1]["cer"] if self.log["val"] else None,
                     "val": self.log["val"], "train": self.log["train"], "grad_norms": self.log["grad_norms"],
                     "events": self.log["events"], "skipped": {k: len(v) for k, v in self.skipped.items()},
                     "config": OmegaConf.to_container(cfg, resolve=True)}
        if self.sparsity is not None:
            res["density"] = self.sparsity.density()
        if self.msrs is not None:
            res["mask_history"] = self.msrs.history
            res["stable_step"] = self.msrs.stable_step
            res["switch_step"] = self.msrs.switch_step
            res["switch_forced"] = self.msrs.forced
            res["mask_density_at_switch"] = self.msrs.final_density
        res["viseme_ceiling_wer"] = self.viseme_ceiling
        res["babble_source"] = self.babble_source
        res["units"] = self._units()
        if is_main_process():
            for name, labels in self._test_sets().items():
                test_wer, test_cer = {}, {}
                for s in cfg.test_snrs:
                    snr = _snr_value(s)
                    if snr is not None and self.mode == "vsr":
                        continue        # video-only: acoustic noise does not change the input
                    ds = self.test_sets[name] if snr is None else self._dataset(labels, cfg.noise, snr,
                                                                                 int(cfg.seed) + 2)
                    key = "clean" if snr is None else f"{snr:g}"
                    test_wer[key], test_cer[key] = self.evaluate(ds, None, cfg.train.decode)
                res[f"{name}_wer"], res[f"{name}_cer"] = test_wer, test_cer
            (self.out_dir / "results.json").write_text(json.dumps(res, indent=1))
            plot_curve({self.method: res["val"]}, self.out_dir / "curve.png", title=f"{self.mode}: val WER")
            if res["grad_norms"]:
                plot_grad_norms(res["grad_norms"], self.out_dir / "grad_norms.png", title=f"{self.mode}-{self.method}")
            if self.msrs is not None and self.msrs.history:
                plot_mask_history(self.msrs.history, res.get("stable_step"), res.get("switch_step"),
                                  self.out_dir / "mask_distance.png")
            print(json.dumps({k: res[k] for k in ("mode", "method", "steps", "train_time_s", "final_val_wer",
                                                    "final_val_cer", "test_wer", "test_cer", "test_unseen_wer",
                                                    "switch_step", "switch_forced") if k in res}))
        barrier()
        return res
