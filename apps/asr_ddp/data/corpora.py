"""The corpora asr_ddp trains on, as FeatureStores: digits (shipped real speech), embedded (espeak), LibriSpeech,
manifests; and the tokenizer each uses (word, character or unigram SentencePiece units)."""
from __future__ import annotations

import logging
from pathlib import Path

from core.speech.commands import SHIPPED_ROOT, KeywordCorpusSpec, build_keyword_corpus, keyword_token
from core.speech.corpus import build_corpus
from core.speech.datasets import load_manifest, scan_librispeech
from core.speech.digits import DIGIT_WORDS, DigitCorpusSpec, build_digit_corpus
from core.speech.features import LogMel
from core.speech.spm_tokenizer import SentencePieceTokenizer, texts_digest, train_unigram
from core.speech.tokenizer import CharTokenizer
from core.speech.word_tokenizer import WordTokenizer

from apps.asr_ddp.data.store import FeatureStore

__all__ = ["DATA_NAMES", "UNITS", "check_units", "digit_spec", "make_tokenizer", "vocab_size_hint", "load_splits",
           "tokenizer_state", "tokenizer_from_state"]

log = logging.getLogger(__name__)

DATA_NAMES = ("arabic", "digits", "embedded", "librispeech", "manifest")
UNITS = ("char", "word", "spm")
_DIGIT_KEYS = ("n_train", "n_dev", "n_test", "min_digits", "max_digits", "pause_ms", "edge_ms", "speed", "gain_db",
               "noise", "snr_db", "noise_prob", "dev_recordings", "heldout_speaker", "sample_rate", "seed",
               "audio_format")


def digit_spec(data: dict) -> DigitCorpusSpec:
    """The digit corpus spec from the ``data`` config group (validated: errors name the ``data.*`` key)."""
    kw = {k: data[k] for k in _DIGIT_KEYS if k in data}
    for k in ("pause_ms", "edge_ms", "speed", "gain_db", "snr_db"):
        if k in kw and kw[k] is not None:
            kw[k] = tuple(kw[k])
    try:
        return DigitCorpusSpec(**kw)
    except ValueError as e:
        raise ValueError(f"data.{e}") from e


_KEYWORD_KEYS = ("keywords", "n_train", "eval_passes", "min_words", "max_words", "margin_ms", "pause_ms", "edge_ms",
                 "speed", "gain_db", "noise", "snr_db", "noise_prob", "sample_rate", "seed")


def keyword_spec(data: dict) -> KeywordCorpusSpec:
    kw = {k: data[k] for k in _KEYWORD_KEYS if k in data}
    for k in ("margin_ms", "pause_ms", "edge_ms", "speed", "gain_db", "snr_db"):
        if k in kw and kw[k] is not None:
            kw[k] = tuple(kw[k])
    try:
        return KeywordCorpusSpec(**kw)
    except ValueError as e:
        raise ValueError(f"data.{e}") from e


def check_units(data: dict) -> None:
    """The unit settings, checked without building any corpus (errors name the ``data.*`` key)."""
    units = data.get("units", "char")
    if units not in UNITS:
        raise ValueError(f"data.units={units!r}; valid choices: {', '.join(UNITS)}")
    if units == "word" and not (data.get("words") or data["name"] in ("digits", "arabic")):
        raise ValueError(f"data.units=word needs data.words=[...] for data={data['name']} (the closed vocabulary)")
    v = data.get("spm_vocab", 256)
    if isinstance(v, bool) or not isinstance(v, int) or v < 2:
        raise ValueError(f"data.spm_vocab={v!r} must be an integer >= 2 (unigram pieces, <unk> included)")
    if units == "spm" and data.get("spm_model") and not Path(data["spm_model"]).is_file():
        raise FileNotFoundError(f"data.spm_model={data['spm_model']}: no such SentencePiece model file")


def vocab_size_hint(data: dict) -> int | None:
    """The output size that ``make_tokenizer`` will give, when it is known before any data is read."""
    if data.get("units") == "spm" and not data.get("spm_model"):
        return int(data.get("spm_vocab", 256)) + 2          # + <blank> and <sos/eos>
    return None


def make_tokenizer(data: dict):
    """Word units (``data.units=word``: the digit words, or ``data.words``), characters (``data.units=char``), or
    unigram SentencePiece (``data.units=spm``): ``data.spm_model`` (+ optional ``data.spm_units``, auto_avsr's
    layout) or, without one, ``data.spm_vocab`` pieces trained on the corpus' training transcripts and cached
    under ``<data.root or .cache/asr_ddp>/spm/``."""
    check_units(data)
    units = data.get("units", "char")
    unk = "map" if data.get("unk") == "map" else "error"
    if units == "word":
        if data["name"] == "arabic":
            return WordTokenizer([keyword_token(k) for k in keyword_spec(data).keywords], unk=unk)
        words = data.get("words") or DIGIT_WORDS
        return WordTokenizer(list(words), unk=unk)
    if units == "spm":
        if data.get("spm_model"):
            return SentencePieceTokenizer(data["spm_model"], data.get("spm_units"), unk=unk)
        train_texts = [u.text for u in _limit_train(_utterances(data)["train"], data)]
        vocab = int(data.get("spm_vocab", 256))
        cache = Path(data.get("root") or ".cache/asr_ddp") / "spm" / f"unigram{vocab}-{texts_digest(train_texts)}.model"
        if not cache.is_file():
            log.info("training a %d-piece unigram SentencePiece model on %d transcripts -> %s", vocab,
                     len(train_texts), cache)
            train_unigram(train_texts, cache, vocab)
        return SentencePieceTokenizer(cache, unk=unk)
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


def _limit_train(utts: list, data: dict) -> list:
    """The training utterances a run uses: the first ``data.max_train`` when it is set."""
    lim = data.get("max_train")
    return utts[: int(lim)] if lim else utts


def _utterances(data: dict) -> dict[str, list]:
    name = data["name"]
    if name == "digits":
        manifest = build_digit_corpus(data["root"], digit_spec(data), on_error=data.get("recordings_on_error", "raise"))
        return {k: load_manifest(manifest, split=k) for k in ("train", "dev", "test")}
    if name == "arabic":
        manifest = build_keyword_corpus(data["root"], keyword_spec(data), source=data.get("source") or SHIPPED_ROOT,
                                        on_error=data.get("recordings_on_error", "raise"))
        return {k: load_manifest(manifest, split=k) for k in ("train", "dev", "test")}
    if name == "embedded":
        manifest = build_corpus(data["root"], data["size"], seed=data.get("seed", 0),
                                sample_rate=int(data.get("sample_rate", 16000)),
                                noise_prob=data.get("noise_prob", 0.8), snr_db=tuple(data.get("snr_db", (5.0, 30.0))))
        return {k: load_manifest(manifest, split=k) for k in ("train", "dev", "test")}
    if name == "librispeech":
        if not data.get("root"):
            raise ValueError("data=librispeech needs data.root=<folder holding train-clean-100/, dev-clean/, ...>")
        ext = "." + str(data.get("audio_ext", "flac")).lstrip(".")
        return {k: scan_librispeech(data["root"], data[k], audio_ext=ext) for k in ("train", "dev", "test")}
    if name == "manifest":
        for k in ("train", "dev", "test"):
            if not data.get(k):
                raise ValueError(f"data=manifest needs data.{k}=<manifest .jsonl/.tsv>")
        return {k: load_manifest(data[k]) for k in ("train", "dev", "test")}
    raise ValueError(f"data.name={name!r}; valid choices: {', '.join(DATA_NAMES)}")


def load_splits(data: dict, tokenizer, subsampling: int) -> dict[str, FeatureStore]:
    """train/dev/test FeatureStores. Training utterances too short for CTC raise (or are skipped and counted,
    ``data.on_error=skip``); dev and test are never filtered for length, and unreadable ones count as errors."""
    utts = _utterances(data)
    utts["train"] = _limit_train(utts["train"], data)
    sr = int(data.get("sample_rate", 16000))
    logmel = LogMel(sr, n_mels=int(data.get("n_mels", 80)), win_ms=float(data.get("win_ms", 25.0)),
                    hop_ms=float(data.get("hop_ms", 10.0)))
    on_error = data.get("on_error", "raise")
    stores = {k: FeatureStore(v, tokenizer, sample_rate=sr, logmel=logmel, subsampling=subsampling,
                              on_error=on_error, ctc_check=(k == "train"), resample=bool(data.get("resample", True)))
              for k, v in utts.items()}
    for k, st in stores.items():
        if len(st.skipped):
            log.warning("%s: %d of %d utterances skipped (data.on_error=skip)%s", k, len(st.skipped),
                        len(st.skipped) + len(st), "; they count as errors in WER" if k != "train" else "")
    return stores
