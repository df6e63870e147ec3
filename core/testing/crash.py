"""A crash harness: run a Python program and SIGKILL it the moment a named file's temporary is complete.

Every artifact is written atomically (``core.training.atomic``: a hidden ``.<name>.tmp-<pid>``, fsync, rename), so
the interesting crash points are "the temporary of X exists and is complete, X is not replaced yet". The harness
makes them deterministic: it wraps ``os.replace`` in the child and kills the child with SIGKILL (no ``finally``,
no ``atexit``, exactly like ``kill -9`` or a power cut) when the *n*-th rename onto a file whose name matches
``NAME`` (a glob) is about to happen::

    python -m core.testing.crash summary.json -- -m apps.msrs.train preset=quick ...
    python -m core.testing.crash 'step_*.pt' --nth 2 -- path/to/script.py args ...

From a test: ``run_killed_at("summary.json", ["-m", "toy_cli", "run_dir=..."], env=...)`` returns the
``CompletedProcess`` (``returncode == -9`` when the kill happened; ``killed_at(proc)`` tells).
"""
from __future__ import annotations

import fnmatch
import os
import runpy
import signal
import subprocess
import sys
from collections.abc import Sequence

__all__ = ["run_killed_at", "killed", "main"]


def killed(proc: subprocess.CompletedProcess) -> bool:
    """True when the harness killed the child (SIGKILL)."""
    return proc.returncode == -signal.SIGKILL


def run_killed_at(name: str, argv: Sequence[str], *, nth: int = 1, env: dict | None = None, cwd=None,
                  timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``python <argv...>`` under the harness, killed at the ``nth`` rename onto a file matching ``name``."""
    cmd = [sys.executable, "-m", "core.testing.crash", name, "--nth", str(nth), "--", *argv]
    return subprocess.run(cmd, env={**os.environ, **(env or {})}, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def _install(pattern: str, nth: int) -> None:
    real = os.replace
    seen = [0]

    def replace(src, dst, *a, **kw):
        if fnmatch.fnmatchcase(os.path.basename(os.fspath(dst)), pattern):
            seen[0] += 1
            if seen[0] == nth:
                sys.stdout.flush()
                sys.stderr.flush()
                os.kill(os.getpid(), signal.SIGKILL)
        return real(src, dst, *a, **kw)

    os.replace = replace


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--" not in args or args.index("--") < 1:
        raise SystemExit("usage: python -m core.testing.crash NAME [--nth N] -- (-m module | script.py) [args...]")
    split = args.index("--")
    head, prog = args[:split], args[split + 1:]
    nth = 1
    if "--nth" in head:
        i = head.index("--nth")
        nth = int(head[i + 1])
        del head[i:i + 2]
    if len(head) != 1 or not prog:
        raise SystemExit("usage: python -m core.testing.crash NAME [--nth N] -- (-m module | script.py) [args...]")
    _install(head[0], nth)
    if prog[0] == "-m":
        sys.argv = [prog[1], *prog[2:]]
        runpy.run_module(prog[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = list(prog)
        sys.path.insert(0, os.path.dirname(os.path.abspath(prog[0])))
        runpy.run_path(prog[0], run_name="__main__")


if __name__ == "__main__":
    main()
