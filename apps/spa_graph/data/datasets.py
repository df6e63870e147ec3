"""Real graphs through PyG's own dataset classes, pointed at a local root (never a download).

Packaged (apps/spa_graph/data/graphs/, with licences and SOURCES.md): Cora, CiteSeer (Planetoid raw),
Minesweeper, Tolokers (heterophilous npz). They are copied into a writable cache root
(``$SPARSELAB_CACHE`` or ``~/.cache/sparselab/graphs``) in the layout PyG expects, and PyG writes
its ``processed/`` files there, so the installed package stays read-only. PubMed, CoraFull and
WikiCS load the same way from a ``root`` the user fills (see ``expected_files``).
"""
from __future__ import annotations

import json
import os
import pickle
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from apps.spa_graph.graph import clean_adjacency

__all__ = ["FEATURES", "row_normalized", "DATASETS", "GraphData", "cache_root", "expected_files", "load_dataset", "PACKAGED"]

PACKAGED = Path(__file__).resolve().parent / "graphs"
_PLANETOID = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")
# name -> (PyG class, PyG name, packaged?)
DATASETS = {
    "cora": ("Planetoid", "Cora", True),
    "citeseer": ("Planetoid", "CiteSeer", True),
    "pubmed": ("Planetoid", "PubMed", False),
    "minesweeper": ("HeterophilousGraphDataset", "minesweeper", True),
    "tolokers": ("HeterophilousGraphDataset", "tolokers", True),
    "corafull": ("CoraFull", "cora", False),
    "wikics": ("WikiCS", "wikics", False),
}


@dataclass
class GraphData:
    """A labelled graph: x (N, F) float, y (N,) long, edge_index (2, 2E) symmetric, adj (N, N) CSR."""
    name: str
    x: torch.Tensor
    y: torch.Tensor
    edge_index: torch.Tensor
    adj: object
    num_classes: int
    notes: list[str] = field(default_factory=list)
    cache: dict = field(default_factory=dict, repr=False)   # derived inputs (e.g. sparse features), built once

    @property
    def num_nodes(self) -> int:
        return int(self.x.shape[0])

    @property
    def num_edges(self) -> int:
        return int(self.adj.nnz // 2)


FEATURES = ("raw", "row_normalized")


def row_normalized(data: GraphData) -> GraphData:
    """Features divided by their row sum (PyG's ``NormalizeFeatures``; rows summing to 0 stay 0). The SPA and
    GraphPart notebooks load Planetoid with ``T.ToSparseTensor()`` only, i.e. raw features (``raw``)."""
    x = data.x / data.x.sum(1, keepdim=True).clamp(min=1)
    return GraphData(data.name, x, data.y, data.edge_index, data.adj, data.num_classes, list(data.notes) +
                     ["features row-normalized"])


def cache_root() -> Path:
    """Writable root for PyG's raw/processed files: $SPARSELAB_CACHE/graphs or ~/.cache/sparselab/graphs."""
    env = os.environ.get("SPARSELAB_CACHE")
    return Path(env) / "graphs" if env else Path.home() / ".cache" / "sparselab" / "graphs"


def expected_files(name: str, root: str | os.PathLike) -> list[Path]:
    """Raw files PyG's class reads for ``name`` under ``root`` (the root you pass to the PyG class)."""
    cls, pyg_name, _ = _spec(name)
    root = Path(root)
    if cls == "Planetoid":
        return [root / pyg_name / "raw" / f"ind.{pyg_name.lower()}.{s}" for s in _PLANETOID]
    if cls == "HeterophilousGraphDataset":
        return [root / pyg_name / "raw" / f"{pyg_name}.npz"]
    if cls == "CoraFull":
        return [root / "cora" / "raw" / "cora.npz"]
    return [root / "raw" / "data.json"]  # WikiCS


def broken_files(files: list[Path]) -> list[Path]:
    """The raw files that do not read on their own: empty, not an npz / json, an unreadable pickle
    (Planetoid's x/tx/allx/y/ty/ally/graph), or a test.index that is not one integer a line."""
    bad = []
    for p in files:
        try:
            if p.stat().st_size == 0:
                raise ValueError("empty")
            if p.suffix == ".npz":
                with np.load(p, allow_pickle=False) as z:
                    list(z.keys())
            elif p.suffix == ".json":
                json.loads(p.read_text())
            elif p.name.endswith(".test.index"):
                [int(line) for line in p.read_text().split()]
            else:
                with open(p, "rb") as f:
                    pickle.load(f, encoding="latin1")
        except Exception:   # noqa: BLE001 -- any failure to read means this file is the broken one
            bad.append(p)
    return bad


def _spec(name: str):
    key = str(name).lower()
    if key not in DATASETS:
        raise ValueError(f"dataset={name!r} is unknown; choose one of {sorted(DATASETS)} (or sbm / lfr for synthetic)")
    return DATASETS[key]


def _stage_packaged(name: str, root: Path) -> None:
    """Copy the packaged raw files of ``name`` into ``root`` in PyG's layout (only missing ones)."""
    cls, pyg_name, _ = _spec(name)
    src = PACKAGED / ("planetoid" if cls == "Planetoid" else "heterophilous")
    for dst in expected_files(name, root):
        if not dst.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src / dst.name, dst)


def load_dataset(name: str, root: str | os.PathLike | None = None) -> GraphData:
    """Load ``name`` with PyG's class from ``root`` (default: packaged files staged in ``cache_root()``).

    FileNotFoundError names the expected files when they are missing (no download is attempted);
    a file that does not parse raises ValueError naming it.
    """
    cls, pyg_name, packaged = _spec(name)
    if root is None:
        if not packaged:
            raise FileNotFoundError(
                f"dataset={name!r} is not packaged (no offline copy); pass root=DIR holding "
                f"{[str(p) for p in expected_files(name, 'DIR')]}")
        root = cache_root() / ("planetoid" if cls == "Planetoid" else "heterophilous")
        _stage_packaged(name, Path(root))
    root = Path(root)
    files = expected_files(name, root)
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"dataset={name!r}: missing raw file(s) {missing} under root={root} "
                                f"(PyG's {cls} layout; nothing is downloaded)")
    import torch_geometric.datasets as pyg_datasets

    try:
        if cls == "Planetoid":
            ds = pyg_datasets.Planetoid(str(root), pyg_name)
        elif cls == "HeterophilousGraphDataset":
            ds = pyg_datasets.HeterophilousGraphDataset(str(root), pyg_name)
        elif cls == "CoraFull":
            ds = pyg_datasets.CoraFull(str(root))
        else:
            ds = pyg_datasets.WikiCS(str(root), is_undirected=True)
        data = ds[0]
    except (OSError, ValueError, KeyError, EOFError, IndexError, RuntimeError, zipfile.BadZipFile,
            UnicodeDecodeError, pickle.UnpicklingError, TypeError, AttributeError) as e:
        bad = broken_files(files)
        which = f"broken raw file(s) {[str(p) for p in bad]}" if bad else f"could not parse {[str(p) for p in files]}"
        raise ValueError(f"dataset={name!r}: {which}: {type(e).__name__}: {e}") from e
    return from_tensors(name.lower(), data.x, data.y, data.edge_index)


def from_tensors(name: str, x, y, edge_index) -> GraphData:
    """Build GraphData from (N, F) features, (N,) labels and a (2, E) edge list (cleaned, with notes)."""
    x = torch.as_tensor(np.asarray(x), dtype=torch.float32) if not torch.is_tensor(x) else x.float()
    y = torch.as_tensor(np.asarray(y)).long() if not torch.is_tensor(y) else y.long()
    if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x must be (N, F) and y (N,), got {tuple(x.shape)} and {tuple(y.shape)}")
    cg = clean_adjacency(edge_index, x.shape[0])
    coo = cg.adj.tocoo()
    ei = torch.from_numpy(np.stack([coo.row, coo.col]).astype(np.int64))
    return GraphData(name, x, y, ei, cg.adj, int(y.max()) + 1, cg.notes)
