"""Real graphs read from their raw files by this app's own parsers (never a download, never code from a file).

Packaged (apps/spa_graph/data/graphs/, with licences and SOURCES.md): Cora, CiteSeer (Planetoid raw files),
Minesweeper, Tolokers (heterophilous npz); read in place, nothing is copied or cached. PubMed, CoraFull and WikiCS
load the same way from a ``root`` you fill in PyG's layout (``expected_files``).

Why not PyG's dataset classes: ``Planetoid`` unpickles its raw files with a plain ``pickle.load``, every PyG dataset
loads ``processed/pre_transform.pt`` with the weights-only restriction switched off, and PyG 2.8's ``fs.torch_load``
retries a ``processed/data.pt`` that fails the weights-only load without it -- a crafted file in a data root
or a cache would run code on each route. Here Planetoid's pickles go through a restricted unpickler
(``safe_pickle``), npz files through ``numpy.load(allow_pickle=False)``, WikiCS through ``json``; ``processed/``
folders are never read. The tensors equal what PyG builds from the same raw files (``read_planetoid_data``,
``HeterophilousGraphDataset.process``, ``read_npz``, ``WikiCS.process``; tested on the packaged files).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from apps.spa_graph.data.safe_pickle import load_planetoid_pickle
from apps.spa_graph.graph import clean_adjacency
from core.validation import resolve_inside

__all__ = ["FEATURES", "row_normalized", "DATASETS", "GraphData", "expected_files", "load_dataset", "PACKAGED",
           "from_tensors", "read_planetoid", "read_heterophilous_npz"]

PACKAGED = Path(__file__).resolve().parent / "graphs"
_PLANETOID = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")
# name -> (format, folder name in PyG's layout, packaged?)
DATASETS = {
    "cora": ("planetoid", "Cora", True),
    "citeseer": ("planetoid", "CiteSeer", True),
    "pubmed": ("planetoid", "PubMed", False),
    "minesweeper": ("heterophilous", "minesweeper", True),
    "tolokers": ("heterophilous", "tolokers", True),
    "corafull": ("citationfull", "cora", False),
    "wikics": ("wikics", "wikics", False),
}


@dataclass
class GraphData:
    """A graph with node labels: x (N, F) float, y (N,) long (-1: no label), edge_index (2, 2E) symmetric,
    adj (N, N) CSR, ``labelled`` (N,) bool (the nodes whose label is known: only these are selected and scored)."""
    name: str
    x: torch.Tensor
    y: torch.Tensor
    edge_index: torch.Tensor
    adj: object
    num_classes: int
    notes: list[str] = field(default_factory=list)
    cache: dict = field(default_factory=dict, repr=False)   # derived inputs (e.g. sparse features), built once
    labelled: np.ndarray | None = None

    def __post_init__(self):
        if self.labelled is None:
            self.labelled = (self.y >= 0).numpy()
        self.labelled = np.asarray(self.labelled, dtype=bool)
        if self.labelled.shape != (self.num_nodes,):
            raise ValueError(f"labelled must be a ({self.num_nodes},) bool mask, got {self.labelled.shape}")

    @property
    def num_nodes(self) -> int:
        return int(self.x.shape[0])

    @property
    def num_edges(self) -> int:
        return int(self.adj.nnz // 2)

    @property
    def num_labelled(self) -> int:
        return int(self.labelled.sum())


FEATURES = ("raw", "row_normalized")


def row_normalized(data: GraphData) -> GraphData:
    """Features divided by their row sum (PyG's ``NormalizeFeatures``; rows summing to 0 stay 0). The SPA and
    GraphPart notebooks load Planetoid with ``T.ToSparseTensor()`` only, i.e. raw features (``raw``)."""
    x = data.x / data.x.sum(1, keepdim=True).clamp(min=1)
    return GraphData(data.name, x, data.y, data.edge_index, data.adj, data.num_classes,
                     list(data.notes) + ["features row-normalized"], labelled=data.labelled)


def _spec(name: str):
    key = str(name).lower()
    if key not in DATASETS:
        raise ValueError(f"dataset={name!r} is unknown; choose one of {sorted(DATASETS)} (or sbm / lfr / file)")
    return DATASETS[key]


def expected_files(name: str, root: str | os.PathLike) -> list[Path]:
    """Raw files of ``name`` under ``root`` in PyG's layout (the root you would pass to the PyG class)."""
    fmt, folder, _ = _spec(name)
    root = Path(root)
    if fmt == "planetoid":
        return [root / folder / "raw" / f"ind.{folder.lower()}.{s}" for s in _PLANETOID]
    if fmt == "heterophilous":
        return [root / folder / "raw" / f"{folder}.npz"]
    if fmt == "citationfull":
        return [root / "cora" / "raw" / "cora.npz"]
    return [root / "raw" / "data.json"]  # WikiCS


def _packaged_files(name: str) -> list[Path]:
    fmt, folder, _ = _spec(name)
    if fmt == "planetoid":
        return [PACKAGED / "planetoid" / f"ind.{folder.lower()}.{s}" for s in _PLANETOID]
    return [PACKAGED / "heterophilous" / f"{folder}.npz"]


def _read_test_index(path: Path) -> np.ndarray:
    try:
        vals = [int(line) for line in path.read_text(encoding="ascii").split()]
    except (UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"{path}: a test.index file holds one integer a line ({e})") from None
    if not vals:
        raise ValueError(f"{path}: empty file")
    return np.asarray(vals, dtype=np.int64)


def read_planetoid(files: list[Path], prefix: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Planetoid raw files (x, tx, allx, y, ty, ally, graph, test.index) -> x (N, F) float32, y (N,) int64,
    edge_index (2, E) -- as PyG's ``read_planetoid_data`` builds them (CiteSeer's isolated test nodes padded with
    zero rows, test rows put in index order, self loops dropped, duplicates merged)."""
    fx, ftx, fallx, fy, fty, fally, fgraph, ftest = files
    x, tx, allx = (load_planetoid_pickle(p, "features") for p in (fx, ftx, fallx))
    y, ty, ally = (load_planetoid_pickle(p, "labels") for p in (fy, fty, fally))
    graph = load_planetoid_pickle(fgraph, "graph")
    test_index = _read_test_index(ftest)
    for a, b, pa, pb in ((tx, ty, ftx, fty), (allx, ally, fallx, fally)):
        if a.shape[0] != b.shape[0]:
            raise ValueError(f"{pa} has {a.shape[0]} rows but {pb} has {b.shape[0]}")
    if tx.shape[0] != len(test_index):
        raise ValueError(f"{ftest} lists {len(test_index)} nodes but {ftx} has {tx.shape[0]} rows")
    sorted_test = np.sort(test_index)
    if prefix.lower() == "citeseer":              # isolated test nodes: zero rows where the index has gaps
        span = int(test_index.max() - test_index.min()) + 1
        tx_ext = np.zeros((span, tx.shape[1]), dtype=tx.dtype)
        tx_ext[sorted_test - test_index.min()] = tx
        ty_ext = np.zeros((span, ty.shape[1]), dtype=ty.dtype)
        ty_ext[sorted_test - test_index.min()] = ty
        tx, ty = tx_ext, ty_ext
    feats = np.concatenate([allx, tx], axis=0)
    n = feats.shape[0]
    if test_index.max() >= n or test_index.min() < 0:
        raise ValueError(f"{ftest}: node ids outside [0, {n})")
    feats[test_index] = feats[sorted_test]
    labels = np.concatenate([ally, ty], axis=0).argmax(1).astype(np.int64)
    labels[test_index] = labels[sorted_test]
    rows = np.fromiter((k for k, v in graph.items() for _ in v), dtype=np.int64)
    cols = np.fromiter((u for v in graph.values() for u in v), dtype=np.int64)
    if len(rows) and (max(rows.max(), cols.max()) >= n or min(rows.min(), cols.min()) < 0):
        raise ValueError(f"{fgraph}: node ids outside [0, {n})")
    return feats, labels, np.stack([rows, cols])


def read_heterophilous_npz(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """yandex-research/heterophilous-graphs npz (node_features (N, F), node_labels (N,), edges (E, 2)) ->
    x, y, edge_index (2, E); ``numpy.load(allow_pickle=False)``: object arrays are refused."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in ("node_features", "node_labels", "edges") if k in z.files}
            files = sorted(z.files)
    except Exception as e:  # noqa: BLE001 -- a non-zip, truncated or object-array (pickled) file
        raise ValueError(f"{path}: not a readable npz of plain arrays ({type(e).__name__}: {e})") from e
    missing = [k for k in ("node_features", "node_labels", "edges") if k not in arrays]
    if missing:
        raise ValueError(f"{path}: missing array(s) {missing} (has {files})")
    x, y, e = arrays["node_features"], arrays["node_labels"], arrays["edges"]
    if e.ndim != 2 or e.shape[1] != 2:
        raise ValueError(f"{path}: edges must have shape (E, 2), got {e.shape}")
    return x, y, e.T


def _read_citationfull(path: Path):
    import scipy.sparse as sp

    try:
        with np.load(path, allow_pickle=False) as f:
            x = sp.csr_matrix((f["attr_data"], f["attr_indices"], f["attr_indptr"]), tuple(f["attr_shape"])).toarray()
            adj = sp.csr_matrix((f["adj_data"], f["adj_indices"], f["adj_indptr"]), tuple(f["adj_shape"])).tocoo()
            y = f["labels"]
    except Exception as e:  # noqa: BLE001
        raise ValueError(f"{path}: not a readable CitationFull npz ({type(e).__name__}: {e})") from e
    x = (x > 0).astype(np.float32)                # PyG's read_npz: x[x > 0] = 1
    return x, y, np.stack([adj.row, adj.col])


def _read_wikics(path: Path):
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        x = np.asarray(d["features"], dtype=np.float32)
        y = np.asarray(d["labels"], dtype=np.int64)
        pairs = [(i, j) for i, js in enumerate(d["links"]) for j in js]
    except Exception as e:  # noqa: BLE001
        raise ValueError(f"{path}: not a WikiCS data.json ({type(e).__name__}: {e})") from e
    return x, y, np.asarray(pairs, dtype=np.int64).T.reshape(2, -1)


def load_dataset(name: str, root: str | os.PathLike | None = None, *, allow_symlinks: bool = False) -> GraphData:
    """Load ``name`` from its raw files: the packaged copy (``root=None``) or ``root`` in PyG's layout.

    ``FileNotFoundError`` names the expected files when they are missing (nothing is downloaded); a file that does
    not parse raises ``ValueError`` naming it; a file that names code raises ``UnsafeFileError`` (nothing runs).
    Under a user ``root`` the files must resolve inside it (a symlink out of it is refused unless
    ``allow_symlinks``)."""
    fmt, folder, packaged = _spec(name)
    if root is None:
        if not packaged:
            raise FileNotFoundError(
                f"dataset={name!r} is not packaged (no offline copy); set data.root=DIR holding "
                f"{[str(p) for p in expected_files(name, 'DIR')]}")
        files = _packaged_files(name)
    else:
        root = Path(root)
        files = [resolve_inside(root, p.relative_to(root), what=f"dataset={name!r}", allow_symlinks=allow_symlinks)
                 for p in expected_files(name, root)]
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"dataset={name!r}: missing raw file(s) {missing} under root={root} "
                                f"(PyG's layout; nothing is downloaded)")
    if fmt == "planetoid":
        x, y, ei = read_planetoid(files, folder)
    elif fmt == "heterophilous":
        x, y, ei = read_heterophilous_npz(files[0])
    elif fmt == "citationfull":
        x, y, ei = _read_citationfull(files[0])
    else:
        x, y, ei = _read_wikics(files[0])
    return from_tensors(str(name).lower(), x, y, ei)


def from_tensors(name: str, x, y, edge_index, labelled=None) -> GraphData:
    """GraphData from (N, F) features, (N,) integer labels (-1: unknown) and a (2, E) edge list (cleaned, with
    notes); ``labelled`` (N,) bool marks the nodes whose label is known (default: y >= 0)."""
    x = torch.as_tensor(np.asarray(x), dtype=torch.float32) if not torch.is_tensor(x) else x.float()
    y_np = y.detach().cpu().numpy() if torch.is_tensor(y) else np.asarray(y)
    if x.ndim != 2 or y_np.ndim != 1 or x.shape[0] != y_np.shape[0]:
        raise ValueError(f"x must be (N, F) and y (N,), got {tuple(x.shape)} and {tuple(y_np.shape)}")
    if y_np.size and y_np.dtype.kind == "f":
        if not np.all(np.isfinite(y_np) | np.isnan(y_np)) or np.any(y_np[~np.isnan(y_np)] % 1 != 0):
            raise ValueError("labels must be integers (-1 or NaN: unlabelled)")
        y_np = np.where(np.isnan(y_np), -1, y_np)
    if y_np.size and y_np.dtype.kind not in "iuf":
        raise ValueError(f"labels must be integers, got dtype {y_np.dtype}")
    y_np = y_np.astype(np.int64)
    if (y_np < -1).any():
        raise ValueError(f"labels must be >= 0 (or -1 for unlabelled), got {int(y_np.min())}")
    mask = y_np >= 0 if labelled is None else np.asarray(labelled, dtype=bool).reshape(-1)
    if mask.shape != y_np.shape:
        raise ValueError(f"labelled must be a ({len(y_np)},) bool mask, got {mask.shape}")
    if (mask & (y_np < 0)).any():
        raise ValueError("a node marked labelled has label -1")
    if not mask.any():
        raise ValueError("no node has a label: nothing can be selected or scored")
    y_np = np.where(mask, y_np, -1)
    if not torch.isfinite(x).all():
        raise ValueError("features hold NaN or Inf")
    cg = clean_adjacency(edge_index, x.shape[0])
    coo = cg.adj.tocoo()
    ei = torch.from_numpy(np.stack([coo.row, coo.col]).astype(np.int64))
    notes = list(cg.notes)
    if not mask.all():
        notes.append(f"{int((~mask).sum())} of {len(mask)} nodes have no label: never selected, never scored")
    return GraphData(name, x, torch.from_numpy(y_np), ei, cg.adj, int(y_np[mask].max()) + 1, notes, labelled=mask)
