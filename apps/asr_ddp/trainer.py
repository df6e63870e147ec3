"""The DDP-ASR training loop: pruned epochs, duration buckets, time pruning, CTC/attention, exact resume.

Plain arguments only (the recipe turns the config into these objects).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from core.data_pruning import DataPruner
from core.schedules import warmup_cosine
from core.metrics import cer, wer
from core.speech.datasets import ctc_min_frames
from core.speech.decoding import decode_batch
from core.speech.features import GlobalCMVN, SpecAugment
from core.speech.model import CTCAttentionModel, pad_targets
from core.speech.tokenizer import CharTokenizer
from core.training import checkpoint as ckpt_lib
from core.training.distributed import DistInfo, all_reduce_sum, barrier

from apps.asr_ddp.data.bucketing import BucketBatchSampler, bucket_batches
from apps.asr_ddp.data.store import FeatureStore
from apps.asr_ddp.data.time_pruning import TIME_UNITS, min_input_frames, time_keep_index

__all__ = ["TrainSettings", "ASRTrainer", "warmup_cosine_lr"]

FRAME_S = 0.01      # LogMel hop (10 ms)


@dataclass
class TrainSettings:
    epochs: int = 10
    lr: float = 2e-3
    warmup_steps: int = 100
    min_lr_ratio: float = 0.05
    weight_decay: float = 1e-2
    frame_budget: int = 6000           # padded frames per global batch... per rank batch (max_len * count)
    max_batch: int = 64
    grad_clip: float = 5.0
    time_keep: float = 1.0             # fraction of each kept utterance's frames that trains
    time_unit: str = "chunk"           # point | chunk
    chunk_frames: int = 20             # 200 ms chunks
    specaug: bool = True
    amp: bool = True                   # bf16 autocast on CUDA only
    seed: int = 0
    max_steps: int | None = None
    checkpoint_every_steps: int = 0    # 0: only at epoch ends
    keep_checkpoints: int = 2
    eval_method: str = "greedy"
    test_method: str = "greedy"
    beam: int = 4
    log_every: int = 10

    def __post_init__(self) -> None:
        if self.time_unit not in TIME_UNITS:
            raise ValueError(f"time_unit={self.time_unit!r}; valid choices: {', '.join(TIME_UNITS)}")
        if not 0.0 < self.time_keep <= 1.0:
            raise ValueError(f"time_keep={self.time_keep} must be in (0, 1]")
        if self.epochs < 1:
            raise ValueError(f"epochs={self.epochs} must be >= 1")


warmup_cosine_lr = warmup_cosine  # LR by global step (core.schedules)


class _ASRModule(nn.Module):
    """CMVN + SpecAugment + CTCAttentionModel in one module (what DDP wraps and checkpoints)."""

    def __init__(self, model: CTCAttentionModel, cmvn: GlobalCMVN, specaug: SpecAugment | None) -> None:
        super().__init__()
        self.model, self.cmvn, self.specaug = model, cmvn, specaug

    def forward(self, feats: Tensor, lens: Tensor, tgt: Tensor, tgt_lens: Tensor, weights: Tensor | None = None):
        x = self.cmvn(feats)
        mask = torch.arange(x.shape[1], device=x.device)[None] < lens[:, None]
        x = x * mask[..., None]
        if self.specaug is not None:
            x = self.specaug(x, lens)
        return self.model(x, lens, tgt, tgt_lens, weights)


class ASRTrainer:
    """Runs epochs of pruned training; rank 0 writes metrics.jsonl, summary.json, checkpoints and the plot."""

    def __init__(self, model: CTCAttentionModel, tokenizer: CharTokenizer, train: FeatureStore, dev: FeatureStore,
                 pruner: DataPruner, settings: TrainSettings, run_dir: str | Path, dist_info: DistInfo,
                 test: FeatureStore | None = None, variant: str = "", cmvn: GlobalCMVN | None = None) -> None:
        if pruner.num_items != len(train):
            raise ValueError(f"pruner has {pruner.num_items} items but the training set has {len(train)} utterances")
        self.s, self.tok, self.train, self.dev, self.test = settings, tokenizer, train, dev, test
        self.pruner, self.dist, self.variant = pruner, dist_info, variant
        self.run_dir = Path(run_dir)
        self.device = dist_info.device
        if cmvn is None:
            cmvn = GlobalCMVN(train.feats[0].shape[1]).fit(f.float() for f in train.feats)
        self.module = _ASRModule(model, cmvn, SpecAugment() if settings.specaug else None).to(self.device)
        self.model = model
        self.net = self.module
        if dist_info.world_size > 1:
            self.net = nn.parallel.DistributedDataParallel(
                self.module, device_ids=[dist_info.local_rank] if self.device.type == "cuda" else None)
        self.opt = torch.optim.AdamW(self.module.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
        self.sampler = BucketBatchSampler(pruner, train.lengths, settings.frame_budget, rank=dist_info.rank,
                                          world_size=dist_info.world_size, max_batch=settings.max_batch,
                                          seed=settings.seed)
        self.min_frames = [min_input_frames(ctc_min_frames(t), model.encoder.subsampling) for t in train.tokens]
        self.total_steps = self._estimate_total_steps()
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.train_s = 0.0
        self.train_cpu_s = 0.0                  # process CPU seconds of training (robust on a shared machine)
        self.audio_s = 0.0
        self.history: list[dict] = []
        self.amp = settings.amp and self.device.type == "cuda"

    # ------------------------------------------------------------------ schedule
    def _estimate_total_steps(self) -> int:
        """Steps the LR schedule spans: full-data batches per epoch x expected kept fraction, summed."""
        full = len(bucket_batches(range(len(self.train)), self.train.lengths, self.s.frame_budget,
                                  max_batch=self.s.max_batch, seed=self.s.seed, epoch=0))
        full = -(-full // self.dist.world_size)
        total = 0
        for e in range(self.s.epochs):
            if self.pruner.phase(e) in ("full", "warmup"):
                frac = 1.0
            elif self.pruner.policy == "infobatch":
                frac = 1.0 - 0.5 * self.pruner.infobatch_ratio
            else:
                frac = self.pruner.keep
            total += math.ceil(full * frac * self.s.time_keep)
        return max(1, total)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        return {"step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
                "train_s": self.train_s, "train_cpu_s": self.train_cpu_s, "audio_s": self.audio_s,
                "history": list(self.history)}

    def load_state_dict(self, sd: dict) -> None:
        self.step, self.epoch, self.batch_in_epoch = sd["step"], sd["epoch"], sd["batch_in_epoch"]
        self.train_s, self.audio_s, self.history = sd["train_s"], sd["audio_s"], list(sd["history"])
        self.train_cpu_s = sd.get("train_cpu_s", 0.0)

    def save(self) -> Path | None:
        state = ckpt_lib.capture_state(step=self.step, epoch=self.epoch, module=self.module, optimizer=self.opt,
                                       pruner=self.pruner, trainer=self)
        path = self.run_dir / "checkpoints" / f"step_{self.step:08d}.pt"
        out = ckpt_lib.save_checkpoint(path, state)
        if self.dist.rank == 0:
            old = sorted((self.run_dir / "checkpoints").glob("step_*.pt"))[:-self.s.keep_checkpoints]
            for p in old:
                p.unlink()
        return out

    def resume(self, path: str | Path) -> None:
        ck = ckpt_lib.load_checkpoint(path)
        ckpt_lib.restore_state(ck, module=self.module, optimizer=self.opt, pruner=self.pruner, trainer=self)

    # ------------------------------------------------------------------ batches
    def make_batch(self, ids: list[int], epoch: int, train: bool = True):
        """Item ids -> padded (B, T, 80) feats, (B,) lens, (B, U) targets, (B,) target lens (time-pruned)."""
        store = self.train if train else self.dev
        feats = []
        for i in ids:
            f = store.feats[i]
            if train and self.s.time_keep < 1.0:
                g = torch.Generator().manual_seed((self.s.seed * 1_000_003 + epoch) * 10_000_019 + i)
                idx = time_keep_index(f.shape[0], self.s.time_keep, self.s.time_unit,
                                      chunk_frames=self.s.chunk_frames, min_frames=self.min_frames[i], generator=g)
                f = f[idx]
            feats.append(f)
        lens = torch.tensor([f.shape[0] for f in feats])
        x = torch.zeros(len(feats), int(lens.max()), feats[0].shape[1])
        for b, f in enumerate(feats):
            x[b, : f.shape[0]] = f.float()
        tgt, tl = pad_targets([store.tokens[i] for i in ids])
        return x, lens, tgt, tl

    # ------------------------------------------------------------------ loop
    def fit(self, progress=None) -> list[dict]:
        s = self.s
        while self.epoch < s.epochs:
            if s.max_steps is not None and self.step >= s.max_steps:
                break
            e = self.epoch
            t0 = time.perf_counter()                   # training wall-clock includes the epoch set-up
            c0 = time.process_time()
            self.sampler.set_epoch(e)
            batches = self.sampler.rank_batches()
            kept = self.pruner.select(e)
            self.module.train()
            losses, audio = [], 0.0
            it = batches[self.batch_in_epoch:]
            if progress is not None:
                it = progress(it, total=len(it), desc=f"epoch {e}")
            for ids in it:
                if s.max_steps is not None and self.step >= s.max_steps:
                    break
                x, lens, tgt, tl = self.make_batch(ids, e)
                x, lens, tgt, tl = x.to(self.device), lens.to(self.device), tgt.to(self.device), tl.to(self.device)
                w = self.pruner.loss_weights(torch.tensor(ids), e).to(self.device)
                lr = warmup_cosine_lr(self.step, s.lr, s.warmup_steps, self.total_steps, s.min_lr_ratio)
                for gr in self.opt.param_groups:
                    gr["lr"] = lr
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
                    out = self.net(x, lens, tgt, tl, w)
                self.opt.zero_grad(set_to_none=True)
                out["loss"].backward()
                if s.grad_clip:
                    nn.utils.clip_grad_norm_(self.module.parameters(), s.grad_clip)
                self.opt.step()
                self.pruner.observe(torch.tensor(ids), out["utt_loss"].detach().float().cpu())
                self.step += 1
                self.batch_in_epoch += 1
                losses.append(float(out["loss"].detach()))
                audio += float(lens.sum()) * FRAME_S
                if s.checkpoint_every_steps and self.step % s.checkpoint_every_steps == 0:
                    self.train_s += time.perf_counter() - t0
                    self.train_cpu_s += time.process_time() - c0
                    self.audio_s += audio
                    audio, t0, c0 = 0.0, time.perf_counter(), time.process_time()
                    self.save()
            self.train_s += time.perf_counter() - t0
            self.train_cpu_s += time.process_time() - c0
            self.audio_s += audio
            if self.batch_in_epoch < len(batches):          # stopped by max_steps mid-epoch
                break
            rec = self._end_epoch(e, kept, losses)
            self.history.append(rec)
            self.epoch, self.batch_in_epoch = e + 1, 0
            self.save()
        return self.history

    def _end_epoch(self, e: int, kept: Tensor, losses: list[float]) -> dict:
        audio_total = float(all_reduce_sum(torch.tensor([self.audio_s], dtype=torch.float64))[0])
        full_audio = sum(self.train.lengths) * FRAME_S * (e + 1)       # same frame-based measure as audio_s
        ev = self.evaluate(self.dev, self.s.eval_method)
        rec = {"epoch": e, "step": self.step, "variant": self.variant, "kept_items": int(kept.numel()),
               "keep_fraction": kept.numel() / len(self.train), "train_loss": sum(losses) / max(1, len(losses)),
               "lr": self.opt.param_groups[0]["lr"], "train_s": self.train_s, "train_cpu_s": self.train_cpu_s,
               "audio_s": audio_total,
               "audio_fraction": audio_total / full_audio, "dev_wer": ev["wer"], "dev_cer": ev["cer"]}
        if self.dist.rank == 0:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            with open(self.run_dir / "metrics.jsonl", "a") as f:
                f.write(json.dumps(rec) + "\n")
        return rec

    @torch.no_grad()
    def evaluate(self, store: FeatureStore, method: str = "greedy", max_items: int | None = None) -> dict:
        """WER/CER of ``store`` (every rank computes it; identical weights give identical results)."""
        was = self.module.training
        self.module.eval()
        n = len(store) if max_items is None else min(max_items, len(store))
        order = sorted(range(n), key=lambda i: store.lengths[i])
        refs, hyps = [], []
        for b in range(0, n, 32):
            ids = order[b:b + 32]
            feats = [store.feats[i] for i in ids]
            lens = torch.tensor([f.shape[0] for f in feats])
            x = torch.zeros(len(ids), int(lens.max()), feats[0].shape[1])
            for k, f in enumerate(feats):
                x[k, : f.shape[0]] = f.float()
            x = self.module.cmvn(x.to(self.device))
            x = x * (torch.arange(x.shape[1], device=x.device)[None] < lens.to(x.device)[:, None])[..., None]
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
                out = decode_batch(self.model, x, lens.to(self.device), method, beam=self.s.beam)
            hyps += [self.tok.decode(h) for h in out]
            refs += [store.texts[i] for i in ids]
        self.module.train(was)
        return {"wer": wer(refs, hyps), "cer": cer(refs, hyps), "n": n, "example": (refs[0], hyps[0]) if refs else None}

    def finish(self) -> dict:
        """Test-set WER (if a test store is given) and summary.json; returns the summary."""
        barrier()
        summary = {"variant": self.variant, "settings": asdict(self.s), "steps": self.step,
                   "epochs": len(self.history), "train_s": self.train_s, "train_cpu_s": self.train_cpu_s,
                   "audio_s": self.history[-1]["audio_s"] if self.history else 0.0,
                   "audio_fraction": self.history[-1]["audio_fraction"] if self.history else 0.0,
                   "dev_wer": self.history[-1]["dev_wer"] if self.history else None,
                   "pruner": repr(self.pruner)}
        if self.test is not None:
            ev = self.evaluate(self.test, self.s.test_method)
            summary.update(test_wer=ev["wer"], test_cer=ev["cer"], test_example=ev["example"])
        if self.dist.rank == 0:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=1))
        return summary
