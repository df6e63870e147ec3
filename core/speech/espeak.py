"""espeak-ng speech synthesis in-process (ctypes over ``espeakng_loader``'s shared library).

The espeak-ng library is a process-wide singleton (one voice, one set of parameters, one callback),
so every :class:`Synthesizer` shares one initialised handle and synthesis is serialised by a lock.

Determinism: espeak-ng keeps generator state in function-static variables (pitch-flutter phase,
cycle counters, Klatt filter memory) that carry over from one utterance to the next, so the same
call gives slightly different samples depending on what was spoken before. We read those variables'
addresses from the library's ELF symbol table, snapshot them after initialisation and restore them
(and reseed espeak's and libc's RNG) before every synthesis; then the same arguments give the same
samples in any order and process (``Synthesizer.deterministic`` says whether that worked; if the
library were stripped, output would only be deterministic for the same sequence of calls).

``synth(text)`` returns the waveform (float32 in [-1, 1], 22050 Hz) with phoneme timings
``(symbol, start_s, end_s)`` and word timings ``(word_index, start_s, end_s)`` from espeak's events
(word indices are 0-based positions of the words in ``text.split()``).
"""
from __future__ import annotations

import ctypes
import struct
import threading
from dataclasses import dataclass, field

import numpy as np

__all__ = ["SynthResult", "Synthesizer", "list_variants", "ESPEAK_SAMPLE_RATE"]

ESPEAK_SAMPLE_RATE = 22050

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x1
_EV_LIST_TERMINATED, _EV_WORD, _EV_SENTENCE, _EV_END, _EV_PHONEME = 0, 1, 2, 5, 7
_P_RATE, _P_VOLUME, _P_PITCH, _P_RANGE = 1, 2, 3, 4
_PAUSE_SYMBOLS = {"_", "_:", "_!", "_|", ""}


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EventId)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass
class SynthResult:
    """One synthesized utterance."""

    wav: np.ndarray                                   # (S,) float32 in [-1, 1]
    sample_rate: int
    phonemes: list[tuple[str, float, float]] = field(default_factory=list)   # (symbol, start_s, end_s): espeak
    #   mnemonics without stress marks ("D", "@", "aI", "i:"), pauses dropped, sorted, non-overlapping
    words: list[tuple[int, float, float]] = field(default_factory=list)      # (word_index, start_s, end_s)

    @property
    def duration(self) -> float:
        return len(self.wav) / self.sample_rate


class _Engine:
    """The single process-wide espeak-ng handle."""

    _instance: "_Engine | None" = None
    _create_lock = threading.Lock()

    def __init__(self) -> None:
        import espeakng_loader

        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        data = espeakng_loader.get_data_path().encode()
        lib = self.lib
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                     ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        self.libc = ctypes.CDLL(None)
        sr = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, _INIT_PHONEME_EVENTS)
        if sr <= 0:
            raise RuntimeError(f"espeak_Initialize failed (returned {sr}) with data path {data.decode()}")
        self.sample_rate = sr
        self.lock = threading.Lock()
        self._statics = _wavegen_statics(espeakng_loader.get_library_path(), lib)
        self.deterministic = bool(self._statics)
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int, object]] = []
        self._cb = _CALLBACK(self._callback)      # keep a reference: ctypes would free it otherwise
        lib.espeak_SetSynthCallback(self._cb)

    @classmethod
    def get(cls) -> "_Engine":
        with cls._create_lock:
            if cls._instance is None:
                cls._instance = _Engine()
            return cls._instance

    def _callback(self, wav, n, events) -> int:
        if n > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while events and events[i].type != _EV_LIST_TERMINATED:
            ev = events[i]
            if ev.type == _EV_PHONEME:
                self._events.append((_EV_PHONEME, ev.audio_position, ev.id.string.decode("ascii", "replace")))
            elif ev.type == _EV_WORD:
                self._events.append((_EV_WORD, ev.audio_position, ev.id.number))
            elif ev.type in (_EV_SENTENCE, _EV_END):
                self._events.append((ev.type, ev.audio_position, None))
            i += 1
        return 0

    def synth(self, text: str, voice: str, rate: int, pitch: int, pitch_range: int, seed: int):
        lib = self.lib
        with self.lock:
            for addr, saved in self._statics:
                ctypes.memmove(addr, saved, len(saved))
            lib.espeak_ng_SetRandSeed(seed)     # espeak jitters durations/pitch randomly: reseed for determinism
            self.libc.srand(ctypes.c_uint(seed & 0xFFFFFFFF))
            if lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ValueError(f"espeak-ng has no voice {voice!r}; try e.g. 'en-us', 'en', 'en-gb-x-rp' with "
                                 f"an optional '+variant' such as '+f3' (see core.speech.espeak.list_variants())")
            for p, v in ((_P_RATE, rate), (_P_VOLUME, 100), (_P_PITCH, pitch), (_P_RANGE, pitch_range)):
                lib.espeak_SetParameter(p, int(v), 0)
            self._chunks, self._events = [], []
            buf = ctypes.create_string_buffer(text.encode("utf-8"))
            err = lib.espeak_Synth(buf, len(buf), 0, 0, 0, 0, None, None)
            lib.espeak_Synchronize()
            if err != 0:
                raise RuntimeError(f"espeak_Synth failed with code {err} for text {text!r}")
            chunks, events = self._chunks, self._events
            self._chunks, self._events = [], []
        pcm = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
        return pcm, events


# Function-static generator state in wavegen.c / klatt.c (name before the compiler's ".NNNN" suffix).
_STATIC_STATE = ("Flutter_ix", "cycle_count", "h_switch_sign", "maxh", "maxh2", "amplitude2", "agc", "n_samples",
                 "resume", "echo_complete", "time_count", "nlast", "noise", "vwave", "voice", "vlast", "glotlast",
                 "skew")


def _elf_symbols(path: str) -> dict[str, tuple[int, int, int]]:
    """{name: (value, size, type)} of an ELF64 little-endian library's full symbol table (.symtab)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return {}
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    secs = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    out: dict[str, tuple[int, int, int]] = {}
    for sec in secs:
        if sec[1] != 2:                                   # SHT_SYMTAB
            continue
        stroff = secs[sec[6]][4]
        for j in range(sec[5] // 24):
            name_off, info, _, _, value, size = struct.unpack_from("<IBBHQQ", data, sec[4] + j * 24)
            end = data.index(b"\0", stroff + name_off)
            out[data[stroff + name_off:end].decode("ascii", "replace")] = (value, size, info & 0xF)
    return out


def _wavegen_statics(path: str, lib: ctypes.CDLL) -> list[tuple[int, bytes]]:
    """(address, initial bytes) of espeak's function-static generator state; [] if symbols are missing."""
    syms = _elf_symbols(path)
    if "espeak_Initialize" not in syms:
        return []
    base = ctypes.cast(lib.espeak_Initialize, ctypes.c_void_p).value - syms["espeak_Initialize"][0]
    out = []
    for name, (value, size, typ) in syms.items():
        if typ == 1 and "." in name and name.split(".")[0] in _STATIC_STATE and 0 < size <= 8:
            out.append((base + value, ctypes.string_at(base + value, size)))
    return out


def list_variants() -> list[str]:
    """Names of the voice variants shipped with espeak-ng (usable as ``variant=``)."""
    import os

    import espeakng_loader

    return sorted(os.listdir(os.path.join(espeakng_loader.get_data_path(), "voices", "!v")))


class Synthesizer:
    """Thread-safe front to the process-wide espeak-ng engine."""

    def __init__(self) -> None:
        self._engine = _Engine.get()
        self.sample_rate = self._engine.sample_rate

    def synth(self, text: str, voice: str = "en-us", variant: str | None = None, rate: int = 175,
              pitch: int = 50, pitch_range: int = 50, seed: int = 0) -> SynthResult:
        """Speak ``text``; rate in words/minute (80..450), pitch and range 0..100.

        ``seed`` seeds espeak-ng's internal jitter, so the same arguments give the same samples.
        """
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"text must be a non-empty string, got {text!r}")
        if not 80 <= rate <= 450:
            raise ValueError(f"rate={rate} must be in [80, 450] words per minute")
        for name, v in (("pitch", pitch), ("pitch_range", pitch_range)):
            if not 0 <= v <= 100:
                raise ValueError(f"{name}={v} must be in [0, 100]")
        name = voice if variant is None else f"{voice}+{variant}"
        pcm, events = self._engine.synth(text, name, rate, pitch, pitch_range, int(seed))
        sr = self.sample_rate
        wav = pcm.astype(np.float32) / 32768.0
        total = len(wav) / sr
        return SynthResult(wav=wav, sample_rate=sr, phonemes=_phoneme_spans(events, total),
                           words=_word_spans(events, total))


def _phoneme_spans(events, total: float) -> list[tuple[str, float, float]]:
    """Phoneme events -> contiguous (symbol, start, end), stress marks stripped, pauses dropped.

    A phoneme ends where the next boundary event (phoneme, sentence, end) at a later time starts;
    several phonemes reported at the same time share that span equally, so spans never overlap.
    """
    marks = [(min(pos / 1000.0, total), kind, val) for kind, pos, val in events
             if kind in (_EV_PHONEME, _EV_END, _EV_SENTENCE)]
    out: list[tuple[str, float, float]] = []
    i = 0
    while i < len(marks):
        t = marks[i][0]
        j = i
        while j < len(marks) and marks[j][0] == t:
            j += 1
        end = marks[j][0] if j < len(marks) else total
        group = [str(v).strip().lstrip("',") for _, k, v in marks[i:j] if k == _EV_PHONEME]
        group = [g for g in group if g not in _PAUSE_SYMBOLS]
        if group and end > t:
            step = (end - t) / len(group)
            out.extend((g, t + n * step, t + (n + 1) * step) for n, g in enumerate(group))
        i = j
    return out


def _word_spans(events, total: float) -> list[tuple[int, float, float]]:
    """Word events -> (word_index, start, end) with end = end of the word's last sounding phoneme."""
    words = [(pos / 1000.0, num) for kind, pos, num in events if kind == _EV_WORD]
    phon = _phoneme_spans(events, total)
    out = []
    for i, (t, num) in enumerate(words):
        nxt = words[i + 1][0] if i + 1 < len(words) else float("inf")
        inside = [p for p in phon if t <= p[1] < nxt]
        start = inside[0][1] if inside else min(t, total)
        end = inside[-1][2] if inside else min(nxt, total)
        out.append((int(num) - 1, start, max(end, start)))
    return out
