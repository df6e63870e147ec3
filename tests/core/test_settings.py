"""core.settings.ConfigReader and LoopSettings' strict mappings: values validated at the door, unread keys named."""
import pytest

from core.settings import ConfigError, ConfigReader, flatten_keys
from core.training.run import LoopSettings, run_fingerprint


def test_typed_reads_validate_and_name_the_key():
    r = ConfigReader({"optim": {"lr": "abc", "steps": 2.5, "frac": 1.5, "mode": "x"}, "ok": 3})
    with pytest.raises(ConfigError, match=r"optim\.lr='abc' must be a number"):
        r.float("optim.lr")
    with pytest.raises(ConfigError, match=r"optim\.steps=2\.5 must be an integer"):
        r.int("optim.steps")
    with pytest.raises(ConfigError, match=r"optim\.frac=1\.5 must be <= 1"):
        r.fraction("optim.frac")
    with pytest.raises(ConfigError, match=r"optim\.mode='x'; valid choices: a, b"):
        r.choice("optim.mode", ("a", "b"))
    with pytest.raises(ConfigError, match=r"optim\.missing is required.*keys present under optim: frac, lr"):
        r.int("optim.missing")
    assert r.int("ok", low=1) == 3
    assert r.optional_int("nothing") is None


def test_unread_keys_are_reported_with_what_was_read_nearby():
    r = ConfigReader({"trainer": {"epochs": 2, "eval_evry": 7}, "x": 1, "sec": {"a": {"b": 1}}})
    r.int("trainer.epochs")
    r.mapping("sec")
    assert r.unused() == ["trainer.eval_evry", "x"]
    with pytest.raises(ConfigError, match=r"trainer\.eval_evry \(read keys of trainer: epochs\); x"):
        r.check_consumed()
    r.int("x")
    r.mark_read("trainer.eval_evry")
    r.check_consumed()


def test_ignore_patterns_and_flatten():
    r = ConfigReader({"hydra": {"run": {"dir": "."}}, "a": 1}, ignore=("hydra.*",))
    r.int("a")
    r.check_consumed()
    assert flatten_keys({"a": {"b": 1}, "c": [1, 2], "d": {}}) == {"a.b": 1, "c": [1, 2], "d": {}}


def test_loop_settings_from_mapping_rejects_unknown_keys():
    with pytest.raises(ConfigError, match=r"trainer\.eval_evry"):
        LoopSettings.from_mapping({"epochs": 1, "eval_evry": 3})
    s = LoopSettings.from_mapping({"epochs": 1, "batch_size": 4}, extra_keys=("batch_size",))
    assert s.epochs == 1


@pytest.mark.parametrize("amp,want", [(True, "auto"), (False, "off"), (None, "off"), ("bf16", "bf16")])
def test_amp_has_one_meaning(amp, want):
    assert LoopSettings(epochs=1, amp=amp).amp == want


def test_loop_settings_from_reader_consumes_its_keys_and_refuses_double_setting():
    r = ConfigReader({"trainer": {"epochs": 3, "eval_every": 7, "batch_size": 2, "progress": "off"}})
    s = LoopSettings.from_reader(r)
    assert (s.epochs, s.eval_every, s.progress) == (3, 7, False)
    assert r.unused() == ["trainer.batch_size"]
    with pytest.raises(ConfigError, match=r"trainer\.epochs is set, but this app decides epochs itself"):
        LoopSettings.from_reader(ConfigReader({"trainer": {"epochs": 3}}), epochs=5)
    with pytest.raises(ValueError, match=r"trainer\.progress='loud'"):
        LoopSettings.from_reader(ConfigReader({"trainer": {"epochs": 3, "progress": "loud"}}))


def test_run_fingerprint_excludes_by_glob():
    fp = run_fingerprint({"run_dir": "x", "trainer": {"seed": 1, "resume": "auto"}, "eval": {"a": 1}},
                         exclude=("run_dir", "trainer.resume", "eval.*"))
    assert fp == {"trainer.seed": 1}
