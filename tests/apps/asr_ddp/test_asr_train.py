"""asr_ddp through the shared loop: a tiny LibriSpeech tree, real recipe, real configs."""
import json
import os
from pathlib import Path

import pytest
import torch

from apps.asr_ddp.recipe import Recipe, settings_from_config
from apps.asr_ddp.task import ASRTask, TaskSettings, progress_lr
from core.settings import ConfigError
from helpers_asr import compose, libri_overrides, write_librispeech


class Killed(RuntimeError):
    pass


def test_librispeech_tree_trains_and_transcribes(tmp_path):
    write_librispeech(tmp_path / "ls")
    cfg = compose(libri_overrides(tmp_path / "ls", tmp_path / "run", "trainer.max_steps=2",
                                  "experiment=dyn07x07chunk"))
    summary = Recipe(cfg).run()
    assert summary["steps"] == 2 and 0 <= summary["test_wer"] and summary["test_n"] == 6   # max_steps reached its use
    on_disk = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert on_disk["status"] == "finished" and on_disk["steps"] == 2 and on_disk["run_dir"] == str(tmp_path / "run")
    assert (tmp_path / "run" / "model.pt").is_file() and (tmp_path / "run" / "dev_wer_vs_time.png").is_file()
    # a re-run into the finished folder trains nothing and returns the same results
    again = Recipe(cfg).run()
    assert again["finished"] == summary["finished"] and again["test_wer"] == summary["test_wer"]
    from apps.asr_ddp.transcribe import transcribe_files

    wav = next((tmp_path / "ls").rglob("*.flac"))
    texts = transcribe_files(tmp_path / "run", [wav])
    assert len(texts) == 1 and isinstance(texts[0], str)


def test_sentencepiece_units_are_trained_on_the_training_transcripts_and_ship_inside_the_model(tmp_path):
    write_librispeech(tmp_path / "ls")
    cfg = compose(libri_overrides(tmp_path / "ls", tmp_path / "run", "trainer.max_steps=2", "data.units=spm",
                                  "data.spm_vocab=24", "experiment=dyn07x07chunk"))
    summary = Recipe(cfg).run()
    assert summary["steps"] == 2 and summary["test_n"] == 6
    cached = list((Path(os.environ["SPARSELAB_CACHE"]) / "asr_ddp" / "spm").glob("unigram24-*.model"))
    assert len(cached) == 1                                          # in the cache folder, not in the data folder
    from apps.asr_ddp.data.corpora import tokenizer_from_state
    from core.training.checkpoint import safe_torch_load

    exported = safe_torch_load(tmp_path / "run" / "model.pt")
    assert exported["tokenizer"]["kind"] == "spm"
    cached[0].unlink()                                              # the model file carries its own tokenizer
    tok = tokenizer_from_state(exported["tokenizer"])
    assert tok.vocab_size == 26 and tok.decode(tok.encode("a cat sat")) == "a cat sat"
    assert len(tok.encode("the dog ran")) < len("the dog ran")
    from apps.asr_ddp.transcribe import transcribe_files

    assert len(transcribe_files(tmp_path / "run", [next((tmp_path / "ls").rglob("*.flac"))])) == 1


def test_word_units_on_any_corpus_without_plus_tricks(tmp_path):
    """data.units=word takes the training transcripts' words; data.words=[...] (no '+') gives the vocabulary."""
    write_librispeech(tmp_path / "ls")
    s = Recipe(compose(libri_overrides(tmp_path / "ls", tmp_path / "w", "trainer.max_steps=1", "data.units=word")))
    summary = s.run()
    assert summary["steps"] == 1
    from apps.asr_ddp.data.corpora import tokenizer_from_state
    from core.training.checkpoint import safe_torch_load

    tok = tokenizer_from_state(safe_torch_load(tmp_path / "w" / "model.pt")["tokenizer"])
    assert "hello" in tok.words and "bus" in tok.words
    fixed = settings_from_config(compose(libri_overrides(tmp_path / "ls", tmp_path / "v", "data.units=word",
                                                         "data.words=[a,b]")))
    assert fixed.data.words == ("a", "b")


def test_time_pruning_plans_fewer_steps_and_lr_spans_the_run(tmp_path):
    write_librispeech(tmp_path / "ls", n=6)
    runs = {}
    for name, extra in [("full", []), ("half", ["pruning.time_keep=0.5", "pruning.time_unit=point"])]:
        cfg = compose(libri_overrides(tmp_path / "ls", tmp_path / name, "train.frame_budget=150", "trainer.epochs=2",
                                      "train.warmup_steps=0", *extra))
        runs[name] = Recipe(cfg).run()
    assert runs["half"]["steps"] < runs["full"]["steps"]            # batches planned on pruned lengths
    assert 0.4 < runs["half"]["audio_fraction"] < 0.6
    rows = [json.loads(x) for x in (tmp_path / "half" / "metrics.jsonl").read_text().splitlines()]
    lrs = [r["lr"] for r in rows if r["kind"] == "train"]
    assert lrs[0] > lrs[-1] and lrs[-1] < 0.2 * lrs[0]              # the cosine reaches its end on the last step
    assert abs(progress_lr(0, 1.0, 1.0, 0, 0.05) - 0.05) < 1e-9


def test_kill_and_resume_is_exact(tmp_path, monkeypatch):
    write_librispeech(tmp_path / "ls")
    common = ["pruning=loss_easy", "pruning.keep=0.7", "pruning.time_keep=0.8", "trainer.epochs=3",
              "model.dropout=0.1", "train.frame_budget=300"]
    a = Recipe(compose(libri_overrides(tmp_path / "ls", tmp_path / "a", *common))).run()
    real = ASRTask.on_step_end

    def killer(self, loop, step):
        real(self, loop, step)
        if step == 4:
            raise Killed("killed")

    monkeypatch.setattr(ASRTask, "on_step_end", killer)
    with pytest.raises(Killed):
        Recipe(compose(libri_overrides(tmp_path / "ls", tmp_path / "b", *common))).run()
    monkeypatch.setattr(ASRTask, "on_step_end", real)
    torch.rand(100)
    b = Recipe(compose(libri_overrides(tmp_path / "ls", tmp_path / "b", *common))).run()
    assert a["steps"] == b["steps"] and a["test_wer"] == b["test_wer"] and a["epoch_log"] == b["epoch_log"]
    assert a["scored_items"] == b["scored_items"] > 0 and a["decorrelation"] == b["decorrelation"]
    wa = torch.load(tmp_path / "a" / "model.pt", weights_only=True)["state_dict"]
    wb = torch.load(tmp_path / "b" / "model.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    skip = {"train_s", "train_cpu_s"}

    def rows(d):
        return [{k: v for k, v in json.loads(x).items() if k not in skip}
                for x in (d / "metrics.jsonl").read_text().splitlines() if json.loads(x)["kind"] != "event"]
    assert rows(tmp_path / "a") == rows(tmp_path / "b")


def test_config_errors_before_any_corpus_is_built(tmp_path):
    for bad, msg in [("train.lr=abc", "train.lr"), ("pruning.time_unit=frame", "time_unit"),
                     ("data.snr_db=[20,5]", "data.snr_db"), ("data.units=phone", "data.units"),
                     ("data.spm_vocab=many", "data.spm_vocab='many' must be an integer"),
                     ("model.heads=3", "model.heads"), ("trainer.epochs=0", "epochs"),
                     ("pruning.keep=1.5", "pruning.keep=1.5"), ("train.test_method=beam", "train.test_method"),
                     ("experiment=ucb07", None)]:
        cfg = compose([bad, f"run_dir={tmp_path / 'r'}"])
        if msg is None:
            settings_from_config(cfg)
            continue
        with pytest.raises(ConfigError, match=msg):
            Recipe(cfg).run()
    assert not (tmp_path / "r").exists()                            # nothing made before the settings are valid
    for bad, msg in [(["data=librispeech"], "data.root"), (["data=manifest"], "data.train"),
                     (["data=manifest", f"data.train={tmp_path}/no.tsv", "data.dev=x", "data.test=y"],
                      "data.train=.*no.tsv: manifest not found"),
                     (["data.units=spm", f"data.spm_model={tmp_path / 'none.model'}"],
                      "data.spm_model=.*no such SentencePiece model"),
                     ([f"data.source={tmp_path}"], "data.source=.*no Arabic Speech Commands copy")]:
        settings_from_config(compose(bad))                          # the settings touch no file ...
        with pytest.raises(ConfigError, match=msg):                 # ... the run checks its inputs first
            Recipe(compose([*bad, f"run_dir={tmp_path / 'r2'}"])).run()
        assert not (tmp_path / "r2").exists()
    with pytest.raises(ConfigError, match="pruning.epsilon"):           # a key of another policy: rejected
        settings_from_config(compose(["experiment=dynamic_random07", "+pruning.epsilon=0.3"]))


def test_unknown_experiment_name_is_an_error_listing_the_valid_ones():
    from hydra.errors import MissingConfigException

    with pytest.raises(MissingConfigException, match="experiment/dynamic_random7") as e:
        compose(["experiment=dynamic_random7"])
    assert "dynamic_random07" in str(e.value.options) or "dynamic_random07" in str(e.value)


def test_bad_training_item_named_or_skipped_eval_never_filtered(tmp_path):
    import numpy as np
    import soundfile as sf

    from apps.asr_ddp.data.corpora import load_splits

    d = write_librispeech(tmp_path / "ls")
    with open(d / "19-198.trans.txt", "a") as f:
        f.write("19-198-0006 BAD É CHARS\n")
    sf.write(d / "19-198-0006.flac", np.zeros(16000, np.float32) + 0.1, 16000)
    with pytest.raises(ValueError, match="19-198-0006.flac"):
        Recipe(compose(libri_overrides(tmp_path / "ls", tmp_path / "r"))).run()
    data = settings_from_config(compose(libri_overrides(tmp_path / "ls", tmp_path / "r", "data.on_error=skip"))).data
    (d / "19-198.trans.txt").write_text((d / "19-198.trans.txt").read_text().replace("BAD É CHARS", "A VERY LONG "
                                        "TRANSCRIPT FOR A SHORT FILE THAT CTC CANNOT FIT AT ALL " * 3))
    sf.write(d / "19-198-0006.flac", np.zeros(1600, np.float32) + 0.1, 16000)
    st, _ = load_splits(data, None, 4)
    assert len(st["train"]) == 6 and len(st["train"].skipped) == 1          # too short for CTC: counted skip
    assert len(st["test"]) == 7                                             # evaluation keeps it (decoding needs no CTC)


def test_time_pruning_settings_validated():
    with pytest.raises(ValueError, match="time_unit"):
        TaskSettings(epochs=1, time_unit="frame")
    with pytest.raises(ValueError, match="chunk_ms"):
        TaskSettings(epochs=1, chunk_ms=0)


@pytest.mark.parametrize("policy", ["full", "static_random", "dynamic_random", "loss_hard", "loss_easy",
                                    "easy_to_hard", "eps_greedy", "ucb", "infobatch"])
def test_every_pruning_group_composes_into_a_pruner(policy):
    s = settings_from_config(compose([f"pruning={policy}", "pruning.time_keep=0.7", "pruning.time_unit=point"]))
    assert s.task.time_keep == 0.7 and s.task.time_unit == "point" and s.pruning.name == policy
    pr = s.pruning.build(50, num_epochs=s.loop.epochs, seed_offset=1)
    assert pr.select(0).numel() == 50                                # the shared warm-up epoch
    pr.observe(torch.arange(50), torch.linspace(0, 1, 50))
    kept = pr.select(1)
    assert 0 < kept.numel() <= 50 and kept.unique().numel() == kept.numel()


def test_the_paper_recipe_composes_at_its_size_and_runs_one_step_on_cpu_with_a_tiny_override(tmp_path):
    from core.speech.model import CTCAttentionModel

    s = settings_from_config(compose(["experiment=librispeech_paper", f"data.root={tmp_path}"]))
    assert s.data.corpus.train == ("train-clean-100", "train-clean-360", "train-other-500")
    assert (s.data.units, s.data.spm_vocab, s.task.specaug, s.loop.epochs) == ("spm", 5000, True, 75)
    tok = type("Tok", (), {"vocab_size": 5002, "sos": 5001, "blank": 0})()
    with torch.device("meta"):                                     # the size, without allocating 1 GB
        n = sum(p.numel() for p in CTCAttentionModel(**s.model.kwargs(s.data.n_mels, tok)).parameters())
    assert 230e6 < n < 260e6                                       # the paper's ~243M class
    write_librispeech(tmp_path / "ls")
    tiny = ["model.d_model=32", "model.heads=2", "model.layers=1", "model.ffn=64", "model.decoder_layers=1",
            "data.spm_vocab=24", "data.train=[train-clean-100]", "data.dev=[train-clean-100]",
            "data.test=[train-clean-100]", "train.frame_budget=400", "train.beam=2", "trainer.device=cpu"]
    summary = Recipe(compose(["experiment=librispeech_paper", f"data.root={tmp_path / 'ls'}", *tiny,
                              "trainer.max_steps=1", "trainer.progress=off", f"run_dir={tmp_path / 'run'}"])).run()
    assert summary["steps"] == 1 and summary["test_n"] == 6 and summary["task"]["test_method"] == "joint_beam"
