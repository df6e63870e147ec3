"""Command-line conventions every app follows.

* ``user_errors(app)``: expected errors (a bad config value, a bad or unsafe data file, a refused resume) print
  one line -- ``sparselab-<app>: error: <message naming the key or file>`` -- and exit with status 2; with
  ``SPARSELAB_DEBUG=1`` the traceback is shown (and the exception propagates). Anything else is a bug and keeps
  its traceback.
* ``reject_unknown_choices(app_dir, prog)``: before Hydra runs, a ``group=option`` on the command line whose
  option does not exist (``experiment=dynamic_random7``, ``preset=nonsense``) is one line listing the valid
  options, and an override the config does not take (``trainer.eval_evry=7``: no such key) is Hydra's own message
  on one line; exit 2 -- instead of Hydra's multi-line report and exit 1.
* ``summary_line(app, ...)``: the last line of every training run: what ran, where its folder is, what it
  reached, and what to run next; ``not_learned`` adds a warning when the figure says the model learned nothing.
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from core.settings import ConfigError
from core.training.checkpoint import UnsafeFileError

__all__ = ["USER_ERRORS", "user_errors", "debug_enabled", "reject_unknown_choices", "unknown_choice",
           "summary_line", "print_summary", "run_training"]

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


_OVERRIDE = re.compile(r"^(?:\+{1,2}|~)?([A-Za-z_][\w/]*)(?:@[\w.]*)?=(.*)$")


def unknown_choice(app_dir: str, arg: str) -> str | None:
    """The one-line message for ``arg`` when it selects an option its config group does not have, else None
    (``key=value`` on a plain key, ``null``, lists and interpolations are left to Hydra and the app's recipe)."""
    from apps.common.hydra_config import _config_dir
    from core import configs as core_configs

    m = _OVERRIDE.match(arg)
    if not m:
        return None
    group, value = m.group(1), m.group(2).strip()
    if group == "hydra" or group.startswith("hydra/"):
        return None                                   # Hydra's own groups: Hydra checks them
    dirs = [d for d in (_config_dir(app_dir) / group, Path(core_configs.__file__).parent / group) if d.is_dir()]
    if not dirs or value in ("", "null") or any(c in value for c in "[]{},$"):
        return None
    valid = sorted({p.stem for d in dirs for p in d.glob("*.yaml")})
    if value in valid:
        return None
    return f"{group}={value}: no such option (valid: {', '.join(valid)})"


def reject_unknown_choices(app_dir: str, prog: str, argv: Sequence[str] | None = None) -> None:
    """Exit 2 with one line per unknown ``group=option`` in ``argv`` (default ``sys.argv[1:]``); see the module
    docstring. ``SPARSELAB_DEBUG=1`` leaves the error to Hydra."""
    if debug_enabled():
        return
    args = list(sys.argv[1:] if argv is None else argv)
    bad = [m for a in args if (m := unknown_choice(app_dir, a))]
    if not bad and not any(a.startswith("-") for a in args):     # --help, --cfg, -m: Hydra's own business
        msg = compose_error(app_dir, [a for a in args if not a.lstrip("+~").startswith("hydra")])
        bad = [msg] if msg else []
    if bad:
        for m in bad:
            print(f"{prog}: error: {m}", file=sys.stderr, flush=True)
        raise SystemExit(2)


def compose_error(app_dir: str, overrides: Sequence[str]) -> str | None:
    """Hydra's own complaint about ``overrides`` (an unknown key, a malformed override) on one line, or None when
    the app's config composes with them."""
    from apps.common.hydra_config import compose

    try:
        compose(app_dir, overrides)
    except Exception as e:                 # Hydra's and OmegaConf's composition errors: all are the user's overrides
        text = str(e)
        m = re.match(r"Could not override '([^']+)'", text)
        if m:                              # Hydra: "Could not override 'k'. To append ... use +k=v. Key ... not in struct"
            return f"{m.group(1)}: no such key in the config (a typo? every key and its default: --cfg job)"
        lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith(
            ("full_key:", "object_type=", "reference_type="))]
        return "; ".join(lines) or type(e).__name__
    return None


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


def run_training(app: str, run: Callable[[], Any], summarise: Callable[[Any], Any]) -> Any:
    """The body of every training CLI: ``run()`` under ``user_errors(app)``, then ``summarise(result)`` on the
    main process only (the summary line), and the process group torn down whatever happened (torchrun)."""
    from core.training.distributed import cleanup, is_main_process

    try:
        with user_errors(app):
            result = run()
        if is_main_process():
            summarise(result)
        return result
    finally:
        cleanup()
