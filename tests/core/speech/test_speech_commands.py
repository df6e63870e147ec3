"""Arabic Speech Commands: the shipped subset in the corpus' layout, the official speaker-disjoint split, energy
trimming, and the connected-keyword builder (one speaker per utterance; dev/test use each clip once per pass)."""
import collections
import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from core.speech.commands import (DIGIT_KEYWORDS, OFFICIAL_SPLIT, SHIPPED_ROOT, KeywordCorpusSpec, active_span,
                                  build_keyword_corpus, energy_trim, scan_asc)


def test_shipped_subset_has_the_official_speaker_disjoint_split():
    clips, report = scan_asc(SHIPPED_ROOT, "digits")
    assert not report.skipped
    for split, want in OFFICIAL_SPLIT.items():
        assert sorted({c.speaker for c in clips[split]}) == sorted(want)
        assert len(clips[split]) == len(want) * 10 * 10 and {c.keyword for c in clips[split]} == set(DIGIT_KEYWORDS)
    spk = {s: {c.speaker for c in clips[s]} for s in clips}
    assert not (spk["train"] & spk["dev"] or spk["train"] & spk["test"] or spk["dev"] & spk["test"])
    assert (SHIPPED_ROOT / "LICENSE").is_file() and "CC BY 4.0" in (SHIPPED_ROOT / "README.md").read_text()


def _copy(tmp_path, n_speakers=2):
    """A small copy in the original layout: WAV at 16 kHz, CSV files listing .wav names, like the real corpus."""
    root = tmp_path / "asc"
    rows = {"train.csv": [], "val.csv": [], "test.csv": []}
    for split, csv_name in (("train", "train.csv"), ("dev", "val.csv"), ("test", "test.csv")):
        for spk in OFFICIAL_SPLIT[split][:n_speakers]:
            for kw in ("one", "two"):
                for r in (1, 2):
                    src = SHIPPED_ROOT / "dataset" / kw / f"{spk}_NO_{r:02d}.flac"
                    w, sr = sf.read(src, dtype="float32")
                    dst = root / "dataset" / kw / f"{spk}_NO_{r:02d}.wav"
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    sf.write(dst, np.repeat(w, 2), 16000)
                    rows[csv_name].append(f"dataset/{kw}/{dst.name},{kw}")
    for name, r in rows.items():
        (root / name).write_text("file,class\n" + "\n".join(r) + "\n")
    return root


def test_original_layout_wav_at_16k_is_read_and_a_speaker_in_two_splits_is_refused(tmp_path):
    root = _copy(tmp_path)
    clips, _ = scan_asc(root, ["one", "two"])
    assert {s: len(v) for s, v in clips.items()} == {"train": 8, "dev": 8, "test": 8}
    assert all(c.path.suffix == ".wav" for v in clips.values() for c in v)
    with pytest.raises(ValueError, match="unknown.*zoom"):
        scan_asc(root, ["zoom"])
    bad = (root / "test.csv").read_text() + f"dataset/one/{OFFICIAL_SPLIT['train'][0]}_NO_01.wav,one\n"
    (root / "test.csv").write_text(bad)
    with pytest.raises(ValueError, match="in both train and test"):
        scan_asc(root, ["one", "two"])


def test_a_symlink_out_of_the_corpus_is_refused_unless_allowed(tmp_path):
    root = _copy(tmp_path, n_speakers=1)
    outside = tmp_path / "elsewhere.wav"
    target = root / "dataset" / "one" / f"{OFFICIAL_SPLIT['train'][0]}_NO_01.wav"
    shutil.move(target, outside)
    target.symlink_to(outside)
    with pytest.raises(ValueError, match="symlink.*data.allow_symlinks=true"):
        scan_asc(root, ["one", "two"])
    clips, _ = scan_asc(root, ["one", "two"], allow_symlinks=True)
    assert len(clips["train"]) == 4


def test_energy_trim_cuts_to_the_word_with_margins():
    sr = 8000
    w, _ = sf.read(SHIPPED_ROOT / "dataset" / "three" / "00000003_NO_01.flac", dtype="float32")
    a, b = active_span(w, sr)
    padded = np.concatenate([np.zeros(4000, np.float32), w, np.zeros(4000, np.float32)])
    a2, b2 = active_span(padded, sr)
    assert abs((a2 - 4000) - a) <= 240 and abs((b2 - 4000) - b) <= 240        # silence added: the same word (30 ms)
    t = energy_trim(padded, sr, margin_ms=50)
    assert len(t) == pytest.approx(b2 - a2 + 800, abs=2)
    click = padded.copy()
    click[100:400] = 0.5                                                       # a click far before the word
    assert active_span(click, sr)[0] >= a2 - 80                                # is not taken for the word
    assert active_span(np.zeros(8000, np.float32), sr) is None


def test_connected_keyword_corpus_one_speaker_per_utterance_each_eval_clip_once_per_pass(tmp_path):
    root = _copy(tmp_path)
    spec = KeywordCorpusSpec(keywords=("one", "two"), n_train=12, eval_passes=2, min_words=2, max_words=3)
    man = build_keyword_corpus(tmp_path / "cache", spec, source=root)
    rows = [json.loads(x) for x in man.read_text().splitlines()]
    by = collections.defaultdict(list)
    for r in rows:
        by[r["split"]].append(r)
        spk = {c.split("/")[-1].split("_")[0] for c in r["clips"]}
        assert spk == {r["speaker"]} and 2 <= len(r["clips"]) <= 3 and len(r["words"]) == len(r["clips"])
        assert r["speaker"] in OFFICIAL_SPLIT[r["split"]]
        assert r["text"].split() == [c.split("/")[1] for c in r["clips"]]
        starts = [s for _, s, _ in r["words"]]
        assert starts == sorted(starts) and r["words"][-1][2] <= r["duration"] + 1e-3
    assert len(by["train"]) == 12
    for split in ("dev", "test"):
        used = collections.Counter(c for r in by[split] for c in r["clips"])
        assert set(used.values()) == {2} and len(used) == 8                    # every clip exactly once per pass
        assert all(r["speed"] == 1.0 for r in by[split])                      # no perturbation outside training
    again = build_keyword_corpus(tmp_path / "cache", spec, source=root)
    assert again == man                                                        # cached
    audio, sr = sf.read(man.parent / by["test"][0]["path"])
    assert sr == 8000 and len(audio) / sr == pytest.approx(by["test"][0]["duration"], abs=1e-3)
