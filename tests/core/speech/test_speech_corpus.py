import json

import numpy as np
import pytest
import soundfile as sf

from core.speech.corpus import build_corpus, corpus_params
from core.speech.datasets import load_manifest


def test_tiny_corpus_builds_caches_and_is_deterministic(tmp_path):
    m = build_corpus(tmp_path / "a", 6, seed=3)
    lines = [json.loads(x) for x in m.read_text().splitlines()]
    assert len(lines) == 6 + 1 + 1
    assert {x["split"] for x in lines} == {"train", "dev", "test"}
    texts = {s: {x["text"] for x in lines if x["split"] == s} for s in ("train", "dev", "test")}
    assert not texts["train"] & texts["test"]
    x = lines[0]
    wav, sr = sf.read(m.parent / x["path"])
    assert sr == 16000 and abs(len(wav) / sr - x["duration"]) < 1e-3
    assert x["phonemes"] and x["words"] and x["phonemes"][-1][2] <= x["duration"] + 0.05
    mtime = m.stat().st_mtime_ns
    assert build_corpus(tmp_path / "a", 6, seed=3) == m and m.stat().st_mtime_ns == mtime   # cached
    m2 = build_corpus(tmp_path / "b", 6, seed=3)
    w2, _ = sf.read(m2.parent / x["path"])
    np.testing.assert_array_equal(wav, w2)                  # same params -> same audio
    utts = load_manifest(m, split="train")
    assert len(utts) == 6 and utts[0].path.is_file() and "phonemes" in utts[0].extra


def test_corpus_params_validation():
    with pytest.raises(ValueError, match="valid choices"):
        corpus_params("huge")
    with pytest.raises(ValueError, match="audio_format"):
        corpus_params(4, audio_format="mp3")
    assert corpus_params("quick") != corpus_params("quick", seed=1)
