from pathlib import Path

from core.paths import cache_dir, cache_root


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SPARSELAB_CACHE", str(tmp_path))
    assert cache_dir("asr_ddp", "x") == tmp_path / "asr_ddp" / "x"
    monkeypatch.delenv("SPARSELAB_CACHE")
    assert cache_root() == Path.home() / ".cache" / "sparselab"
