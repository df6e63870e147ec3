"""Import every module of core, apps and benchmarks in this interpreter; print what fails.

Run as ``python tests/import_smoke.py``: exit 0 when every module imports, else exit 1 with one line per
failing module carrying the library's own message (e.g. a torchaudio binary that does not match torch:
``OSError: .../libtorchaudio.so: undefined symbol ...``). ``tests/conftest.py`` runs it in a fresh
interpreter before collection, so a broken install is one clear failure instead of a collection error
in every test file that imports the broken stack.
"""
from __future__ import annotations

import importlib
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "apps", "benchmarks")


def module_names() -> list[str]:
    names = []
    for pkg in PACKAGES:
        for p in sorted((ROOT / pkg).rglob("*.py")):
            rel = p.relative_to(ROOT).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            names.append(".".join(parts))
    return names


def main() -> int:
    sys.path.insert(0, str(ROOT))
    failures = []
    for name in module_names():
        try:
            importlib.import_module(name)
        except BaseException as e:  # noqa: BLE001 - report every failure, with its own message
            last = traceback.format_exception_only(type(e), e)[-1].strip()
            failures.append(f"{name}: {last}")
    for f in failures:
        print(f"IMPORT FAILED {f}")
    print(f"imported {len(module_names()) - len(failures)} / {len(module_names())} modules")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
