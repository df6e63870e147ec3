"""The sparselab command: argument errors name the valid choices, list, forwarding to an app's main."""
import sys
import types
from pathlib import Path

import pytest

from benchmarks import cli


def run(argv, capsys):
    rc = cli.main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_unknown_command_and_subcommand(capsys):
    rc, _, err = run(["train"], capsys)
    assert rc == 2 and "unknown command 'train'" in err and "valid: bench, " in err and "asr, msrs, e2enet, spa" in err
    rc, _, err = run(["bench", "compar"], capsys)
    assert rc == 2 and "valid: compare, list, report" in err
    rc, out, _ = run([], capsys)
    assert rc == 2 and "usage: sparselab" in out


def test_bad_suite_device_only(capsys, fake_package, tmp_path, monkeypatch):
    with pytest.raises(SystemExit) as e:
        cli.main(["bench", "--suite", "huge"])
    assert e.value.code == 2 and "choose from 'smoke', 'quick', 'standard', 'full'" in capsys.readouterr().err
    rc, _, err = run(["bench", "--device", "gpu", "--out", str(tmp_path / "x")], capsys)
    assert rc == 2 and "choose cpu or cuda" in err
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    rc, _, err = run(["bench", "--device", "cuda", "--out", str(tmp_path / "x")], capsys)
    assert rc == 2 and "CUDA is not available" in err and "--device cpu" in err
    rc, _, err = run(["bench", "--suites-package", fake_package, "--only", "delta", "--out", str(tmp_path / "x")],
                     capsys)
    assert rc == 2 and "unknown benchmark module(s) delta; valid: alpha, beta_fails, gamma" in err
    assert not (tmp_path / "x").exists()


def test_bench_run_list_and_report(capsys, fake_package, tmp_path):
    rc, out, _ = run(["bench", "--suite", "smoke", "--suites-package", fake_package, "--only", "alpha",
                      "--out", str(tmp_path / "r"), "--quiet"], capsys)
    assert rc == 0 and str((tmp_path / "r").resolve()) in out and (tmp_path / "r" / "REPORT.md").is_file()
    (tmp_path / "r" / "REPORT.md").unlink()
    rc, out, _ = run(["bench", "report", str(tmp_path / "r")], capsys)
    assert rc == 0 and (tmp_path / "r" / "REPORT.md").is_file()
    rc, out, _ = run(["bench", "list", "--suites-package", fake_package], capsys)
    assert rc == 0 and "beta_fails" in out and "records one figure, then fails" in out


def test_forwarding_sets_argv_and_calls_main(capsys, monkeypatch):
    seen = {}
    fake = types.ModuleType("fake_app_train")

    def main():
        seen["argv"] = list(sys.argv)

    fake.main = main
    monkeypatch.setitem(sys.modules, "fake_app_train", fake)
    monkeypatch.setitem(cli.APPS, "asr", "fake_app_train")
    before = list(sys.argv)
    assert cli.main(["asr", "trainer.epochs=2", "+experiment=quick"]) == 0
    assert seen["argv"] == ["sparselab-asr", "trainer.epochs=2", "+experiment=quick"]
    assert sys.argv == before


def test_forwarding_missing_app_is_a_clear_error(capsys, monkeypatch):
    monkeypatch.setitem(cli.APPS, "spa", "apps.no_such_app_xyz.train")
    rc, _, err = run(["spa"], capsys)
    assert rc == 2 and "apps.no_such_app_xyz.train is not available" in err


def test_forwarding_reaches_a_real_hydra_app(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent))
    monkeypatch.setitem(cli.APPS, "msrs", "bench_fake_app.train")
    out = tmp_path / "x.txt"
    rc = cli.main(["msrs", "x=42", f"out={out}", f"hydra.run.dir={tmp_path / 'run'}"])
    assert rc == 0 and out.read_text() == "42"


def test_standard_suite_only_one_module(capsys, fake_package, tmp_path):
    rc, out, _ = run(["bench", "--suite", "standard", "--suites-package", fake_package, "--only", "gamma",
                      "--out", str(tmp_path / "s"), "--quiet"], capsys)
    md = (tmp_path / "s" / "REPORT.md").read_text()
    assert rc == 0 and md.startswith("# sparselab bench `standard`: complete")
    assert "no `standard` sizes: it ran its `quick` sizes" in md   # gamma gives smoke/quick/full only
