"""A run's identity and folder: settings checked at the door, a unique default folder, resume decided before work.

``prepare_run`` is the first thing a recipe calls, before it builds any data or model. It

* type-checks the loop settings (a bad value raises ``ValueError`` naming the ``trainer.*`` key),
* starts ``torch.distributed`` from torchrun's environment (gloo on CPU, NCCL on CUDA) and picks the device,
* makes the run folder (a unique ``outputs/<app>/<time>-<fingerprint>`` when none is given; every rank agrees
  on it), checks it is writable, and removes temporaries left by crashed writers,
* decides what to resume: the newest checkpoint (``resume="auto"``), none (``"never"``), a given file, or the
  newest checkpoint even if the configuration changed (``"force"``). A checkpoint whose configuration
  fingerprint differs from this run's stops here with an error that names the differing keys,
* notices a run folder that already holds a finished run of the same configuration: ``run.finished`` is then
  true and ``run.summary`` holds its results, which stay untouched. Nothing is written then (no write probe, no
  lock), so archived results in a read-only folder are returned as they are,
* takes an advisory lock (``fcntl.flock`` on ``<run_dir>/.lock``, which holds the owner's pid) for the run's life:
  a second process on the same folder stops at once with a ``ValueError`` naming the folder and the holder's pid.
  The lock goes when the process ends (the OS drops it even after SIGKILL) or when the ``Run`` is released,
* resumes from the newest checkpoint that loads: a corrupt or unreadable newer one is skipped with a warning
  naming it and why (``run.resume_skipped``; the loop records a ``resume_skipped`` event).

``run.json`` (the run's identity) is written by the loop when training really starts, so a run that fails its
own checks after ``prepare_run`` (bad data, say) leaves no ``run.json``; a folder ``prepare_run`` made that is
still empty when the process ends is removed.

The fingerprint is the flattened dict of the configuration that matters for training (the app leaves out
keys such as ``trainer.resume``, ``run_dir`` or progress switches); it is stored in every checkpoint and in
``run.json``/``summary.json``.
"""
from __future__ import annotations

import atexit
import errno
import hashlib
import json
import logging
import math
import os
import time
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from core.training.atomic import atomic_write_json, clean_stale_temporaries
from core.training.checkpoint import UnsafeFileError, latest_checkpoint, load_checkpoint
from core.training.distributed import DistInfo, broadcast_object, init_distributed, is_main_process
from core.training.seeding import seed_everything
from core.settings import ConfigError, ConfigReader
from core.validation import check_number

__all__ = ["LoopSettings", "Run", "prepare_run", "flatten_config", "run_fingerprint", "fingerprint_hash", "fingerprint_diff",
           "default_run_dir", "RESUME_MODES", "AMP_MODES", "CHECKPOINT_DIR", "checkpoint_path", "LOCK_FILE",
           "RunFolderBusy"]

log = logging.getLogger(__name__)

RESUME_MODES = ("auto", "never", "force")
AMP_MODES = ("auto", "off", "bf16", "fp16")   # auto: bf16 on CUDA, off on CPU
DEVICES = ("auto", "cpu", "cuda")
CHECKPOINT_DIR = "checkpoints"
LOCK_FILE = ".lock"


def checkpoint_path(run_dir: str | os.PathLike, step: int) -> Path:
    """The one spelling of a checkpoint's name: ``<run_dir>/checkpoints/step_00000123.pt``."""
    return Path(run_dir) / CHECKPOINT_DIR / f"step_{int(step):08d}.pt"


@dataclass
class LoopSettings:
    """What the shared loop needs from a config (plain values; ``prefix`` names the keys in errors)."""

    run_dir: str | os.PathLike | None = None
    epochs: int | None = None
    max_steps: int | None = None
    seed: int = 0
    device: str = "auto"
    amp: str = "off"
    grad_clip: float | None = None
    eval_every: int = 0
    checkpoint_every: int = 0
    keep_checkpoints: int = 2
    log_every: int = 10
    resume: str = "auto"
    progress: bool | None = None
    fingerprint: dict = field(default_factory=dict)
    prefix: str = "trainer"

    @classmethod
    def from_mapping(cls, trainer: Mapping, *, extra_keys: Iterable[str] = (), **overrides) -> LoopSettings:
        """Settings from a plain mapping of the shared ``trainer`` config group; ``overrides`` win.

        Every key must be a loop setting or one of ``extra_keys`` (trainer keys the app reads itself, such as
        ``batch_size``); anything else is a ``ConfigError`` naming ``<prefix>.<key>``: a typo is never ignored.
        """
        prefix = overrides.get("prefix", "trainer")
        names = set(cls.__dataclass_fields__) - {"fingerprint", "prefix"}
        extra = set(extra_keys)
        unknown = sorted(k for k in trainer if k not in names and k not in extra)
        if unknown:
            p = f"{prefix}." if prefix else ""
            raise ConfigError(f"unknown setting(s) {', '.join(p + k for k in unknown)}; valid {prefix} keys: "
                              f"{', '.join(sorted(names | extra))}")
        kw = {k: v for k, v in dict(trainer).items() if k in names}
        kw.update(overrides)
        return cls(**kw)

    @classmethod
    def from_reader(cls, reader: ConfigReader, prefix: str = "trainer", **overrides) -> LoopSettings:
        """Settings from the ``prefix`` section of a ``ConfigReader``: reads (and so consumes) each loop setting
        present there; keys the loop does not have stay unread, so ``reader.check_consumed()`` names them unless
        the app reads them itself (``trainer.batch_size``). A key given in ``overrides`` must not also be set in
        the section (``ConfigError``: one key, one meaning)."""
        names = [n for n in cls.__dataclass_fields__ if n not in ("fingerprint", "prefix")]
        kw: dict[str, Any] = {}
        for n in names:
            key = f"{prefix}.{n}" if prefix else n
            if not reader.has(key):
                continue
            if n in overrides:
                raise ConfigError(f"{key} is set, but this app decides {n} itself (from {overrides[n]!r}); "
                                  f"remove {key}")
            kw[n] = reader.get(key)
        kw.update(overrides)
        kw["prefix"] = prefix
        return cls(**kw)

    def __post_init__(self) -> None:
        p = self.prefix + "." if self.prefix else ""
        self.epochs = _opt_int(f"{p}epochs", self.epochs, low=1)
        self.max_steps = _opt_int(f"{p}max_steps", self.max_steps, low=1)
        if self.epochs is None and self.max_steps is None:
            raise ValueError(f"set {p}epochs or {p}max_steps (the loop needs to know when to stop)")
        self.seed = _int(f"{p}seed", self.seed, low=0)
        if self.device not in DEVICES:
            raise ValueError(f"{p}device={self.device!r}; valid choices: {', '.join(DEVICES)}")
        if self.progress in ("auto", None):
            self.progress = None
        elif self.progress in ("on", "off", True, False):
            self.progress = self.progress in ("on", True)
        else:
            raise ValueError(f"{p}progress={self.progress!r}; valid choices: auto, on, off")
        if self.amp in (None, False):
            self.amp = "off"
        elif self.amp is True:
            self.amp = "auto"
        if self.amp not in AMP_MODES:
            raise ValueError(f"{p}amp={self.amp!r}; valid choices: {', '.join(AMP_MODES)}")
        if self.grad_clip in (None, 0, 0.0, False):
            self.grad_clip = None
        else:
            self.grad_clip = _float(f"{p}grad_clip", self.grad_clip, low=0.0, low_open=True)
        self.eval_every = _int(f"{p}eval_every", self.eval_every, low=0)
        self.checkpoint_every = _int(f"{p}checkpoint_every", self.checkpoint_every, low=0)
        self.keep_checkpoints = _int(f"{p}keep_checkpoints", self.keep_checkpoints, low=1)
        self.log_every = _int(f"{p}log_every", self.log_every, low=1)
        r = str(self.resume) if self.resume is not None else "never"
        if r not in RESUME_MODES and not (r.endswith(".pt") or os.sep in r):
            raise ValueError(f"{p}resume={self.resume!r}; valid choices: {', '.join(RESUME_MODES)} or a checkpoint path")
        self.resume = r
        if not isinstance(self.fingerprint, Mapping):
            raise ValueError(f"fingerprint must be a dict of the configuration, got {type(self.fingerprint).__name__}")
        self.fingerprint = flatten_config(self.fingerprint)


def _int(name: str, value: Any, *, low: int | None = None) -> int:
    return check_number(name, value, integer=True, low=low)


def _opt_int(name: str, value: Any, *, low: int | None = None) -> int | None:
    return None if value is None else _int(name, value, low=low)


def _float(name: str, value: Any, *, low: float | None = None, low_open: bool = False) -> float:
    return float(check_number(name, value, low=low, low_open=low_open))


# ---- fingerprints ------------------------------------------------------------------------------------------

def flatten_config(cfg: Mapping, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}, "c": [1, 2]}`` -> ``{"a.b": 1, "c": [1, 2]}`` with JSON-plain leaves."""
    out: dict[str, Any] = {}
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten_config(v, key + "."))
        else:
            out[key] = _plain(v)
    return out


def _plain(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, Path):
        return str(v)
    return repr(v)


def run_fingerprint(config: Mapping, exclude: Iterable[str] = ()) -> dict[str, Any]:
    """What identifies a run: the flattened configuration minus the keys that do not change what is trained.

    ``exclude``: glob patterns over flattened keys (``"run_dir"``, ``"trainer.resume"``, ``"data.root"``,
    ``"eval.*"``); each app declares its list once (``FINGERPRINT_EXCLUDE`` in its recipe). A block-list, so a
    new key is part of the identity until someone decides it is not: a resumed run refuses a changed setting
    rather than silently mixing two configurations.
    """
    import fnmatch

    pats = tuple(exclude)
    return {k: v for k, v in flatten_config(config).items() if not any(fnmatch.fnmatchcase(k, p) for p in pats)}


def fingerprint_hash(flat: Mapping) -> str:
    """Short stable hash of a flattened configuration."""
    return hashlib.sha1(json.dumps(dict(flat), sort_keys=True, default=str).encode()).hexdigest()[:10]


def fingerprint_diff(old: Mapping, new: Mapping) -> list[str]:
    """Keys whose values differ, as ``key: checkpoint X, now Y`` lines (missing keys included)."""
    lines = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k, "<absent>"), new.get(k, "<absent>")
        if a != b:
            lines.append(f"{k}: checkpoint {a!r}, now {b!r}")
    return lines


def default_run_dir(app: str, flat_fingerprint: Mapping, root: str | os.PathLike = "outputs") -> Path:
    """A unique folder ``<root>/<app>/<YYYYmmdd-HHMMSS>-<fingerprint hash>`` (suffixed if it exists)."""
    base = Path(root) / app / f"{time.strftime('%Y%m%d-%H%M%S')}-{fingerprint_hash(flat_fingerprint)}"
    path, k = base, 1
    while path.exists():
        path, k = base.with_name(f"{base.name}-{k}"), k + 1
    return path


# ---- the run ------------------------------------------------------------------------------------------------

@dataclass
class Run:
    """Everything decided before any work: where, on what device, from which checkpoint."""

    settings: LoopSettings
    app: str
    variant: str
    dist: DistInfo
    device: torch.device
    run_dir: Path
    ckpt: dict | None = None
    ckpt_path: Path | None = None
    finished: bool = False
    summary: dict | None = None
    resume_skipped: list = field(default_factory=list)   # [(checkpoint path, why it was skipped)], newest first

    @property
    def is_main(self) -> bool:
        return self.dist.rank == 0

    @property
    def fingerprint(self) -> dict:
        return self.settings.fingerprint

    def task_state(self, rank: int | None = None) -> dict | None:
        """The task's ``state_dict`` saved for ``rank`` (default: this process's rank) in the checkpoint this run
        resumes, or None when it starts fresh. Apps read their resumed state through this accessor only: the
        checkpoint's layout belongs to the loop (``core.training.loop``)."""
        if self.ckpt is None:
            return None
        per_rank = self.ckpt.get("extra", {}).get("loop", {}).get("per_rank") or []
        r = self.dist.rank if rank is None else int(rank)
        if r >= len(per_rank):
            raise ValueError(f"checkpoint {self.ckpt_path} holds task state for {len(per_rank)} rank(s), not rank {r}")
        return per_rank[r].get("task")

    def state(self, name: str) -> dict | None:
        """A stateful object's saved state (``"sparsity"``, ``"pruner"``, ...) in the checkpoint to resume, or None."""
        if self.ckpt is None:
            return None
        return self.ckpt.get("states", {}).get(name)

    def write_identity(self) -> None:
        """``run.json``: who this run is (app, variant, seed, ranks, fingerprint, settings, when). Rank 0; the loop
        calls it when training starts from scratch."""
        if not self.is_main:
            return
        s = self.settings
        atomic_write_json(self.run_dir / "run.json", {
            "app": self.app, "variant": self.variant, "seed": s.seed, "world_size": self.dist.world_size,
            "fingerprint": s.fingerprint, "fingerprint_hash": fingerprint_hash(s.fingerprint),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "pid": os.getpid(),
            "settings": {k: v for k, v in asdict(s).items() if k != "fingerprint"}})

    def release(self) -> None:
        """Give up this run's folder lock now (it is also released when the ``Run`` is garbage-collected or the
        process ends). Idempotent."""
        fin = getattr(self, "_lock_finalizer", None)
        if fin is not None:
            fin()


def prepare_run(settings: LoopSettings, *, app: str, variant: str = "", runs_root: str | os.PathLike = "outputs") -> Run:
    """Validate, start distributed, make/check/lock the folder and decide the resume point (see module docstring)."""
    dev_arg = None if settings.device == "auto" else settings.device
    if dev_arg == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{settings.prefix}.device=cuda but no CUDA device is available (use auto or cpu)")
    info = init_distributed(device=dev_arg)
    device = info.device if isinstance(info.device, torch.device) else torch.device(info.device)
    if settings.amp == "auto":
        settings.amp = "bf16" if device.type == "cuda" else "off"
    if settings.amp == "fp16" and device.type != "cuda":
        raise ValueError(f"{settings.prefix}.amp=fp16 needs a CUDA device (on CPU use bf16 or off)")
    if settings.run_dir in (None, "", "auto"):
        run_dir = default_run_dir(app, settings.fingerprint, runs_root) if is_main_process() else None
        run_dir = Path(broadcast_object(str(run_dir) if run_dir is not None else None))
    else:
        run_dir = Path(settings.run_dir)
    run = Run(settings=settings, app=app, variant=variant, dist=info, device=device, run_dir=run_dir)
    if _finished_summary(run):          # archived results: read only, nothing written (the folder may be read-only)
        seed_everything(settings.seed)
        return run
    err = None
    if is_main_process():
        try:
            created = not run_dir.exists()
            _check_writable(run_dir)
            _lock_run_dir(run, created)
            clean_stale_temporaries(run_dir)
        except ValueError as e:
            err = str(e)
    err = broadcast_object(err)     # every rank stops with rank 0's error instead of waiting for it
    if err is not None:
        raise (RunFolderBusy(err) if "is in use by" in err else ValueError(err))
    _decide_resume(run)
    seed_everything(settings.seed)
    return run


class RunFolderBusy(ValueError):
    """Another live process holds the run folder's lock."""


# ---- the run folder's advisory lock -------------------------------------------------------------------------
# One flock per folder per process: preparing the same folder again in this process (a test, an in-process driver)
# shares it; another process gets RunFolderBusy. The lock file is never removed while a run may use it (removing a
# flock file lets two processes lock two different files), except when the folder was made by this process and is
# still empty apart from it when the lock is released (a run that failed before it started).
_HELD: dict[str, list] = {}     # resolved folder -> [fd, holders, created by this process]


def _lock_run_dir(run: Run, created: bool) -> None:
    import fcntl

    key = os.path.realpath(run.run_dir)
    if key in _HELD:
        _HELD[key][1] += 1
    else:
        path = Path(key) / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = ""
            try:
                holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
            except OSError:
                pass
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise ValueError(f"run folder {run.run_dir} is in use by another process (pid "
                                 f"{holder or 'unknown'}); wait for it to finish or choose another run_dir") from None
            raise ValueError(f"cannot lock run folder {run.run_dir} ({e}); choose another run_dir") from e
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _HELD[key] = [fd, 1, created]
    run._lock_finalizer = weakref.finalize(run, _unlock, key)


def _unlock(key: str) -> None:
    held = _HELD.get(key)
    if held is None:
        return
    held[1] -= 1
    if held[1] > 0:
        return
    fd, _, created = _HELD.pop(key)
    try:
        if created and {p.name for p in Path(key).iterdir()} <= {LOCK_FILE}:
            os.unlink(Path(key) / LOCK_FILE)      # a run that never started: leave no folder behind
            os.rmdir(key)
    except OSError:
        pass
    finally:
        os.close(fd)


@atexit.register
def _unlock_all() -> None:
    for key in list(_HELD):
        _HELD[key][1] = 1
        _unlock(key)


def _check_writable(run_dir: Path) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as e:
        raise ValueError(f"run folder {run_dir} is not writable ({type(e).__name__}: {e}); "
                         f"choose another run_dir") from e


def _finished_summary(run: Run) -> bool:
    """True (and ``run.finished``/``run.summary`` set) when the folder holds a finished run of this configuration;
    a finished run of another configuration is an error (its results are kept). Reads only."""
    summary_path = run.run_dir / "summary.json"
    if not summary_path.is_file():
        return False
    try:
        summary = json.loads(summary_path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{summary_path} is unreadable ({e}); move it away or choose another run_dir") from e
    if not isinstance(summary, dict) or summary.get("status") != "finished":
        return False
    diff = fingerprint_diff(summary.get("fingerprint", {}), run.settings.fingerprint)
    if diff:
        raise ValueError(f"run folder {run.run_dir} holds a finished run of a different configuration; its "
                         f"results are kept. Choose another run_dir. Differing keys:\n  " + "\n  ".join(diff))
    run.finished, run.summary = True, summary
    return True


def _checkpoints_newest_first(ckpt_dir: Path) -> list[Path]:
    files = [p for p in ckpt_dir.glob("step_*.pt") if not p.name.startswith(".")] if ckpt_dir.is_dir() else []
    nums = {p: int(p.stem.split("_")[-1]) if p.stem.split("_")[-1].isdigit() else -1 for p in files}
    return sorted(files, key=lambda p: (nums[p], p.stat().st_mtime), reverse=True)


def _decide_resume(run: Run) -> None:
    s, run_dir = run.settings, run.run_dir
    if _finished_summary(run):      # finished while this process waited for the folder
        return
    ckpt_dir = run_dir / CHECKPOINT_DIR
    if s.resume == "never":
        if latest_checkpoint(ckpt_dir, "step_*.pt") is not None:
            raise ValueError(f"run folder {run_dir} already holds checkpoints; continue it with "
                             f"{s.prefix}.resume=auto, or choose another run_dir (nothing was overwritten)")
        return
    if s.resume in ("auto", "force"):
        candidates = _checkpoints_newest_first(ckpt_dir)
        if not candidates:
            return
    else:
        candidates = [Path(s.resume)]     # an explicit file: that one or an error
    ckpt = path = None
    for cand in candidates:
        try:
            ckpt = load_checkpoint(cand)
            if not isinstance(ckpt.get("extra", {}).get("loop"), dict):
                raise ValueError(f"corrupt checkpoint {cand}: it holds no loop state")
            path = cand
            break
        except (ValueError, OSError, UnsafeFileError) as e:   # UnsafeFileError: nothing was unpickled
            if len(candidates) == 1 and s.resume not in ("auto", "force"):
                raise
            why = str(e).splitlines()[0][:300]
            run.resume_skipped.append((str(cand), why))
            if run.is_main:
                log.warning("resume: skipping checkpoint %s (%s); trying an older one", cand, why)
    if ckpt is None:
        raise ValueError(f"run folder {run_dir} holds checkpoints but none of them loads ("
                         + "; ".join(f"{p}: {w}" for p, w in run.resume_skipped)
                         + f"); move {ckpt_dir} away to start afresh, or choose another run_dir")
    meta = ckpt.get("extra", {}).get("loop", {})
    diff = fingerprint_diff(meta.get("fingerprint", {}), s.fingerprint)
    if diff and s.resume != "force":
        raise ValueError(f"checkpoint {path} was written by a different configuration; refusing to resume it "
                         f"under this one (use {s.prefix}.resume=force to resume anyway, or another run_dir). "
                         f"Differing keys:\n  " + "\n  ".join(diff))
    ws = meta.get("world_size", run.dist.world_size)
    if ws != run.dist.world_size:
        raise ValueError(f"checkpoint {path} was written by {ws} process(es), this run has {run.dist.world_size}: "
                         f"exact resume needs the same number of ranks")
    run.ckpt, run.ckpt_path = ckpt, path
