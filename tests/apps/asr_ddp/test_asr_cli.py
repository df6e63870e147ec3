"""The command line as a user meets it: a summary line at the end of every run, one-line errors with exit 2,
manifests (empty, absolute paths opt-in, symlinks opt-in), the cache outside the current folder."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from apps.asr_ddp.recipe import Recipe
from core.settings import ConfigError
from helpers_asr import compose, libri_overrides, write_librispeech

ROOT = Path(__file__).resolve().parents[3]


def _cli(args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "SPARSELAB_PROGRESS": "0"}
    return subprocess.run([sys.executable, "-m", "apps.asr_ddp.train", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def test_a_run_ends_with_its_summary_line_and_a_warning_when_it_learned_nothing(tmp_path):
    write_librispeech(tmp_path / "ls")
    p = _cli([*libri_overrides(tmp_path / "ls", tmp_path / "run", "trainer.max_steps=1")], cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    last = p.stdout.strip().splitlines()
    assert last[-2].startswith(f"[asr] finished: run folder {tmp_path / 'run'} · variant full · test_wer ")
    assert f"next: sparselab-asr transcribe --model {tmp_path / 'run'} FILE..." in last[-2]
    assert last[-1].startswith("[asr] warning: test WER") and "learned (almost) nothing" in last[-1]
    assert not (tmp_path / ".cache").exists() and not (tmp_path / "outputs").exists()   # nothing in the cwd


def test_errors_are_one_line_with_exit_2_and_unknown_experiments_list_the_valid_ones(tmp_path):
    p = _cli(["train.lr=abc"], cwd=tmp_path)
    assert p.returncode == 2 and p.stderr.strip().splitlines()[-1].startswith("sparselab-asr: error: train.lr='abc'")
    assert "Traceback" not in p.stderr
    p = _cli(["experiment=dynamic_random7"], cwd=tmp_path)
    assert p.returncode == 2 and "experiment=dynamic_random7: no such option" in p.stderr and "dynamic_random07" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def _manifest_corpus(tmp_path):
    d = tmp_path / "corpus"
    d.mkdir()
    rows = []
    for i in range(4):
        sf.write(d / f"u{i}.wav", (0.1 * np.random.default_rng(i).standard_normal(8000)).astype(np.float32), 16000)
        rows.append(f"u{i}.wav\tone two")
    (d / "train.tsv").write_text("path\ttext\n" + "\n".join(rows) + "\n")
    return d


def _run_manifest(tmp_path, d, *extra, train="train.tsv"):
    return Recipe(compose(["data=manifest", f"data.train={d / train}", f"data.dev={d / 'train.tsv'}",
                           f"data.test={d / 'train.tsv'}", "data.units=word", "trainer.max_steps=1",
                           "trainer.progress=off", "model.d_model=32", "model.heads=2", "model.layers=1",
                           "model.ffn=64", f"run_dir={tmp_path / 'run'}", *extra])).run()


def test_manifests_empty_absolute_and_symlinked_entries(tmp_path):
    d = _manifest_corpus(tmp_path)
    assert _run_manifest(tmp_path, d)["steps"] == 1                     # data.units=word: no '+data.words' needed
    (d / "empty.tsv").write_text("path\ttext\n")
    with pytest.raises(ValueError, match=r"data.train=.*empty.tsv: the manifest holds no utterance"):
        _run_manifest(tmp_path, d, f"run_dir={tmp_path / 'r2'}", train="empty.tsv")
    (d / "abs.tsv").write_text(f"path\ttext\n{d / 'u0.wav'}\tone two\n")
    with pytest.raises(ValueError, match="data.allow_absolute=true"):     # the hint names an override that works
        _run_manifest(tmp_path, d, f"run_dir={tmp_path / 'r3'}", train="abs.tsv")
    assert _run_manifest(tmp_path, d, f"run_dir={tmp_path / 'r4'}", "data.allow_absolute=true",
                         train="abs.tsv")["steps"] == 1
    outside = tmp_path / "outside.wav"
    sf.write(outside, np.zeros(8000, np.float32) + 0.01, 16000)
    (d / "link.wav").symlink_to(outside)
    (d / "link.tsv").write_text("path\ttext\nlink.wav\tone two\n")
    with pytest.raises(ValueError, match="symlink.*data.allow_symlinks=true"):
        _run_manifest(tmp_path, d, f"run_dir={tmp_path / 'r5'}", train="link.tsv")
    assert _run_manifest(tmp_path, d, f"run_dir={tmp_path / 'r6'}", "data.allow_symlinks=true",
                         train="link.tsv")["steps"] == 1


def test_cache_is_the_shared_cache_folder(tmp_path):
    from apps.asr_ddp.recipe import settings_from_config

    s = settings_from_config(compose([]))
    assert s.data.cache == Path(os.environ["SPARSELAB_CACHE"]) / "asr_ddp"
    with pytest.raises(ConfigError, match="data.root"):                # the old cache key is gone, not ignored
        settings_from_config(compose(["+data.root=.cache/asr_ddp"]))
