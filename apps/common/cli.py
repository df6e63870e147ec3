"""Command-line conventions every app follows.

* ``user_errors(app)``: expected errors (a bad config value, a bad or unsafe data file, a refused resume) print
  one line -- ``sparselab-<app>: error: <message naming the key or file>`` -- and exit with status 2; with
  ``SPARSELAB_DEBUG=1`` the traceback is shown (and the exception propagates). Anything else is a bug and keeps
  its traceback.
* ``summary_line(app, ...)``: the last line of every training run: what ran, where its folder is, what it
  reached, and what to run next; ``not_learned`` adds a warning when the figure says the model learned nothing.
"""
from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from core.settings import ConfigError
from core.training.checkpoint import UnsafeFileError

__all__ = ["USER_ERRORS", "user_errors", "debug_enabled", "summary_line", "print_summary"]

# what a user can cause and fix: bad values, missing/bad/unsafe files, a folder that cannot be used
USER_ERRORS: tuple[type[BaseException], ...] = (ConfigError, ValueError, FileNotFoundError, NotADirectoryError,
                                                IsADirectoryError, PermissionError, UnsafeFileError)


def debug_enabled() -> bool:
    return os.environ.get("SPARSELAB_DEBUG", "") not in ("", "0", "false", "False")


@contextlib.contextmanager
def user_errors(app: str) -> Iterator[None]:
    """``with user_errors("msrs"): Recipe(cfg).run()`` -- see the module docstring."""
    try:
        yield
    except USER_ERRORS as e:
        if debug_enabled():
            raise
        msg = "; ".join(s.strip() for s in str(e).splitlines() if s.strip()) or type(e).__name__
        print(f"sparselab-{app}: error: {msg}  (SPARSELAB_DEBUG=1 shows the traceback)", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def summary_line(app: str, *, status: str = "finished", run_dir: Any = None, metrics: Mapping[str, Any] | None = None,
                 next_step: str | None = None, not_learned: str | None = None) -> str:
    """``[msrs] finished: run outputs/msrs/... · test_wer 0.21 · next: sparselab-msrs run_dir=... (resumes)``."""
    parts = [f"[{app}] {status}"]
    if run_dir is not None:
        parts.append(f"run folder {run_dir}")
    for k, v in (metrics or {}).items():
        if v is not None:
            parts.append(f"{k} {_fmt(v)}")
    line = parts[0] + ": " + " · ".join(parts[1:]) if len(parts) > 1 else parts[0]
    if next_step:
        line += f" · next: {next_step}"
    if not_learned:
        line += f"\n[{app}] warning: {not_learned}"
    return line


def print_summary(app: str, **kw) -> str:
    """Print ``summary_line`` on stdout (rank 0 only; call it from rank 0) and return it."""
    line = summary_line(app, **kw)
    print(line, flush=True)
    return line
