"""sparselab-asr align: CTC forced alignment -> word timings in a manifest (for pruning.time_unit=chunk_aligned)."""
import json
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from apps.asr_ddp.align import align_manifest, align_words, frame_seconds, token_words
from apps.asr_ddp.recipe import export_model
from apps.asr_ddp.task import ASRModule, TaskSettings
from core.speech.datasets import load_manifest
from core.speech.features import GlobalCMVN, LogMel, num_frames
from core.speech.model import CTCAttentionModel, subsampled_length
from core.speech.tokenizer import CharTokenizer
from core.speech.word_tokenizer import WordTokenizer
from helpers_asr import write_librispeech

SR, HOP = 16000, 160


def _peaked(path_labels: list[int], vocab: int) -> torch.Tensor:
    """(T, V) log-softmax whose argmax at frame t is path_labels[t] (by a wide margin)."""
    logits = torch.full((len(path_labels), vocab), -8.0)
    logits[torch.arange(len(path_labels)), torch.tensor(path_labels)] = 8.0
    return logits.log_softmax(-1)


def test_word_units_spans_and_seconds_on_a_known_path():
    tok = WordTokenizer(["one", "two", "three"])            # ids: one=3, two=4, three=5
    text = "one two two"
    ids, owner = token_words(tok, text)
    assert ids == [3, 4, 4] and owner == [0, 1, 2]
    b = 0
    path = [b, b, b, 3, 3, 3, b, b, b, 4, 4, b, b, b, 4, 4, 4, b, b, b]   # "two two" needs the blank between
    fs = frame_seconds(HOP, SR, 4)
    assert fs == pytest.approx(0.04)
    lp = _peaked(path, tok.vocab_size)
    assert align_words(lp, ids, owner, fs, spans="tokens") == [[0, 0.12, 0.24], [1, 0.36, 0.44], [2, 0.56, 0.68]]
    # midpoint: the 3-frame gaps are split in half, the outer words widened by the same 1.5 frames
    assert align_words(lp, ids, owner, fs) == [[0, 0.06, 0.3], [1, 0.3, 0.5], [2, 0.5, 0.74]]
    # the duration clips the ends; without subsampling a frame is one hop
    assert align_words(lp, ids, owner, fs, duration=0.6, spans="tokens")[-1] == [2, 0.56, 0.6]
    assert align_words(lp, ids, owner, frame_seconds(HOP, SR, 1), spans="tokens")[0] == [0, 0.03, 0.06]
    # a lone word takes the whole utterance (midpoint) or its spike (tokens)
    one = _peaked([b, b, 3, b, b, b, b, b, b, b], tok.vocab_size)
    assert align_words(one, [3], [0], fs) == [[0, 0.0, 0.4]]
    assert align_words(one, [3], [0], fs, spans="tokens") == [[0, 0.08, 0.12]]
    with pytest.raises(ValueError, match="spans='edges'; valid choices: midpoint, tokens"):
        align_words(one, [3], [0], fs, spans="edges")


def test_char_units_words_are_runs_between_spaces():
    tok = CharTokenizer()
    text = "ab  c"                                          # two spaces: still two words, as text.split()
    ids, owner = token_words(tok, text)
    assert owner == [0, 0, None, None, 1]
    a, bb, sp, c = tok.encode("a")[0], tok.encode("b")[0], tok.encode(" ")[0], tok.encode("c")[0]
    path = [0, a, a, bb, 0, sp, 0, sp, sp, 0, 0, c, c, c, 0]
    lp = _peaked(path, tok.vocab_size)
    assert align_words(lp, ids, owner, 0.04, spans="tokens") == [[0, 0.04, 0.16], [1, 0.44, 0.56]]
    # midpoint: boundary at frame 7.5; the ends clipped to the audio (0) and to the 15 frames (0.6 s)
    assert align_words(lp, ids, owner, 0.04) == [[0, 0.0, 0.3], [1, 0.3, 0.6]]
    # the emission is only one frame short of a CTC path: a clear error naming the file
    with pytest.raises(ValueError, match=r"x\.flac: too short .* 4 encoder frames < 6"):
        align_words(_peaked([a, bb, sp, sp], tok.vocab_size), ids, owner, 0.04, where="x.flac")


def test_sentencepiece_units_a_word_starts_at_its_marker_piece(tmp_path):
    from core.speech.spm_tokenizer import SentencePieceTokenizer, train_unigram

    texts = ["one two three", "two three four", "four one", "three two one four"] * 30 + ["zebra on"]
    tok = SentencePieceTokenizer(train_unigram(texts, tmp_path / "m.model", 18))
    text = "zebra two one"
    ids, owner = token_words(tok, text)
    pieces = tok.pieces(text)
    assert len(pieces) > 3                                   # "zebra" is rare: spelled in several pieces
    assert owner[0] == 0 and owner[-1] == 2 and owner == sorted(owner) and set(owner) == {0, 1, 2}
    assert ["".join(p for p, o in zip(pieces, owner) if o == w).lstrip("\u2581") for w in range(3)] == text.split()
    with pytest.raises(ValueError, match=r"\['x'\] outside the model's vocabulary"):
        token_words(tok, "x one")


def test_frame_seconds_matches_the_encoder_length():
    # a 1 s utterance gives subsampled_length(101, 4) = 24 encoder frames of 0.04 s: they fit in the audio
    n_enc = subsampled_length(num_frames(SR, HOP), 4)
    assert n_enc == 24 and n_enc * frame_seconds(HOP, SR, 4) <= 1.0
    with pytest.raises(ValueError, match="subsampling=0"):
        frame_seconds(HOP, SR, 0)


def _tiny_model(run_dir, tok) -> None:
    torch.manual_seed(0)
    kw = dict(input_dim=40, vocab=tok.vocab_size, d_model=16, heads=2, layers=1, ffn=32, decoder_layers=0,
              ctc_weight=1.0, kernel_size=3, subsampling=4)
    module = ASRModule(CTCAttentionModel(**kw), GlobalCMVN(40), None)
    export_model(run_dir / "model.pt", module, kw, tok, LogMel(SR, n_mels=40), TaskSettings(epochs=1))


def _manifest(root, texts, durs=None, extra=True):
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = []
    for i, text in enumerate(texts):
        d = (durs or [0.8] * len(texts))[i]
        sf.write(root / f"u{i}.wav", (0.1 * rng.standard_normal(int(d * SR))).astype(np.float32), SR)
        row = {"path": f"u{i}.wav", "text": text}
        if extra:
            row.update(speaker=f"s{i}", note={"k": i})
        rows.append(row)
    (root / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root / "in.jsonl", rows


def _run_cli(monkeypatch, *args):
    from apps.asr_ddp import train

    monkeypatch.setattr(sys, "argv", ["sparselab-asr", "align", *map(str, args)])
    with pytest.raises(SystemExit) as e:
        train.main()
    return e.value.code


def _check_words(words, text, duration):
    assert [w[0] for w in words] == list(range(len(text.split())))
    for (_, s, e), nxt in zip(words, words[1:] + [None]):
        assert 0.0 <= s < e <= duration + 1e-6 and e - s >= 0.04 - 1e-6       # at least one encoder frame
        if nxt:
            assert nxt[1] >= e                                               # in order, no overlap


def test_cli_end_to_end_char_manifest(tmp_path, monkeypatch, capsys):
    _tiny_model(tmp_path, CharTokenizer())
    src, rows = _manifest(tmp_path / "data", ["hello world", "a cat sat", "good day"])
    out = tmp_path / "data" / "aligned.jsonl"
    assert _run_cli(monkeypatch, "--model", tmp_path, "--manifest", src, "--out", out, "--device", "cpu") == 0
    assert "aligned 3 utterance(s)" in capsys.readouterr().out
    got = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(got) == 3
    for g, r in zip(got, rows):
        assert {k: v for k, v in g.items() if k != "words"} == r        # every input key kept as written
        _check_words(g["words"], r["text"], 0.8)
    # the manifest loader and the training store read it back: words in feature frames
    utts = load_manifest(out)
    assert utts[0].extra["words"] == got[0]["words"]
    from apps.asr_ddp.data.store import FeatureStore

    st = FeatureStore(utts, CharTokenizer(), sample_rate=SR, logmel=LogMel(SR, n_mels=40), subsampling=4)
    assert [len(w) for w in st.words] == [2, 3, 2]
    assert all(0 <= s < e <= n for ws, n in zip(st.words, st.lengths) for _, s, e in ws)


def test_librispeech_folder_and_output_folder_rules(tmp_path):
    write_librispeech(tmp_path / "ls", n=2)
    _tiny_model(tmp_path, CharTokenizer())
    rep = align_manifest(tmp_path / "model.pt", tmp_path / "ls", tmp_path / "ls" / "train.jsonl", device="cpu",
                         spans="tokens", show_progress=False)
    assert rep.aligned == 2 and not rep.skipped
    utts = load_manifest(tmp_path / "ls" / "train.jsonl")      # relative paths, readable by data=manifest
    assert utts[0].text == "hello world" and utts[0].split == "train-clean-100" and utts[0].duration > 0.5
    _check_words(utts[0].extra["words"], utts[0].text, utts[0].duration)
    # an output outside the audio's folder could not be read back: refused before any work
    with pytest.raises(ValueError, match="lies outside the output's folder"):
        align_manifest(tmp_path / "model.pt", tmp_path / "ls", tmp_path / "elsewhere" / "x.jsonl", device="cpu")
    with pytest.raises(ValueError, match=r"JSONL .* \*\.jsonl"):
        align_manifest(tmp_path / "model.pt", tmp_path / "ls", tmp_path / "ls" / "x.tsv", device="cpu")


def test_bad_inputs_name_the_file_or_are_counted(tmp_path, monkeypatch, capsys):
    _tiny_model(tmp_path, WordTokenizer(["hello", "world"]))
    src, _ = _manifest(tmp_path / "d", ["hello world", "hello moon", "hello world hello world"],
                       durs=[0.8, 0.8, 0.1], extra=False)
    out = tmp_path / "d" / "out.jsonl"
    with pytest.raises(ValueError, match=r"\['moon'\] outside the vocabulary in .*u1\.wav"):
        align_manifest(tmp_path, src, out, device="cpu")
    assert not out.exists()
    # the CLI: a clear message and exit code 2, no traceback
    assert _run_cli(monkeypatch, "--model", tmp_path, "--manifest", src, "--out", out) == 2
    assert "u1.wav" in capsys.readouterr().err and not out.exists()
    # --skip-bad: the unknown word and the too-short utterance (0.1 s: 1 encoder frame for 4 words) are counted
    assert _run_cli(monkeypatch, "--model", tmp_path, "--manifest", src, "--out", out, "--skip-bad") == 0
    err = capsys.readouterr().err
    assert "skipped 2 of 3" in err and "u1.wav" in err and "u2.wav" in err and "too short" in err
    assert [json.loads(x)["path"] for x in out.read_text().splitlines()] == ["u0.wav"]
    # a missing model file
    assert _run_cli(monkeypatch, "--model", tmp_path / "nope", "--manifest", src, "--out", out) == 2
    assert "no trained model at" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="nope.*model.pt"):
        align_manifest(tmp_path / "nope", src, out)
