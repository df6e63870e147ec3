import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

from apps.msrs.data import (AVDataset, collate_av, load_babble_bank, mix_at_snr, probe_video, read_video,
                            write_video)
from core.speech import CharTokenizer


def test_corpus_layout_and_round_trip(tiny_corpus):
    root = tiny_corpus
    man = json.loads((root / "manifest.json").read_text())
    for split in ("train", "val", "test"):
        lines = (root / "labels" / f"{split}.csv").read_text().splitlines()
        assert len(lines) == man["params"]["counts"][("train", "val", "test").index(split)]
        ds, rel, n, ids = lines[0].split(",")
        assert ds == "msrs_av" and rel.endswith(".mp4") and (root / ds / rel).with_suffix(".wav").is_file()
    texts = {s: {u["text"] for u in man["utterances"] if u["split"] == s} for s in ("train", "val", "test")}
    assert not texts["train"] & texts["test"] and not texts["train"] & texts["val"]
    tok = CharTokenizer()
    ds = AVDataset(root, "labels/train.csv", "audiovisual", tokenizer=tok)
    item = ds[0]
    T = item["video"].shape[0]
    assert item["video"].shape[1:] == (88, 88)
    assert item["audio"].shape[0] == T * 640                  # 25 fps at 16 kHz
    assert T == ds.items[0].frames
    assert item["text"] == man["utterances"][0]["text"]
    assert tok.decode(item["target"]) == item["text"]
    b = collate_av([ds[0], ds[1]])
    assert b["video"].shape[0] == 2 and b["audio"].shape[1] == b["video"].shape[1] * 640


def test_corpus_is_cached(tiny_corpus):
    from apps.msrs.data import build_av_corpus

    before = (tiny_corpus / "manifest.json").stat().st_mtime_ns
    again = build_av_corpus(tiny_corpus.parent, "tiny", 0, max_words=5, num_speakers=2)
    assert again == tiny_corpus and (again / "manifest.json").stat().st_mtime_ns == before


def test_noise_at_snr(tiny_corpus):
    bank = load_babble_bank(tiny_corpus / "babble")
    clean = AVDataset(tiny_corpus, "labels/test.csv", "audio", tokenizer=CharTokenizer())[0]["audio"]
    noisy = AVDataset(tiny_corpus, "labels/test.csv", "audio", tokenizer=CharTokenizer(), noise="babble", snr_db=0.0,
                      babble_bank=bank)[0]["audio"]
    n = noisy - clean
    snr = 10 * torch.log10(clean.pow(2).mean() / n.pow(2).mean())
    assert abs(float(snr)) < 0.05
    x = np.ones(100, dtype=np.float32)
    y = mix_at_snr(x, np.random.default_rng(0).standard_normal(100).astype(np.float32), 10.0)
    assert abs(10 * np.log10(1.0 / np.mean((y - x) ** 2)) - 10.0) < 1e-3


def _copy_layout(src, dst, n=2):
    """A tiny auto_avsr-style tree with ``n`` utterances copied from the corpus."""
    lines = (src / "labels" / "train.csv").read_text().splitlines()[:n]
    for line in lines:
        ds, rel, _, _ = line.split(",", 3)
        (dst / ds / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src / ds / rel, dst / ds / rel)
        shutil.copy((src / ds / rel).with_suffix(".wav"), (dst / ds / rel).with_suffix(".wav"))
    return lines


def test_plain_text_label_variant(tiny_corpus, tmp_path):
    lines = _copy_layout(tiny_corpus, tmp_path)
    tok = CharTokenizer()
    text_lines = [",".join(l.split(",")[:3] + [tok.decode([int(t) for t in l.split(",")[3].split()])]) for l in lines]
    (tmp_path / "t.csv").write_text("\n".join(text_lines) + "\n")
    ds = AVDataset(tmp_path, "t.csv", "video", tokenizer=tok, label_format="text")
    assert ds[0]["target"].tolist() == [int(t) for t in lines[0].split(",")[3].split()]


def test_bad_inputs_raise_or_are_counted(tiny_corpus, tmp_path):
    lines = _copy_layout(tiny_corpus, tmp_path, 2)
    tok = CharTokenizer()
    ds0, rel0, n0, ids0 = lines[0].split(",", 3)
    ds1, rel1, n1, ids1 = lines[1].split(",", 3)
    # audio/video length mismatch beyond tolerance
    wav = tmp_path / ds0 / rel0.replace(".mp4", ".wav")
    sf.write(wav, np.zeros(int(n0) * 640 + 10 * 640, dtype=np.float32), 16000)
    (tmp_path / "a.csv").write_text(lines[0] + "\n")
    with pytest.raises(ValueError, match="audio is .* frames long"):
        AVDataset(tmp_path, "a.csv", "audiovisual", tokenizer=tok)
    # empty transcript
    (tmp_path / "b.csv").write_text(f"{ds1},{rel1},{n1},\n")
    with pytest.raises(ValueError, match="empty transcript"):
        AVDataset(tmp_path, "b.csv", "video", tokenizer=tok)
    # unreadable media
    bad = tmp_path / ds1 / rel1.replace(".mp4", "_bad.mp4")
    bad.write_bytes(b"not a video")
    (tmp_path / "c.csv").write_text(f"{ds1},{rel1.replace('.mp4', '_bad.mp4')},{n1},{ids1}\n")
    with pytest.raises(ValueError, match="cannot read video file .*_bad.mp4"):
        AVDataset(tmp_path, "c.csv", "video", tokenizer=tok)
    # wrong frame size
    big = tmp_path / ds1 / rel1.replace(".mp4", "_big.mp4")
    write_video(big, np.zeros((int(n1), 96, 96), dtype=np.uint8))
    (tmp_path / "d.csv").write_text(f"{ds1},{rel1.replace('.mp4', '_big.mp4')},{n1},{ids1}\n")
    with pytest.raises(ValueError, match="frame size 96x96"):
        AVDataset(tmp_path, "d.csv", "video", tokenizer=tok)
    # skip mode counts every bad line and keeps the good one
    (tmp_path / "all.csv").write_text("\n".join([lines[0], lines[1], f"{ds1},{rel1},{n1},",
                                                 f"{ds1},{rel1.replace('.mp4', '_big.mp4')},{n1},{ids1}"]) + "\n")
    ds = AVDataset(tmp_path, "all.csv", "audiovisual", tokenizer=tok, on_error="skip")
    assert len(ds) == 1 and len(ds.skipped) == 3
    assert any("audio is" in r for _, r in ds.skipped)


def test_video_io_round_trip(tmp_path):
    frames = (np.arange(5 * 88 * 88) % 200).astype(np.uint8).reshape(5, 88, 88)
    frames[:] = np.linspace(20, 220, 88, dtype=np.uint8)[None, None, :]
    p = write_video(tmp_path / "v.mp4", frames)
    out = read_video(p)
    assert out.shape == (5, 88, 88) and probe_video(p) == (5, 88, 88)
    assert np.abs(out.astype(int) - frames.astype(int)).mean() < 3
    with pytest.raises(FileNotFoundError):
        read_video(tmp_path / "missing.mp4")
