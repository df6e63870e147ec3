"""The one cache location every app uses: ``$SPARSELAB_CACHE`` if set, else ``~/.cache/sparselab``.

Embedded corpora, generated datasets and staged graph files go under ``cache_dir(<app>)``; nothing is written
into the current directory. Files in the cache are data, never code (``core.training.checkpoint`` loads tensors
weights-only; parsers of cached formats admit only plain data).
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_root", "cache_dir", "CACHE_ENV"]

CACHE_ENV = "SPARSELAB_CACHE"


def cache_root() -> Path:
    """``$SPARSELAB_CACHE`` or ``~/.cache/sparselab`` (not created)."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "sparselab"


def cache_dir(*parts: str) -> Path:
    """``cache_root() / parts...`` (not created): e.g. ``cache_dir("asr_ddp", "digits")``."""
    return cache_root().joinpath(*parts)
