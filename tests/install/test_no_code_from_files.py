"""No project code has a route from a file's content to code execution (issue 28, the "Security" section of
docs/ARCHITECTURE.md): a static scan of core/, apps/ and benchmarks/ for the calls that run what a file says."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "apps", "benchmarks")


def _files():
    for pkg in PACKAGES:
        yield from sorted((ROOT / pkg).rglob("*.py"))


def _dotted(node) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return ""          # a method of a call's result (model.to(d).eval()): not a module function
    parts.append(node.id)
    return ".".join(reversed(parts))


def _kw(call: ast.Call, name: str):
    for k in call.keywords:
        if k.arg == name:
            return k.value
    return None


def _const(node, value) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def _why(call: ast.Call) -> str | None:
    name = _dotted(call.func)
    last = name.rsplit(".", 1)[-1]
    if name in ("eval", "exec", "builtins.eval", "builtins.exec"):
        return f"{name}() runs a string as code"
    if name in ("pickle.load", "pickle.loads", "cPickle.load", "marshal.load", "marshal.loads", "dill.load",
                "dill.loads", "joblib.load", "pd.read_pickle", "pandas.read_pickle"):
        return f"{name}() runs whatever the file names (use a restricted Unpickler with find_class)"
    if name in ("yaml.unsafe_load", "yaml.full_load", "yaml.load_all") or (
            name == "yaml.load" and "Safe" not in ast.unparse(_kw(call, "Loader") or ast.Constant(None))
            and not (len(call.args) > 1 and "Safe" in ast.unparse(call.args[1]))):
        return f"{name}() without SafeLoader constructs arbitrary Python objects"
    if name == "torch.load" and not _const(_kw(call, "weights_only"), True):
        return "torch.load without weights_only=True unpickles arbitrary objects"
    if last == "load" and name.split(".")[0] in ("np", "numpy") and _const(_kw(call, "allow_pickle"), True):
        return "numpy.load(allow_pickle=True) unpickles arbitrary objects"
    if name in ("os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput"):
        return f"{name}() runs a shell"
    if name.startswith("subprocess.") and _const(_kw(call, "shell"), True):
        return f"{name}(shell=True) runs a shell"
    return None


def test_no_file_content_reaches_code_execution():
    offenders = []
    for f in _files():
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"), filename=str(f))):
            if isinstance(node, ast.Call):
                why = _why(node)
                if why:
                    offenders.append(f"{f.relative_to(ROOT)}:{node.lineno}: {why}")
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize("src, bad", [
    ("import pickle\npickle.load(open('x', 'rb'))", True),
    ("import yaml\nyaml.load(s)", True),
    ("import yaml\nyaml.load(s, Loader=yaml.SafeLoader)", False),
    ("import yaml\nyaml.safe_load(s)", False),
    ("import torch\ntorch.load('x')", True),
    ("import torch\ntorch.load('x', weights_only=True)", False),
    ("eval('1+1')", True),
    ("import subprocess\nsubprocess.run('ls', shell=True)", True),
    ("import subprocess\nsubprocess.run(['ls'])", False),
    ("import numpy as np\nnp.load('x.npz', allow_pickle=True)", True),
    ("model.eval()", False),
    ("model.to(d).eval()", False),
])
def test_the_scan_sees_what_it_should(src, bad):
    calls = [n for n in ast.walk(ast.parse(src)) if isinstance(n, ast.Call)]
    assert any(_why(c) for c in calls) is bad
