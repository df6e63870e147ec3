import numpy as np
import pytest
import soundfile as sf

from core.speech.datasets import (ctc_min_frames, load_manifest, read_audio, scan_librispeech,
                                  validate_utterances)
from core.speech.features import num_frames
from core.speech.tokenizer import CharTokenizer


def _write_libri(root, sr=16000):
    rng = np.random.default_rng(0)
    d = root / "train-clean-100" / "19" / "198"
    d.mkdir(parents=True)
    lines = []
    for i, text in enumerate(["HELLO WORLD", "A CAT SAT"]):
        uid = f"19-198-{i:04d}"
        sf.write(d / f"{uid}.flac", (0.1 * rng.standard_normal(sr)).astype(np.float32), sr)
        lines.append(f"{uid} {text}")
    (d / "19-198.trans.txt").write_text("\n".join(lines) + "\n")
    return d


def test_scan_librispeech_layout(tmp_path):
    _write_libri(tmp_path)
    utts = scan_librispeech(tmp_path)
    assert [u.text for u in utts] == ["hello world", "a cat sat"]
    assert utts[0].speaker == "19" and utts[0].split == "train-clean-100"
    assert read_audio(utts[0].path, 16000).shape == (16000,)
    with pytest.raises(FileNotFoundError, match="split folder"):
        scan_librispeech(tmp_path, "dev-clean")


def test_bad_inputs_raise_naming_file_or_skip_counted(tmp_path):
    d = _write_libri(tmp_path)
    tok = CharTokenizer()
    (d / "19-198-0002.flac").write_bytes(b"not audio")
    sf.write(d / "19-198-0003.flac", np.zeros(1600, np.float32), 8000)
    sf.write(d / "19-198-0004.flac", np.zeros(800, np.float32), 16000)
    with open(d / "19-198.trans.txt", "a") as f:
        f.write("19-198-0002 BROKEN\n19-198-0003 WRONG RATE\n19-198-0004 FAR TOO LONG A TRANSCRIPT FOR THIS\n")
    utts = scan_librispeech(tmp_path)
    frames = lambda n: (num_frames(n) - 1) // 4           # noqa: E731
    with pytest.raises(ValueError, match="19-198-0002.flac"):
        validate_utterances(utts, sample_rate=16000, encode=tok.encode, frames_for=frames)
    kept, rep = validate_utterances(utts, sample_rate=16000, encode=tok.encode, frames_for=frames, on_error="skip")
    assert len(kept) == 2 and len(rep) == 3
    reasons = " ".join(r for _, r in rep.skipped)
    assert "cannot read" in reasons and "sample rate 8000" in reasons and "too short" in reasons
    assert kept[0].duration == pytest.approx(1.0)
    with pytest.raises(ValueError, match="sample rate"):
        read_audio(d / "19-198-0003.flac", 16000)
    bad_chars = [u for u in kept]
    bad_chars[0].text = "héllo"
    with pytest.raises(ValueError, match="é"):
        validate_utterances(bad_chars, sample_rate=16000, encode=tok.encode)


def test_tsv_manifest_and_ctc_min_frames(tmp_path):
    sf.write(tmp_path / "a.wav", np.zeros(160, np.float32) + 0.1, 16000)
    (tmp_path / "m.tsv").write_text("path\tduration\ttext\na.wav\t0.01\thi there\n")
    utts = load_manifest(tmp_path / "m.tsv")
    assert utts[0].path == tmp_path / "a.wav" and utts[0].text == "hi there"
    (tmp_path / "bad.tsv").write_text("file\ttext\na.wav\thi\n")
    with pytest.raises(ValueError, match="'path' and 'text'"):
        load_manifest(tmp_path / "bad.tsv")
    with pytest.raises(FileNotFoundError):
        load_manifest(tmp_path / "none.jsonl")
    assert ctc_min_frames([1, 1, 2, 2, 2, 3]) == 6 + 3


def test_read_audio_resamples_and_downmixes(tmp_path):
    import numpy as np
    import soundfile as sf

    t = np.arange(48000) / 48000
    st = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 440 * t)], 1).astype(np.float32)
    sf.write(tmp_path / "a.wav", st, 48000)
    with pytest.raises(ValueError, match="a.wav: sample rate 48000 Hz, expected 16000 Hz"):
        read_audio(tmp_path / "a.wav", 16000)
    y = read_audio(tmp_path / "a.wav", 16000, resample=True)
    assert y.shape == (16000,) and abs(float(y.abs().max()) - 1.0) < 0.05


def test_librispeech_transcript_with_a_tab(tmp_path):
    import numpy as np
    import soundfile as sf

    d = tmp_path / "84" / "121123"
    d.mkdir(parents=True)
    sf.write(d / "84-121123-0000.flac", np.zeros(1600, dtype=np.float32), 16000)
    (d / "84-121123.trans.txt").write_text("84-121123-0000\tGO DO YOU HEAR\n")
    utts = scan_librispeech(tmp_path)
    assert len(utts) == 1 and utts[0].text == "go do you hear"
