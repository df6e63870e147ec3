"""The runner end to end on the fake suite package: results, report, a failing module, selection, determinism."""
import json

import pytest

from benchmarks.runner import check_device, describe_modules, discover, run_suite, select_modules
from core.training.results import read_results


def test_discover_and_describe(fake_package):
    assert [i.name for i in discover(fake_package)] == ["alpha", "beta_fails", "gamma"]
    infos = describe_modules(fake_package)
    assert [(i.app, i.error) for i in infos] == [("alpha", ""), ("beta", ""), ("gamma", "")]
    assert infos[0].description.startswith("torch.sort")


def test_failing_module_reported_others_still_run(fake_package, tmp_path, capsys):
    out = tmp_path / "run"
    outcome = run_suite("smoke", "cpu", out_dir=out, package=fake_package, verbose=False)
    assert outcome.exit_code == 1 and outcome.failed == ["beta_fails"]
    assert outcome.statuses == {"alpha": "ok", "beta_fails": "failed", "gamma": "ok"}
    err = capsys.readouterr().err
    assert "Traceback" in err and "beta is broken on purpose" in err  # not swallowed
    rows = read_results(out / "results.jsonl")
    apps = [r["app"] for r in rows if r.get("kind") is None]
    assert "gamma" in apps and apps.index("gamma") > apps.index("beta")  # ran after the failure
    mods = {r["module"]: r for r in rows if r.get("kind") == "module"}
    assert mods["beta_fails"]["status"] == "failed" and "RuntimeError" in mods["beta_fails"]["error"]
    assert mods["alpha"]["status"] == "ok" and mods["alpha"]["records"] == 6 and mods["alpha"]["target"] == "<= 10"
    suite = [r for r in rows if r.get("kind") == "suite"]
    assert len(suite) == 1 and suite[0]["failed"] == 1 and suite[0]["modules"] == 3
    meta = json.loads((out / "run.json").read_text())
    assert meta["suite"] == "smoke" and meta["cpu_count"] >= 1 and meta["torch"] and meta["commit"]
    md = (out / "REPORT.md").read_text()
    assert "**FAILED**" in md and "## gamma" in md and "plots/alpha/sort_scaling.png" in md
    assert (out / "plots" / "alpha" / "sort_scaling.png").is_file()


def test_only_selection_seed_determinism_and_overwrite(fake_package, tmp_path):
    import torch

    torch.set_num_threads(2)
    a = run_suite("quick", "cpu", only="gamma,alpha", out_dir=tmp_path / "a", package=fake_package, seed=3,
                  verbose=False)
    assert a.exit_code == 0 and list(a.statuses) == ["alpha", "gamma"]
    assert torch.get_num_threads() == 2  # gamma set 1 thread; the runner restored it
    torch.set_num_threads(1)
    b = run_suite("quick", "cpu", only=["gamma"], out_dir=tmp_path / "b", package=fake_package, seed=3, verbose=False)
    mean = {k: next(r["value"] for r in read_results(tmp_path / k / "results.jsonl") if r["app"] == "gamma")
            for k in "ab"}
    assert b.exit_code == 0 and mean["a"] == mean["b"]  # same seed, same figure, whatever ran before
    with pytest.raises(ValueError, match="--overwrite"):
        run_suite("quick", "cpu", only="gamma", out_dir=tmp_path / "b", package=fake_package, verbose=False)
    c = run_suite("quick", "cpu", only="gamma", out_dir=tmp_path / "b", package=fake_package, seed=4,
                  overwrite=True, verbose=False)
    rows = read_results(tmp_path / "b" / "results.jsonl")
    assert c.exit_code == 0 and len(rows) == 3 and rows[0]["value"] != mean["b"]  # replaced, not appended


def test_argument_errors(fake_package, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="valid: alpha, beta_fails, gamma"):
        select_modules(discover(fake_package), "alpha,nope")
    with pytest.raises(ValueError, match="smoke, quick, standard, full"):
        run_suite("huge", "cpu", out_dir=tmp_path, package=fake_package)
    with pytest.raises(ValueError, match="choose cpu or cuda"):
        check_device("tpu")
    with pytest.raises(ValueError, match="cannot be imported"):
        discover("no_such_package_xyz")
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        check_device("cuda")
    assert not any(tmp_path.iterdir())  # nothing written before validation passed
