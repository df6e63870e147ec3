"""The environment is the lock: every package recorded in requirements.lock is installed at exactly that
version, and pyproject pins the binary-coupled torch/torchaudio pair exactly."""
import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"


def locked_requirements() -> list[Requirement]:
    """``name==version ; marker`` lines of the lock (hash continuation lines and comments dropped)."""
    reqs = []
    for line in LOCK.read_text().splitlines():
        if not line or line[0] in " #-":
            continue
        reqs.append(Requirement(line.rstrip(" \\")))
    return reqs


def _public(v: str) -> Version:
    return Version(Version(v).public)  # torch reports 2.11.0+cu130 at run time; the lock records 2.11.0


def test_lock_pins_every_package_with_hashes():
    text = LOCK.read_text()
    reqs = locked_requirements()
    assert len(reqs) > 50
    for r in reqs:
        spec = list(r.specifier)
        assert len(spec) == 1 and spec[0].operator == "==", f"{r} is not an exact pin"
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text)
    unhashed = [b.split()[0] for b in blocks if not b.startswith("#") and "--hash=sha256:" not in b]
    assert not unhashed, f"lock entries without hashes: {unhashed}"


@pytest.mark.parametrize("name", ["torch", "torchaudio", "monai", "torch-geometric"])
def test_key_packages_installed_at_the_locked_version(name):
    pins = {r.name.lower(): r for r in locked_requirements() if r.marker is None or r.marker.evaluate()}
    assert name in pins, f"{name} is not in requirements.lock"
    want = Version(next(iter(pins[name].specifier)).version)
    assert _public(metadata.version(name)) == want, (
        f"{name} {metadata.version(name)} is installed but the lock says {want}: reinstall with "
        f"`pip install --require-hashes -r requirements.lock`")


def test_every_locked_package_is_installed_at_its_version():
    wrong = []
    for r in locked_requirements():
        if r.marker is not None and not r.marker.evaluate():
            continue
        want = Version(next(iter(r.specifier)).version)
        try:
            have = metadata.version(r.name)
        except metadata.PackageNotFoundError:
            wrong.append(f"{r.name}: not installed (lock {want})")
            continue
        if _public(have) != want:
            wrong.append(f"{r.name}: {have} installed, lock {want}")
    assert not wrong, "environment differs from requirements.lock:\n" + "\n".join(wrong)


def test_pyproject_pins_the_torch_torchaudio_pair_exactly():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = {Requirement(d).name: Requirement(d) for d in deps}
    for name in ("torch", "torchaudio"):
        spec = list(pins[name].specifier)
        assert len(spec) == 1 and spec[0].operator == "==" and "*" not in spec[0].version, (
            f"{name} must be pinned exactly in pyproject.toml (binary-coupled pair), got {pins[name]}")
    assert Version(list(pins["torch"].specifier)[0].version).release[:2] == \
        Version(list(pins["torchaudio"].specifier)[0].version).release[:2]
    assert Marker  # packaging is importable (the lock test relies on it)
