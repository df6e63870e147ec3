"""ASRTask: what DDP-ASR brings to ``core.training.loop`` (its batches, its step, its evaluation, its state).

Per epoch (``epoch_batches``):

1. score-based policies first get the losses the pruner asks for (``DataPruner.score_request``): every item
   before the first pruned epoch (so all scores come from one model state, not from where an item fell in the
   warm-up epoch), and later a sample of the items the previous epoch dropped. One forward pass without gradient
   in training mode -- the mode every training-step loss is taken in, so scores never mix modes -- with the
   batch-norm running statistics restored afterwards and the RNG forked (seeded by the epoch), so a scoring
   pass changes neither the model nor the training's random stream;
2. the pruner selects this epoch's items; the overlap with the previous epoch's selection is recorded;
3. each kept utterance is time-pruned (``time_keep`` < 1) by a generator seeded with (seed, epoch, item),
   and the batches are planned on the *pruned* lengths (so time pruning really makes fewer steps);
4. the plan is split across DDP ranks (equal batch counts).

The LR follows the real run: linear warm-up over ``warmup_steps`` steps, then a cosine over the training's
progress measured in epochs (epoch + batch / batches-in-this-epoch), so however many batches pruning
leaves, the cosine spans exactly the run (the old estimate multiplied by ``time_keep`` while the batches
were planned on unpruned lengths, leaving 31% of a 0.7 x 0.7 run at the floor LR).
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from core.data_pruning import DataPruner
from core.metrics import cer, wer
from core.validation import check_number
from core.speech.datasets import ctc_min_frames
from core.speech.decoding import decode_batch
from core.speech.features import GlobalCMVN, SpecAugment
from core.speech.model import CTCAttentionModel, pad_targets
from core.training.distributed import DistInfo
from core.training.loop import StepOutput, Task

from apps.asr_ddp.data.bucketing import bucket_batches, split_batches
from apps.asr_ddp.data.store import FeatureStore
from apps.asr_ddp.data.time_pruning import TIME_UNITS, covered_words, min_input_frames, time_keep_index

__all__ = ["TaskSettings", "ASRModule", "ASRTask", "progress_lr"]


DECODE_METHODS = ("greedy", "ctc_beam", "joint_beam")


@dataclass(frozen=True)
class TaskSettings:
    """The app's training knobs (the loop's own ones live in ``core.training.run.LoopSettings``), validated once
    here; errors name the config key."""

    epochs: int                        # trainer.epochs (the loop's key; the LR schedule spans them)
    lr: float = 3e-3
    warmup_steps: int = 50
    min_lr_ratio: float = 0.05
    weight_decay: float = 0.01
    frame_budget: int = 3000           # padded frames (max_len x utterances) per batch per rank, after time pruning
    max_batch: int = 64
    specaug: bool = False
    time_keep: float = 1.0             # fraction of each kept utterance's frames that trains
    time_unit: str = "chunk"           # point | chunk | chunk_aligned
    chunk_ms: float = 200.0            # chunk length for chunk / chunk_aligned
    eval_method: str = "greedy"
    test_method: str = "greedy"
    beam: int = 4
    seed: int = 0

    def __post_init__(self) -> None:
        def num(key: str, attr: str, **kw) -> None:
            object.__setattr__(self, attr, check_number(key, getattr(self, attr), **kw))

        num("trainer.epochs", "epochs", integer=True, low=1)
        num("train.lr", "lr", low=0.0, low_open=True)
        num("train.warmup_steps", "warmup_steps", integer=True, low=0)
        num("train.min_lr_ratio", "min_lr_ratio", low=0.0, high=1.0)
        num("train.weight_decay", "weight_decay", low=0.0)
        num("train.frame_budget", "frame_budget", integer=True, low=1)
        num("train.max_batch", "max_batch", integer=True, low=1)
        num("pruning.time_keep", "time_keep", low=0.0, low_open=True, high=1.0)
        num("pruning.chunk_ms", "chunk_ms", low=0.0, low_open=True)
        num("train.beam", "beam", integer=True, low=1)
        num("trainer.seed", "seed", integer=True, low=0)
        if not isinstance(self.specaug, bool):
            raise ValueError(f"train.specaug={self.specaug!r} must be true or false")
        if self.time_unit not in TIME_UNITS:
            raise ValueError(f"pruning.time_unit={self.time_unit!r}; valid choices: {', '.join(TIME_UNITS)}")
        for k in ("eval_method", "test_method"):
            if getattr(self, k) not in DECODE_METHODS:
                raise ValueError(f"train.{k}={getattr(self, k)!r}; valid choices: {', '.join(DECODE_METHODS)}")


def progress_lr(step: int, progress: float, peak: float, warmup_steps: int, min_ratio: float) -> float:
    """Linear warm-up over ``warmup_steps`` steps, then cosine from ``peak`` to ``min_ratio * peak`` over
    ``progress`` in [0, 1] (the fraction of the run's epochs done)."""
    if warmup_steps and step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    p = min(max(progress, 0.0), 1.0)
    return peak * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * p)))


class ASRModule(nn.Module):
    """CMVN + SpecAugment + CTCAttentionModel in one module (what DDP wraps and checkpoints)."""

    def __init__(self, model: CTCAttentionModel, cmvn: GlobalCMVN, specaug: SpecAugment | None) -> None:
        super().__init__()
        self.model, self.cmvn, self.specaug = model, cmvn, specaug

    def forward(self, feats: Tensor, lens: Tensor, tgt: Tensor, tgt_lens: Tensor, weights: Tensor | None = None):
        """(B, T, F), (B,), (B, U), (B,) -> the model's loss dict."""
        x = self.normalise(feats, lens)
        if self.specaug is not None:
            x = self.specaug(x, lens)
        return self.model(x, lens, tgt, tgt_lens, weights)

    def normalise(self, feats: Tensor, lens: Tensor) -> Tensor:
        """(B, T, F) -> (B, T, F): CMVN, padding frames zeroed."""
        x = self.cmvn(feats)
        return x * (torch.arange(x.shape[1], device=x.device)[None] < lens[:, None])[..., None]

    @torch.no_grad()
    def transcribe(self, feats: Tensor, lens: Tensor, method: str = "greedy", beam: int = 4) -> list[list[int]]:
        """(B, T, F), (B,) -> token ids per utterance."""
        return decode_batch(self.model, self.normalise(feats, lens), lens, method, beam=beam)


def pad_feats(feats: list[Tensor]) -> tuple[Tensor, Tensor]:
    """[(T_i, F)] -> (B, T_max, F) float32, (B,) lengths."""
    lens = torch.tensor([f.shape[0] for f in feats])
    x = torch.zeros(len(feats), int(lens.max()), feats[0].shape[1])
    for b, f in enumerate(feats):
        x[b, : f.shape[0]] = f.float()
    return x, lens


class ASRTask(Task):
    """Pruned epochs, duration buckets, time pruning, CTC/attention; see the module docstring."""

    def __init__(self, module: ASRModule, tokenizer, train: FeatureStore, dev: FeatureStore, pruner: DataPruner,
                 settings: TaskSettings, dist_info: DistInfo, test: FeatureStore | None = None) -> None:
        if pruner.num_items != len(train):
            raise ValueError(f"pruner has {pruner.num_items} items but the training set has {len(train)} utterances")
        self.s, self.tok, self.train, self.dev, self.test = settings, tokenizer, train, dev, test
        self.module, self.pruner, self.dist = module, pruner, dist_info
        self.device = dist_info.device
        self.chunk_frames = max(1, int(round(settings.chunk_ms / 1000 / train.frame_s)))
        sub = module.model.encoder.subsampling
        self.min_frames = [min_input_frames(ctc_min_frames(t), sub) for t in train.tokens]
        self.full_audio_s = sum(train.lengths) * train.frame_s
        # state (checkpointed through state_dict)
        self._loop = None
        self.epoch = 0
        self.n_batches = 1
        self.planned: int | None = None          # last epoch whose selection was made (a resume re-plans it)
        self.prev_kept: list[int] | None = None  # the planned epoch's selection
        self.before_kept: list[int] | None = None  # the selection of the epoch before it
        self.stats = {"guard_items": 0, "time_items": 0, "frames_in": 0, "frames_kept": 0, "words_in": 0,
                      "words_dropped": 0, "scored_items": 0, "score_cpu_s": 0.0}
        self.epoch_log: list[dict] = []
        # where each item fell in epoch 0 (its batch's index), kept for score policies to measure whether the
        # scores used in the first pruned epoch still encode that position (``decorrelation`` in the summary)
        self.epoch0_pos: list[int] | None = None
        self.decorrelation: dict | None = None

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "n_batches": self.n_batches, "planned": self.planned,
                "prev_kept": self.prev_kept, "before_kept": self.before_kept, "stats": dict(self.stats),
                "epoch_log": list(self.epoch_log), "epoch0_pos": self.epoch0_pos, "decorrelation": self.decorrelation}

    def load_state_dict(self, sd: dict) -> None:
        self.epoch, self.n_batches, self.planned = sd["epoch"], sd["n_batches"], sd["planned"]
        self.prev_kept, self.before_kept = sd["prev_kept"], sd["before_kept"]
        self.stats, self.epoch_log = dict(sd["stats"]), list(sd["epoch_log"])
        self.epoch0_pos, self.decorrelation = sd.get("epoch0_pos"), sd.get("decorrelation")

    # ------------------------------------------------------------------ batches
    def _pruned(self, i: int, epoch: int) -> tuple[Tensor | None, list[int]]:
        """Item ``i``'s kept frame indices (None = all) and its target ids in ``epoch`` (deterministic)."""
        s = self.s
        if s.time_keep >= 1.0:
            return None, self.train.tokens[i]
        n = self.train.lengths[i]
        g = torch.Generator().manual_seed((s.seed * 1_000_003 + epoch) * 10_000_019 + i)
        unit = "chunk" if s.time_unit == "chunk_aligned" else s.time_unit
        floor = self.min_frames[i] if s.time_unit != "chunk_aligned" else 1
        idx = time_keep_index(n, s.time_keep, unit, chunk_frames=self.chunk_frames, min_frames=floor, generator=g)
        tokens = self.train.tokens[i]
        if s.time_unit == "chunk_aligned" and self.train.words[i]:
            gone = set(covered_words(idx, n, self.train.words[i]))
            if gone:
                words = self.train.texts[i].split()
                tokens = self.tok.encode(" ".join(w for k, w in enumerate(words) if k not in gone))
            # CTC guard for what remains (normally not binding: the dropped words freed their frames too)
            need = min_input_frames(ctc_min_frames(tokens), self.module.model.encoder.subsampling)
            if idx.numel() < need:
                idx = time_keep_index(n, s.time_keep, "chunk", chunk_frames=self.chunk_frames, min_frames=need,
                                      generator=torch.Generator().manual_seed(
                                          (s.seed * 1_000_003 + epoch) * 10_000_019 + i))
                gone = set(covered_words(idx, n, self.train.words[i]))
                words = self.train.texts[i].split()
                tokens = self.tok.encode(" ".join(w for k, w in enumerate(words) if k not in gone))
        return idx, tokens

    def guard_binding(self, epoch: int, ids: list[int]) -> tuple[int, int, int]:
        """(items whose length the CTC guard raised, frames kept, frames without the guard) for ``ids``."""
        s = self.s
        hits = kept = raw = 0
        for i in ids:
            idx, _ = self._pruned(i, epoch)
            n = self.train.lengths[i]
            if idx is None:
                kept += n
                raw += n
                continue
            g = torch.Generator().manual_seed((s.seed * 1_000_003 + epoch) * 10_000_019 + i)
            unit = "chunk" if s.time_unit == "chunk_aligned" else s.time_unit
            free = time_keep_index(n, s.time_keep, unit, chunk_frames=self.chunk_frames, min_frames=1, generator=g)
            hits += int(idx.numel() > free.numel())
            kept += idx.numel()
            raw += free.numel()
        return hits, kept, raw

    def epoch_batches(self, epoch: int) -> list[list[tuple[int, Tensor | None, list[int]]]]:
        """This rank's batches: lists of (item id, kept frame index or None, target ids)."""
        s = self.s
        self.epoch = epoch
        fresh = epoch != self.planned          # False when a mid-epoch resume rebuilds the same epoch
        before = None
        if fresh:
            req = self.pruner.score_request(epoch)
            if req is not None:
                if req.replace and self.epoch0_pos is not None:
                    before = self.pruner.scores.clone()
                self.score_items(req.ids.tolist(), epoch, replace=req.replace)
            self.before_kept, self.planned = self.prev_kept, epoch
        kept = self.pruner.select(epoch).tolist()
        self.prev_kept = kept
        items = {i: self._pruned(i, epoch) for i in kept}
        lengths = [0] * len(self.train)
        for i, (idx, _) in items.items():
            lengths[i] = self.train.lengths[i] if idx is None else int(idx.numel())
        plan = bucket_batches(kept, lengths, s.frame_budget, max_batch=s.max_batch, seed=s.seed, epoch=epoch)
        mine = split_batches(plan, self.dist.rank, self.dist.world_size)
        self.n_batches = max(1, len(mine))
        if fresh:
            if epoch == 0 and self.pruner.uses_scores:
                pos = [-1] * len(self.train)
                for b, batch in enumerate(plan):
                    for i in batch:
                        pos[i] = b
                self.epoch0_pos = pos
            if (self.decorrelation is None and self.epoch0_pos is not None and self.pruner.phase(epoch) == "pruned"):
                self.decorrelation = position_report(self.epoch0_pos, self.pruner.scores, kept, before,
                                                     self.pruner.counterfactual(epoch, before)
                                                     if before is not None else None)
            self._account(epoch, kept, items, lengths, len(mine))
        return [[(i, *items[i]) for i in b] for b in mine]

    def _account(self, epoch: int, kept: list[int], items: dict, lengths: list[int], n_batches: int) -> None:
        """Per-epoch statistics: selection overlap, CTC-guard binding, frames and words kept."""
        s = self.s
        overlap = None
        if self.before_kept is not None and kept:
            overlap = len(set(kept) & set(self.before_kept)) / len(kept)
        if s.time_keep < 1.0:
            hits, fk, _ = self.guard_binding(epoch, kept)
            self.stats["guard_items"] += hits
            self.stats["time_items"] += len(kept)
            self.stats["frames_kept"] += fk
            self.stats["frames_in"] += sum(self.train.lengths[i] for i in kept)
        n_words = dropped = 0
        for i, (_, tok) in items.items():
            n_words += len(self.train.tokens[i])
            dropped += len(self.train.tokens[i]) - len(tok)
        self.stats["words_in"] += n_words
        self.stats["words_dropped"] += dropped
        self.epoch_log.append({"epoch": epoch, "kept": len(kept), "overlap_prev": overlap, "batches": n_batches,
                               "pruned_frames": sum(lengths), "phase": self.pruner.phase(epoch)})

    def score_items(self, ids: list[int], epoch: int, *, replace: bool) -> None:
        """Per-item losses of ``ids`` under the current model, handed to the pruner: one forward pass without gradient
        in training mode (the mode of the training-step losses the pruner also observes; ``scoring_mode``: batch-norm
        statistics restored, RNG forked and seeded by (seed, epoch)). A collective under DDP: every rank calls
        ``observe`` once per batch of its equal share."""
        c0 = time.process_time()
        plan = bucket_batches(ids, self.train.lengths, self.s.frame_budget, max_batch=self.s.max_batch,
                              seed=self.s.seed, epoch=epoch, shuffle=False)
        with scoring_mode(self.module, seed=self.s.seed * 7_919 + epoch, device=self.device), torch.no_grad():
            for b in split_batches(plan, self.dist.rank, self.dist.world_size):
                x, lens = pad_feats([self.train.feats[i] for i in b])
                tgt, tl = pad_targets([self.train.tokens[i] for i in b])
                o = self.module(x.to(self.device), lens.to(self.device), tgt.to(self.device), tl.to(self.device))
                self.pruner.observe(torch.tensor(b), o["utt_loss"].float().cpu(), replace=replace)
        self.stats["scored_items"] += len(ids)
        self.stats["score_cpu_s"] += time.process_time() - c0

    # ------------------------------------------------------------------ step
    def training_step(self, model: nn.Module, batch, step: int) -> StepOutput:
        s = self.s
        ids = [b[0] for b in batch]
        feats = [self.train.feats[i] if idx is None else self.train.feats[i][idx] for i, idx, _ in batch]
        x, lens = pad_feats(feats)
        tgt, tl = pad_targets([tok for _, _, tok in batch])
        done = self.epoch + (self._loop.batch_in_epoch if self._loop is not None else 0) / self.n_batches
        lr = progress_lr(step, done / s.epochs, s.lr, s.warmup_steps, s.min_lr_ratio)
        if self._loop is not None:
            for g in self._loop.optimizer.param_groups:
                g["lr"] = lr
        w = self.pruner.loss_weights(torch.tensor(ids), self.epoch).to(self.device)
        out = model(x.to(self.device), lens.to(self.device), tgt.to(self.device), tl.to(self.device), w)
        audio = float(lens.sum()) * self.train.frame_s
        return StepOutput(loss=out["loss"], item_ids=torch.tensor(ids), item_losses=out["utt_loss"].detach(),
                          logs={"lr": lr, "ctc": float(out["ctc"]), "att": float(out["att"])}, work=audio)

    def on_epoch_start(self, loop, epoch: int) -> None:
        self._loop = loop                    # its optimizer's LR is set per step; its batch position drives the LR

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def score(self, store: FeatureStore, method: str = "greedy") -> dict:
        """WER/CER of ``store`` (every rank computes it); unreadable utterances count as all-deleted."""
        was = self.module.training
        self.module.eval()
        order = sorted(range(len(store)), key=lambda i: store.lengths[i])
        refs, hyps = [], []
        for b in range(0, len(order), 32):
            ids = order[b:b + 32]
            x, lens = pad_feats([store.feats[i] for i in ids])
            out = self.module.transcribe(x.to(self.device), lens.to(self.device), method, beam=self.s.beam)
            hyps += [" ".join(self.tok.decode(h).split()) for h in out]   # one space between words
            refs += [store.texts[i] for i in ids]
        missing = list(getattr(store, "missing", []))
        refs += missing
        hyps += [""] * len(missing)
        self.module.train(was)
        return {"wer": wer(refs, hyps), "cer": cer(refs, hyps), "n": len(refs), "missing": len(missing),
                "example": [refs[0], hyps[0]] if refs else None}

    def evaluate(self, model: nn.Module, step: int) -> dict[str, float]:
        ev = self.score(self.dev, self.s.eval_method)
        return {"dev_wer": ev["wer"], "dev_cer": ev["cer"]}

    def finish(self, loop) -> dict:
        audio = loop.work
        epochs = max(1, loop.epoch)
        st = self.stats
        out = {"run_dir": str(loop.run_info.run_dir), "audio_s": audio,
               "audio_fraction": audio / (self.full_audio_s * epochs),
               "epoch_log": self.epoch_log, "task": asdict(self.s), "pruner": repr(self.pruner),
               "scored_items": st["scored_items"], "score_cpu_s": st["score_cpu_s"],
               "train_cpu_total_s": loop.train_cpu_s + st["score_cpu_s"],
               "kept_fraction_per_epoch": [e["kept"] / len(self.train) for e in self.epoch_log],
               "schedule": {"policy": self.pruner.policy, "keep": self.pruner.keep,
                            "warmup_epochs": self.pruner.warmup_epochs, "anneal": self.pruner.anneal}}
        if self.decorrelation is not None:
            out["decorrelation"] = self.decorrelation
        if st["time_items"]:
            out.update(guard_binding_fraction=st["guard_items"] / st["time_items"],
                       time_keep_real=st["frames_kept"] / max(1, st["frames_in"]))
        if self.s.time_unit == "chunk_aligned":
            out["words_dropped_fraction"] = st["words_dropped"] / max(1, st["words_in"])
        overlaps = [e["overlap_prev"] for e in self.epoch_log if e["overlap_prev"] is not None
                    and e["phase"] == "pruned"]
        if overlaps:
            out["overlap_prev_mean"] = sum(overlaps) / len(overlaps)
        if self.test is not None:
            ev = self.score(self.test, self.s.test_method)
            out.update(test_wer=ev["wer"], test_cer=ev["cer"], test_n=ev["n"], test_missing=ev["missing"],
                       test_example=ev["example"])
        return out


@contextlib.contextmanager
def scoring_mode(module: nn.Module, *, seed: int, device=None):
    """Training mode without side effects: batch-norm running statistics are saved and restored, and the global RNG
    (dropout, SpecAugment) is forked and seeded with ``seed``, so the pass neither changes the model nor shifts the
    training's random stream (a resumed run replays it exactly)."""
    was = module.training
    bn = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [{k: v.clone() for k, v in m.state_dict().items()} for m in bn]
    devices = [device] if device is not None and torch.device(device).type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        module.train()
        try:
            yield
        finally:
            for m, sd in zip(bn, saved):
                m.load_state_dict(sd)
            module.train(was)


def position_report(pos: list[int], scores: Tensor, kept: list[int], before: Tensor | None = None,
                    kept_before: Tensor | None = None) -> dict:
    """Do the scores used in the first pruned epoch still say where an item fell in epoch 0?

    ``pos[i]``: the index of item i's batch in epoch 0; ``scores``: what the selection used; ``kept``: the selection.
    Returns Spearman(position, score) (and of the scores before the scoring pass replaced them, ``before``), and the
    fraction kept of each quarter of epoch 0 (items ordered by position) next to the overall kept fraction;
    ``kept_before``: the ids the policy would have kept with the warm-up scores (for the same per-quarter view)."""
    from scipy.stats import spearmanr

    p = torch.tensor(pos, dtype=torch.float64)
    seen = p >= 0
    idx = torch.nonzero(seen).flatten()
    out = {"items": int(idx.numel())}
    if idx.numel() < 8:
        return out
    out["spearman_position_score"] = float(spearmanr(p[idx].numpy(), scores[idx].double().numpy()).statistic)
    if before is not None:
        out["spearman_position_score_before_pass"] = float(
            spearmanr(p[idx].numpy(), before[idx].double().numpy()).statistic)
    order = idx[torch.argsort(p[idx], stable=True)]
    mask = torch.zeros(len(pos), dtype=torch.bool)
    mask[torch.tensor(kept, dtype=torch.long)] = True
    quarters = torch.tensor_split(order, 4)
    out["kept_fraction"] = float(mask[idx].float().mean())
    out["kept_by_quarter"] = [float(mask[q].float().mean()) for q in quarters]
    if kept_before is not None:
        mb = torch.zeros(len(pos), dtype=torch.bool)
        mb[kept_before.long()] = True
        out["kept_by_quarter_with_warmup_scores"] = [float(mb[q].float().mean()) for q in quarters]
    return out
