"""Recipe: the one place the Hydra config becomes objects. ``settings_from_config(cfg)`` reads every key once into
frozen settings (``settings.py``: one validation per key, unread keys are errors, nothing touched on disk);
``Recipe(cfg).run()`` builds the run, corpus, loaders, model and method from those settings only and hands
them to the shared loop (``core.training.loop.TrainLoop``) with ``MSRSTask`` (``task.py``).

Methods: ``dense``, ``curriculum`` (shortest utterances first, then all), ``msrs_d`` / ``msrs_s`` (soft masks
with L1 on the ``targets`` -- ``core.regularizers.SoftMaskL1`` in the loop's regularizer slot -- until the mask
has settled, then dense / hardened-sparse), ``static`` (random mask), ``set`` and ``rigl`` (dynamic sparse
training) at ``sparse.density`` with ERK allocation, or with given per-layer densities (``sparse.init=given``).

The run folder (``run_dir``; a unique ``outputs/msrs/<time>-<hash>`` when null) holds the loop's
``checkpoints/``, ``metrics.jsonl`` and ``summary.json`` (test WER per set and SNR, validation curve, MSRS
switch facts, per-layer densities, gradient norms), and ``curve.png``, ``grad_norms.png`` and, for MSRS,
``mask_timeline.png``, ``layer_density.png``, ``mask_histogram.png``.
"""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import torch

from core.regularizers import MaskStability, SoftMaskL1, SoftMasks
from core.schedules import Cosine, warmup_cosine
from core.sparse import DynamicSparsity
from core.speech import CharTokenizer
from core.speech.spm_tokenizer import SentencePieceTokenizer
from core.speech.word_tokenizer import WordTokenizer
from core.training import progress
from core.training.distributed import barrier, broadcast_object, cleanup, is_main_process
from core.training.loop import TrainLoop
from core.training.run import Run, prepare_run

from .controller import MSRSController
from .data import AVDataset, babble_from_wavs, build_av_corpus, build_grid_corpus, load_babble_bank
from .data.grid_words import VOCABULARY
from .models import AVSRModel
from .settings import FINGERPRINT_EXCLUDE, METHODS, MSRSSettings, read_settings
from .task import MSRSData, MSRSTask

__all__ = ["Recipe", "settings_from_config", "METHODS", "FINGERPRINT_EXCLUDE", "build_model", "mask_targets",
           "KEEP_MASK_HISTORY_MAX"]

# the stability detector keeps every check's hard mask (for each check's distance to the switch mask) only while
# the masked weights are at most this many: at auto_avsr's size a mask is ~170 MB as bools
KEEP_MASK_HISTORY_MAX = 20_000_000


def settings_from_config(cfg) -> MSRSSettings:
    """The composed config (a DictConfig or a plain nested dict) as frozen, validated settings."""
    from apps.common.hydra_config import to_plain

    return read_settings(to_plain(cfg))


def _glob_hits(glob: str, name: str) -> bool:
    import fnmatch

    return fnmatch.fnmatchcase(name, glob) or fnmatch.fnmatchcase(name + ".weight", glob)


def build_model(s: MSRSSettings, vocab: int, sos_eos: int, blank: int) -> AVSRModel:
    m = s.model
    return AVSRModel(s.mode, vocab, frontend_width=m.frontend_width, frontend_blocks=m.frontend_blocks,
                     fusion_hidden=m.fusion_hidden, d_model=m.d_model, heads=m.heads, layers=m.layers, ffn=m.ffn,
                     decoder_layers=m.decoder_layers, kernel_size=m.kernel_size, dropout=m.dropout,
                     ctc_weight=m.ctc_weight, label_smoothing=m.label_smoothing, sos_eos=sos_eos, blank=blank,
                     stem_kernel=m.stem_kernel, modality_dropout=m.modality_dropout,
                     audio_drop_share=m.audio_drop_share)


def mask_targets(s: MSRSSettings, model: torch.nn.Module) -> list[str]:
    """Parameter / module globs MSRS (and the static/SET/RigL baselines) act on: ``targets`` plus the decoder when
    ``mask_decoder``; only the parts the mode has (no audio front-end in VSR)."""
    names = {n for n, _ in model.named_modules()}
    globs = [g for g in s.targets if any(_glob_hits(g, n) for n in names)]
    if s.mask_decoder:
        globs.append("asr.decoder.*")
    if not globs:
        raise ValueError(f"targets={list(s.targets)} match no module of the {s.mode} model")
    return globs


class Recipe:
    """``Recipe(cfg).run() -> summary``; ``cfg`` is read once, here, into ``self.settings``."""

    def __init__(self, cfg) -> None:
        self.settings = settings_from_config(cfg)
        s = self.settings
        d = s.data.dataset_dir
        if d is not None and not d.is_dir():        # before any run folder is made
            raise FileNotFoundError(f"data.dataset_dir={d} does not exist")
        if s.method in ("static", "set", "rigl") and s.sparse.init == "given" and s.sparse.layer_densities is None:
            raise ValueError("sparse.init=given needs sparse.layer_densities=[...] (one density per target layer, e.g. "
                             "an MSRS-S run's layer_densities_list, handed over by a comparison set's `needs`)")

    # ------------------------------------------------------------------ data
    def _dataset_root(self) -> Path:
        d, s = self.settings.data, self.settings
        if d.dataset_dir is not None:
            if not d.dataset_dir.is_dir():
                raise FileNotFoundError(f"data.dataset_dir={d.dataset_dir} does not exist")
            return d.dataset_dir
        root = None
        if is_main_process():
            bar = lambda it, **kw: progress(it, **kw)  # noqa: E731
            if d.corpus == "grid":
                root = build_grid_corpus(d.root, d.size, s.seed, num_speakers=d.num_speakers,
                                         heldout_speakers=d.heldout_speakers, frame_size=d.frame_size, progress=bar)
            else:
                root = build_av_corpus(d.root, d.size, s.seed, max_words=d.max_words, num_speakers=d.num_speakers,
                                       progress=bar)
            root = str(root)
        barrier()
        return Path(broadcast_object(root))

    def _tokenizer(self):
        d = self.settings.data
        if d.units == "char":
            return CharTokenizer(unk=d.unk)
        if d.units == "word":
            if d.word_list:
                path = Path(d.word_list)
                if not path.is_file():
                    raise FileNotFoundError(f"data.word_list={path} does not exist (one word per line)")
                return WordTokenizer(path.read_text().split(), unk=d.unk)
            return WordTokenizer(VOCABULARY, unk=d.unk)
        return SentencePieceTokenizer(d.spm_model, d.spm_units, lowercase=d.lowercase)

    def build_data(self) -> MSRSData:
        s, d = self.settings, self.settings.data
        root = self._dataset_root()
        tok = self._tokenizer()

        def dataset(labels: str, noise: str, snr, seed: int, babble=None) -> AVDataset:
            return AVDataset(root, labels, s.modality, tokenizer=tok, label_format=d.label_format,
                             noise=noise if snr is not None else "none", snr_db=snr, babble_bank=babble,
                             tolerance_frames=d.tolerance_frames, on_error=d.on_error, seed=seed,
                             max_frames=d.max_frames, frame_size=d.frame_size, lowercase=d.lowercase, cache=d.cache,
                             allow_symlinks=d.allow_symlinks)

        snr = list(s.snr) if isinstance(s.snr, tuple) else s.snr
        needs_babble = s.noise == "babble" and s.mode != "vsr" and (
            snr is not None or any(x is not None for x in s.eval.test_snrs))
        babble, source = None, None
        if needs_babble:
            babble, source = self._babble(root, dataset(d.train_labels, "none", None, s.seed))
        train = dataset(d.train_labels, s.noise if snr is not None else "none", snr, s.seed, babble)
        val = dataset(d.val_labels, "none", None, s.seed + 1)
        labels = {"test": d.test_labels}
        if d.corpus == "grid" and d.embedded:
            labels["test_unseen"] = "labels/test_unseen.csv"
        tests = {k: dataset(v, "none", None, s.seed + 2) for k, v in labels.items()}   # read and checked now
        ceiling = None
        man = root / "manifest.json"
        if man.is_file():
            ceiling = json.loads(man.read_text()).get("viseme_ceiling_wer")
        return MSRSData(train_set=train, val_set=val, test_sets=tests, tokenizer=tok, units=d.units,
                        noisy=lambda name, x: dataset(labels[name], s.noise, x, s.seed + 2, babble),
                        skipped={"train": train.skipped, "val": val.skipped, **{k: v.skipped for k, v in tests.items()}},
                        viseme_ceiling=ceiling, babble_source=source)

    def _babble(self, root: Path, train_set: AVDataset):
        """The babble bank: wavs in ``data.babble_dir``; if there are none, the training set's own audio
        (``data.babble_fallback=train``) or a how-to error (``error``)."""
        d = self.settings.data
        bdir = Path(d.babble_dir)
        bdir = bdir if bdir.is_absolute() else root / bdir
        if d.babble_dir != "train" and bdir.is_dir() and any(bdir.glob("*.wav")):
            return load_babble_bank(bdir), str(bdir)
        if d.babble_dir == "train" or d.babble_fallback == "train":
            if is_main_process() and d.babble_dir != "train":
                print(f"[msrs] no babble wavs in {bdir}: babble is built from the training set's audio "
                      f"(data.babble_fallback=train)", flush=True)
            return babble_from_wavs(train_set.audio_paths(), seed=self.settings.seed), "train"
        return load_babble_bank(bdir), None          # raises the how-to error

    # ------------------------------------------------------------------ method
    def lr_at(self, step: int) -> float:
        o = self.settings.optim
        warm = max(1, int(o.warmup_fraction * self.total_steps))
        return warmup_cosine(step, o.lr, warm, self.total_steps, o.min_lr_fraction)

    def _optimizer(self, params) -> torch.optim.Optimizer:
        o = self.settings.optim
        return torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay, betas=o.betas)

    def _regularizer(self, model, targets) -> SoftMaskL1:
        """The soft masks and their schedule (module docstring of ``core.regularizers.regularizer``)."""
        m, T = self.settings.msrs, self.total_steps
        masks = SoftMasks(model, targets, beta=m.beta_start, init_logit=m.bound, bound=m.bound)
        stab = MaskStability(window=m.window, tol=m.tol, density_tol=m.density_tol, max_density=m.max_density,
                             keep_history=masks.numel() <= KEEP_MASK_HISTORY_MAX)
        warm = int(self.settings.optim.warmup_fraction * T)          # never before the LR warm-up is over
        return SoftMaskL1(masks, lam=m.lam, beta_start=m.beta_start, beta_end=m.beta_end,
                          anneal_steps=max(1, int(m.anneal_fraction * T)), start_after=warm, start_below=m.start_wer,
                          allocation=m.allocation, density=m.density, stability=stab, lr=m.mask_lr)

    def build_method(self, model, run: Run) -> dict:
        """Optimizer(s), MSRS controller and its regularizer, or the sparsity engine. A run resumed past the MSRS
        switch (read through ``run.task_state()`` / ``run.state("sparsity")``) is rebuilt in its post-switch shape."""
        s, T = self.settings, self.total_steps
        targets = mask_targets(s, model)
        out = {"controller": None, "regularizer": None, "sparsity": None}
        task_state = run.task_state()
        rec = (task_state or {}).get("msrs")
        switched = rec is not None and rec.get("switch_step") is not None
        if s.is_msrs and not switched:
            m = s.msrs
            reg = self._regularizer(model, targets)
            ctrl = MSRSController(model, reg, variant=s.method[-1], check_every=m.check_every,
                                  min_steps=int(m.min_fraction * T),
                                  force_at=max(1, int(m.force_fraction * T)) if m.force_fraction is not None else None)
            logits = {id(p) for p in reg.parameters()}
            # the logits are trained by the regularizer's own Adam (mask_lr: a per-logit step whatever the gradient's
            # scale or the model's size), outside the model optimizer and its gradient clipping
            out["optimizer"] = self._optimizer([p for p in model.parameters() if id(p) not in logits])
            out.update(controller=ctrl, regularizer=reg)
        elif s.is_msrs:                      # resuming past the switch: same parameter order as switch()
            opt = self._optimizer([p for _, p in sorted(model.named_parameters(), key=lambda t: t[0])])
            ctrl = MSRSController.restore_switched(model, rec, s.method[-1], opt, run.state("sparsity"))
            out.update(optimizer=opt, controller=ctrl, sparsity=ctrl.sparsity)
        else:
            opt = self._optimizer(list(model.parameters()))
            out["optimizer"] = opt
            if s.method in ("static", "set", "rigl"):
                out["sparsity"] = self._baseline_sparsity(model, targets).attach(opt)
        return out

    def _baseline_sparsity(self, model, targets) -> DynamicSparsity:
        s, sp, T = self.settings, self.settings.sparse, self.total_steps
        grow = {"static": "none", "set": "random", "rigl": "gradient"}[s.method]
        end = max(1, int(round(sp.end_step_fraction * T)))
        kw = dict(grow=grow, update_every=sp.update_every, targets=targets, seed=s.seed,
                  end_step=end if grow != "none" else None,
                  drop_fraction=Cosine(sp.drop_start, sp.drop_end, end) if grow != "none" else 0.0)
        if sp.init == "given":
            # a random mask with exactly the given per-layer densities (a layer the MSRS-S mask emptied stays empty),
            # then the engine's own prune-and-regrow (SET / RigL) or nothing (static)
            from core.sparse.targets import select_parameters

            chosen = select_parameters(model, targets)
            if len(chosen) != len(sp.layer_densities):
                raise ValueError(f"sparse.layer_densities has {len(sp.layer_densities)} entries but the {s.mode} model "
                                 f"has {len(chosen)} target layers ({next(iter(chosen))} ...)")
            g = torch.Generator().manual_seed(s.seed)
            masks = {}
            for (name, t), d in zip(chosen.items(), sp.layer_densities):
                n = math.prod(t.shape)
                keep = torch.zeros(n, dtype=torch.bool)
                keep[torch.randperm(n, generator=g)[:int(round(d * n))]] = True
                masks[name] = keep.view(t.shape).to(t.param.device)
            return DynamicSparsity.from_masks(model, masks, **{k: v for k, v in kw.items() if k != "targets"})
        return DynamicSparsity(model, sp.density, init=sp.init, **kw)

    # ------------------------------------------------------------------ run
    def run(self) -> dict:
        s = self.settings
        run = prepare_run(dataclasses.replace(s.loop), app="msrs", variant=f"{s.data.corpus}-{s.mode}-{s.method}")
        self.run_dir, self.is_main = run.run_dir, run.is_main
        try:
            if run.finished:
                if run.is_main:
                    print(f"[msrs] {run.run_dir} already holds this finished run; its results are kept", flush=True)
                return run.summary
            if run.device.type == "cpu" and s.cpu_threads:
                torch.set_num_threads(s.cpu_threads)
            data = self.build_data()
            per = s.batch_size * run.dist.world_size
            self.total_steps = s.loop.max_steps if s.loop.max_steps is not None else \
                s.loop.epochs * max(1, math.ceil(len(data.train_set) / per))
            torch.manual_seed(s.seed)
            tok = data.tokenizer
            model = build_model(s, tok.vocab_size, int(tok.sos), int(tok.blank)).to(run.device)
            parts = self.build_method(model, run)
            task = MSRSTask(s, data, model, run, total_steps=self.total_steps, controller=parts["controller"],
                            sparsity=parts["sparsity"])
            loop = TrainLoop(run, model, parts["optimizer"], task, lr_schedule=self.lr_at, sparsity=parts["sparsity"],
                             regularizer=parts["regularizer"])
            return loop.run()
        finally:
            cleanup()
