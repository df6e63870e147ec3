"""sparselab-asr transcribe for real use: files, folders and manifests in; stdout and a TSV/JSONL file out; silence
margins do not change the text; a bad file is reported and skipped, the rest transcribed, exit status 1."""
import json

import numpy as np
import soundfile as sf
import torch

from apps.asr_ddp.recipe import export_model
from apps.asr_ddp.task import ASRModule, TaskSettings
from apps.asr_ddp.transcribe import main, prepare_audio, transcribe_files
from core.speech.commands import SHIPPED_ROOT, active_span
from core.speech.features import GlobalCMVN, LogMel
from core.speech.model import CTCAttentionModel
from core.speech.word_tokenizer import WordTokenizer

SR = 8000


def _model(tmp_path):
    torch.manual_seed(0)
    tok = WordTokenizer(["zero", "one", "two", "three"])
    kw = dict(input_dim=40, vocab=tok.vocab_size, sos_eos=tok.sos, blank=tok.blank, d_model=32, heads=2, layers=1,
              ffn=64, decoder_layers=1, subsampling=4, subsampling_channels=8)
    m = CTCAttentionModel(**kw)
    with torch.no_grad():                     # a model that emits words (not only blanks), so texts can differ
        m.ctc_head.bias[0] = -3.0
    lm = LogMel(SR, n_mels=40)
    cmvn = GlobalCMVN(40).fit([lm(torch.randn(SR) * 0.1)])
    export_model(tmp_path / "run" / "model.pt", ASRModule(m, cmvn, None), kw, tok, lm, TaskSettings(epochs=1))
    return tmp_path / "run"


def _clip() -> np.ndarray:
    """Two real Arabic digits of one unseen speaker, cut to their spoken parts (no margins), 150 ms apart."""
    parts = []
    for kw in ("two", "three"):
        w, sr = sf.read(SHIPPED_ROOT / "dataset" / kw / "00000003_NO_01.flac", dtype="float32")
        a, b = active_span(w, sr)
        parts += [w[a:b], np.zeros(int(0.15 * SR), np.float32)]
    return np.concatenate(parts[:-1])


def test_the_same_words_with_and_without_silence_margins_give_the_same_text(tmp_path):
    run = _model(tmp_path)
    tight = _clip()
    rng = np.random.default_rng(1)
    margin = lambda n: (rng.standard_normal(n) * 1e-4).astype(np.float32)       # noqa: E731 -- quiet room
    loose = np.concatenate([np.zeros(2400, np.float32), margin(4000), tight, margin(3000), np.zeros(1600, np.float32)])
    sf.write(tmp_path / "tight.wav", tight, SR)
    sf.write(tmp_path / "loose.flac", loose, SR)
    a = prepare_audio(torch.from_numpy(tight), SR)
    b = prepare_audio(torch.from_numpy(loose), SR)
    assert torch.equal(a, b) and a.numel() <= tight.size + 2 * int(0.15 * SR)    # trimmed to the words, padded
    texts = transcribe_files(run, [tmp_path / "tight.wav", tmp_path / "loose.flac"])
    assert texts[0] == texts[1] and texts[0]                                      # the same, and not empty
    raw = transcribe_files(run, [tmp_path / "tight.wav", tmp_path / "loose.flac"], pad_ms=0, trim=False)
    assert raw[0] != raw[1]                       # without the preparation the margins change what the model hears


def test_folders_manifests_output_files_and_a_bad_file_skipped(tmp_path, capsys):
    run = _model(tmp_path)
    d = tmp_path / "audio"
    (d / "sub").mkdir(parents=True)
    sf.write(d / "a.wav", _clip(), SR)
    sf.write(d / "sub" / "b.flac", _clip()[::-1].copy(), 16000)                   # any rate: resampled
    (d / "broken.wav").write_bytes(b"RIFF not really a wave file")
    (tmp_path / "list.tsv").write_text("path\taudio/a.wav\n".replace("\\t", "\t").replace("path\t", "path\n"))
    (tmp_path / "list.jsonl").write_text(json.dumps({"path": "audio/sub/b.flac"}) + "\n")
    rc = main(["--model", str(run), str(d), str(tmp_path / "list.tsv"), str(tmp_path / "list.jsonl"),
               str(tmp_path / "missing.wav"), "--out", str(tmp_path / "out" / "texts.tsv")])
    out, err = capsys.readouterr()
    assert rc == 1                                                   # something was skipped: non-zero at the end
    lines = out.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(d / "a.wav"), str(d / "sub" / "b.flac"), str(d / "a.wav"),
                                                       str(d / "sub" / "b.flac")]
    assert "broken.wav" in err and "missing.wav" in err and "4 of 6 input(s) transcribed; 2 skipped" in err
    rows = (tmp_path / "out" / "texts.tsv").read_text().splitlines()
    assert rows[0] == "path\ttext" and len(rows) == 5
    assert main(["--model", str(run), str(d / "a.wav"), "--out", str(tmp_path / "t.jsonl")]) == 0
    rec = [json.loads(x) for x in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert rec[0]["path"] == str(d / "a.wav") and isinstance(rec[0]["text"], str)
    (tmp_path / "abs.jsonl").write_text(json.dumps({"path": str(d / "a.wav")}) + "\n")
    assert main(["--model", str(run), str(tmp_path / "abs.jsonl")]) == 1
    assert "--allow-absolute" in capsys.readouterr().err
    assert main(["--model", str(run), "--allow-absolute", str(tmp_path / "abs.jsonl")]) == 0
