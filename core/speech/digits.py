"""Connected-digit corpus (TIDIGITS-like) built from the shipped Free Spoken Digit Dataset recordings.

``build_digit_corpus(root, spec)`` writes ``<root>/digits-<key>/{audio/*.flac, manifest.jsonl, params.json}``
and returns the manifest path (rebuilt only when the spec, the builder version or the recordings change).
Each utterance is 1-7 (``min_digits``..``max_digits``) recordings of ONE speaker, concatenated with pauses
drawn from ``pause_ms`` (negative = the next recording overlaps the previous one by that much, added
sample-wise), then speed-perturbed (resampling, as Kaldi's speed perturbation: tempo and pitch change
together), each digit with its own gain, and noise added at an SNR drawn from ``snr_db``:

* ``babble``: 3-6 overlapping streams of other speakers' recordings (from the same split's recordings, so
  test audio never contains training recordings, except with ``heldout_speaker``, see below);
* ``white``: Gaussian noise;
* ``espeak``: synthetic espeak-ng sentences (the embedded corpus' synthesizer) as a talker in the background;
* ``none``: clean.

Split (FSDD's official one, by recording index): indices 0-4 of every speaker and digit are the test
recordings, 5..(5 + dev_recordings - 1) the dev recordings (carved from train by recording, so dev and
train never share a recording), the rest training. ``heldout_speaker="theo"`` trains and tunes on the
other four speakers (indices >= 5) and tests on every recording of the held-out speaker (babble for its
test utterances then comes from the other speakers' index 0-4 recordings).

Manifest lines (same layout as :mod:`core.speech.corpus`)::

    {"id", "path", "duration", "text", "speaker", "split", "sample_rate", "snr_db", "noise", "speed",
     "digits": [0-9, ...], "recordings": ["7_jackson_32", ...], "words": [[word_index, start_s, end_s], ...]}

Word timings come from the construction (where each recording was placed, after speed perturbation).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio

from core.speech.datasets import SkipReport

__all__ = ["DIGIT_WORDS", "FSDD_ROOT", "FSDD_SPEAKERS", "NOISE_KINDS", "Recording", "DigitCorpusSpec", "scan_fsdd",
           "build_digit_corpus", "split_recordings"]

log = logging.getLogger(__name__)

_BUILDER_VERSION = 1
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
FSDD_ROOT = Path(__file__).parent / "data" / "fsdd" / "recordings"
FSDD_SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo")
FSDD_SAMPLE_RATE = 8000
NOISE_KINDS = ("none", "white", "babble", "espeak")
_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)$")
_SPLIT_CODE = {"train": 0, "dev": 1, "test": 2}


@dataclass(frozen=True)
class Recording:
    """One FSDD recording: ``{digit}_{speaker}_{index}.{wav,flac}``."""

    digit: int
    speaker: str
    index: int
    path: Path

    @property
    def name(self) -> str:
        return f"{self.digit}_{self.speaker}_{self.index}"


def _pair(name: str, v, lo: float = -np.inf, hi: float = np.inf) -> tuple[float, float]:
    from core.speech.commands import _pair as pair      # one (low, high) check for both corpus builders

    return pair(name, v, lo, hi)


def _int(name: str, v, lo: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) and not (isinstance(v, float) and v.is_integer()):
        raise ValueError(f"{name}={v!r} must be an integer")
    v = int(v)
    if v < lo:
        raise ValueError(f"{name}={v} must be >= {lo}")
    return v


@dataclass
class DigitCorpusSpec:
    """What a connected-digit corpus is made of (validated on construction: errors name the field)."""

    n_train: int = 2000
    n_dev: int = 200
    n_test: int = 500
    min_digits: int = 1
    max_digits: int = 7
    pause_ms: tuple[float, float] = (-30.0, 300.0)    # < 0: overlap with the previous recording
    edge_ms: tuple[float, float] = (50.0, 200.0)      # silence before the first and after the last digit
    speed: tuple[float, float] = (0.9, 1.1)           # speed perturbation factor (> 1: faster, shorter)
    gain_db: tuple[float, float] = (-6.0, 6.0)        # per-digit gain
    noise: str = "babble"                             # none | white | babble | espeak
    snr_db: tuple[float, float] = (5.0, 20.0)
    noise_prob: float = 1.0                           # fraction of utterances that get noise
    dev_recordings: int = 5                           # indices 5..5+dev_recordings-1 form the dev split
    heldout_speaker: str | None = None                # test on this speaker only, train/dev on the others
    sample_rate: int = FSDD_SAMPLE_RATE
    seed: int = 0
    audio_format: str = "flac"                        # flac | wav

    def __post_init__(self) -> None:
        self.n_train = _int("n_train", self.n_train, 1)
        self.n_dev = _int("n_dev", self.n_dev, 1)
        self.n_test = _int("n_test", self.n_test, 1)
        self.min_digits = _int("min_digits", self.min_digits, 1)
        self.max_digits = _int("max_digits", self.max_digits, self.min_digits)
        self.pause_ms = _pair("pause_ms", self.pause_ms, -200.0, 5000.0)
        self.edge_ms = _pair("edge_ms", self.edge_ms, 0.0, 5000.0)
        self.speed = _pair("speed", self.speed, 0.5, 2.0)
        self.gain_db = _pair("gain_db", self.gain_db, -40.0, 20.0)
        self.snr_db = _pair("snr_db", self.snr_db, -20.0, 100.0)
        if self.noise not in NOISE_KINDS:
            raise ValueError(f"noise={self.noise!r}; valid choices: {', '.join(NOISE_KINDS)}")
        if not 0.0 <= float(self.noise_prob) <= 1.0:
            raise ValueError(f"noise_prob={self.noise_prob} must be in [0, 1]")
        self.noise_prob = float(self.noise_prob)
        self.dev_recordings = _int("dev_recordings", self.dev_recordings, 1)
        if self.dev_recordings > 40:
            raise ValueError(f"dev_recordings={self.dev_recordings} leaves no training recordings (max 40)")
        if self.heldout_speaker is not None and not isinstance(self.heldout_speaker, str):
            raise ValueError(f"heldout_speaker={self.heldout_speaker!r} must be a speaker name or None")
        self.sample_rate = _int("sample_rate", self.sample_rate, 1000)
        self.seed = _int("seed", self.seed, 0)
        if self.audio_format not in ("flac", "wav"):
            raise ValueError(f"audio_format={self.audio_format!r}; valid choices: flac, wav")

    def params(self) -> dict:
        d = asdict(self)
        d.update({k: list(v) for k, v in d.items() if isinstance(v, tuple)})
        d["version"] = _BUILDER_VERSION
        return d


def scan_fsdd(root: str | os.PathLike = FSDD_ROOT, *, sample_rate: int = FSDD_SAMPLE_RATE,
              on_error: str = "raise") -> tuple[list[Recording], SkipReport]:
    """Every ``{digit}_{speaker}_{index}.{wav,flac}`` under ``root`` (sorted), checked up front.

    A name that does not parse, an unreadable or empty file, or a sample rate other than ``sample_rate``
    raises a ValueError naming the file; ``on_error="skip"`` drops it and counts it in the report instead.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error={on_error!r}; valid choices: raise, skip")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"FSDD recordings folder not found: {root}")
    files = sorted(p for p in root.iterdir() if p.suffix.lower() in (".wav", ".flac"))
    if not files:
        raise ValueError(f"no .wav or .flac recording in {root}")
    out, report = [], SkipReport()
    for p in files:
        try:
            m = _NAME.match(p.stem)
            if m is None:
                raise ValueError(f"{p}: file name does not parse as {{digit}}_{{speaker}}_{{index}} "
                                 f"(e.g. 7_jackson_32.wav)")
            try:
                info = sf.info(str(p))
            except Exception as e:  # soundfile raises several types: re-raise with the file name
                raise ValueError(f"cannot read audio file {p}: {e}") from e
            if info.frames <= 0:
                raise ValueError(f"{p}: empty recording (0 samples)")
            if info.samplerate != sample_rate:
                raise ValueError(f"{p}: sample rate {info.samplerate} Hz, the corpus is {sample_rate} Hz")
        except ValueError as e:
            if on_error == "raise":
                raise
            report.skipped.append((str(p), str(e)))
            log.warning("skipping recording: %s", e)
            continue
        out.append(Recording(int(m.group(1)), m.group(2).lower(), int(m.group(3)), p))
    if not out:
        raise ValueError(f"no usable recording in {root} (all {len(files)} skipped; first: {report.skipped[0][1]})")
    return out, report


def split_recordings(recs: Sequence[Recording], spec: DigitCorpusSpec) -> dict[str, list[Recording]]:
    """{train, dev, test}: recordings of each split (see the module docstring); errors on an empty split."""
    dev_hi = 5 + spec.dev_recordings
    speakers = sorted({r.speaker for r in recs})
    if spec.heldout_speaker is not None and spec.heldout_speaker not in speakers:
        raise ValueError(f"heldout_speaker={spec.heldout_speaker!r} is not among the speakers {speakers}")
    out: dict[str, list[Recording]] = {"train": [], "dev": [], "test": []}
    for r in recs:
        if spec.heldout_speaker is not None and r.speaker == spec.heldout_speaker:
            out["test"].append(r)
            continue
        if r.index < 5:
            if spec.heldout_speaker is None:
                out["test"].append(r)
        elif r.index < dev_hi:
            out["dev"].append(r)
        else:
            out["train"].append(r)
    for k, v in out.items():
        if not _speakers_with_all_digits(v):
            raise ValueError(f"split {k!r} is empty after filtering: no speaker has a recording of every digit "
                             f"among its {len(v)} recordings (check dev_recordings / heldout_speaker / skipped files)")
    return out


def _speakers_with_all_digits(recs: Sequence[Recording]) -> list[str]:
    have: dict[str, set] = {}
    for r in recs:
        have.setdefault(r.speaker, set()).add(r.digit)
    return sorted(s for s, d in have.items() if len(d) == 10)


@dataclass
class _Pools:
    wav: dict[str, np.ndarray]                        # recording name -> (S,) float32
    by_spk_digit: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    speakers: list[str] = field(default_factory=list)
    babble: dict[str, list[str]] = field(default_factory=dict)   # speaker -> other speakers' recordings


def _pools(recs: Sequence[Recording], babble_recs: Sequence[Recording], wavs: dict[str, np.ndarray]) -> _Pools:
    p = _Pools(wav=wavs)
    for r in recs:
        p.by_spk_digit.setdefault((r.speaker, r.digit), []).append(r.name)
    p.speakers = _speakers_with_all_digits(recs)
    for s in p.speakers:
        p.babble[s] = [r.name for r in babble_recs if r.speaker != s] or [r.name for r in babble_recs]
    return p


def _speed(wav: np.ndarray, factor: float, sr: int) -> np.ndarray:
    """(S,) -> (~S / factor,): resample so the audio plays ``factor`` times faster (factor in 1/100 steps)."""
    q = int(round(factor * 100))
    if q == 100:
        return wav
    y = torchaudio.functional.resample(torch.from_numpy(wav), orig_freq=q * sr // 100, new_freq=sr)
    return y.numpy()


def _fill(rng: np.random.Generator, names: Sequence[str], wavs: dict[str, np.ndarray], n: int) -> np.ndarray:
    """(n,) one talker: random recordings back to back from a random start."""
    parts, total = [], 0
    while total < n + 1:
        w = wavs[names[int(rng.integers(len(names)))]]
        parts.append(w)
        total += len(w)
    y = np.concatenate(parts)
    s = int(rng.integers(0, len(y) - n + 1))
    return y[s:s + n]


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / (np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-8)).astype(np.float32)


def _espeak_bank(sr: int, seed: int, count: int = 24) -> list[np.ndarray]:
    """Synthetic background talkers: ``count`` espeak-ng sentences at ``sr`` (deterministic)."""
    from core.speech.corpus import SPEAKERS
    from core.speech.espeak import Synthesizer
    from core.speech.text import generate_sentences

    synth = Synthesizer()
    out = []
    for i, text in enumerate(generate_sentences(count, seed=seed + 991)):
        spk = SPEAKERS[i % len(SPEAKERS)]
        res = synth.synth(text, voice=spk.voice, variant=spk.variant, rate=spk.rate, pitch=spk.pitch,
                          pitch_range=spk.pitch_range, seed=i)
        w = torchaudio.functional.resample(torch.from_numpy(res.wav), res.sample_rate, sr).numpy()
        out.append(w.astype(np.float32))
    return out


def _make_utterance(rng: np.random.Generator, pools: _Pools, spec: DigitCorpusSpec, espeak: list[np.ndarray] | None):
    """One utterance: (wav (S,), digits, recording names, word spans [(i, start_s, end_s)], snr, speed)."""
    sr = spec.sample_rate
    spk = pools.speakers[int(rng.integers(len(pools.speakers)))]
    n = int(rng.integers(spec.min_digits, spec.max_digits + 1))
    digits = [int(d) for d in rng.integers(0, 10, size=n)]
    names, pieces = [], []
    for d in digits:
        cands = pools.by_spk_digit[(spk, d)]
        nm = cands[int(rng.integers(len(cands)))]
        names.append(nm)
        g = 10 ** (float(rng.uniform(*spec.gain_db)) / 20)
        pieces.append(pools.wav[nm] * g)
    lead = int(rng.uniform(*spec.edge_ms) / 1000 * sr)
    tail = int(rng.uniform(*spec.edge_ms) / 1000 * sr)
    starts, pos = [], lead
    for k, w in enumerate(pieces):
        if k:
            gap = int(round(rng.uniform(*spec.pause_ms) / 1000 * sr))
            gap = max(gap, -len(pieces[k - 1]) // 2, -len(w) // 2)      # overlap at most half a recording
            pos = starts[-1] + len(pieces[k - 1]) + gap
        starts.append(pos)
    total = max(s + len(w) for s, w in zip(starts, pieces)) + tail
    wav = np.zeros(total, dtype=np.float32)
    for s, w in zip(starts, pieces):
        wav[s:s + len(w)] += w
    factor = round(float(rng.uniform(*spec.speed)), 2)
    wav = _speed(wav, factor, sr)
    scale = len(wav) / total
    words = [[k, round(s * scale / sr, 4), round((s + len(w)) * scale / sr, 4)]
             for k, (s, w) in enumerate(zip(starts, pieces))]
    snr = None
    if spec.noise != "none" and rng.random() < spec.noise_prob:
        snr = float(rng.uniform(*spec.snr_db))
        m = len(wav)
        if spec.noise == "white":
            noise = rng.standard_normal(m).astype(np.float32)
        elif spec.noise == "babble":
            talkers = int(rng.integers(3, 7))
            noise = sum(_unit(_fill(rng, pools.babble[spk], pools.wav, m)) for _ in range(talkers))
        else:
            noise = _fill(rng, [str(i) for i in range(len(espeak))], {str(i): w for i, w in enumerate(espeak)}, m)
        sig = float(np.sqrt(np.mean(wav.astype(np.float64) ** 2))) + 1e-8
        wav = wav + _unit(noise) * sig / (10 ** (snr / 20))
    peak = float(np.abs(wav).max())
    if peak > 0.99:
        wav = wav * (0.99 / peak)
    return wav.astype(np.float32), digits, names, words, snr, factor


def build_digit_corpus(root: str | os.PathLike, spec: DigitCorpusSpec | None = None, *,
                       recordings: str | os.PathLike = FSDD_ROOT, on_error: str = "raise", progress=None) -> Path:
    """Build (or reuse) the connected-digit corpus under ``root``; returns its manifest path.

    ``recordings`` is a folder of FSDD-named files at ``spec.sample_rate``; bad files raise (naming the file)
    or, with ``on_error="skip"``, are left out and counted in ``params.json`` (``skipped``).
    """
    spec = spec or DigitCorpusSpec()
    recs, report = scan_fsdd(recordings, sample_rate=spec.sample_rate, on_error=on_error)
    params = spec.params()
    params["recordings"] = hashlib.sha1("\n".join(f"{r.name}:{r.path.stat().st_size}" for r in recs).encode()
                                        ).hexdigest()[:12]
    key = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:10]
    out_dir = Path(root) / f"digits-{key}"
    manifest = out_dir / "manifest.jsonl"
    params_file = out_dir / "params.json"
    from core.speech.commands import build_once

    return build_once(out_dir, manifest, params_file, params,
                      lambda: _write(out_dir, manifest, params_file, params, spec, recs, report, progress))


def _write(out_dir, manifest, params_file, params, spec, recs, report, progress) -> None:
    splits = split_recordings(recs, spec)
    wavs = {}
    for r in recs:
        w, _ = sf.read(str(r.path), dtype="float32", always_2d=True)
        wavs[r.name] = w.mean(axis=1)
    if spec.heldout_speaker is None:
        babble_src = splits
    else:                                       # held-out test: babble from the other speakers' index 0-4 recordings
        babble_src = dict(splits, test=[r for r in recs if r.index < 5 and r.speaker != spec.heldout_speaker])
    espeak = _espeak_bank(spec.sample_rate, spec.seed) if spec.noise == "espeak" else None
    (out_dir / "audio").mkdir(parents=True, exist_ok=True)
    counts = {"train": spec.n_train, "dev": spec.n_dev, "test": spec.n_test}
    jobs = [(s, i) for s in ("train", "dev", "test") for i in range(counts[s])]
    it = progress(jobs, total=len(jobs), desc="digits") if progress else jobs
    pools = {s: _pools(splits[s], babble_src[s], wavs) for s in counts}
    lines = []
    for split, i in it:
        rng = np.random.default_rng([spec.seed, _SPLIT_CODE[split], i])
        wav, digits, names, words, snr, factor = _make_utterance(rng, pools[split], spec, espeak)
        uid = f"{split}-{i:05d}"
        rel = f"audio/{uid}.{spec.audio_format}"
        sf.write(out_dir / rel, wav, spec.sample_rate, subtype="PCM_16")
        lines.append({"id": uid, "path": rel, "duration": round(len(wav) / spec.sample_rate, 4),
                      "text": " ".join(DIGIT_WORDS[d] for d in digits), "speaker": names[0].split("_")[1],
                      "split": split, "sample_rate": spec.sample_rate, "snr_db": None if snr is None else round(snr, 2),
                      "noise": spec.noise if snr is not None else "none", "speed": factor, "digits": digits,
                      "recordings": names, "words": words})
    tmp = manifest.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_text("".join(json.dumps(line) + "\n" for line in lines))
    os.replace(tmp, manifest)
    tmp = params_file.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps(dict(params, skipped=report.skipped), sort_keys=True))
    os.replace(tmp, params_file)
