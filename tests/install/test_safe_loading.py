"""Loading a checkpoint, a model file or a data list can neither run code nor read outside its root."""
import ast
import json
import os
from pathlib import Path

import pytest
import torch

from core.training import UnsafeFileError, capture_state, load_checkpoint, restore_state, save_checkpoint
from core.validation import resolve_inside

ROOT = Path(__file__).resolve().parents[2]


class _Payload:
    """Unpickling this calls ``os.system`` (what a crafted checkpoint does)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def malicious(tmp_path) -> tuple[Path, Path]:
    marker = tmp_path / "code_ran"
    path = tmp_path / "evil.pt"
    torch.save({"version": 1, "step": 3, "states": {"model": _Payload(marker)}, "model": _Payload(marker)}, path)
    return path, marker


def test_load_checkpoint_refuses_a_file_that_would_run_code(malicious):
    path, marker = malicious
    with pytest.raises(UnsafeFileError, match="evil.pt"):
        load_checkpoint(path)
    assert not marker.exists(), "unpickling ran code"


def test_e2enet_predict_refuses_a_malicious_model_file(malicious, tmp_path):
    from apps.e2enet.predict import predict_files

    import nibabel as nib
    import numpy as np

    path, marker = malicious
    (tmp_path / "in").mkdir()
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 8), np.float32), np.eye(4)), str(tmp_path / "in" / "case.nii.gz"))
    with pytest.raises(UnsafeFileError, match="e2enet model file"):
        predict_files(path, tmp_path / "in", tmp_path / "out")
    assert not marker.exists()


def test_checkpoints_round_trip_under_weights_only(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters())
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    save_checkpoint(tmp_path / "c.pt", capture_state(step=1, model=model, optimizer=opt, extra={"note": "x"}))
    raw = torch.load(tmp_path / "c.pt", weights_only=True)  # plain types only: RNG states included
    m2 = torch.nn.Linear(3, 2)
    o2 = torch.optim.AdamW(m2.parameters())
    restore_state(raw, model=m2, optimizer=o2)
    assert torch.equal(m2.weight, model.weight)
    a = torch.rand(3)
    restore_state(load_checkpoint(tmp_path / "c.pt"), model=m2)
    import numpy as np
    import random
    t, n, p = torch.rand(1), np.random.rand(), random.random()
    restore_state(load_checkpoint(tmp_path / "c.pt"), model=m2)
    assert torch.equal(torch.rand(1), t) and np.random.rand() == n and random.random() == p
    assert a.shape == (3,)


def test_no_project_code_loads_with_weights_only_false():
    offenders = []
    for pkg in ("core", "apps", "benchmarks"):
        for f in (ROOT / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(f.read_text())):
                if isinstance(node, ast.keyword) and node.arg == "weights_only" and \
                        isinstance(node.value, ast.Constant) and node.value.value is False:
                    offenders.append(f"{f.relative_to(ROOT)}:{node.value.lineno}")
    assert not offenders, f"torch.load(weights_only=False) runs code from the file: {offenders}"


# ---- paths stay inside their root ------------------------------------------------------------------------

@pytest.mark.parametrize("entry", ["../../../../etc/passwd", "a/../../outside.wav", "/etc/passwd"])
def test_resolve_inside_refuses_escapes(tmp_path, entry):
    with pytest.raises(ValueError, match="refused|not allowed"):
        resolve_inside(tmp_path, entry, what="list.txt: entry 3")


def test_resolve_inside_accepts_normal_and_opted_in_absolute(tmp_path):
    assert resolve_inside(tmp_path, "a/./b/../c.wav", what="x") == tmp_path / "a" / "c.wav"
    assert resolve_inside(tmp_path, "/data/x.wav", what="x", allow_absolute=True) == Path("/data/x.wav")


def test_decathlon_dataset_json_entry_outside_root_is_refused(tmp_path):
    from apps.e2enet.data.decathlon import load_dataset_json

    (tmp_path / "dataset.json").write_text(json.dumps({
        "name": "x", "labels": {"0": "background", "1": "a"}, "modality": {"0": "CT"},
        "training": [{"image": "../../../../etc/passwd", "label": "./labelsTr/a.nii.gz"}]}))
    with pytest.raises(ValueError, match=r"training\[0\]\.image.*outside the data root"):
        load_dataset_json(tmp_path)


def test_asr_manifest_entry_outside_root_is_refused(tmp_path):
    from core.speech.datasets import load_manifest

    m = tmp_path / "manifest.jsonl"
    m.write_text(json.dumps({"path": "ok.wav", "text": "a"}) + "\n" +
                 json.dumps({"path": "../../../../etc/passwd", "text": "b"}) + "\n")
    with pytest.raises(ValueError, match="entry 2.*outside the data root"):
        load_manifest(m)
    m.write_text(json.dumps({"path": "/abs/x.wav", "text": "a"}) + "\n")
    with pytest.raises(ValueError, match="absolute path"):
        load_manifest(m)
    assert load_manifest(m, allow_absolute=True)[0].path == Path("/abs/x.wav")


def test_msrs_label_list_entry_outside_root_is_refused(tmp_path):
    from apps.msrs.data.dataset import AVDataset

    (tmp_path / "labels.csv").write_text("lrs3,../../../../etc/passwd,10,1 2 3\n")
    with pytest.raises(ValueError, match="entry 1.*outside the data root"):
        AVDataset(tmp_path, "labels.csv", modality="audio")


def test_resolve_inside_refuses_a_symlink_out_of_the_root_unless_opted_in(tmp_path):
    root, outside = tmp_path / "data", tmp_path / "secret"
    (root / "imagesTr").mkdir(parents=True)
    outside.mkdir()
    (outside / "a.nii.gz").write_bytes(b"x")
    (root / "imagesTr" / "a.nii.gz").symlink_to(outside / "a.nii.gz")     # a file link
    (root / "linked").symlink_to(outside, target_is_directory=True)      # a folder link
    for entry in ("imagesTr/a.nii.gz", "linked/a.nii.gz"):
        with pytest.raises(ValueError, match=r"symlink .*leads outside the data root.*data\.allow_symlinks=true"):
            resolve_inside(root, entry, what="dataset.json: training[0]")
        assert resolve_inside(root, entry, what="x", allow_symlinks=True) == root / entry
    # a link that stays inside the root, and a root that is itself a link, are fine
    (root / "imagesTr" / "b.nii.gz").write_bytes(b"y")
    (root / "inner").symlink_to(root / "imagesTr", target_is_directory=True)
    assert resolve_inside(root, "inner/b.nii.gz", what="x") == root / "inner" / "b.nii.gz"
    (tmp_path / "rootlink").symlink_to(root, target_is_directory=True)
    assert resolve_inside(tmp_path / "rootlink", "imagesTr/b.nii.gz", what="x").name == "b.nii.gz"
