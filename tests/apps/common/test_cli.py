"""apps.common.cli: one-line user errors with exit 2 (tracebacks under SPARSELAB_DEBUG=1) and the summary line."""
import pytest

from apps.common.cli import summary_line, user_errors
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
