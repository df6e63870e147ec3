"""apps.common.cli: one-line user errors with exit 2 (tracebacks under SPARSELAB_DEBUG=1), unknown group options
rejected before Hydra composes, --help, and the summary line."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from apps.common.cli import summary_line, unknown_choice, user_errors
from core.settings import ConfigError


def test_user_error_is_one_line_and_exit_2(capsys, monkeypatch):
    monkeypatch.delenv("SPARSELAB_DEBUG", raising=False)
    with pytest.raises(SystemExit) as e:
        with user_errors("msrs"):
            raise ConfigError("optim.lr=-0.1 must be > 0\n  more detail")
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("sparselab-msrs: error: optim.lr=-0.1 must be > 0; more detail")


def test_debug_keeps_the_traceback(monkeypatch):
    monkeypatch.setenv("SPARSELAB_DEBUG", "1")
    with pytest.raises(FileNotFoundError):
        with user_errors("asr"):
            raise FileNotFoundError("data.train=x.jsonl does not exist")


def test_a_bug_is_not_swallowed(monkeypatch):
    monkeypatch.delenv("SPARSELAB_DEBUG", raising=False)
    with pytest.raises(ZeroDivisionError):
        with user_errors("asr"):
            1 / 0


def test_summary_line():
    line = summary_line("asr_ddp", run_dir="outputs/x", metrics={"test_wer": 0.123456, "steps": 10},
                        next_step="sparselab-asr transcribe --model outputs/x FILE", not_learned="test WER 1.0")
    first, warn = line.splitlines()
    assert first == ("[asr_ddp] finished: run folder outputs/x · test_wer 0.1235 · steps 10 · "
                     "next: sparselab-asr transcribe --model outputs/x FILE")
    assert warn == "[asr_ddp] warning: test WER 1.0"


# --- every app's console script: unknown group options, --help -------------------------------------------------


ROOT = Path(__file__).resolve().parents[3]
APPS = {"asr_ddp": "sparselab-asr", "msrs": "sparselab-msrs", "e2enet": "sparselab-e2enet", "spa_graph": "sparselab-spa"}


def _run(app, *args):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SPARSELAB_PROGRESS": "0"}
    env.pop("SPARSELAB_DEBUG", None)
    return subprocess.run([sys.executable, "-m", f"apps.{app}.train", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def test_unknown_choice_names_the_group_and_lists_the_valid_options():
    assert unknown_choice("asr_ddp", "experiment=dynamic_random07") is None
    assert unknown_choice("asr_ddp", "pruning=ucb") is None                       # a core group the app uses
    assert unknown_choice("asr_ddp", "trainer.seed=3") is None                    # a key, not a group
    assert unknown_choice("asr_ddp", "experiment=null") is None
    msg = unknown_choice("asr_ddp", "experiment=dynamic_random7")
    assert msg.startswith("experiment=dynamic_random7: no such option (valid: ") and "dynamic_random07" in msg
    assert "ucb" in unknown_choice("asr_ddp", "pruning=ucbb")
    assert unknown_choice("e2enet", "+variant=s8").startswith("variant=s8: no such option")
    assert unknown_choice("e2enet", "data=file").startswith("data=file")          # spa_graph's option, not e2enet's
    assert unknown_choice("spa_graph", "data=file") is None


@pytest.mark.parametrize("app", sorted(APPS))
def test_a_bad_preset_is_one_line_with_exit_2_in_every_app(app):
    p = _run(app, "preset=nonsense_xyz")
    assert p.returncode == 2, p.stderr[-1500:]
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{APPS[app]}: error: preset=nonsense_xyz: no such option")
    assert "quick" in lines[0] and "Traceback" not in p.stderr


@pytest.mark.parametrize("app", sorted(APPS))
def test_help_shows_usage_and_groups_not_a_config_dump(app):
    p = _run(app, "--help")
    assert p.returncode == 0, p.stderr[-1500:]
    assert APPS[app] in p.stdout and "preset" in p.stdout
    assert "== Config ==" not in p.stdout                  # Hydra's default help dumps the whole config


@pytest.mark.parametrize("app", sorted(APPS))
def test_an_unknown_key_is_one_line_with_exit_2_in_every_app(app):
    p = _run(app, "trainer.eval_evry=7")
    assert p.returncode == 2, p.stderr[-1500:]
    lines = p.stderr.strip().splitlines()
    assert lines == [f"{APPS[app]}: error: trainer.eval_evry: no such key in the config (a typo? every key and its "
                     f"default: --cfg job)"]


def test_a_malformed_override_is_one_line_naming_it():
    p = _run("msrs", "snr")
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1
    assert "Error parsing override 'snr'" in p.stderr
