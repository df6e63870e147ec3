"""Imports follow need: parts that do not use speech do not need torchaudio.

Each check runs in a fresh interpreter. ``core.metrics`` and spa_graph must not load torchaudio at all;
e2enet must import and build with torchaudio made unimportable (MONAI probes torchaudio as an optional
import when it is healthy, so for e2enet the property that matters is that a broken torchaudio, as with
torchaudio 2.11.1 beside torch 2.11.0, cannot take it down).
"""
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BLOCK_TORCHAUDIO = textwrap.dedent("""
    import importlib.abc, sys
    class _Broken(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torchaudio" or name.startswith("torchaudio."):
                raise OSError("libtorchaudio.so: undefined symbol: simulated broken binary")
            return None
    sys.meta_path.insert(0, _Broken())
""")


def _modules(pkg: str) -> list[str]:
    out = []
    for p in sorted((ROOT / pkg.replace(".", "/")).rglob("*.py")):
        rel = p.relative_to(ROOT).with_suffix("")
        out.append(".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts))
    return out


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_core_metrics_and_spa_graph_do_not_load_torchaudio():
    mods = ["core.metrics", "core.sparse", "core.data_pruning", "core.regularizers", "core.training"] + _modules("apps.spa_graph")
    code = "import importlib, sys\n" + "".join(f"importlib.import_module({m!r})\n" for m in mods) + \
        "print('torchaudio' in sys.modules)"
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "False"


def test_e2enet_imports_and_builds_with_a_broken_torchaudio():
    mods = _modules("apps.e2enet") + ["core.metrics"]
    code = BLOCK_TORCHAUDIO + "import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in mods) + \
        textwrap.dedent("""
        from core.metrics import wer, count_parameters
        from apps.e2enet.models.e2enet import E2ENet
        assert wer(["a b"], ["a c"]) == 0.5
        print("ok")
        """)
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith("ok")


def test_the_blocker_really_breaks_torchaudio():
    proc = _run(BLOCK_TORCHAUDIO + "import core.speech.features\n")
    assert proc.returncode != 0 and "simulated broken binary" in proc.stderr
