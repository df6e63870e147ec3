"""The layers go one way: core never imports apps, benchmarks, hydra or omegaconf; apps never import each other."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN_IN_CORE = {"apps", "benchmarks", "hydra", "omegaconf"}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module)
    return roots


def test_core_imports_no_app_benchmark_or_config_framework():
    files = sorted((ROOT / "core").rglob("*.py"))
    assert files, "no files under core/"
    bad = []
    for f in files:
        for mod in imported_roots(f):
            if mod.split(".")[0] in FORBIDDEN_IN_CORE:
                bad.append(f"{f.relative_to(ROOT)} imports {mod}")
    assert not bad, "core must not import apps/benchmarks/hydra/omegaconf:\n" + "\n".join(bad)


SHARED_APP_LAYER = "common"   # apps/common: the Hydra/CLI glue every app shares; not an app, imports none


def test_apps_do_not_import_each_other():
    apps = [p for p in (ROOT / "apps").iterdir() if p.is_dir() and (p / "__init__.py").exists()]
    bad = []
    for app in apps:
        for f in app.rglob("*.py"):
            for mod in imported_roots(f):
                parts = mod.split(".")
                allowed = {app.name} if app.name == SHARED_APP_LAYER else {app.name, SHARED_APP_LAYER}
                if parts[0] == "apps" and len(parts) > 1 and parts[1] not in allowed:
                    bad.append(f"{f.relative_to(ROOT)} imports {mod}")
                if parts[0] == "benchmarks":
                    bad.append(f"{f.relative_to(ROOT)} imports {mod} (apps must not depend on benchmarks)")
    assert not bad, "an app must not import another app:\n" + "\n".join(bad)


def test_checker_catches_a_forbidden_import(tmp_path):
    f = tmp_path / "x.py"
    f.write_text("import os\nfrom hydra import compose\nimport apps.asr_ddp.recipe as r\n")
    roots = {m.split('.')[0] for m in imported_roots(f)}
    assert roots & FORBIDDEN_IN_CORE == {"hydra", "apps"}
