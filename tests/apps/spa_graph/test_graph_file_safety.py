"""No file from a data root, a cache or a user runs code (issue 30's three routes, and the own-graph formats).

Each crafted file carries a payload that would create a marker file if anything unpickled it with a full
unpickler; the tests check that the marker never appears and that the error (where there is one) names the file.
Routes: (1) Planetoid's raw pickles (PyG's ``read_planetoid_data`` and our old ``broken_files`` used
``pickle.load``); (2) ``processed/pre_transform.pt`` (PyG loads it with ``weights_only=False``); (3) a cached
``processed/data.pt`` (PyG 2.8.1's ``fs.torch_load`` retries it with ``weights_only=False``) -- the loader never reads
``processed/`` files at all, in a data root or in the cache.
"""
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from apps.spa_graph.data import expected_files, load_dataset, load_graph_file
from apps.spa_graph.data.datasets import PACKAGED
from apps.spa_graph.data.safe_pickle import UnsafeFileError, load_planetoid_pickle

ROOT = Path(__file__).resolve().parents[3]


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _cora_root(tmp_path) -> tuple[Path, list[Path]]:
    root = tmp_path / "root"
    files = expected_files("cora", root)
    for p in files:
        p.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PACKAGED / "planetoid" / p.name, p)
    return root, files


@pytest.mark.parametrize("which", ["ind.cora.graph", "ind.cora.x", "ind.cora.ally"])
def test_route1_crafted_planetoid_pickle_is_refused_naming_the_file(which, tmp_path):
    marker = tmp_path / "ran"
    root, files = _cora_root(tmp_path)
    target = next(p for p in files if p.name == which)
    target.write_bytes(pickle.dumps(_Payload(marker), protocol=2))
    with pytest.raises(UnsafeFileError, match=which) as e:
        load_dataset("cora", root)
    assert "posix.system" in str(e.value) or "os.system" in str(e.value)
    assert not marker.exists()


def test_route1_object_arrays_and_other_types_are_refused(tmp_path):
    p = tmp_path / "ind.x.tx"
    p.write_bytes(pickle.dumps(np.array([_Payload(tmp_path / "ran")], dtype=object), protocol=2))
    with pytest.raises((UnsafeFileError, ValueError), match="ind.x.tx"):
        load_planetoid_pickle(p, "features")
    p.write_bytes(pickle.dumps({"not": "a graph"}, protocol=2))
    with pytest.raises(ValueError, match="integer node ids"):
        load_planetoid_pickle(p, "graph")
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize("name", ["pre_transform.pt", "pre_filter.pt", "data.pt"])
def test_routes2_3_crafted_processed_files_are_never_read(name, tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    root, _ = _cora_root(tmp_path)
    for base in (root / "Cora" / "processed", tmp_path / "cache" / "graphs" / "planetoid" / "Cora" / "processed",
                 tmp_path / "cache" / "spa_graph" / "graphs" / "planetoid" / "Cora" / "processed"):
        base.mkdir(parents=True, exist_ok=True)
        torch.save(_Payload(marker), base / name)
    monkeypatch.setenv("SPARSELAB_CACHE", str(tmp_path / "cache"))
    assert load_dataset("cora", root).num_nodes == 2708          # from the raw files
    assert load_dataset("cora").num_nodes == 2708                # the packaged copy: no cache involved
    assert not marker.exists()


def test_route_heterophilous_npz_with_pickled_arrays_is_refused(tmp_path):
    marker = tmp_path / "ran"
    p = expected_files("minesweeper", tmp_path)[0]
    p.parent.mkdir(parents=True)
    np.savez(p, node_features=np.array([_Payload(marker)], dtype=object), node_labels=np.zeros(1),
             edges=np.zeros((1, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="minesweeper.npz"):
        load_dataset("minesweeper", tmp_path)
    assert not marker.exists()


def test_own_graph_pt_is_weights_only_without_fallback(tmp_path):
    marker = tmp_path / "ran"
    p = tmp_path / "graph.pt"
    torch.save({"x": torch.zeros(2, 2), "edge_index": torch.zeros(2, 1, dtype=torch.long), "y": _Payload(marker)}, p)
    with pytest.raises(UnsafeFileError, match="graph.pt"):
        load_graph_file(p)
    q = tmp_path / "graph.npz"
    np.savez(q, x=np.zeros((2, 2)), edges=np.zeros((1, 2), dtype=np.int64), y=np.array([_Payload(marker)], dtype=object))
    with pytest.raises(ValueError, match="graph.npz"):
        load_graph_file(q)
    assert not marker.exists()


def test_symlink_out_of_the_data_root_is_refused(tmp_path):
    root, files = _cora_root(tmp_path)
    outside = tmp_path / "elsewhere.graph"
    shutil.move(files[6], outside)
    files[6].symlink_to(outside)
    with pytest.raises(ValueError, match="symlink"):
        load_dataset("cora", root)
    assert load_dataset("cora", root, allow_symlinks=True).num_nodes == 2708


def test_cli_names_the_unsafe_file_and_exits_2(tmp_path):
    marker = tmp_path / "ran"
    root, files = _cora_root(tmp_path)
    files[6].write_bytes(pickle.dumps(_Payload(marker), protocol=2))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SPARSELAB_DEBUG": ""}
    p = subprocess.run([sys.executable, "-m", "apps.spa_graph.train", "data=cora", f"data.root={root}", "budget=5",
                        "seeds=1", "epochs=1", "methods=random"], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 2
    last = [line for line in p.stderr.splitlines() if line.strip()][-1]
    assert last.startswith("sparselab-spa: error: refusing to load") and "ind.cora.graph" in last
    assert not marker.exists()
