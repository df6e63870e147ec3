"""auto_avsr-format inputs: SentencePiece id lists read as they are, upper-case text, bad lines named by file
and line before training, babble fallback."""
import io
import shutil

import numpy as np
import pytest
import soundfile as sf

from apps.msrs.data import AVDataset, babble_from_wavs, load_babble_bank
from apps.msrs.data.grid_words import VOCABULARY
from core.speech import CharTokenizer
from core.speech.spm_tokenizer import SentencePieceTokenizer
from core.speech.word_tokenizer import WordTokenizer


def _copy(src, dst, n=3):
    lines = (src / "labels" / "train.csv").read_text().splitlines()[:n]
    for line in lines:
        ds, rel, _, _ = line.split(",", 3)
        (dst / ds / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src / ds / rel, dst / ds / rel)
        shutil.copy((src / ds / rel).with_suffix(".wav"), (dst / ds / rel).with_suffix(".wav"))
    return [line.split(",", 3) for line in lines]


@pytest.fixture(scope="module")
def spm_model(tmp_path_factory):
    """A small unigram SentencePiece model and an auto_avsr-style units file (pieces sorted, <unk> 1)."""
    import sentencepiece as spm

    from apps.msrs.data.grid_words import draw_sentences

    d = tmp_path_factory.mktemp("spm")
    sents = draw_sentences({"x": 400}, 1)["x"]
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(sents), model_writer=buf, vocab_size=40,
                                   model_type="unigram", character_coverage=1.0, minloglevel=2)
    (d / "m.model").write_bytes(buf.getvalue())
    sp = spm.SentencePieceProcessor(model_file=str(d / "m.model"))
    pieces = sorted({p for s in sents for p in sp.encode_as_pieces(s)})
    (d / "units.txt").write_text("<unk> 1\n" + "".join(f"{p} {i + 2}\n" for i, p in enumerate(pieces)))
    return d / "m.model", d / "units.txt", pieces


def test_spm_ids_read_as_they_are(grid_corpus, tmp_path, spm_model):
    model, units, pieces = spm_model
    tok = SentencePieceTokenizer(model, units)
    assert tok.blank == 0 and tok.token_list[1] == "<unk>" and tok.sos == len(pieces) + 2 == tok.vocab_size - 1
    rows = _copy(grid_corpus, tmp_path)
    # ids as auto_avsr writes them: units-file ids of the pieces
    id_of = {p: i + 2 for i, p in enumerate(pieces)}
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(model))
    lines = [f"{ds},{rel},{n},{' '.join(str(id_of.get(p, 1)) for p in sp.encode_as_pieces(text))}"
             for ds, rel, n, text in rows]
    (tmp_path / "ids.csv").write_text("\n".join(lines) + "\n")
    ds = AVDataset(tmp_path, "ids.csv", "video", tokenizer=tok, label_format="ids", frame_size=44)
    assert [it.text for it in ds.items] == [r[3] for r in rows]
    assert tok.encode(rows[0][3]) == [int(t) for t in lines[0].split(",")[3].split()]
    # an id list from a bigger vocabulary: named with file and line, before any item is loaded
    (tmp_path / "big.csv").write_text(lines[0] + "\n" + lines[1].rsplit(",", 1)[0] + ",5 1043 7\n")
    with pytest.raises(ValueError, match=r"big.csv:2: token ids \[1043\] outside the vocabulary"):
        AVDataset(tmp_path, "big.csv", "video", tokenizer=tok, frame_size=44)
    with pytest.raises(ValueError, match=r"big.csv:1: .*outside the vocabulary \[0, 31\).*units=spm"):
        AVDataset(tmp_path, "big.csv", "video", tokenizer=CharTokenizer(), frame_size=44)


def test_upper_case_text_is_normalised(grid_corpus, tmp_path):
    rows = _copy(grid_corpus, tmp_path, 2)
    (tmp_path / "u.csv").write_text("".join(f"{ds},{rel},{n},{text.upper()}\n" for ds, rel, n, text in rows))
    tok = WordTokenizer(VOCABULARY)
    ds = AVDataset(tmp_path, "u.csv", "video", tokenizer=tok, label_format="text", frame_size=44, lowercase=True)
    assert ds[0]["text"] == rows[0][3]
    with pytest.raises(ValueError, match=r"outside the vocabulary in .*u.csv:1 .*data.lowercase=true"):
        AVDataset(tmp_path, "u.csv", "video", tokenizer=tok, label_format="text", frame_size=44, lowercase=False)


def test_bad_lines_name_file_and_line(grid_corpus, tmp_path):
    rows = _copy(grid_corpus, tmp_path, 2)
    tok = WordTokenizer(VOCABULARY)
    (ds, rel, n, text), (ds1, rel1, n1, text1) = rows
    good = f"{ds},{rel},{n},{text}"
    cases = {
        "short": (f"{ds},{rel},{n}", r"short.csv:2: expected 'dataset,rel_path,input_length,labels' \(4 fields\)"),
        "len": (f"{ds1},{rel1},{int(n1) + 9},{text1}", r"len.csv:2: .*video frames but the label list says"),
        "size": (None, r"size.csv:1: .*frame size 44x44, the model expects 88x88"),
    }
    for name, (line, match) in cases.items():
        (tmp_path / f"{name}.csv").write_text(good + "\n" + (line or f"{ds1},{rel1},{n1},{text1}") + "\n")
        fs = 88 if name == "size" else 44
        with pytest.raises(ValueError, match=match):
            AVDataset(tmp_path, f"{name}.csv", "video", tokenizer=tok, label_format="text", frame_size=fs)
    # audio shorter than the video beyond the tolerance
    wav = (tmp_path / ds1 / rel1).with_suffix(".wav")
    sf.write(wav, np.zeros((int(n1) - 5) * 640, dtype=np.float32), 16000)
    (tmp_path / "a.csv").write_text(good + "\n" + f"{ds1},{rel1},{n1},{text1}\n")
    with pytest.raises(ValueError, match=r"a.csv:2: .*audio is .* frames long"):
        AVDataset(tmp_path, "a.csv", "audiovisual", tokenizer=tok, label_format="text", frame_size=44)
    # opt-in skip: counted with file and line
    (tmp_path / "all.csv").write_text("\n".join([good, cases["short"][0], f"{ds1},{rel1},{n1},{text1}"]) + "\n")
    skip = AVDataset(tmp_path, "all.csv", "audiovisual", tokenizer=tok, label_format="text", frame_size=44,
                     on_error="skip")
    assert len(skip) == 1 and [w.rsplit(":", 1)[1] for w, _ in skip.skipped] == ["2", "3"]


def test_babble_fallback_and_how_to(grid_corpus, tmp_path):
    with pytest.raises(FileNotFoundError, match="babble_dir=train"):
        load_babble_bank(tmp_path)
    ds = AVDataset(grid_corpus, "labels/train.csv", "audio", tokenizer=WordTokenizer(VOCABULARY), label_format="text")
    bank = babble_from_wavs(ds.audio_paths(), max_talkers=3, seed=0)
    assert len(bank) == 3 and all(b.ndim == 1 and b.size > 0 for b in bank)
    assert [b.size for b in bank] == [b.size for b in babble_from_wavs(ds.audio_paths(), max_talkers=3, seed=0)]


@pytest.mark.parametrize("modality", ["video", "audiovisual"])
def test_a_symlink_out_of_the_data_root_is_refused_unless_allowed(grid_corpus, tmp_path, modality):
    """Containment by resolved path (issue 28): a media file (or the .wav beside it) that is a symlink leading out
    of the data root is refused naming both paths; data.allow_symlinks=true (clusters) reads it."""
    root, outside = tmp_path / "root", tmp_path / "elsewhere"
    rows = _copy(grid_corpus, root, n=2)
    outside.mkdir()
    ds, rel = rows[1][0], rows[1][1]
    target = root / ds / rel if modality == "video" else (root / ds / rel).with_suffix(".wav")
    moved = outside / target.name
    shutil.move(target, moved)
    target.symlink_to(moved)
    (root / "labels").mkdir()
    (root / "labels" / "l.csv").write_text("".join(",".join(r) + "\n" for r in rows))
    tok = WordTokenizer(VOCABULARY)
    with pytest.raises(ValueError, match="symlink"):
        AVDataset(root, "labels/l.csv", modality, tokenizer=tok, label_format="text", frame_size=44)
    ok = AVDataset(root, "labels/l.csv", modality, tokenizer=tok, label_format="text", frame_size=44,
                   allow_symlinks=True)
    assert len(ok) == 2
