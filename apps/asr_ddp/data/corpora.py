"""The corpora asr_ddp trains on, read from the ``data`` config section once (``read_data_settings``) and built into
FeatureStores (``load_splits``): arabic (real speech, speaker-independent; the default), digits (FSDD), embedded
(espeak-ng), LibriSpeech, manifests; and the tokenizer each uses (word, character or unigram SentencePiece units).

Every ``data.*`` key is read here, typed and validated once (errors name the key); nothing is read from disk until
``load_splits``. Generated corpora and SentencePiece models are cached under ``core.paths.cache_dir("asr_ddp")``
(``$SPARSELAB_CACHE/asr_ddp`` or ``~/.cache/sparselab/asr_ddp``), never in the current folder.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from core.paths import cache_dir
from core.settings import ConfigError, ConfigReader
from core.speech.commands import SHIPPED_ROOT, KeywordCorpusSpec, build_keyword_corpus, keyword_token
from core.speech.corpus import CORPUS_SIZES, build_corpus
from core.speech.datasets import load_manifest, scan_librispeech
from core.speech.digits import DIGIT_WORDS, DigitCorpusSpec, build_digit_corpus
from core.speech.features import LogMel
from core.speech.spm_tokenizer import SentencePieceTokenizer, texts_digest, train_unigram
from core.speech.tokenizer import CharTokenizer
from core.speech.word_tokenizer import WordTokenizer

from apps.asr_ddp.data.store import FeatureStore

__all__ = ["DATA_NAMES", "UNITS", "DataSettings", "read_data_settings", "check_inputs", "make_tokenizer", "vocab_size_hint",
           "load_splits", "tokenizer_state", "tokenizer_from_state", "EmbeddedSpec", "LibriSpeechSpec", "ManifestSpec"]

log = logging.getLogger(__name__)

DATA_NAMES = ("arabic", "digits", "embedded", "librispeech", "manifest")
UNITS = ("char", "word", "spm")
_PAIRS = ("pause_ms", "edge_ms", "speed", "gain_db", "snr_db", "margin_ms")


@dataclass(frozen=True)
class EmbeddedSpec:
    size: str | int
    seed: int
    sample_rate: int
    noise_prob: float
    snr_db: tuple[float, float]


@dataclass(frozen=True)
class LibriSpeechSpec:
    root: Path | None
    train: tuple[str, ...]
    dev: tuple[str, ...]
    test: tuple[str, ...]
    audio_ext: str


@dataclass(frozen=True)
class ManifestSpec:
    train: Path | None
    dev: Path | None
    test: Path | None
    allow_absolute: bool


@dataclass(frozen=True)
class DataSettings:
    """The ``data`` section: which corpus (``corpus``: its spec), its features and its units."""

    name: str
    corpus: object                      # DigitCorpusSpec | KeywordCorpusSpec | EmbeddedSpec | LibriSpeechSpec | ManifestSpec
    source: Path | None                 # arabic: the ASC copy to read (None: the shipped subset)
    units: str
    words: tuple[str, ...] | None       # word units: the vocabulary (None: the corpus' own, or the training words)
    spm_vocab: int
    spm_model: Path | None
    spm_units: Path | None
    unk: str
    sample_rate: int
    n_mels: int
    win_ms: float
    hop_ms: float
    resample: bool
    max_train: int | None
    on_error: str                       # training utterances: raise | skip
    recordings_on_error: str            # source recordings of generated corpora: raise | skip
    allow_symlinks: bool
    cache: Path


def _spec(cls, kw: dict, what: str = "data"):
    try:
        return cls(**kw)
    except ValueError as e:
        raise ConfigError(f"{what}.{e}") from None


def read_data_settings(r: ConfigReader) -> DataSettings:
    """Every ``data.*`` key, validated (errors name the key); reads no file."""
    name = r.choice("data.name", DATA_NAMES)
    sr = r.int("data.sample_rate", low=1000)
    source = None
    if name == "arabic":
        kw = {k: r.get(f"data.{k}") for k in ("keywords", "n_train", "eval_passes", "min_words", "max_words",
                                              "margin_ms", "pause_ms", "edge_ms", "speed", "gain_db", "noise",
                                              "snr_db", "noise_prob", "seed")}
        kw.update({k: tuple(v) if isinstance(v, list) else v for k, v in kw.items() if k in _PAIRS})
        corpus = _spec(KeywordCorpusSpec, dict(kw, sample_rate=sr))
        src = r.optional_str("data.source")
        source = Path(src).expanduser() if src else None
    elif name == "digits":
        kw = {k: r.get(f"data.{k}") for k in ("n_train", "n_dev", "n_test", "min_digits", "max_digits", "pause_ms",
                                              "edge_ms", "speed", "gain_db", "noise", "snr_db", "noise_prob",
                                              "dev_recordings", "heldout_speaker", "seed", "audio_format")}
        kw.update({k: tuple(v) if isinstance(v, list) else v for k, v in kw.items() if k in _PAIRS})
        corpus = _spec(DigitCorpusSpec, dict(kw, sample_rate=sr))
    elif name == "embedded":
        size = r.get("data.size")
        if not (size in CORPUS_SIZES or (isinstance(size, int) and not isinstance(size, bool) and size > 0)):
            raise ConfigError(f"data.size={size!r}; valid choices: {', '.join(CORPUS_SIZES)} or a number of "
                              f"training utterances")
        snr = r.list("data.snr_db", length=2, item="float")
        if snr[0] > snr[1]:
            raise ConfigError(f"data.snr_db={snr} must be [low, high]")
        corpus = EmbeddedSpec(size, r.int("data.seed", low=0), sr, r.fraction("data.noise_prob", low_open=False),
                              (snr[0], snr[1]))
    elif name == "librispeech":
        root = r.optional_str("data.root")
        splits = {k: tuple(r.list(f"data.{k}", item="str")) for k in ("train", "dev", "test")}
        corpus = LibriSpeechSpec(Path(root).expanduser() if root else None, splits["train"], splits["dev"], splits["test"],
                                 "." + r.choice("data.audio_ext", ("flac", "wav")))
    else:
        paths = {}
        for k in ("train", "dev", "test"):
            v = r.optional_str(f"data.{k}")
            paths[k] = Path(v).expanduser() if v else None
        corpus = ManifestSpec(paths["train"], paths["dev"], paths["test"], r.bool("data.allow_absolute"))
    units = r.choice("data.units", UNITS)
    words = r.get("data.words", None)
    if words is not None:
        if not isinstance(words, list) or not words or not all(isinstance(w, str) and w and not any(c.isspace()
                                                                                                 for c in w) for w in words):
            raise ConfigError(f"data.words={words!r} must be a non-empty list of words without spaces")
        words = tuple(words)
    spm_model = r.optional_str("data.spm_model")
    spm_units = r.optional_str("data.spm_units")
    win, hop = r.float("data.win_ms", low=0.0, low_open=True), r.float("data.hop_ms", low=0.0, low_open=True)
    return DataSettings(
        name=name, corpus=corpus, source=source, units=units, words=words,
        spm_vocab=r.int("data.spm_vocab", low=2), spm_model=Path(spm_model) if spm_model else None,
        spm_units=Path(spm_units) if spm_units else None, unk=r.choice("data.unk", ("error", "map")),
        sample_rate=sr, n_mels=r.int("data.n_mels", low=1), win_ms=win, hop_ms=hop, resample=r.bool("data.resample"),
        max_train=r.optional_int("data.max_train", low=1), on_error=r.choice("data.on_error", ("raise", "skip")),
        recordings_on_error=(r.choice("data.recordings_on_error", ("raise", "skip")) if name in ("arabic", "digits")
                             else "raise"),
        allow_symlinks=r.bool("data.allow_symlinks") if name in ("arabic", "librispeech", "manifest") else False,
        cache=cache_dir("asr_ddp"))


def check_inputs(data: DataSettings) -> None:
    """The paths a run needs, checked before its run folder is made (``ConfigError`` naming the key); the settings
    themselves touch no file."""
    c = data.corpus
    if data.name == "librispeech" and c.root is None:
        raise ConfigError("data=librispeech needs data.root=<folder holding train-clean-100/, dev-clean/, ...>")
    if data.name == "manifest":
        for k in ("train", "dev", "test"):
            p = getattr(c, k)
            if p is None:
                raise ConfigError(f"data=manifest needs data.{k}=<manifest .jsonl/.tsv/.csv>")
            if not p.is_file():
                raise ConfigError(f"data.{k}={p}: manifest not found")
    if data.name == "arabic" and data.source is not None and not (data.source / "dataset").is_dir():
        raise ConfigError(f"data.source={data.source}: no Arabic Speech Commands copy there (expected "
                          f"{data.source / 'dataset'}/<keyword>/*.wav|flac and train.csv/val.csv/test.csv; "
                          f"data.source=null uses the shipped digits)")
    if data.units == "spm" and data.spm_model is not None and not data.spm_model.is_file():
        raise ConfigError(f"data.spm_model={data.spm_model}: no such SentencePiece model file")


def vocab_size_hint(data: DataSettings) -> int | None:
    """The output size that ``make_tokenizer`` will give, when it is known before any data is read."""
    if data.units == "spm" and data.spm_model is None:
        return data.spm_vocab + 2          # + <blank> and <sos/eos>
    return None


def _corpus_words(data: DataSettings) -> tuple[str, ...] | None:
    if data.words:
        return data.words
    if data.name == "digits":
        return DIGIT_WORDS
    if data.name == "arabic":
        return tuple(keyword_token(k) for k in data.corpus.keywords)
    return None


def make_tokenizer(data: DataSettings, utts: dict | None = None):
    """Word units (``data.units=word``: ``data.words``, the corpus' own vocabulary, or every word of the training
    transcripts), characters (``data.units=char``), or unigram SentencePiece (``data.units=spm``: ``data.spm_model``
    (+ ``data.spm_units``, auto_avsr's layout) or ``data.spm_vocab`` pieces trained on the training transcripts and
    cached under the app's cache folder). ``utts``: the corpus' utterances when already read."""
    unk = data.unk
    if data.units == "word":
        words = _corpus_words(data)
        if words is None:
            train = _limit_train((utts or _utterances(data))["train"], data)
            words = tuple(sorted({w for u in train for w in u.text.split()}))
            if not words:
                raise ValueError("data.units=word: the training transcripts hold no word")
            log.info("word units: %d words from the training transcripts", len(words))
        return WordTokenizer(list(words), unk=unk)
    if data.units == "spm":
        if data.spm_model is not None:
            return SentencePieceTokenizer(data.spm_model, data.spm_units, unk=unk)
        train_texts = [u.text for u in _limit_train((utts or _utterances(data))["train"], data)]
        path = data.cache / "spm" / f"unigram{data.spm_vocab}-{texts_digest(train_texts)}.model"
        if not path.is_file():
            log.info("training a %d-piece unigram SentencePiece model on %d transcripts -> %s", data.spm_vocab,
                     len(train_texts), path)
            train_unigram(train_texts, path, data.spm_vocab)
        return SentencePieceTokenizer(path, unk=unk)
    return CharTokenizer(unk=unk)


def tokenizer_state(tok) -> dict:
    kind = {WordTokenizer: "word", SentencePieceTokenizer: "spm"}.get(type(tok), "char")
    return {"kind": kind, **tok.state_dict()}


def tokenizer_from_state(sd: dict):
    kind = sd.get("kind")
    if kind == "word":
        return WordTokenizer.from_state_dict(sd)
    if kind == "spm":
        return SentencePieceTokenizer.from_state_dict(sd)
    return CharTokenizer.from_state_dict(sd)


def _limit_train(utts: list, data: DataSettings) -> list:
    """The training utterances a run uses: the first ``data.max_train`` when it is set."""
    return utts[: data.max_train] if data.max_train else utts


def _utterances(data: DataSettings) -> dict[str, list]:
    c = data.corpus
    if data.name == "arabic":
        manifest = build_keyword_corpus(data.cache, c, source=data.source or SHIPPED_ROOT,
                                        on_error=data.recordings_on_error, allow_symlinks=data.allow_symlinks)
        return {k: load_manifest(manifest, split=k) for k in ("train", "dev", "test")}
    if data.name == "digits":
        manifest = build_digit_corpus(data.cache, c, on_error=data.recordings_on_error)
        return {k: load_manifest(manifest, split=k) for k in ("train", "dev", "test")}
    if data.name == "embedded":
        manifest = build_corpus(data.cache, c.size, seed=c.seed, sample_rate=c.sample_rate, noise_prob=c.noise_prob,
                                snr_db=c.snr_db)
        return {k: load_manifest(manifest, split=k) for k in ("train", "dev", "test")}
    if data.name == "librispeech":
        return {k: scan_librispeech(c.root, getattr(c, k), audio_ext=c.audio_ext, allow_symlinks=data.allow_symlinks)
                for k in ("train", "dev", "test")}
    return {k: load_manifest(getattr(c, k), allow_absolute=c.allow_absolute, allow_symlinks=data.allow_symlinks,
                             what=f"data.{k}") for k in ("train", "dev", "test")}


def load_splits(data: DataSettings, tokenizer=None, subsampling: int = 4) -> tuple[dict[str, FeatureStore], object]:
    """(train/dev/test FeatureStores, tokenizer). Training utterances too short for CTC raise (or are skipped and
    counted, ``data.on_error=skip``); dev and test are never filtered for length, and unreadable ones count as
    errors. ``tokenizer`` None: ``make_tokenizer`` on this corpus."""
    utts = _utterances(data)
    utts["train"] = _limit_train(utts["train"], data)
    tok = tokenizer or make_tokenizer(data, utts)
    logmel = LogMel(data.sample_rate, n_mels=data.n_mels, win_ms=data.win_ms, hop_ms=data.hop_ms)
    stores = {k: FeatureStore(v, tok, sample_rate=data.sample_rate, logmel=logmel, subsampling=subsampling,
                              on_error=data.on_error, ctc_check=(k == "train"), resample=data.resample,
                              cache=data.cache / "features")
              for k, v in utts.items()}
    for k, st in stores.items():
        if len(st.skipped):
            log.warning("%s: %d of %d utterances skipped (data.on_error=skip)%s", k, len(st.skipped),
                        len(st.skipped) + len(st), "; they count as errors in WER" if k != "train" else "")
    return stores, tok
