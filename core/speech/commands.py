"""Arabic Speech Commands (ASC): the corpus in its original layout, energy trimming, and a speaker-independent
connected-keyword corpus built from it.

The corpus (Ghandoura, Hjabo, Al Dakkak 2021, CC BY 4.0): 30 speakers x 40 keywords x 10 rounds of one-second
clips, official speaker-disjoint split 18 / 6 / 6 (``train.csv``, ``val.csv``, ``test.csv``; columns ``file,class``).
Layout (the original, 16 kHz WAV; or a copy with every clip as FLAC, any sample rate)::

    <root>/dataset/<keyword>/<speaker 8 digits>_NO_<round 01-10>.{wav,flac}
    <root>/{train,val,test}.csv          # file,class  (file relative to <root>)
    <root>/background_noise/*.{wav,flac} # optional: real noise recordings

``scan_asc(root, keywords)`` reads it (every file checked up front; a bad one raises naming it, or is skipped and
counted); ``energy_trim`` finds the spoken part of a clip; ``build_keyword_corpus(cache, spec, source)`` writes
connected-keyword utterances: 2-6 keywords of ONE speaker, each clip trimmed by energy with a margin, joined with
real pauses (50-300 ms), speed-perturbed and gain-varied (training split only), with noise (white or the real
background recordings) at an SNR drawn per utterance. Splits follow the official speaker split: train on the 18
training speakers, dev on the 6 validation speakers, test on the 6 unseen test speakers. Dev and test use every clip
of their speakers exactly once per pass (``eval_passes`` passes, each a fresh partition into utterances), so test
words are not dominated by a few reused recordings.

``SHIPPED_ROOT`` is the subset that ships with the project (``core/speech/data/arabic_speech_commands``: the ten
digit keywords of all 30 speakers, trimmed with 100 ms margins, 8 kHz FLAC; made by ``make_subset``).
"""
from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio

from core.speech.datasets import SkipReport
from core.validation import resolve_inside

__all__ = ["ASC_KEYWORDS", "DIGIT_KEYWORDS", "OFFICIAL_SPLIT", "SHIPPED_ROOT", "Clip", "KeywordCorpusSpec", "scan_asc",
           "energy_trim", "active_span", "build_keyword_corpus", "keyword_token", "make_subset", "NOISE_KINDS"]

log = logging.getLogger(__name__)

_BUILDER_VERSION = 1
SHIPPED_ROOT = Path(__file__).parent / "data" / "arabic_speech_commands"
DIGIT_KEYWORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ASC_KEYWORDS = ("backward", "cancel", "close", "digit", "direction", "disable", "down", "eight", "enable", "enter",
                "five", "forward", "four", "left", "move", "next", "nine", "no", "ok", "one", "open", "options",
                "previous", "receive", "record", "right", "rotate", "send", "seven", "six", "start", "stop", "three",
                "two", "undo", "up", "yes", "zero", "zoom in", "zoom out")
# the official speaker-disjoint split (train.csv / val.csv / test.csv of the corpus); used when a copy has no CSV
# files and to check the CSV files of a copy
OFFICIAL_SPLIT = {
    "train": ("00000001", "00000005", "00000006", "00000009", "00000011", "00000013", "00000015", "00000016",
              "00000017", "00000018", "00000019", "00000020", "00000022", "00000023", "00000024", "00000027",
              "00000029", "00000030"),
    "dev": ("00000002", "00000007", "00000008", "00000012", "00000021", "00000025"),
    "test": ("00000003", "00000004", "00000010", "00000014", "00000026", "00000028"),
}
_CSV = {"train": "train.csv", "dev": "val.csv", "test": "test.csv"}
_NAME = re.compile(r"^(\d{8})_NO_(\d{2})$")
_AUDIO = (".wav", ".flac")
NOISE_KINDS = ("none", "white", "background", "mix")
_SPLIT_CODE = {"train": 0, "dev": 1, "test": 2}


def keyword_token(keyword: str) -> str:
    """The word-unit spelling of a keyword (``"zoom in"`` -> ``"zoom_in"``: one token, no whitespace)."""
    return keyword.strip().replace(" ", "_")


@dataclass(frozen=True)
class Clip:
    """One recording: keyword (the corpus' English gloss), speaker id, round 1-10, file, official split."""

    keyword: str
    speaker: str
    round: int
    path: Path
    split: str


# ---------------------------------------------------------------------------------------------------- scanning

def _keywords(keywords) -> tuple[str, ...]:
    if keywords in (None, "all"):
        return ASC_KEYWORDS
    if keywords == "digits":
        return DIGIT_KEYWORDS
    if isinstance(keywords, str):
        keywords = [keywords]
    kws = tuple(str(k).replace("_", " ") for k in keywords)
    bad = [k for k in kws if k not in ASC_KEYWORDS]
    if bad or not kws:
        raise ValueError(f"keywords={list(keywords)!r}: unknown {bad}; use 'digits', 'all' or names from "
                         f"{', '.join(keyword_token(k) for k in ASC_KEYWORDS)}")
    if len(set(kws)) != len(kws):
        raise ValueError(f"keywords={list(keywords)!r} repeats a keyword")
    return kws


def _csv_rows(root: Path, split: str) -> list[tuple[str, str]] | None:
    p = root / _CSV[split]
    if not p.is_file():
        return None
    with open(p, newline="", encoding="utf-8") as f:
        rd = csv.DictReader(f)
        if not rd.fieldnames or "file" not in rd.fieldnames or "class" not in rd.fieldnames:
            raise ValueError(f"{p}: header must name the columns 'file' and 'class'; got {rd.fieldnames}")
        return [(r["file"], r["class"]) for r in rd]


def scan_asc(root: str | os.PathLike = SHIPPED_ROOT, keywords="digits", *, on_error: str = "raise",
             allow_symlinks: bool = False) -> tuple[dict[str, list[Clip]], SkipReport]:
    """Every clip of ``keywords`` under ``root`` by official split (``{"train", "dev", "test"}``), checked up front.

    The split comes from ``train.csv`` / ``val.csv`` / ``test.csv`` when present (a file listed as ``.wav`` that
    exists only as ``.flac``, or the reverse, is found), else from the speaker folders and ``OFFICIAL_SPLIT``.
    A speaker in two splits, a file name that does not parse, a missing/unreadable/empty file is an error naming
    the file (``on_error="skip"``: counted in the report instead). Paths stay inside ``root`` (symlinks out of it
    are refused unless ``allow_symlinks``).
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error={on_error!r}; valid choices: raise, skip")
    root = Path(root)
    if not (root / "dataset").is_dir():
        raise FileNotFoundError(f"no Arabic Speech Commands corpus at {root} (expected {root / 'dataset'}/<keyword>/"
                                f"<speaker>_NO_<round>.wav|flac and train.csv/val.csv/test.csv)")
    kws = set(_keywords(keywords))
    entries: list[tuple[str, str, str]] = []          # (relative file, keyword, split)
    rows = {s: _csv_rows(root, s) for s in _CSV}
    if all(r is not None for r in rows.values()):
        for split, rs in rows.items():
            entries += [(f, c, split) for f, c in rs if c in kws]
    else:
        spk_split = {spk: s for s, spks in OFFICIAL_SPLIT.items() for spk in spks}
        for kw in sorted(kws):
            d = root / "dataset" / kw
            if not d.is_dir():
                raise FileNotFoundError(f"keyword folder not found: {d}")
            for p in sorted(d.iterdir()):
                if p.suffix.lower() in _AUDIO:
                    spk = p.stem.split("_")[0]
                    if spk not in spk_split:
                        raise ValueError(f"{p}: speaker {spk!r} is not in the official split")
                    entries.append((f"dataset/{kw}/{p.name}", kw, spk_split[spk]))
    out: dict[str, list[Clip]] = {"train": [], "dev": [], "test": []}
    report = SkipReport()
    for rel, kw, split in entries:
        try:
            p = resolve_inside(root, rel, what=f"{root}: {_CSV[split]} entry", allow_symlinks=allow_symlinks)
            if not p.is_file():
                alt = p.with_suffix(".flac" if p.suffix.lower() == ".wav" else ".wav")
                if alt.is_file():
                    p = resolve_inside(root, alt.relative_to(root), what=f"{root}: {_CSV[split]} entry",
                                       allow_symlinks=allow_symlinks)
                else:
                    raise FileNotFoundError(f"audio file not found: {p} (listed in {root / _CSV[split]})")
            m = _NAME.match(p.stem)
            if m is None:
                raise ValueError(f"{p}: file name does not parse as <speaker 8 digits>_NO_<round 2 digits>")
            try:
                info = sf.info(str(p))
            except Exception as e:  # soundfile raises several types: re-raise with the file name
                raise ValueError(f"cannot read audio file {p}: {e}") from e
            if info.frames <= 0:
                raise ValueError(f"{p}: empty audio (0 samples)")
        except (ValueError, FileNotFoundError) as e:
            if on_error == "raise":
                raise
            report.skipped.append((rel, str(e)))
            log.warning("skipping clip: %s", e)
            continue
        out[split].append(Clip(kw, m.group(1), int(m.group(2)), p, split))
    seen: dict[str, str] = {}
    for split, clips in out.items():
        for c in clips:
            if seen.setdefault(c.speaker, split) != split:
                raise ValueError(f"{root}: speaker {c.speaker} is in both {seen[c.speaker]} and {split}: the split "
                                 f"must be speaker-disjoint")
        if not clips:
            raise ValueError(f"{root}: no clip of keywords {sorted(kws)} in the {split} split")
    for v in out.values():
        v.sort(key=lambda c: (c.speaker, c.keyword, c.round))
    return out, report


# ---------------------------------------------------------------------------------------------------- trimming

def active_span(wav: np.ndarray | torch.Tensor, sample_rate: int, *, win_ms: float = 25.0, hop_ms: float = 10.0,
                rel_db: float = 35.0, floor_frac: float | None = 0.2, bridge_ms: float = 200.0,
                keep: str = "strongest", min_ms: float = 40.0, refine_db: float | None = None) -> tuple[int, int] | None:
    """(start, end) samples of the spoken part of ``wav`` (S,), or None if nothing stands above the floor.

    Frame energies (``win_ms`` windows every ``hop_ms``) in dB; a frame is active above
    ``max(peak - rel_db, floor + floor_frac * (peak - floor))`` (floor: the 10th percentile), so both clean
    clips (floor -70 dB) and clips with room noise (floor -40 dB) are cut at the word; ``floor_frac=None``: above
    ``peak - rel_db`` only (then cutting a clip at its span and finding the span again gives the same span). Gaps
    shorter than ``bridge_ms`` are bridged (stops inside a word, two-word keywords). ``keep="strongest"``: the run
    with the most energy is the word (one keyword per clip: a click or a breath further away is left out);
    ``keep="outer"``: from the first to the last run of at least ``min_ms`` (any number of words).
    ``refine_db``: cut the span further to its first and last sample within ``refine_db`` of the loudest sample
    (frames then also cover the clip's last samples): with ``floor_frac=None`` the span of the same words is then
    exactly the same with or without quiet margins around them (``sparselab-asr transcribe``).
    """
    x = wav.numpy() if isinstance(wav, torch.Tensor) else np.asarray(wav)
    x = x.astype(np.float64, copy=False)
    win, hop = max(1, int(sample_rate * win_ms / 1000)), max(1, int(sample_rate * hop_ms / 1000))
    if x.size < win and refine_db is None:
        return (0, int(x.size)) if x.size and np.abs(x).max() > 0 else None
    xf = np.concatenate([x, np.zeros(win)]) if refine_db is not None else x
    frames = np.lib.stride_tricks.sliding_window_view(xf, win)[::hop][: max(1, -(-x.size // hop))]
    db = 10 * np.log10(np.mean(frames * frames, axis=1) + 1e-12)
    peak, floor = float(db.max()), float(np.percentile(db, 10))
    if peak < -100:                               # digital silence
        return None
    if floor_frac is None:
        thr = peak - rel_db
    else:
        if peak - floor < 6.0:                    # no word stands out of the background
            return 0, int(x.size)
        thr = max(peak - rel_db, floor + floor_frac * (peak - floor))
    act = db > thr
    idx = np.flatnonzero(act)
    if idx.size == 0:
        return None
    # runs of active frames, bridging short gaps
    runs, start, prev = [], int(idx[0]), int(idx[0])
    bridge = max(1, int(round(bridge_ms / hop_ms)))
    for i in idx[1:]:
        i = int(i)
        if i - prev > bridge:
            runs.append((start, prev))
            start = i
        prev = i
    runs.append((start, prev))
    if keep == "outer":
        long = [r for r in runs if (r[1] - r[0] + 1) * hop_ms >= min_ms] or runs
        a, b = long[0][0], long[-1][1]
    else:
        power = 10 ** (db / 10)
        a, b = max(runs, key=lambda r: float(power[r[0]:r[1] + 1].sum()))
    start, end = a * hop, min(int(x.size), b * hop + win)
    if refine_db is not None:
        mag = np.abs(x[start:end])
        loud = np.flatnonzero(mag >= np.abs(x).max() * 10 ** (-refine_db / 20))
        if loud.size:
            start, end = start + int(loud[0]), start + int(loud[-1]) + 1
    return start, end


def energy_trim(wav: np.ndarray | torch.Tensor, sample_rate: int, margin_ms: float = 50.0, **kw):
    """``wav`` cut to its spoken part (:func:`active_span`) plus ``margin_ms`` of the clip's own audio on each side
    (as much as the clip has); the input unchanged if no part stands out."""
    span = active_span(wav, sample_rate, **kw)
    if span is None:
        return wav
    m = int(round(margin_ms / 1000 * sample_rate))
    return wav[max(0, span[0] - m): span[1] + m]


# ---------------------------------------------------------------------------------------------------- the corpus

def _pair(name: str, v, lo: float = -np.inf, hi: float = np.inf) -> tuple[float, float]:
    try:
        a, b = (float(x) for x in v)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name}={v!r} must be a (low, high) pair of numbers") from e
    if not (lo <= a <= b <= hi):
        raise ValueError(f"{name}={v!r} must satisfy {lo} <= low <= high <= {hi}")
    return a, b


@dataclass(frozen=True)
class KeywordCorpusSpec:
    """What a connected-keyword corpus is made of (validated on construction; errors name the field)."""

    keywords: tuple[str, ...] = DIGIT_KEYWORDS        # corpus glosses ("zoom in"); see keyword_token for units
    n_train: int = 3000                                # training utterances (clips reused across utterances)
    eval_passes: int = 2                               # dev/test: every clip of their speakers once per pass
    min_words: int = 2
    max_words: int = 6
    margin_ms: tuple[float, float] = (20.0, 80.0)      # the clip's own audio kept around its spoken part
    pause_ms: tuple[float, float] = (50.0, 300.0)      # silence between keywords (before noise)
    edge_ms: tuple[float, float] = (50.0, 200.0)       # silence before the first and after the last keyword
    speed: tuple[float, float] = (0.9, 1.1)            # speed perturbation (training utterances only)
    gain_db: tuple[float, float] = (-6.0, 6.0)         # per-keyword gain (training utterances only)
    noise: str = "mix"                                 # none | white | background | mix (white or background)
    snr_db: tuple[float, float] = (10.0, 30.0)
    noise_prob: float = 1.0
    sample_rate: int = 8000
    seed: int = 0

    def __post_init__(self) -> None:
        kws = _keywords(list(self.keywords) if not isinstance(self.keywords, str) else self.keywords)
        object.__setattr__(self, "keywords", kws)
        for k, lo in (("n_train", 1), ("eval_passes", 1), ("min_words", 1), ("sample_rate", 1000), ("seed", 0)):
            v = getattr(self, k)
            if isinstance(v, bool) or not float(v).is_integer() or int(v) < lo:
                raise ValueError(f"{k}={v!r} must be an integer >= {lo}")
            object.__setattr__(self, k, int(v))
        if isinstance(self.max_words, bool) or int(self.max_words) < self.min_words:
            raise ValueError(f"max_words={self.max_words!r} must be an integer >= min_words={self.min_words}")
        object.__setattr__(self, "max_words", int(self.max_words))
        for k, lo, hi in (("margin_ms", 0.0, 1000.0), ("pause_ms", 0.0, 5000.0), ("edge_ms", 0.0, 5000.0),
                          ("speed", 0.5, 2.0), ("gain_db", -40.0, 20.0), ("snr_db", -20.0, 100.0)):
            object.__setattr__(self, k, _pair(k, getattr(self, k), lo, hi))
        if self.noise not in NOISE_KINDS:
            raise ValueError(f"noise={self.noise!r}; valid choices: {', '.join(NOISE_KINDS)}")
        if not 0.0 <= float(self.noise_prob) <= 1.0:
            raise ValueError(f"noise_prob={self.noise_prob} must be in [0, 1]")
        object.__setattr__(self, "noise_prob", float(self.noise_prob))

    def params(self) -> dict:
        d = asdict(self)
        d.update({k: list(v) for k, v in d.items() if isinstance(v, tuple)})
        d["version"] = _BUILDER_VERSION
        return d


def _read(path: Path, sr: int) -> np.ndarray:
    w, r = sf.read(str(path), dtype="float32", always_2d=True)
    w = w.mean(axis=1)
    if r != sr:
        w = torchaudio.functional.resample(torch.from_numpy(np.ascontiguousarray(w)), r, sr).numpy()
    return w.astype(np.float32)


def _speed(wav: np.ndarray, factor: float, sr: int) -> np.ndarray:
    """Kaldi-style speed perturbation by resampling (tempo and pitch together), factor in 1/100 steps."""
    q = int(round(factor * 100))
    if q == 100:
        return wav
    return torchaudio.functional.resample(torch.from_numpy(wav), orig_freq=q * sr // 100, new_freq=sr).numpy()


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / (np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-8)).astype(np.float32)


def _noise_bank(source: Path, sr: int) -> dict[str, list[np.ndarray]]:
    """Real background recordings: the first 70 % of each for training utterances, the rest for dev/test."""
    d = source / "background_noise"
    files = sorted(p for p in d.iterdir() if p.suffix.lower() in _AUDIO) if d.is_dir() else []
    bank: dict[str, list[np.ndarray]] = {"train": [], "eval": []}
    for p in files:
        w = _read(p, sr)
        cut = int(0.7 * len(w))
        bank["train"].append(w[:cut])
        bank["eval"].append(w[cut:])
    return bank


def _partition(rng: np.random.Generator, n: int, lo: int, hi: int) -> list[int]:
    """Sizes in [lo, hi] summing to n (the last group absorbs what is left when it would be too small)."""
    sizes, left = [], n
    while left > 0:
        k = int(rng.integers(lo, hi + 1))
        if left - k < lo and left - k > 0:
            k = left if left <= hi else left - lo
        k = min(k, left)
        sizes.append(k)
        left -= k
    return sizes


def _plan(rng_seed: int, clips: dict[str, list[Clip]], spec: KeywordCorpusSpec) -> dict[str, list[list[Clip]]]:
    """Which clips make each utterance: training draws at random (one speaker per utterance, keywords uniform,
    a random round); dev/test partition each speaker's clips into utterances, once per pass."""
    out: dict[str, list[list[Clip]]] = {"train": [], "dev": [], "test": []}
    by = {}
    for c in clips["train"]:
        by.setdefault(c.speaker, {}).setdefault(c.keyword, []).append(c)
    rng = np.random.default_rng([spec.seed, 11, rng_seed])
    speakers = sorted(by)
    for _ in range(spec.n_train):
        spk = speakers[int(rng.integers(len(speakers)))]
        kws = sorted(by[spk])
        n = int(rng.integers(spec.min_words, spec.max_words + 1))
        utt = []
        for _ in range(n):
            cands = by[spk][kws[int(rng.integers(len(kws)))]]
            utt.append(cands[int(rng.integers(len(cands)))])
        out["train"].append(utt)
    for split in ("dev", "test"):
        spk_clips: dict[str, list[Clip]] = {}
        for c in clips[split]:
            spk_clips.setdefault(c.speaker, []).append(c)
        for p in range(spec.eval_passes):
            r = np.random.default_rng([spec.seed, _SPLIT_CODE[split], 101 + p])
            for spk in sorted(spk_clips):
                cs = spk_clips[spk]
                order = r.permutation(len(cs))
                pos = 0
                for k in _partition(r, len(cs), spec.min_words, spec.max_words):
                    out[split].append([cs[j] for j in order[pos:pos + k]])
                    pos += k
    return out


def _make(rng: np.random.Generator, utt: list[Clip], wavs: dict[Path, np.ndarray], spec: KeywordCorpusSpec,
          split: str, noise: list[np.ndarray]):
    """One utterance: (wav, word spans [(i, start_s, end_s)], snr or None, speed, noise kind)."""
    sr = spec.sample_rate
    train = split == "train"
    pieces = []
    for c in utt:
        w = wavs[c.path]
        span = active_span(w, sr) or (0, len(w))
        m = int(round(rng.uniform(*spec.margin_ms) / 1000 * sr))
        a, b = max(0, span[0] - m), min(len(w), span[1] + m)
        g = 10 ** (float(rng.uniform(*spec.gain_db)) / 20) if train else 1.0
        pieces.append((w[a:b] * g, span[0] - a, span[1] - a))       # audio, spoken part inside it
    lead = int(rng.uniform(*spec.edge_ms) / 1000 * sr)
    tail = int(rng.uniform(*spec.edge_ms) / 1000 * sr)
    pos, starts = lead, []
    for k, (w, _, _) in enumerate(pieces):
        if k:
            pos += int(round(rng.uniform(*spec.pause_ms) / 1000 * sr))
        starts.append(pos)
        pos += len(w)
    total = pos + tail
    wav = np.zeros(total, dtype=np.float32)
    for s, (w, _, _) in zip(starts, pieces):
        wav[s:s + len(w)] += w
    factor = round(float(rng.uniform(*spec.speed)), 2) if train else 1.0
    wav = _speed(wav, factor, sr)
    scale = len(wav) / total
    words = [[k, round((s + a) * scale / sr, 4), round((s + b) * scale / sr, 4)]
             for k, (s, (_, a, b)) in enumerate(zip(starts, pieces))]
    snr, kind = None, "none"
    if spec.noise != "none" and rng.random() < spec.noise_prob:
        snr = float(rng.uniform(*spec.snr_db))
        kind = spec.noise
        if kind == "mix":
            kind = "background" if noise and rng.random() < 0.5 else "white"
        if kind == "background" and not noise:
            kind = "white"
        m = len(wav)
        if kind == "white":
            nz = rng.standard_normal(m).astype(np.float32)
        else:
            src = noise[int(rng.integers(len(noise)))]
            reps = int(np.ceil((m + 1) / len(src))) + 1
            long = np.tile(src, reps)
            s0 = int(rng.integers(0, len(long) - m))
            nz = long[s0:s0 + m]
        spoken = np.concatenate([wav[int(a * sr):int(b * sr)] for _, a, b in words]) if words else wav
        sig = float(np.sqrt(np.mean(spoken.astype(np.float64) ** 2))) + 1e-8
        wav = wav + _unit(nz) * sig / (10 ** (snr / 20))
    peak = float(np.abs(wav).max())
    if peak > 0.99:
        wav = wav * (0.99 / peak)
    return wav.astype(np.float32), words, snr, factor, kind


def build_keyword_corpus(root: str | os.PathLike, spec: KeywordCorpusSpec | None = None, *,
                         source: str | os.PathLike = SHIPPED_ROOT, on_error: str = "raise", allow_symlinks: bool = False,
                         progress=None) -> Path:
    """Build (or reuse) the connected-keyword corpus under ``root`` from the ASC copy at ``source``; returns the
    manifest path. Cached by the spec, the builder version and the list of source files (names and sizes)."""
    spec = spec or KeywordCorpusSpec()
    source = Path(source)
    clips, report = scan_asc(source, spec.keywords, on_error=on_error, allow_symlinks=allow_symlinks)
    params = spec.params()
    listing = "\n".join(f"{c.split}:{c.path.relative_to(source)}:{c.path.stat().st_size}"
                        for s in ("train", "dev", "test") for c in clips[s])
    params["source"] = hashlib.sha1(listing.encode()).hexdigest()[:12]
    key = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:10]
    out_dir = Path(root) / f"asc-{key}"
    manifest, params_file = out_dir / "manifest.jsonl", out_dir / "params.json"

    return build_once(out_dir, manifest, params_file, params,
                      lambda: _write_corpus(out_dir, manifest, params_file, params, spec, source, clips, report,
                                            progress))


def build_once(out_dir: Path, manifest: Path, params_file: Path, params: dict, write) -> Path:
    """A cached corpus: ``manifest`` when ``params_file`` records exactly ``params`` (a finished build of these
    settings), else ``write()`` builds it under ``build_lock(out_dir)`` (two runs starting together build it once;
    the second finds it ready). ``params_file`` is written last by ``write``, so a torn build is rebuilt."""
    def ready() -> bool:
        try:
            return manifest.is_file() and {k: v for k, v in json.loads(params_file.read_text()).items()
                                           if k != "skipped"} == params
        except (OSError, json.JSONDecodeError):
            return False

    if not ready():
        with build_lock(out_dir):
            if not ready():
                write()
    return manifest


def build_lock(folder: Path):
    """An exclusive advisory lock (``fcntl.flock``) on ``folder/.build.lock``: a second process building the same
    cached corpus waits for the first, then finds it ready."""
    import contextlib
    import fcntl

    @contextlib.contextmanager
    def _lock():
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".build.lock", "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    return _lock()


def _write_corpus(out_dir, manifest, params_file, params, spec, source, clips, report, progress) -> None:
    sr = spec.sample_rate
    wavs = {c.path: _read(c.path, sr) for s in clips.values() for c in s}
    bank = _noise_bank(source, sr)
    plan = _plan(0, clips, spec)
    (out_dir / "audio").mkdir(parents=True, exist_ok=True)
    jobs = [(s, i) for s in ("train", "dev", "test") for i in range(len(plan[s]))]
    it = progress(jobs, total=len(jobs), desc="keywords") if progress else jobs
    lines = []
    for split, i in it:
        utt = plan[split][i]
        rng = np.random.default_rng([spec.seed, _SPLIT_CODE[split], i])
        wav, words, snr, factor, kind = _make(rng, utt, wavs, spec, split, bank["train" if split == "train" else "eval"])
        uid = f"{split}-{i:05d}"
        rel = f"audio/{uid}.flac"
        sf.write(out_dir / rel, wav, sr, subtype="PCM_16")
        lines.append({"id": uid, "path": rel, "duration": round(len(wav) / sr, 4),
                      "text": " ".join(keyword_token(c.keyword) for c in utt), "speaker": utt[0].speaker,
                      "split": split, "sample_rate": sr, "snr_db": None if snr is None else round(snr, 2),
                      "noise": kind, "speed": factor, "clips": [str(c.path.relative_to(source)) for c in utt],
                      "words": words})
    tmp = manifest.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_text("".join(json.dumps(line) + "\n" for line in lines))
    os.replace(tmp, manifest)
    tmp = params_file.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps(dict(params, skipped=report.skipped), sort_keys=True))
    os.replace(tmp, params_file)


# ---------------------------------------------------------------------------------------------------- the shipped subset

def make_subset(src: str | os.PathLike, dst: str | os.PathLike, keywords="digits", *, margin_ms: float = 100.0,
                sample_rate: int = 8000) -> dict:
    """Write the shipped subset: ``keywords``' clips of every speaker from the corpus at ``src``, each trimmed to its
    spoken part plus ``margin_ms`` of its own audio, as 16-bit FLAC at ``sample_rate``, in the original layout
    (``dataset/<keyword>/<file>.flac``, ``train.csv``/``val.csv``/``test.csv`` listing the kept files,
    ``background_noise/``). Returns counts (clips, seconds before and after trimming)."""
    src, dst = Path(src), Path(dst)
    clips, _ = scan_asc(src, keywords)
    before = after = 0.0
    for split, cs in clips.items():
        rows = []
        for c in cs:
            w = _read(c.path, sample_rate)
            t = energy_trim(w, sample_rate, margin_ms)
            rel = Path("dataset") / c.keyword / (c.path.stem + ".flac")
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            sf.write(dst / rel, t, sample_rate, subtype="PCM_16")
            rows.append((rel.as_posix(), c.keyword))
            before += len(w) / sample_rate
            after += len(t) / sample_rate
        with open(dst / _CSV[split], "w", newline="", encoding="utf-8") as f:
            wr = csv.writer(f)
            wr.writerow(["file", "class"])
            wr.writerows(rows)
    nd = src / "background_noise"
    if nd.is_dir():
        (dst / "background_noise").mkdir(parents=True, exist_ok=True)
        for p in sorted(nd.iterdir()):
            if p.suffix.lower() in _AUDIO:
                sf.write(dst / "background_noise" / (p.stem + ".flac"), _read(p, sample_rate), sample_rate,
                         subtype="PCM_16")
    return {"clips": sum(len(v) for v in clips.values()), "seconds_before": before, "seconds_after": after}


if __name__ == "__main__":   # python -m core.speech.commands SRC DST [keywords]
    import sys

    print(make_subset(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "digits"))
