"""The shipped FSDD recordings and the connected-digit corpus built from them."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from core.speech.digits import (DIGIT_WORDS, FSDD_ROOT, DigitCorpusSpec, build_digit_corpus, scan_fsdd,
                                split_recordings)


@pytest.fixture(scope="module")
def small_fsdd(tmp_path_factory):
    """Two speakers x ten digits x recording indices {0, 1, 5, 6, 10, 11} copied from the shipped set."""
    d = tmp_path_factory.mktemp("fsdd")
    for spk in ("jackson", "theo"):
        for digit in range(10):
            for idx in (0, 1, 5, 6, 10, 11):
                shutil.copy(FSDD_ROOT / f"{digit}_{spk}_{idx}.flac", d)
    return d


def test_shipped_recordings_are_complete():
    recs, rep = scan_fsdd()
    assert len(recs) == 2500 and len(rep) == 0
    assert sorted({r.speaker for r in recs}) == ["george", "jackson", "lucas", "nicolas", "theo"]
    assert (FSDD_ROOT.parent / "README.md").read_text().count("CC BY-SA 4.0") >= 1


def test_official_split_by_recording_index():
    recs, _ = scan_fsdd()
    sp = split_recordings(recs, DigitCorpusSpec())
    assert {r.index for r in sp["test"]} == set(range(5))
    assert {r.index for r in sp["dev"]} == set(range(5, 10))
    assert {r.index for r in sp["train"]} == set(range(10, 50))
    held = split_recordings(recs, DigitCorpusSpec(heldout_speaker="theo"))
    assert {r.speaker for r in held["test"]} == {"theo"} and len(held["test"]) == 500
    assert "theo" not in {r.speaker for r in held["train"] + held["dev"]}
    with pytest.raises(ValueError, match="heldout_speaker='bob'"):
        split_recordings(recs, DigitCorpusSpec(heldout_speaker="bob"))


def test_corpus_texts_alignments_and_cache(small_fsdd, tmp_path):
    spec = DigitCorpusSpec(n_train=6, n_dev=2, n_test=3, dev_recordings=2, snr_db=(10, 10), seed=3)
    m = build_digit_corpus(tmp_path, spec, recordings=small_fsdd)
    lines = [json.loads(x) for x in m.read_text().splitlines()]
    assert [x["split"] for x in lines].count("test") == 3
    for x in lines:
        words = x["text"].split()
        assert words == [DIGIT_WORDS[d] for d in x["digits"]] and 1 <= len(words) <= 7
        assert len(x["words"]) == len(words)
        starts = [w[1] for w in x["words"]]
        assert starts == sorted(starts) and all(0 <= s < e <= x["duration"] + 1e-3 for _, s, e in x["words"])
        assert {r.split("_")[1] for r in x["recordings"]} == {x["speaker"]}       # one speaker per utterance
        idx = {int(r.split("_")[2]) for r in x["recordings"]}
        assert idx <= ({0, 1} if x["split"] == "test" else {5, 6} if x["split"] == "dev" else {10, 11})
        info = sf.info(str(m.parent / x["path"]))
        assert info.samplerate == 8000 and abs(info.frames / 8000 - x["duration"]) < 1e-3
    mtime = m.stat().st_mtime_ns
    assert build_digit_corpus(tmp_path, spec, recordings=small_fsdd) == m and m.stat().st_mtime_ns == mtime
    other = build_digit_corpus(tmp_path, DigitCorpusSpec(n_train=6, n_dev=2, n_test=3, dev_recordings=2, noise="none",
                                                         seed=3), recordings=small_fsdd)
    assert other != m
    a, _ = sf.read(str(m.parent / "audio" / "train-00000.flac"))
    b, _ = sf.read(str(other.parent / "audio" / "train-00000.flac"))
    assert a.shape == b.shape and not np.allclose(a, b)           # same utterance, with and without babble


def test_bad_recordings_are_named(small_fsdd, tmp_path):
    d = tmp_path / "rec"
    shutil.copytree(small_fsdd, d)
    sf.write(d / "seven.wav", np.zeros(800, dtype=np.float32), 8000)
    with pytest.raises(ValueError, match=r"seven.wav: file name does not parse"):
        scan_fsdd(d)
    (d / "seven.wav").unlink()
    sf.write(d / "3_theo_40.wav", np.zeros(1600, dtype=np.float32), 16000)
    with pytest.raises(ValueError, match=r"3_theo_40.wav: sample rate 16000 Hz, the corpus is 8000 Hz"):
        scan_fsdd(d)
    (d / "3_theo_40.wav").unlink()
    (d / "4_theo_41.wav").write_bytes(b"")
    with pytest.raises(ValueError, match=r"4_theo_41.wav"):
        scan_fsdd(d)
    recs, rep = scan_fsdd(d, on_error="skip")
    assert len(rep) == 1 and len(recs) == 120


def test_spec_errors_name_the_field():
    for kw, msg in [(dict(max_digits=0), "max_digits"), (dict(snr_db=(20, 5)), "snr_db"), (dict(noise="pink"), "noise"),
                    (dict(n_test=0), "n_test"), (dict(dev_recordings=45), "dev_recordings")]:
        with pytest.raises(ValueError, match=msg):
            DigitCorpusSpec(**kw)
